//! The built plugin library (`libdlopt_ai2_cpu.so`) as the host loads it: exactly the two
//! entry symbols of the ABI, negotiation, and the table's identity.

use std::path::{Path, PathBuf};
use std::process::Command;

use dlopt_ai2::abi::{API_SYMBOL, DlAi2ApiFn, DlAi2NegotiateFn, NEGOTIATE_SYMBOL};

/// `target/<profile>` (this test runs from `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("current_exe");
    executable.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf()
}

/// Builds the cdylib of this profile (`cargo test` builds only the rlib) and returns it.
fn library() -> PathBuf {
    let dir = profile_dir();
    let profile = match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(name) => name.to_string(),
        None => panic!("cannot tell the cargo profile from {}", dir.display()),
    };
    let output = Command::new(env!("CARGO"))
        .args(["build", "-p", "dlopt-ai2-cpu", "--lib", "--profile", &profile])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run cargo");
    assert!(
        output.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let library = dir.join(format!(
        "{}dlopt_ai2_cpu{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(library.is_file(), "no {}", library.display());
    library
}

#[test]
fn the_library_exports_the_abi_and_negotiates() {
    let path = library();
    // Plugins are never unloaded (ABI rule 12): leak the library.
    let library: &'static libloading::Library =
        Box::leak(Box::new(unsafe { libloading::Library::new(&path) }.expect("load the plugin")));
    let negotiate =
        unsafe { library.get::<DlAi2NegotiateFn>(NEGOTIATE_SYMBOL.as_bytes()) }.unwrap();
    let api = unsafe { library.get::<DlAi2ApiFn>(API_SYMBOL.as_bytes()) }.unwrap();
    let (mut major, mut minor) = (0, 0);
    assert_eq!(unsafe { negotiate(1, 3, &mut major, &mut minor) }, 0);
    assert_eq!((major, minor), (1, 0));
    assert_ne!(unsafe { negotiate(2, 0, &mut major, &mut minor) }, 0);
    assert!(unsafe { api(2) }.is_null());
    let table = unsafe { &*api(1) };
    let text = |pointer| unsafe { std::ffi::CStr::from_ptr(pointer) }.to_str().unwrap();
    assert_eq!(text(table.plugin_name), "dlopt_cpu");
    assert_eq!(text(table.interface_name), "dlopt_cpu");
    assert_eq!(text(table.plugin_version), env!("CARGO_PKG_VERSION"));

    // Exactly two exported functions (when `nm` is there to list them).
    if let Ok(output) = Command::new("nm").args(["-D", "--defined-only"]).arg(&path).output() {
        let listing = String::from_utf8_lossy(&output.stdout);
        let functions: Vec<&str> = listing
            .lines()
            .filter_map(|line| {
                line.split_whitespace().collect::<Vec<_>>().get(1..3).map(|f| (f[0], f[1]))
            })
            .filter(|(kind, _)| *kind == "T")
            .map(|(_, name)| name)
            .collect();
        assert_eq!(functions, [API_SYMBOL, NEGOTIATE_SYMBOL], "exported functions");
    }
}

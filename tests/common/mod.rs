//! Shared by the integration tests that use the C library.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `target/<profile>` (this test runs from `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("current_exe");
    executable.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf()
}

/// The directory holding an up-to-date `libdlopt.so` and `libdlopt.a`.
///
/// `cargo test` builds only the Rust library (rlib) for its tests, so the first call builds
/// the C libraries of the same profile with a nested `cargo build --lib` (cargo holds no
/// lock while tests run; when nothing changed this takes well under a second).
pub fn c_library_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let profile = match dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(name) => name.to_string(),
            None => panic!("cannot tell the cargo profile from {}", dir.display()),
        };
        let output = Command::new(env!("CARGO"))
            .args(["build", "--lib", "--profile", &profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cannot run cargo");
        assert!(
            output.status.success(),
            "cargo build --lib failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(dir.join("libdlopt.so").is_file(), "no libdlopt.so in {}", dir.display());
        dir
    })
}

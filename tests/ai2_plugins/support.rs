//! Builds the test plugins of `tests/ai2_plugins/` and the CPU plugin (`plugins/cpu`) and lays
//! them out in plugin directories. Included with `#[path]` by the tests that load them
//! (`ai2_faults.rs`, `ai2_conformance.rs`, `c_tests.rs`, `optimize.rs`), and builds the
//! example plugin written in C.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The test plugins, by folder name under `tests/ai2_plugins/` (package `ai2-test-<name>`
/// with `_` as `-`, library `libai2_test_<name>.so`).
pub const TEST_PLUGINS: &[&str] =
    &["good", "errors", "malformed", "exec_fails", "init_fails", "future_abi", "no_api"];

/// `target/<profile>` (tests run from `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("current_exe");
    executable.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf()
}

/// The cargo profile of this test binary (`dev` for `target/debug`).
fn profile_name() -> String {
    let dir = profile_dir();
    match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(name) => name.to_string(),
        None => panic!("cannot tell the cargo profile from {}", dir.display()),
    }
}

/// Builds the CPU plugin (package `dlopt-ai2-cpu`, its library only) with a nested `cargo
/// build` of the same profile (once per process) and returns `libdlopt_ai2_cpu.so`.
pub fn cpu_plugin() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO"))
            .args(["build", "-p", "dlopt-ai2-cpu", "--lib", "--profile", &profile_name()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cannot run cargo");
        assert!(
            output.status.success(),
            "building the CPU plugin failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let library = profile_dir().join("libdlopt_ai2_cpu.so");
        assert!(library.is_file(), "no {}", library.display());
        library
    })
}

/// A new directory holding a copy of the CPU plugin.
pub fn cpu_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("plugin dir");
    let source = cpu_plugin();
    std::fs::copy(source, dir.path().join(source.file_name().unwrap()))
        .unwrap_or_else(|error| panic!("copy {}: {error}", source.display()));
    dir
}

/// Builds every test plugin with a nested `cargo build` of the same profile (once per
/// process) and returns the directory holding the libraries.
pub fn built_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let profile = profile_name();
        let mut command = Command::new(env!("CARGO"));
        command.args(["build", "--profile", &profile]);
        for name in TEST_PLUGINS {
            command.args(["-p", &format!("ai2-test-{}", name.replace('_', "-"))]);
        }
        let output =
            command.current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cannot run cargo");
        assert!(
            output.status.success(),
            "building the test plugins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// The built library of test plugin `name`.
pub fn library(name: &str) -> PathBuf {
    built_plugins().join(format!("libai2_test_{name}.so"))
}

/// A new directory holding copies of the given test plugins (under their own file names).
pub fn plugin_dir(plugins: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("plugin dir");
    for name in plugins {
        let source = library(name);
        std::fs::copy(&source, dir.path().join(source.file_name().unwrap()))
            .unwrap_or_else(|error| panic!("copy {}: {error}", source.display()));
    }
    dir
}

/// The plugin directory the C test `name` runs with (`plugins.c`: the good plugin and one
/// that fails to initialize; `shipped_plugins.c`: the CPU plugin and the example C plugin),
/// or `None` for C tests that load no plugins.
pub fn c_test_plugin_dir(name: &str) -> Option<tempfile::TempDir> {
    match name {
        "plugins" => Some(plugin_dir(&["good", "init_fails"])),
        "shipped_plugins" => {
            let dir = cpu_plugin_dir();
            build_c_plugin(dir.path());
            Some(dir)
        }
        _ => None,
    }
}

/// The example plugin's sources.
const C_SOURCES: [&str; 5] = ["plugin.c", "support.c", "compile.c", "execute.c", "artifact.c"];
/// The flags a vendor builds a plugin with (see examples/ai2_plugin_c/README.md).
const C_FLAGS: [&str; 8] = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-fvisibility=hidden",
    "-fPIC",
    "-shared",
];

/// Compiles the example plugin written in C (`examples/ai2_plugin_c`) with the system C
/// compiler (`$CC`, else `cc`) into `dir` and returns the library.
pub fn build_c_plugin(dir: &Path) -> PathBuf {
    let source_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ai2_plugin_c");
    let library = dir.join("libdlopt_ai2_example_c.so");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&compiler)
        .args(C_FLAGS)
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .args(C_SOURCES.iter().map(|source| source_dir.join(source)))
        .arg("-o")
        .arg(&library)
        .arg("-lm")
        .output()
        .unwrap_or_else(|error| panic!("cannot run the C compiler '{compiler}': {error}"));
    assert!(
        output.status.success(),
        "the example plugin does not compile:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    library
}

//! Builds the C programs in `c_tests/` against `include/dlopt.h` and the freshly built
//! `libdlopt.so`, and runs each one plainly, under AddressSanitizer (with LeakSanitizer),
//! and under valgrind's memcheck. Every variant must exit 0 with no memory error or leak.
//!
//! Environment:
//! - `DLOPT_CI=1` (set by `.ci/run`): a missing valgrind fails instead of skipping.
//! - `CC`: the C compiler (default `cc`); `CXX`: the C++ compiler (default `c++`).
//! - `DLOPT_TEST_DATA`: the test data (default `target/test-data`, see `tools/fetch-test-data`),
//!   passed on to the programs (`models.c` needs it).

mod common;
#[path = "ai2_plugins/support.rs"]
mod test_plugins;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::c_library_dir;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    /// Also the binary valgrind runs.
    Plain,
    AddressSanitizer,
}

fn compiler(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_string())
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Compiles `c_tests/<name>.c` for `variant` and returns the executable.
fn build(name: &str, variant: Variant) -> PathBuf {
    let library = c_library_dir();
    let out_dir = library.join("c_tests").join(format!("{variant:?}"));
    std::fs::create_dir_all(&out_dir).expect("create output dir");
    let executable = out_dir.join(name);
    let mut command = Command::new(compiler("CC", "cc"));
    command
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1", "-pthread"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("c_tests").join(format!("{name}.c")))
        .arg("-o")
        .arg(&executable)
        .arg(format!("-L{}", library.display()))
        .arg(format!("-Wl,-rpath,{}", library.display()))
        .args(["-ldlopt", "-lm"]);
    if variant == Variant::AddressSanitizer {
        command.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    run(&mut command, &format!("compiling c_tests/{name}.c ({variant:?})"));
    executable
}

fn valgrind_available() -> bool {
    let found =
        Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("DLOPT_CI").is_some() {
        panic!("valgrind is required (DLOPT_CI is set) but not installed");
    }
    found
}

/// The test data directory the C programs get as `DLOPT_TEST_DATA`.
fn test_data_dir() -> PathBuf {
    std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target").join("test-data"))
}

/// A fresh, empty working directory for one run.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("scratch dir")
}

fn run_c_test(name: &str) {
    // The AI² test plugins, for the C tests that load plugins (see test_plugins).
    let plugins = test_plugins::c_test_plugin_dir(name);
    let plugin_env: Vec<(&str, PathBuf)> =
        plugins.iter().map(|dir| ("DLOPT_AI2_PLUGIN_PATH", dir.path().to_path_buf())).collect();
    let plain = build(name, Variant::Plain);
    let scratch = self::scratch();
    run(
        Command::new(&plain)
            .current_dir(scratch.path())
            .env("DLOPT_TEST_DATA", test_data_dir())
            .envs(plugin_env.clone()),
        &format!("c_tests/{name} (plain)"),
    );

    let sanitized = build(name, Variant::AddressSanitizer);
    let scratch = self::scratch();
    run(
        Command::new(&sanitized)
            .current_dir(scratch.path())
            .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
            .env("DLOPT_TEST_DATA", test_data_dir())
            .env("DLOPT_TEST_SANITIZER", "address")
            .envs(plugin_env.clone()),
        &format!("c_tests/{name} (AddressSanitizer)"),
    );

    if valgrind_available() {
        let scratch = self::scratch();
        run(
            Command::new("valgrind")
                .args([
                    "-q",
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect",
                ])
                .arg(&plain)
                .current_dir(scratch.path())
                .env("DLOPT_TEST_SANITIZER", "valgrind")
                .env("DLOPT_TEST_DATA", test_data_dir())
                .envs(plugin_env.clone()),
            &format!("c_tests/{name} (valgrind)"),
        );
    } else {
        eprintln!("valgrind not installed: c_tests/{name} ran without it");
    }
}

/// Declares one `#[test]` per C program; `every_c_program_is_registered` checks the list.
macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        const REGISTERED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name));
            }
        )*
    };
}

c_tests!(
    tuples,
    errors,
    handles,
    dicts,
    dict_files,
    dict_files_hostile,
    images,
    stress,
    models,
    plugins,
    shipped_plugins
);

#[test]
fn every_c_program_is_registered() {
    let mut found: Vec<String> = std::fs::read_dir(crate_dir().join("c_tests"))
        .expect("c_tests/")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            (path.extension()? == "c").then_some(stem)
        })
        .collect();
    found.sort();
    let mut registered: Vec<String> = REGISTERED.iter().map(|name| name.to_string()).collect();
    registered.sort();
    assert_eq!(found, registered, "every c_tests/*.c needs a line in the c_tests! list");
}

#[test]
fn header_compiles_alone_as_c11_and_cxx17() {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let include = crate_dir().join("include");
    for header in ["dlopt.h", "dlopt_ai2.h"] {
        let source = scratch.path().join("only_header.c");
        std::fs::write(&source, format!("#include \"{header}\"\nint main(void) {{ return 0; }}\n"))
            .unwrap();
        let object = scratch.path().join("only_header.o");
        run(
            Command::new(compiler("CC", "cc"))
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
                .arg("-I")
                .arg(&include)
                .arg(&source)
                .arg("-o")
                .arg(&object),
            &format!("{header} as C11"),
        );
        let source = scratch.path().join("only_header.cpp");
        std::fs::write(&source, format!("#include \"{header}\"\nint main() {{ return 0; }}\n"))
            .unwrap();
        run(
            Command::new(compiler("CXX", "c++"))
                .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
                .arg("-I")
                .arg(&include)
                .arg(&source)
                .arg("-o")
                .arg(&object),
            &format!("{header} as C++17"),
        );
    }
}

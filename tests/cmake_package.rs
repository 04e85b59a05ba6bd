//! The CMake package: install the freshly built library with `cmake/`, then configure,
//! build and run `examples/quickstart` with `find_package(dlopt CONFIG REQUIRED)`, linked
//! both against the shared and the static library.
//!
//! Skipped with a message when cmake is not installed, unless `DLOPT_CI` is set.

mod common;

use std::path::Path;
use std::process::Command;

use common::c_library_dir;

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn find_package_builds_and_runs_the_quickstart() {
    if Command::new("cmake").arg("--version").output().is_err() {
        assert!(std::env::var_os("DLOPT_CI").is_none(), "cmake is required (DLOPT_CI is set)");
        eprintln!("cmake not installed: skipping the CMake package test");
        return;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("scratch dir");
    let prefix = scratch.path().join("prefix");
    let install_build = scratch.path().join("install-build");
    run(
        Command::new("cmake")
            .arg("-S")
            .arg(source.join("cmake"))
            .arg("-B")
            .arg(&install_build)
            .arg(format!("-DDLOPT_LIBRARY_DIR={}", c_library_dir().display()))
            .arg(format!("-DCMAKE_INSTALL_PREFIX={}", prefix.display())),
        "configuring cmake/",
    );
    run(Command::new("cmake").arg("--build").arg(&install_build), "building cmake/");
    run(Command::new("cmake").arg("--install").arg(&install_build), "installing dlopt");

    let example_build = scratch.path().join("example-build");
    run(
        Command::new("cmake")
            .arg("-S")
            .arg(source.join("examples/quickstart"))
            .arg("-B")
            .arg(&example_build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
        "configuring examples/quickstart",
    );
    run(Command::new("cmake").arg("--build").arg(&example_build), "building examples/quickstart");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for program in ["quickstart", "quickstart_static"] {
        let output = run(
            Command::new(example_build.join(program)).current_dir(&work),
            &format!("running {program}"),
        );
        assert!(output.contains("quickstart: ok"), "{program} printed:\n{output}");
    }
}

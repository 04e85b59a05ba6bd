//! The kit notices broken plugins: a wrapper around the example C plugin
//! (`fixtures/faulty_plugin.c`) injects one fault at a time, and each run must fail the
//! checks that fault breaks, and only those groups, without the kit itself crashing.
//!
//! Needs a C compiler (`$CC`, else `cc`); skipped with a message without one, unless
//! `DLOPT_CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const KIT: &str = env!("CARGO_BIN_EXE_dlopt-ai2-conformance");
const EXAMPLE_SOURCES: [&str; 5] =
    ["plugin.c", "support.c", "compile.c", "execute.c", "artifact.c"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compiles `sources` into objects or a library with the vendor flags.
fn cc(args: &[&str], sources: &[PathBuf], output: &Path) -> Result<(), String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let result = Command::new(&compiler)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fvisibility=hidden",
            "-fPIC",
        ])
        .args(args)
        .arg("-I")
        .arg(workspace().join("include"))
        .args(sources)
        .arg("-o")
        .arg(output)
        .output()
        .map_err(|error| format!("cannot run {compiler}: {error}"))?;
    if result.status.success() {
        Ok(())
    } else {
        panic!("{compiler} failed:\n{}", String::from_utf8_lossy(&result.stderr))
    }
}

/// The faulty plugin and an empty library (no entry points), built once; None without a C
/// compiler.
fn libraries() -> Option<&'static (PathBuf, PathBuf)> {
    static BUILT: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ai2-conformance-faults");
            std::fs::create_dir_all(&dir).ok()?;
            let mut objects = Vec::new();
            for source in EXAMPLE_SOURCES {
                let object = dir.join(source.replace(".c", ".o"));
                let renamed = [
                    "-c",
                    "-Ddlopt_ai2_api=example_dlopt_ai2_api",
                    "-Ddlopt_ai2_negotiate=example_dlopt_ai2_negotiate",
                ];
                if let Err(problem) =
                    cc(&renamed, &[workspace().join("examples/ai2_plugin_c").join(source)], &object)
                {
                    assert!(std::env::var_os("DLOPT_CI").is_none(), "{problem} (DLOPT_CI is set)");
                    eprintln!("{problem}: skipping");
                    return None;
                }
                objects.push(object);
            }
            objects
                .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faulty_plugin.c"));
            let faulty = dir.join("libfaulty.so");
            cc(&["-shared"], &objects, &faulty).ok()?;
            let empty_source = dir.join("empty.c");
            std::fs::write(&empty_source, "int dlopt_conformance_not_a_plugin;\n").ok()?;
            let empty = dir.join("libempty.so");
            cc(&["-shared"], &[empty_source], &empty).ok()?;
            Some((faulty, empty))
        })
        .as_ref()
}

/// Runs the kit with fault `fault`: (success, report).
fn run(library: &Path, fault: Option<&str>, options: &[&str]) -> (bool, String) {
    let mut command = Command::new(KIT);
    command.arg(library).args(options).env_remove("DLOPT_CONFORMANCE_FAULT");
    if let Some(fault) = fault {
        command.env("DLOPT_CONFORMANCE_FAULT", fault);
    }
    let output = command.output().expect("run the kit");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{report}");
    (output.status.success(), report)
}

fn has_line(report: &str, prefix: &str, containing: &str) -> bool {
    report.lines().any(|line| line.starts_with(prefix) && line.contains(containing))
}

fn failed_groups(report: &str) -> Vec<&str> {
    let mut groups: Vec<&str> = report
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .filter_map(|rest| rest.split(['.', ':']).next())
        .collect();
    groups.dedup();
    groups
}

#[test]
fn the_wrapper_without_a_fault_passes() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, None, &[]);
    assert!(passed, "{report}");
    assert!(
        report.lines().last().is_some_and(|line| line.ends_with(" 0 failed, 0 skipped")),
        "{report}"
    );
}

#[test]
fn a_crash_fails_the_running_check_and_the_other_groups_still_run() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("crash_execute"), &[]);
    assert!(!passed);
    assert!(
        has_line(
            &report,
            "FAIL compile.gemm_relu_softmax:",
            "the check process died (signal 11 SIGSEGV) while this check ran"
        ),
        "{report}"
    );
    assert!(has_line(&report, "FAIL artifact.", "signal 11"), "{report}");
    assert!(has_line(&report, "PASS properties.precisions", ""), "{report}");
    assert_eq!(failed_groups(&report), ["compile", "artifact", "concurrency"]);
}

#[test]
fn a_hang_is_killed_after_the_timeout() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("hang_execute"), &["--timeout", "3"]);
    assert!(!passed);
    assert!(
        has_line(&report, "FAIL compile.gemm_relu_softmax:", "no answer within 3 s (killed)"),
        "{report}"
    );
    assert!(has_line(&report, "PASS entry.device_count", ""), "{report}");
}

#[test]
fn wrong_results_fail_the_comparison_with_the_reference() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("wrong_results"), &[]);
    assert!(!passed);
    assert!(
        has_line(&report, "FAIL compile.gemm_relu_softmax:", "wrong result: output 0 element 0"),
        "{report}"
    );
    assert!(
        has_line(
            &report,
            "FAIL concurrency.execute_distinct_models:",
            "wrong result under concurrency"
        ),
        "{report}"
    );
    assert!(has_line(&report, "PASS compile.conv.refused", ""), "{report}");
}

#[test]
fn nondeterministic_artifacts_fail() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("nondeterministic_serialize"), &[]);
    assert!(!passed);
    assert!(
        has_line(
            &report,
            "FAIL artifact.gemm_relu_softmax.round_trip:",
            "serializing one model twice gave different bytes"
        ),
        "{report}"
    );
    assert!(
        has_line(
            &report,
            "FAIL artifact.deterministic:",
            "compiling the same graph twice gave different artifacts"
        ),
        "{report}"
    );
    assert_eq!(failed_groups(&report), ["artifact", "concurrency"]);
}

#[test]
fn a_malformed_property_value_fails() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("malformed_info"), &[]);
    assert!(!passed);
    assert!(
        has_line(
            &report,
            "FAIL properties.info:",
            "malformed value: a second value (an int) after the first"
        ),
        "{report}"
    );
    assert!(has_line(&report, "PASS properties.name", ""), "{report}");
}

#[test]
fn unknown_error_codes_fail() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("unknown_error_code"), &[]);
    assert!(!passed);
    assert!(
        has_line(
            &report,
            "FAIL properties.unknown_keys:",
            "code 42 is not a DLOPT_AI2_ERROR_* code"
        ),
        "{report}"
    );
}

#[test]
fn accepting_a_host_of_abi_0_fails_negotiation() {
    let Some((faulty, _)) = libraries() else { return };
    let (passed, report) = run(faulty, Some("accept_major_0"), &[]);
    assert!(!passed);
    assert!(
        has_line(&report, "FAIL entry.negotiate.older_major:", "host 0.0 was accepted with 1.0"),
        "{report}"
    );
}

#[test]
fn a_library_without_the_entry_points_stops_after_the_first_group() {
    let Some((_, empty)) = libraries() else { return };
    let (passed, report) = run(empty, None, &[]);
    assert!(!passed);
    assert!(
        has_line(&report, "FAIL entry.symbols:", "symbol dlopt_ai2_negotiate is missing"),
        "{report}"
    );
    assert!(
        has_line(
            &report,
            "SKIP compile:",
            "the plugin cannot be loaded, negotiated or initialized"
        ),
        "{report}"
    );
    let (passed, report) = run(Path::new("/nonexistent/libnothing.so"), None, &[]);
    assert!(!passed);
    assert!(
        has_line(&report, "FAIL entry.symbols:", "cannot load /nonexistent/libnothing.so"),
        "{report}"
    );
}

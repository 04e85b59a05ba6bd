//! Real models against onnxruntime: PP-OCRv4 detection and recognition, the PP-OCR
//! text-direction classifier and the PP-LCNet orientation classifier, each imported,
//! planned for the reference input's shape and run with 2 threads inside a 2-thread rayon
//! pool; every output must be within `|actual - expected| <= 1e-4 |expected| + 1e-4` of
//! onnxruntime's.
//!
//! Data: `tools/fetch-test-data` puts the cases in `target/test-data/references/<model>/
//! <case>/` (`model.onnx`, `test_data_set_0/input_0.pb`, `output_*.pb`; or set
//! `DLOPT_TEST_DATA`). Without data the test is skipped, unless `DLOPT_CI` is set. The
//! test prints the largest errors and the time of one run per case (the fastest of a few;
//! meaningful with `--release`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use dlopt_graph::Tensor;
use dlopt_graph::onnx::proto::TensorProto;
use dlopt_graph::onnx::{import_model, tensor_from_proto};
use dlopt_runtime::{BuildOptions, Plan};
use prost::Message;

/// Threads of the pool and of the plan.
const THREADS: usize = 2;
/// Runs timed per case, the fastest reported (one in debug builds, which are slow and
/// whose times mean little).
const TIMED_RUNS: usize = if cfg!(debug_assertions) { 1 } else { 5 };

fn references_dir() -> Option<PathBuf> {
    let root = std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data"));
    let dir = root.join("references");
    dir.is_dir().then_some(dir)
}

fn read_tensor(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let proto =
        TensorProto::decode(bytes.as_slice()).map_err(|e| format!("{}: {e}", path.display()))?;
    tensor_from_proto(&proto).map_err(|e| format!("{}: {}", path.display(), e.message))
}

/// The files `<prefix><n>.pb` of `dir`, by `n`.
fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let number = path
                .file_name()?
                .to_str()?
                .strip_prefix(prefix)?
                .strip_suffix(".pb")?
                .parse()
                .ok()?;
            Some((number, path))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// The result of one case.
struct Outcome {
    /// Largest `|a - e|` and largest `|a - e| / |e|` (over elements with `|e| > 1e-3`).
    max_abs: f64,
    max_rel: f64,
    /// Elements outside the tolerance, with the first one described.
    violations: usize,
    first_violation: Option<String>,
    /// Time of one run: the fastest of [`TIMED_RUNS`] (after a warm-up run in release).
    run_seconds: f64,
    build_seconds: f64,
}

fn run_case(dir: &Path) -> Result<Outcome, String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| format!("model.onnx: {e}"))?;
    let graph = import_model(&bytes).map_err(|e| format!("import: {}", e.message))?;
    let data = dir.join("test_data_set_0");
    let inputs =
        numbered(&data, "input_").iter().map(|p| read_tensor(p)).collect::<Result<Vec<_>, _>>()?;
    let expected =
        numbered(&data, "output_").iter().map(|p| read_tensor(p)).collect::<Result<Vec<_>, _>>()?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(THREADS).build().map_err(|e| e.to_string())?;
    pool.install(|| {
        let started = Instant::now();
        let options = BuildOptions { threads: THREADS, ..Default::default() };
        let plan =
            Plan::build(&graph, &shapes, &options).map_err(|e| format!("plan: {}", e.message))?;
        let build_seconds = started.elapsed().as_secs_f64();
        if TIMED_RUNS > 1 {
            plan.run(&inputs).map_err(|e| format!("run: {}", e.message))?;
        }
        let mut run_seconds = f64::INFINITY;
        let mut outputs = Vec::new();
        for _ in 0..TIMED_RUNS {
            let started = Instant::now();
            outputs = plan.run(&inputs).map_err(|e| format!("run: {}", e.message))?;
            run_seconds = run_seconds.min(started.elapsed().as_secs_f64());
        }
        if outputs.len() != expected.len() {
            return Err(format!("{} outputs, {} expected", outputs.len(), expected.len()));
        }
        let mut outcome = Outcome {
            max_abs: 0.0,
            max_rel: 0.0,
            violations: 0,
            first_violation: None,
            run_seconds,
            build_seconds,
        };
        for (at, (actual, expected)) in outputs.iter().zip(&expected).enumerate() {
            if actual.shape() != expected.shape() {
                return Err(format!(
                    "output {at}: shape {:?}, expected {:?}",
                    actual.shape(),
                    expected.shape()
                ));
            }
            let (a, e) = (actual.data().to_f64_vec(), expected.data().to_f64_vec());
            for (index, (&a, &e)) in a.iter().zip(&e).enumerate() {
                let error = (a - e).abs();
                outcome.max_abs = outcome.max_abs.max(error);
                if e.abs() > 1e-3 {
                    outcome.max_rel = outcome.max_rel.max(error / e.abs());
                }
                if error.is_nan() || error > 1e-4 * e.abs() + 1e-4 {
                    outcome.violations += 1;
                    outcome.first_violation.get_or_insert_with(|| {
                        format!("output {at} element {index}: {a}, expected {e}")
                    });
                }
            }
        }
        Ok(outcome)
    })
}

#[test]
fn real_models_match_onnxruntime() {
    let Some(root) = references_dir() else {
        assert!(
            std::env::var_os("DLOPT_CI").is_none(),
            "reference data missing: run tools/fetch-test-data"
        );
        eprintln!("reference data not found: run tools/fetch-test-data (skipping)");
        return;
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("references directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|model| model.is_dir())
        .flat_map(|model| {
            std::fs::read_dir(model).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path()))
        })
        .filter(|case| case.join("model.onnx").is_file())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty() || std::env::var_os("DLOPT_CI").is_none(),
        "no reference cases in {}",
        root.display()
    );
    let mut failures = Vec::new();
    println!(
        "| case | max abs error | max rel error | build s | run s | result |\n|---|---|---|---|---|---|"
    );
    for case in &cases {
        let name = format!(
            "{}/{}",
            case.parent().and_then(Path::file_name).unwrap_or_default().to_string_lossy(),
            case.file_name().unwrap_or_default().to_string_lossy()
        );
        match run_case(case) {
            Ok(outcome) => {
                let verdict = match &outcome.first_violation {
                    None => "match".to_string(),
                    Some(first) => {
                        failures.push(format!(
                            "{name}: {} elements off, first {first}",
                            outcome.violations
                        ));
                        format!("MISMATCH ({} elements)", outcome.violations)
                    }
                };
                println!(
                    "| {name} | {:.2e} | {:.2e} | {:.3} | {:.4} | {verdict} |",
                    outcome.max_abs, outcome.max_rel, outcome.build_seconds, outcome.run_seconds
                );
            }
            Err(error) => {
                println!("| {name} | - | - | - | - | ERROR |");
                failures.push(format!("{name}: {error}"));
            }
        }
    }
    assert!(failures.is_empty(), "real models differ from onnxruntime:\n{}", failures.join("\n"));
}

//! ONNX's backend node tests (onnx==1.22.0, `onnx/backend/test/data/node/*`) as a
//! conformance suite: every test whose operators the runtime claims is imported, planned,
//! run and compared with the expected outputs (floats: |actual - expected| <= 1e-5 + 1e-4
//! |expected|; integers and booleans exactly).
//!
//! A test whose file uses an element type dlopt does not hold (double, string, uint16, ...)
//! is recorded as an exception with the importer's reason; tests in [`KNOWN_EXCEPTIONS`]
//! carry a reason too. Every other failure fails this test, which prints a table.
//!
//! ONNX 1.22 re-exported most node tests at the newest opset (22 to 25); dlopt imports
//! opsets 11 to 21. For the operators dlopt claims, those later versions only added element
//! types (float8, int4, ...), so the harness runs such a test as opset 21; a test whose
//! semantics differ fails and must be listed in [`KNOWN_EXCEPTIONS`].
//!
//! dlopt needs shape-like inputs (target shapes, axes, pads, repeats, scales) and convolution
//! weights to be known when a plan is built, as they are in real models (constants, or
//! computed from input shapes). Node tests feed them as graph inputs, so the harness turns
//! integer inputs, small rank-0/1 inputs and Conv / ConvTranspose weights and biases into
//! constants of the model; the operator's kernel still computes the result (a node whose
//! inputs are all constant is evaluated by its kernel).
//!
//! Data: `tools/fetch-test-data` puts the tests in `target/test-data/onnx-node`
//! (or set `DLOPT_TEST_DATA`). Without data the test is skipped, unless `DLOPT_CI` is set.
//! `DLOPT_CONFORMANCE_FILTER=<text>` runs only tests whose name contains the text;
//! `DLOPT_CONFORMANCE_TABLE=<file>` writes the per-operator table (docs/onnx-conformance.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dlopt_graph::onnx::proto::TensorProto;
use dlopt_graph::onnx::{import_model, tensor_from_proto};
use dlopt_graph::{ErrorKind, Tensor, TensorData};
use dlopt_runtime::{BuildOptions, Plan, ops};
use prost::Message;

/// Tests that fail for a reason we accept, with the reason.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "test_attention_4d_fp16_expanded",
        "float16 compute (MatMul) is not supported by the float32 native runtime",
    ),
    (
        "test_attention_4d_gqa_with_past_and_present_fp16_expanded",
        "float16 compute (MatMul) is not supported by the float32 native runtime",
    ),
    (
        "test_flexattention_fp16_expanded_ver26",
        "float16 compute (MatMul) is not supported by the float32 native runtime",
    ),
    (
        "test_causal_conv_with_state_fp16_expanded",
        "float16 compute (Conv) is not supported by the float32 native runtime",
    ),
    (
        "test_causal_conv_with_state_silu_fp16_expanded",
        "float16 compute (Conv) is not supported by the float32 native runtime",
    ),
    (
        "test_reduce_log_sum_exp_empty_set_expanded",
        "casts to DOUBLE, an element type dlopt does not hold",
    ),
    (
        "test_averagepool_2d_ceil_last_window_starts_on_pad",
        "the expected output is stored rounded to 4 decimals (0.1511; the exact mean is 0.151056)",
    ),
    (
        "test_batchnorm_epsilon_training_mode",
        "training (batch statistics) is not supported: dlopt is an inference runtime",
    ),
    (
        "test_batchnorm_example_training_mode",
        "training (batch statistics) is not supported: dlopt is an inference runtime",
    ),
    (
        "test_training_dropout",
        "random dropout (training) is not supported: dlopt is an inference runtime",
    ),
    (
        "test_training_dropout_default",
        "random dropout (training) is not supported: dlopt is an inference runtime",
    ),
    (
        "test_training_dropout_default_mask",
        "random dropout (training) is not supported: dlopt is an inference runtime",
    ),
    (
        "test_training_dropout_mask",
        "random dropout (training) is not supported: dlopt is an inference runtime",
    ),
    ("test_convtranspose_3d", "3-D transposed convolution is not supported (1-D and 2-D are)"),
    ("test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output is not supported"),
    (
        "test_maxpool_with_argmax_2d_precomputed_strides",
        "MaxPool's Indices output is not supported",
    ),
    ("test_resize_downsample_scales_cubic_antialias", "Resize antialiasing is not supported"),
    ("test_resize_downsample_scales_linear_antialias", "Resize antialiasing is not supported"),
    ("test_resize_downsample_sizes_cubic_antialias", "Resize antialiasing is not supported"),
    ("test_resize_downsample_sizes_linear_antialias", "Resize antialiasing is not supported"),
];

fn data_dir() -> Option<PathBuf> {
    let root = std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data"));
    let dir = root.join("onnx-node");
    dir.is_dir().then_some(dir)
}

enum Outcome {
    Pass,
    Fail(String),
    Exception(String),
}

fn read_tensor(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let proto =
        TensorProto::decode(bytes.as_slice()).map_err(|e| format!("{}: {e}", path.display()))?;
    tensor_from_proto(&proto).map_err(|e| e.message)
}

fn numbered_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let number = name.strip_prefix(prefix)?.strip_suffix(".pb")?.parse().ok()?;
            Some((number, path))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

fn close(actual: &Tensor, expected: &Tensor) -> Result<(), String> {
    if actual.shape() != expected.shape() {
        return Err(format!("shape {:?}, expected {:?}", actual.shape(), expected.shape()));
    }
    if actual.data_type() != expected.data_type() {
        return Err(format!("type {}, expected {}", actual.data_type(), expected.data_type()));
    }
    if actual.data_type().is_float() {
        let (a, e) = (actual.data().to_f64_vec(), expected.data().to_f64_vec());
        for (at, (&a, &e)) in a.iter().zip(&e).enumerate() {
            let both_nan = a.is_nan() && e.is_nan();
            let same_infinity = a.is_infinite() && a == e;
            if !(both_nan || same_infinity || (a - e).abs() <= 1e-5 + 1e-4 * e.abs()) {
                return Err(format!("element {at}: {a}, expected {e}"));
            }
        }
        return Ok(());
    }
    let equal = match (actual.data(), expected.data()) {
        (TensorData::Bool(a), TensorData::Bool(e)) => a == e,
        (a, e) => a.to_i64_vec() == e.to_i64_vec(),
    };
    if equal {
        Ok(())
    } else {
        Err(format!("values differ: {:?} vs {:?}", actual.data(), expected.data()))
    }
}

/// The model with opsets above 21 of the default domain declared as 21 (see the module docs).
fn model_as_opset_21(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut model =
        dlopt_graph::onnx::proto::ModelProto::decode(bytes).map_err(|e| e.to_string())?;
    for opset in &mut model.opset_import {
        if (opset.domain.is_empty() || opset.domain == "ai.onnx") && opset.version > 21 {
            opset.version = 21;
        }
    }
    Ok(model.encode_to_vec())
}

fn run_test(dir: &Path) -> Outcome {
    let bytes = match std::fs::read(dir.join("model.onnx"))
        .map_err(|e| e.to_string())
        .and_then(|b| model_as_opset_21(&b))
    {
        Ok(bytes) => bytes,
        Err(error) => return Outcome::Fail(format!("cannot read model.onnx: {error}")),
    };
    let mut graph = match import_model(&bytes) {
        Ok(graph) => graph,
        Err(error) if error.kind == ErrorKind::Unsupported => {
            return Outcome::Exception(error.message);
        }
        Err(error) => return Outcome::Fail(format!("import: {}", error.message)),
    };
    let data = dir.join("test_data_set_0");
    let inputs: Vec<Tensor> =
        match numbered_files(&data, "input_").iter().map(|p| read_tensor(p)).collect() {
            Ok(inputs) => inputs,
            Err(error) if error.contains("not supported") || error.contains("DOUBLE") => {
                return Outcome::Exception(error);
            }
            Err(error) => return Outcome::Fail(format!("input: {error}")),
        };
    let expected: Vec<Tensor> =
        match numbered_files(&data, "output_").iter().map(|p| read_tensor(p)).collect() {
            Ok(outputs) => outputs,
            Err(error) => return Outcome::Exception(format!("expected output: {error}")),
        };
    if inputs.len() != graph.inputs.len() {
        return Outcome::Fail(format!(
            "{} input files for {} graph inputs",
            inputs.len(),
            graph.inputs.len()
        ));
    }
    let inputs = freeze_shape_like_inputs(&mut graph, inputs);
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let plan = match Plan::build(&graph, &shapes, &BuildOptions::default()) {
        Ok(plan) => plan,
        Err(error) => return Outcome::Fail(format!("plan: {}", error.message)),
    };
    let outputs = match plan.run(&inputs) {
        Ok(outputs) => outputs,
        Err(error) => return Outcome::Fail(format!("run: {}", error.message)),
    };
    for (at, (actual, expected)) in outputs.iter().zip(&expected).enumerate() {
        if let Err(difference) = close(actual, expected) {
            return Outcome::Fail(format!("output {at}: {difference}"));
        }
    }
    Outcome::Pass
}

/// Turns integer inputs, small rank-0/1 inputs and convolution weights and biases into
/// constants (see the module docs) and returns the remaining run inputs.
fn freeze_shape_like_inputs(graph: &mut dlopt_graph::Graph, inputs: Vec<Tensor>) -> Vec<Tensor> {
    let weights: BTreeSet<dlopt_graph::ValueId> = graph
        .nodes
        .iter()
        .filter(|node| node.op_type == "Conv" || node.op_type == "ConvTranspose")
        .flat_map(|node| node.inputs.iter().skip(1).flatten().copied())
        .collect();
    let mut remaining = Vec::new();
    let mut kept_ids = Vec::new();
    for (id, tensor) in graph.inputs.clone().into_iter().zip(inputs) {
        let shape_like =
            matches!(tensor.data_type(), dlopt_graph::DataType::I64 | dlopt_graph::DataType::I32)
                || (tensor.rank() <= 1 && tensor.len() <= 16)
                || weights.contains(&id);
        if shape_like {
            graph.value_mut(id).constant = Some(tensor);
        } else {
            kept_ids.push(id);
            remaining.push(tensor);
        }
    }
    graph.inputs = kept_ids;
    remaining
}

/// The operator types of a test's model (before import, from the raw file), or `None`.
fn operator_types(dir: &Path) -> Option<BTreeSet<String>> {
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let model = dlopt_graph::onnx::proto::ModelProto::decode(bytes.as_slice()).ok()?;
    Some(model.graph?.node.into_iter().map(|node| node.op_type).collect())
}

#[derive(Default)]
struct Row {
    passed: usize,
    failed: Vec<(String, String)>,
    exceptions: Vec<(String, String)>,
}

#[test]
fn onnx_node_tests_of_claimed_operators_pass() {
    let Some(root) = data_dir() else {
        assert!(
            std::env::var_os("DLOPT_CI").is_none(),
            "ONNX node tests missing: run tools/fetch-test-data"
        );
        eprintln!("ONNX node tests not found: run tools/fetch-test-data (skipping)");
        return;
    };
    let filter = std::env::var("DLOPT_CONFORMANCE_FILTER").unwrap_or_default();
    let claimed: BTreeSet<&str> = ops::supported_operators()
        .into_iter()
        .filter(|(d, _)| d.is_empty())
        .map(|(_, op)| op)
        .collect();
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("onnx-node directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("model.onnx").is_file())
        .filter(|path| path.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    tests.sort();
    let mut table: BTreeMap<String, Row> = BTreeMap::new();
    let mut unclaimed = 0;
    for dir in &tests {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(op_types) = operator_types(dir) else { continue };
        if !op_types.iter().all(|op| claimed.contains(op.as_str())) {
            unclaimed += 1;
            continue;
        }
        let key = if op_types.len() == 1 {
            op_types.into_iter().next().unwrap()
        } else {
            "(several operators)".into()
        };
        let row = table.entry(key).or_default();
        let outcome = std::panic::catch_unwind(|| run_test(dir))
            .unwrap_or_else(|_| Outcome::Fail("panicked".into()));
        match outcome {
            Outcome::Pass => row.passed += 1,
            Outcome::Exception(reason) => row.exceptions.push((name, reason)),
            Outcome::Fail(reason) => {
                match KNOWN_EXCEPTIONS.iter().find(|(test, _)| *test == name) {
                    Some((_, why)) => row.exceptions.push((name, format!("{why} ({reason})"))),
                    None => row.failed.push((name, reason)),
                }
            }
        }
    }
    let mut report =
        String::from("| operator | passed | exceptions | failed |\n|---|---|---|---|\n");
    for (op, row) in &table {
        report.push_str(&format!(
            "| {op} | {} | {} | {} |\n",
            row.passed,
            row.exceptions.len(),
            row.failed.len()
        ));
    }
    let totals = table
        .values()
        .fold((0, 0, 0), |t, r| (t.0 + r.passed, t.1 + r.exceptions.len(), t.2 + r.failed.len()));
    report.push_str(&format!(
        "| **total** | **{}** | **{}** | **{}** |\n\n{} tests use operators dlopt does not claim and were not run.\n",
        totals.0, totals.1, totals.2, unclaimed
    ));
    let mut details = String::new();
    for row in table.values() {
        for (test, reason) in &row.exceptions {
            details.push_str(&format!("- exception `{test}`: {reason}\n"));
        }
    }
    let mut failures = String::new();
    for row in table.values() {
        for (test, reason) in &row.failed {
            failures.push_str(&format!("- FAILED `{test}`: {reason}\n"));
        }
    }
    println!("{report}\n{details}\n{failures}");
    if let Some(path) = std::env::var_os("DLOPT_CONFORMANCE_TABLE") {
        let text = format!("{report}\n### Exceptions\n\n{details}");
        std::fs::write(path, text).expect("write the conformance table");
    }
    assert!(failures.is_empty(), "ONNX node tests failed:\n{failures}");
}

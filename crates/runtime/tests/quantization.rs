//! QuantizeLinear and DequantizeLinear: single-node graphs against hand-computed values,
//! scales given as constants or fed at run time, large tensors over several threads,
//! int32 dequantization (biases), and the opset and type checks.

use dlopt_graph::{Attribute, Graph, GraphError, Node, Tensor, TensorData, Value};
use dlopt_runtime::{BuildOptions, Plan};

/// One input of the node under test.
enum Input {
    /// Fed when running.
    Run(Tensor),
    /// A constant of the graph.
    Const(Tensor),
}

/// Builds a graph of opset `opset` with one `op` node, runs it with `threads`, returns the
/// output.
fn run(
    op: &str,
    opset: i64,
    attributes: &[(&str, Attribute)],
    inputs: Vec<Input>,
    threads: usize,
) -> Result<Tensor, GraphError> {
    let mut graph = Graph { opset, ..Default::default() };
    let mut node = Node { name: "node".into(), op_type: op.into(), ..Default::default() };
    let mut feeds = Vec::new();
    for (at, input) in inputs.into_iter().enumerate() {
        let id = match input {
            Input::Run(tensor) => {
                let id = graph.add_value(Value {
                    name: format!("in{at}"),
                    data_type: Some(tensor.data_type()),
                    ..Default::default()
                });
                graph.inputs.push(id);
                feeds.push(tensor);
                id
            }
            Input::Const(tensor) => graph.add_constant(format!("in{at}"), tensor),
        };
        node.inputs.push(Some(id));
    }
    for (name, value) in attributes {
        node.attributes.set(*name, value.clone());
    }
    let output = graph.add_value(Value { name: "out".into(), ..Default::default() });
    node.outputs.push(output);
    graph.outputs.push(output);
    graph.nodes.push(node);
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let plan = Plan::build(&graph, &shapes, &BuildOptions { threads, ..Default::default() })?;
    Ok(plan.run(&feeds)?.remove(0))
}

fn tensor(shape: &[usize], data: TensorData) -> Tensor {
    Tensor::new(shape.to_vec(), data).unwrap()
}

#[test]
fn per_axis_quantization_matches_hand_computed_values() {
    // x [2, 2, 2], axis 1: channel 0 scale 0.5 zero point -1, channel 1 scale 2 zero point 3.
    let x =
        tensor(&[2, 2, 2], TensorData::F32(vec![0.25, 0.75, 4.0, -4.0, 100.0, -100.0, 5.0, 7.0]));
    let scale = tensor(&[2], TensorData::F32(vec![0.5, 2.0]));
    let zero = tensor(&[2], TensorData::I8(vec![-1, 3]));
    for constant in [true, false] {
        let wrap =
            |t: &Tensor| if constant { Input::Const(t.clone()) } else { Input::Run(t.clone()) };
        let y = run(
            "QuantizeLinear",
            13,
            &[],
            vec![Input::Run(x.clone()), wrap(&scale), wrap(&zero)],
            1,
        )
        .unwrap();
        // 0.25/0.5 = 0.5 -> 0 (even), 0.75/0.5 = 1.5 -> 2; 2 + 3, -2 + 3; saturated;
        // 5/2 = 2.5 -> 2, 7/2 = 3.5 -> 4.
        assert_eq!(
            *y.data(),
            TensorData::I8(vec![-1, 1, 5, 1, 127, -128, 5, 7]),
            "constant: {constant}"
        );
        let back =
            run("DequantizeLinear", 13, &[], vec![Input::Run(y), wrap(&scale), wrap(&zero)], 1)
                .unwrap();
        assert_eq!(back.as_f32().unwrap(), &[0.0, 1.0, 4.0, -4.0, 64.0, -63.5, 4.0, 8.0]);
    }
}

#[test]
fn large_tensors_give_the_same_result_on_several_threads() {
    let count = 3 * 70_000;
    let values: Vec<f32> = (0..count).map(|at| ((at * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
    let x = tensor(&[1, 3, 70_000], TensorData::F32(values.clone()));
    let scale = || Input::Const(tensor(&[3], TensorData::F32(vec![0.05, 0.1, 0.02])));
    let zero = || Input::Const(tensor(&[3], TensorData::U8(vec![128, 100, 0])));
    let one =
        run("QuantizeLinear", 21, &[], vec![Input::Run(x.clone()), scale(), zero()], 1).unwrap();
    let two = run("QuantizeLinear", 21, &[], vec![Input::Run(x), scale(), zero()], 2).unwrap();
    assert_eq!(one.data(), two.data());
    let TensorData::U8(q) = one.data() else { panic!("u8 expected") };
    for (at, &v) in values.iter().enumerate() {
        let (s, z) = [(0.05f32, 128.0f32), (0.1, 100.0), (0.02, 0.0)][at / 70_000];
        let expected = ((v / s).round_ties_even() + z).clamp(0.0, 255.0) as u8;
        assert_eq!(q[at], expected, "element {at}");
    }
}

#[test]
fn int32_dequantizes_per_axis_without_zero_point() {
    let bias = tensor(&[3], TensorData::I32(vec![1_000_000, -7, 0]));
    let scale = tensor(&[3], TensorData::F32(vec![0.25, 0.5, 4.0]));
    let y = run(
        "DequantizeLinear",
        13,
        &[("axis", Attribute::Int(0))],
        vec![Input::Const(bias), Input::Const(scale)],
        1,
    )
    .unwrap();
    assert_eq!(y.as_f32().unwrap(), &[250_000.0, -3.5, 0.0]);
}

#[test]
fn per_axis_scales_need_opset_13() {
    let x = || Input::Run(tensor(&[1, 2], TensorData::U8(vec![1, 2])));
    let scale = || Input::Const(tensor(&[2], TensorData::F32(vec![1.0, 2.0])));
    let error = run("DequantizeLinear", 12, &[], vec![x(), scale()], 1).unwrap_err();
    assert!(error.message.contains("need opset 13"), "{}", error.message);
    let y = run("DequantizeLinear", 13, &[], vec![x(), scale()], 1).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[1.0, 4.0]);
    // Per tensor works in every opset.
    let scalar = Input::Const(tensor(&[], TensorData::F32(vec![0.5])));
    let y = run("DequantizeLinear", 11, &[], vec![x(), scalar], 1).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[0.5, 1.0]);
}

#[test]
fn mismatched_types_and_shapes_are_refused() {
    let x = || Input::Run(tensor(&[2], TensorData::U8(vec![1, 2])));
    let scale = || Input::Const(tensor(&[], TensorData::F32(vec![1.0])));
    let zero = Input::Const(tensor(&[], TensorData::I8(vec![0])));
    let error = run("DequantizeLinear", 21, &[], vec![x(), scale(), zero], 1).unwrap_err();
    assert!(error.message.contains("same type"), "{}", error.message);
    let wrong = Input::Const(tensor(&[3], TensorData::F32(vec![1.0; 3])));
    let error = run("DequantizeLinear", 21, &[("axis", Attribute::Int(0))], vec![x(), wrong], 1)
        .unwrap_err();
    assert!(error.message.contains("per-axis scale"), "{}", error.message);
    let floats = Input::Run(tensor(&[2], TensorData::F32(vec![1.0, 2.0])));
    let error =
        run("QuantizeLinear", 21, &[("output_dtype", Attribute::Int(6))], vec![floats, scale()], 1)
            .unwrap_err();
    assert!(error.message.contains("output y of type i32"), "{}", error.message);
}

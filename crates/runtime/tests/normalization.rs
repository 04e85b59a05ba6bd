//! The normalization family on single-node graphs with hand-computed results:
//! BatchNormalization, InstanceNormalization, LayerNormalization, LRN, Softmax,
//! LogSoftmax, the Reduce operators, ArgMax and ArgMin.

use dlopt_graph::{
    Attribute, DataType, ErrorKind, Graph, GraphError, Node, Tensor, TensorData, Value,
};
use dlopt_runtime::{BuildOptions, Plan};

/// An input of the node under test.
enum In {
    /// Fed when running.
    Run(Tensor),
    /// A constant of the graph.
    Const(Tensor),
    /// An omitted optional input.
    Absent,
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap()
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap()
}

fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

/// Builds a graph of one `op` node and runs it with `threads`, as a graph of `opset`.
fn run_with(
    threads: usize,
    opset: i64,
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<In>,
    outputs: usize,
) -> Result<Vec<Tensor>, GraphError> {
    let mut graph = Graph { opset, ..Default::default() };
    let mut node = Node { name: "node".into(), op_type: op.into(), ..Default::default() };
    let mut feeds = Vec::new();
    for (at, input) in inputs.into_iter().enumerate() {
        let id = match input {
            In::Run(tensor) => {
                let id = graph.add_value(Value {
                    name: format!("input{at}"),
                    data_type: Some(tensor.data_type()),
                    ..Default::default()
                });
                graph.inputs.push(id);
                feeds.push(tensor);
                Some(id)
            }
            In::Const(tensor) => Some(graph.add_constant(format!("input{at}"), tensor)),
            In::Absent => None,
        };
        node.inputs.push(id);
    }
    for at in 0..outputs {
        let id = graph.add_value(Value { name: format!("output{at}"), ..Default::default() });
        node.outputs.push(id);
        graph.outputs.push(id);
    }
    for (name, value) in attributes {
        node.attributes.set(*name, value.clone());
    }
    graph.nodes.push(node);
    graph.check()?;
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let plan = Plan::build(&graph, &shapes, &BuildOptions { threads, ..Default::default() })?;
    plan.run(&feeds)
}

fn run(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<In>,
    outputs: usize,
) -> Result<Vec<Tensor>, GraphError> {
    run_with(1, 21, op, attributes, inputs, outputs)
}

/// Asserts shape and values within 1e-5 (relative for large values); NaN matches NaN.
fn assert_close(actual: &Tensor, shape: &[usize], expected: &[f32]) {
    assert_eq!(actual.shape(), shape, "shape of {actual:?}");
    let values = actual.as_f32().expect("an f32 tensor");
    assert_eq!(values.len(), expected.len());
    for (at, (&a, &e)) in values.iter().zip(expected).enumerate() {
        let close =
            (a.is_nan() && e.is_nan()) || a == e || (a - e).abs() <= 1e-5 * e.abs().max(1.0);
        assert!(close, "element {at}: got {a}, expected {e} (all: {values:?})");
    }
}

fn expect_error(result: Result<Vec<Tensor>, GraphError>, parts: &[&str]) -> GraphError {
    let error = result.expect_err("the node must be refused");
    for part in parts {
        assert!(error.message.contains(part), "'{part}' missing in: {}", error.message);
    }
    error
}

// --- BatchNormalization -------------------------------------------------------------

fn batch_norm_inputs(constant: bool) -> Vec<In> {
    let x = f32s(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let parameters = [[1.0, 2.0], [0.0, 1.0], [1.0, 3.0], [4.0, 1.0]];
    let mut inputs = vec![In::Run(x)];
    for values in parameters {
        let tensor = f32s(&[2], &values);
        inputs.push(if constant { In::Const(tensor) } else { In::Run(tensor) });
    }
    inputs
}

#[test]
fn batch_normalization_applies_per_channel_statistics() {
    // Channel 0: (x - 1) / 2 · 1 + 0; channel 1: (x - 3) / 1 · 2 + 1 (epsilon 0).
    for constant in [true, false] {
        let outputs = run(
            "BatchNormalization",
            &[("epsilon", Attribute::Float(0.0))],
            batch_norm_inputs(constant),
            1,
        )
        .unwrap();
        assert_close(&outputs[0], &[1, 2, 1, 2], &[0.0, 0.5, 1.0, 3.0]);
    }
    // The default epsilon (1e-5) is added to the variance.
    let outputs = run("BatchNormalization", &[], batch_norm_inputs(true), 1).unwrap();
    let a = 1.0 / (4.0f32 + 1e-5).sqrt();
    assert_close(&outputs[0], &[1, 2, 1, 2], &[0.0, a, 1.0, 3.0]);
}

#[test]
fn batch_normalization_refuses_training_and_bad_parameters() {
    let error = expect_error(
        run(
            "BatchNormalization",
            &[("training_mode", Attribute::Int(1))],
            batch_norm_inputs(true),
            1,
        ),
        &["node 'node' (BatchNormalization)", "training_mode"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
    expect_error(
        run("BatchNormalization", &[], batch_norm_inputs(true), 3),
        &["3 outputs", "training"],
    );
    let mut inputs = batch_norm_inputs(true);
    inputs[1] = In::Const(f32s(&[3], &[1.0, 1.0, 1.0]));
    expect_error(
        run("BatchNormalization", &[], inputs, 1),
        &["input 'scale'", "[3]", "expected [2]"],
    );
    let mut inputs = batch_norm_inputs(true);
    inputs[0] = In::Run(f32s(&[4], &[1.0; 4]));
    expect_error(run("BatchNormalization", &[], inputs, 1), &["(N, C, ...)"]);
}

// --- InstanceNormalization, LayerNormalization, LRN -----------------------------------

#[test]
fn instance_normalization_normalizes_each_sample_and_channel() {
    // Channel 0: [1, 2, 3, 4] has mean 2.5 and variance 1.25; channel 1 is constant.
    let x = f32s(&[1, 2, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0]);
    let inputs =
        vec![In::Run(x), In::Const(f32s(&[2], &[2.0, 1.0])), In::Const(f32s(&[2], &[1.0, -1.0]))];
    let outputs =
        run("InstanceNormalization", &[("epsilon", Attribute::Float(0.0))], inputs, 1).unwrap();
    let s = 2.0 / 1.25f32.sqrt();
    let expected = [1.0 - 1.5 * s, 1.0 - 0.5 * s, 1.0 + 0.5 * s, 1.0 + 1.5 * s];
    let values = outputs[0].as_f32().unwrap();
    assert_close(&f32s(&[4], &values[..4]), &[4], &expected);
    // 0 / sqrt(0): NaN for a constant channel without epsilon, as the formula says.
    assert!(values[4..].iter().all(|v| v.is_nan()));
}

#[test]
fn layer_normalization_gives_outputs_and_statistics() {
    let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0]);
    let inputs = vec![
        In::Run(x),
        In::Const(f32s(&[3], &[1.0, 1.0, 2.0])),
        In::Const(f32s(&[3], &[0.0, 0.0, 1.0])),
    ];
    let outputs =
        run("LayerNormalization", &[("epsilon", Attribute::Float(0.0))], inputs, 3).unwrap();
    // Row 1: mean 2, variance 2/3; row 2: mean 4, variance 8/3; both normalize to ±1.2247.
    let n = 1.5f32.sqrt();
    assert_close(&outputs[0], &[2, 3], &[-n, 0.0, 2.0 * n + 1.0, -n, 0.0, 2.0 * n + 1.0]);
    assert_close(&outputs[1], &[2, 1], &[2.0, 4.0]);
    assert_close(&outputs[2], &[2, 1], &[n, 1.0 / (8.0f32 / 3.0).sqrt()]);
}

#[test]
fn layer_normalization_over_several_axes_with_run_time_scale() {
    // axis 0 normalizes everything: [0, 1, 2, 3] has mean 1.5 and variance 1.25; the
    // scale [2] broadcasts along rows.
    let x = f32s(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
    let inputs = vec![In::Run(x), In::Run(f32s(&[2], &[1.0, 10.0])), In::Absent];
    let outputs = run(
        "LayerNormalization",
        &[("axis", Attribute::Int(0)), ("epsilon", Attribute::Float(0.0))],
        inputs,
        1,
    )
    .unwrap();
    let d = 1.0 / 1.25f32.sqrt();
    assert_close(&outputs[0], &[2, 2], &[-1.5 * d, -5.0 * d, 0.5 * d, 15.0 * d]);
}

#[test]
fn layer_normalization_checks_axis_and_scale() {
    let inputs = || vec![In::Run(f32s(&[2, 3], &[0.0; 6])), In::Const(f32s(&[3], &[1.0; 3]))];
    expect_error(
        run("LayerNormalization", &[("axis", Attribute::Int(2))], inputs(), 1),
        &["attribute 'axis' is 2", "[-2, 1]"],
    );
    let wrong = vec![In::Run(f32s(&[2, 3], &[0.0; 6])), In::Const(f32s(&[2], &[1.0; 2]))];
    expect_error(run("LayerNormalization", &[], wrong, 1), &["input 'Scale'", "broadcast"]);
    expect_error(
        run("LayerNormalization", &[("stash_type", Attribute::Int(11))], inputs(), 1),
        &["stash_type"],
    );
}

#[test]
fn lrn_sums_squares_over_neighbouring_channels() {
    // size 3, alpha/size = 1, beta 1, bias 1: y = x / (1 + sum of squares in the window).
    let x = f32s(&[1, 3, 1, 1], &[1.0, 2.0, 3.0]);
    let attributes = [
        ("size", Attribute::Int(3)),
        ("alpha", Attribute::Float(3.0)),
        ("beta", Attribute::Float(1.0)),
    ];
    let outputs = run("LRN", &attributes, vec![In::Run(x)], 1).unwrap();
    assert_close(&outputs[0], &[1, 3, 1, 1], &[1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0]);
    let x = f32s(&[1, 1, 1, 1], &[1.0]);
    expect_error(
        run("LRN", &[("size", Attribute::Int(0))], vec![In::Run(x.clone())], 1),
        &["attribute 'size' is 0"],
    );
    expect_error(run("LRN", &[], vec![In::Run(x)], 1), &["attribute 'size' is required"]);
}

// --- Softmax and LogSoftmax -------------------------------------------------------------

fn ln(values: &[f32]) -> Vec<f32> {
    values.iter().map(|v| v.ln()).collect()
}

#[test]
fn softmax_normalizes_along_the_last_axis_by_default() {
    let x = f32s(&[2, 3], &ln(&[1.0, 2.0, 3.0, 5.0, 5.0, 5.0]));
    let outputs = run("Softmax", &[], vec![In::Run(x.clone())], 1).unwrap();
    let third = 1.0 / 3.0;
    let expected = [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, third, third, third];
    assert_close(&outputs[0], &[2, 3], &expected);
    let outputs = run("LogSoftmax", &[], vec![In::Run(x)], 1).unwrap();
    assert_close(&outputs[0], &[2, 3], &ln(&expected));
    // Large inputs do not overflow.
    let outputs =
        run("Softmax", &[], vec![In::Run(f32s(&[2], &[1000.0, 1000.0 + 2f32.ln()]))], 1).unwrap();
    assert_close(&outputs[0], &[2], &[third, 2.0 * third]);
    // LogSoftmax of large inputs keeps the digits of the small result.
    let large = f32s(&[4], &[10000.0, 10001.0, 10002.0, 10003.0]);
    let outputs = run("LogSoftmax", &[], vec![In::Run(large)], 1).unwrap();
    let log_sum = (1.0 + (-1f32).exp() + (-2f32).exp() + (-3f32).exp()).ln();
    assert_close(&outputs[0], &[4], &[-3.0 - log_sum, -2.0 - log_sum, -1.0 - log_sum, -log_sum]);
}

#[test]
fn softmax_axis_semantics_of_opset_13_and_the_legacy_2d_coercion() {
    let x = || f32s(&[1, 2, 2], &ln(&[1.0, 2.0, 3.0, 4.0]));
    // Opset 13, axis 1: each column [1, 3] and [2, 4] is normalized.
    let outputs = run("Softmax", &[("axis", Attribute::Int(1))], vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &[0.25, 1.0 / 3.0, 0.75, 2.0 / 3.0]);
    let outputs =
        run("LogSoftmax", &[("axis", Attribute::Int(-2))], vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &ln(&[0.25, 1.0 / 3.0, 0.75, 2.0 / 3.0]));
    // Opset 11-12: coerced to 2-D at axis 1 (the default), one row of four.
    let outputs = run_with(1, 12, "Softmax", &[], vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &[0.1, 0.2, 0.3, 0.4]);
    let last = [("axis", Attribute::Int(2))];
    let outputs = run_with(1, 11, "LogSoftmax", &last, vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &ln(&[1.0 / 3.0, 2.0 / 3.0, 3.0 / 7.0, 4.0 / 7.0]));
    // The attribute overrides the opset in both directions.
    let legacy = [("dlopt_legacy_coerce_2d", Attribute::Int(1))];
    let outputs = run("Softmax", &legacy, vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &[0.1, 0.2, 0.3, 0.4]);
    let modern = [("dlopt_legacy_coerce_2d", Attribute::Int(0)), ("axis", Attribute::Int(1))];
    let outputs = run_with(1, 12, "Softmax", &modern, vec![In::Run(x())], 1).unwrap();
    assert_close(&outputs[0], &[1, 2, 2], &[0.25, 1.0 / 3.0, 0.75, 2.0 / 3.0]);
    expect_error(
        run("Softmax", &[("axis", Attribute::Int(3))], vec![In::Run(x())], 1),
        &["attribute 'axis' is 3"],
    );
    let half = Tensor::new(vec![1], TensorData::F16(vec![half::f16::ONE])).unwrap();
    expect_error(run("Softmax", &[], vec![In::Run(half)], 1), &["f16", "f32"]);
}

#[test]
fn normalizing_empty_tensors_gives_empty_results() {
    for (op, axis) in [("Softmax", 1), ("LogSoftmax", 1), ("Softmax", -1)] {
        let outputs =
            run(op, &[("axis", Attribute::Int(axis))], vec![In::Run(f32s(&[2, 0, 3], &[]))], 1)
                .unwrap();
        assert_close(&outputs[0], &[2, 0, 3], &[]);
    }
    let inputs = vec![In::Run(f32s(&[2, 0], &[])), In::Const(f32s(&[0], &[]))];
    let outputs = run("LayerNormalization", &[], inputs, 2).unwrap();
    assert_close(&outputs[0], &[2, 0], &[]);
    assert_close(&outputs[1], &[2, 1], &[f32::NAN, f32::NAN]);
    let x = f32s(&[1, 2, 0], &[]);
    let parameters = (0..4).map(|_| In::Const(f32s(&[2], &[1.0, 1.0])));
    let outputs =
        run("BatchNormalization", &[], std::iter::once(In::Run(x)).chain(parameters).collect(), 1)
            .unwrap();
    assert_close(&outputs[0], &[1, 2, 0], &[]);
}

#[test]
fn softmax_on_threads_matches_one_thread() {
    let values: Vec<f32> = (0..64 * 1024).map(|v| ((v * 7919) % 1000) as f32 / 100.0).collect();
    for (shape, axis) in [(vec![64, 1024], -1), (vec![4, 16, 1024], 1)] {
        let x = f32s(&shape, &values);
        let attributes = [("axis", Attribute::Int(axis))];
        let one = run_with(1, 21, "Softmax", &attributes, vec![In::Run(x.clone())], 1).unwrap();
        let four = run_with(4, 21, "Softmax", &attributes, vec![In::Run(x)], 1).unwrap();
        assert_eq!(one, four);
    }
}

// --- Reduce -----------------------------------------------------------------------------

fn matrix() -> Tensor {
    f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
}

#[test]
fn reductions_over_an_axis_keep_or_drop_it() {
    let reduce = |op: &str, attributes: &[(&str, Attribute)], inputs| {
        run(op, attributes, inputs, 1).unwrap().remove(0)
    };
    let axes_1 = [("axes", ints(&[1]))];
    assert_close(&reduce("ReduceSum", &axes_1, vec![In::Run(matrix())]), &[2, 1], &[6.0, 15.0]);
    // Axes as an input (opset 18; ReduceSum 13) and keepdims 0.
    let by_input = vec![In::Run(matrix()), In::Const(i64s(&[1], &[0]))];
    assert_close(
        &reduce("ReduceMean", &[("keepdims", Attribute::Int(0))], by_input),
        &[3],
        &[2.5, 3.5, 4.5],
    );
    assert_close(
        &reduce("ReduceMax", &[("axes", ints(&[-1]))], vec![In::Run(matrix())]),
        &[2, 1],
        &[3.0, 6.0],
    );
    assert_close(
        &reduce("ReduceMin", &[("axes", ints(&[0]))], vec![In::Run(matrix())]),
        &[1, 3],
        &[1.0, 2.0, 3.0],
    );
    assert_close(&reduce("ReduceProd", &axes_1, vec![In::Run(matrix())]), &[2, 1], &[6.0, 120.0]);
    assert_close(
        &reduce("ReduceL2", &axes_1, vec![In::Run(matrix())]),
        &[2, 1],
        &[14f32.sqrt(), 77f32.sqrt()],
    );
    assert_close(
        &reduce("ReduceSumSquare", &axes_1, vec![In::Run(matrix())]),
        &[2, 1],
        &[14.0, 77.0],
    );
    assert_close(
        &reduce("ReduceLogSum", &axes_1, vec![In::Run(matrix())]),
        &[2, 1],
        &[6f32.ln(), 15f32.ln()],
    );
    let e = std::f32::consts::E;
    let lse = (e + e * e + e * e * e).ln();
    assert_close(
        &reduce("ReduceLogSumExp", &axes_1, vec![In::Run(matrix())]),
        &[2, 1],
        &[lse, lse + 3.0],
    );
    let signed = f32s(&[2, 2], &[-1.0, 2.0, -3.0, -4.0]);
    assert_close(
        &reduce("ReduceL1", &[("axes", ints(&[0]))], vec![In::Run(signed)]),
        &[1, 2],
        &[4.0, 6.0],
    );
    // Large values do not overflow ReduceLogSumExp.
    let large = f32s(&[2], &[1000.0, 1000.0]);
    assert_close(
        &reduce("ReduceLogSumExp", &[], vec![In::Run(large)]),
        &[1],
        &[1000.0 + 2f32.ln()],
    );
}

#[test]
fn no_axes_reduce_everything_unless_noop_is_asked() {
    let outputs = run("ReduceSum", &[], vec![In::Run(matrix())], 1).unwrap();
    assert_close(&outputs[0], &[1, 1], &[21.0]);
    let outputs =
        run("ReduceProd", &[("keepdims", Attribute::Int(0))], vec![In::Run(matrix())], 1).unwrap();
    assert_close(&outputs[0], &[], &[720.0]);
    let noop = [("noop_with_empty_axes", Attribute::Int(1))];
    let outputs = run("ReduceMax", &noop, vec![In::Run(matrix())], 1).unwrap();
    assert_eq!(outputs[0], matrix());
    // Composite reductions still apply their element-wise steps.
    let empty_axes = vec![In::Run(matrix()), In::Const(i64s(&[0], &[]))];
    let outputs = run("ReduceSumSquare", &noop, empty_axes, 1).unwrap();
    assert_close(&outputs[0], &[2, 3], &[1.0, 4.0, 9.0, 16.0, 25.0, 36.0]);
}

#[test]
fn reductions_over_channels_planes_and_mixed_axes() {
    // [1, 2, 2, 2]: mean over H×W per channel, sum over channels, and axes 1 and 3.
    let x = f32s(&[1, 2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]);
    let mean = run("ReduceMean", &[("axes", ints(&[2, 3]))], vec![In::Run(x.clone())], 1).unwrap();
    assert_close(&mean[0], &[1, 2, 1, 1], &[2.5, 25.0]);
    let sum = run(
        "ReduceSum",
        &[("axes", ints(&[1])), ("keepdims", Attribute::Int(0))],
        vec![In::Run(x.clone())],
        1,
    )
    .unwrap();
    assert_close(&sum[0], &[1, 2, 2], &[11.0, 22.0, 33.0, 44.0]);
    let mixed = run("ReduceSum", &[("axes", ints(&[1, 3]))], vec![In::Run(x)], 1).unwrap();
    assert_close(&mixed[0], &[1, 1, 2, 1], &[33.0, 77.0]);
    let cube = f32s(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let outer = run("ReduceMax", &[("axes", ints(&[0, 2]))], vec![In::Run(cube)], 1).unwrap();
    assert_close(&outer[0], &[1, 2, 1], &[6.0, 8.0]);
}

#[test]
fn reducing_an_empty_set_gives_the_neutral_value() {
    let empty = || f32s(&[2, 0, 3], &[]);
    let cases: [(&str, f32); 5] = [
        ("ReduceSum", 0.0),
        ("ReduceProd", 1.0),
        ("ReduceMax", f32::NEG_INFINITY),
        ("ReduceMin", f32::INFINITY),
        ("ReduceLogSumExp", f32::NEG_INFINITY),
    ];
    for (op, neutral) in cases {
        let outputs = run(op, &[("axes", ints(&[1]))], vec![In::Run(empty())], 1).unwrap();
        assert_close(&outputs[0], &[2, 1, 3], &[neutral; 6]);
    }
    let outputs = run("ReduceSum", &[("axes", ints(&[2]))], vec![In::Run(empty())], 1).unwrap();
    assert_close(&outputs[0], &[2, 0, 1], &[]);
}

#[test]
fn integer_and_bool_reductions() {
    let x = i64s(&[2, 2], &[3, -4, 5, 7]);
    let outputs = run("ReduceSum", &[("axes", ints(&[1]))], vec![In::Run(x.clone())], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[2, 1], &[-1, 12]));
    let outputs =
        run("ReduceMin", &[("keepdims", Attribute::Int(0))], vec![In::Run(x.clone())], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[], &[-4]));
    let flags = Tensor::new(vec![2, 2], TensorData::Bool(vec![true, false, false, false])).unwrap();
    let outputs = run("ReduceMax", &[("axes", ints(&[1]))], vec![In::Run(flags)], 1).unwrap();
    assert_eq!(*outputs[0].data(), TensorData::Bool(vec![true, false]));
    let error = expect_error(
        run("ReduceMean", &[], vec![In::Run(x)], 1),
        &["input 'data' is i64", "ReduceMean"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
}

#[test]
fn bad_reduce_axes_are_errors() {
    expect_error(
        run("ReduceSum", &[("axes", ints(&[2]))], vec![In::Run(matrix())], 1),
        &["axes is 2", "[-2, 1]"],
    );
    expect_error(
        run("ReduceSum", &[("axes", ints(&[1, -1]))], vec![In::Run(matrix())], 1),
        &["twice"],
    );
    let both = vec![In::Run(matrix()), In::Const(i64s(&[1], &[0]))];
    expect_error(run("ReduceSum", &[("axes", ints(&[1]))], both, 1), &["both"]);
    let at_run_time = vec![In::Run(matrix()), In::Run(i64s(&[1], &[0]))];
    let error = expect_error(
        run("ReduceSum", &[], at_run_time, 1),
        &["input 'axes'", "known when the plan is built"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
}

#[test]
fn reductions_on_threads_match_one_thread() {
    let values: Vec<f32> = (0..96 * 1024).map(|v| ((v * 7919) % 1000) as f32 / 1000.0).collect();
    let x = f32s(&[2, 48, 32, 32], &values);
    for (op, axes) in
        [("ReduceMean", vec![2, 3]), ("ReduceSum", vec![1]), ("ReduceMax", vec![0, 2])]
    {
        let attributes = [("axes", ints(&axes))];
        let one = run_with(1, 21, op, &attributes, vec![In::Run(x.clone())], 1).unwrap();
        let four = run_with(4, 21, op, &attributes, vec![In::Run(x.clone())], 1).unwrap();
        assert_eq!(one, four, "{op}");
    }
}

// --- ArgMax and ArgMin --------------------------------------------------------------------

#[test]
fn arg_max_and_arg_min_select_first_or_last_index() {
    let x = || In::Run(f32s(&[2, 3], &[2.0, 7.0, 7.0, 9.0, -1.0, 9.0]));
    let outputs = run("ArgMax", &[("axis", Attribute::Int(1))], vec![x()], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[2, 1], &[1, 0]));
    let last = [
        ("axis", Attribute::Int(-1)),
        ("select_last_index", Attribute::Int(1)),
        ("keepdims", Attribute::Int(0)),
    ];
    let outputs = run("ArgMax", &last, vec![x()], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[2], &[2, 2]));
    let outputs = run("ArgMin", &[], vec![x()], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[1, 3], &[0, 1, 0]));
    let integers = In::Run(i64s(&[3], &[4, -2, 8]));
    let outputs = run("ArgMin", &[("keepdims", Attribute::Int(0))], vec![integers], 1).unwrap();
    assert_eq!(outputs[0], i64s(&[], &[1]));
    expect_error(
        run("ArgMax", &[("axis", Attribute::Int(-3))], vec![x()], 1),
        &["attribute 'axis' is -3"],
    );
    assert_eq!(DataType::I64, outputs[0].data_type());
}

//! Activations and one-input math functions: single-node graphs with hand-computed or
//! f64-reference results, attribute defaults and overrides, Clip in both opset styles,
//! Hardmax per opset, and errors for bad types, shapes and attributes.

use dlopt_graph::{Attribute, Graph, GraphError, Node, Tensor, TensorData, Value};
use dlopt_runtime::{BuildOptions, Plan};

/// One input of the node under test.
enum Input {
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

/// Builds a graph (of `opset`) with one `op` node, runs it with `threads`, returns the
/// output or the error.
fn run_full(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<Input>,
    opset: i64,
    threads: usize,
) -> Result<Tensor, GraphError> {
    let mut graph = Graph { opset, ..Default::default() };
    let mut node = Node { name: "act".into(), op_type: op.into(), ..Default::default() };
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
                Some(id)
            }
            Input::Const(tensor) => Some(graph.add_constant(format!("in{at}"), tensor)),
            Input::Absent => None,
        };
        node.inputs.push(id);
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

fn run_attrs(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<Input>,
) -> Result<Tensor, GraphError> {
    run_full(op, attributes, inputs, 21, 1)
}

/// Runs `op` with `attributes` on the f32 values `x` (shape `[len]`).
fn apply(op: &str, attributes: &[(&str, Attribute)], x: &[f32]) -> Vec<f32> {
    let out = run_attrs(op, attributes, vec![Input::Run(f32s(&[x.len()], x))]).unwrap();
    assert_eq!(out.shape(), &[x.len()]);
    out.as_f32().unwrap().to_vec()
}

fn assert_close(got: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(got.len(), expected.len());
    for (at, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let fits =
            (g.is_nan() && e.is_nan()) || g == e || (g - e).abs() <= tolerance * e.abs().max(1e-30);
        assert!(fits, "element {at}: got {g}, expected {e}");
    }
}

const XS: [f32; 9] = [-4.0, -1.5, -0.5, -0.01, 0.0, 0.01, 0.5, 1.5, 4.0];

#[test]
fn simple_activations_match_hand_computed_values() {
    assert_eq!(apply("Relu", &[], &[-1.0, 0.0, 2.5]), vec![0.0, 0.0, 2.5]);
    assert_eq!(apply("LeakyRelu", &[], &[-1.0, 2.0]), vec![-0.01, 2.0]);
    assert_eq!(
        apply("LeakyRelu", &[("alpha", Attribute::Float(0.5))], &[-4.0, 2.0]),
        vec![-2.0, 2.0]
    );
    assert_eq!(apply("HardSigmoid", &[], &[-3.0, 0.0, 1.0, 3.0]), vec![0.0, 0.5, 0.7, 1.0]);
    assert_eq!(
        apply(
            "HardSigmoid",
            &[("alpha", Attribute::Float(0.5)), ("beta", Attribute::Float(0.25))],
            &[1.0, -1.0]
        ),
        vec![0.75, 0.0]
    );
    assert_eq!(
        apply("HardSwish", &[], &[-4.0, -3.0, 0.0, 3.0, 5.0]),
        vec![-0.0, -0.0, 0.0, 3.0, 5.0]
    );
    assert_close(&apply("HardSwish", &[], &[1.0]), &[1.0 * (1.0 / 6.0 + 0.5)], 1e-7);
    assert_eq!(apply("Softsign", &[], &[-3.0, 0.0, 1.0]), vec![-0.75, 0.0, 0.5]);
    assert_eq!(apply("ThresholdedRelu", &[], &[0.5, 1.0, 1.5]), vec![0.0, 0.0, 1.5]);
    assert_eq!(
        apply("ThresholdedRelu", &[("alpha", Attribute::Float(0.2))], &[0.5, 0.1]),
        vec![0.5, 0.0]
    );
    assert_eq!(apply("Neg", &[], &[1.0, -2.0]), vec![-1.0, 2.0]);
    assert_eq!(apply("Abs", &[], &[-1.5, 2.0]), vec![1.5, 2.0]);
    assert_eq!(apply("Reciprocal", &[], &[4.0, -0.5]), vec![0.25, -2.0]);
    assert_eq!(apply("Floor", &[], &[-1.5, 1.5, 2.0]), vec![-2.0, 1.0, 2.0]);
    assert_eq!(apply("Ceil", &[], &[-1.5, 1.5, 2.0]), vec![-1.0, 2.0, 2.0]);
    assert_eq!(
        apply("Round", &[], &[0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6]),
        vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0, -3.0],
        "halves round to even"
    );
    let sign = apply("Sign", &[], &[-3.0, 0.0, 2.0, f32::NAN]);
    assert_eq!(sign[..3], [-1.0, 0.0, 1.0]);
    assert!(sign[3].is_nan());
    assert_eq!(apply("Sqrt", &[], &[4.0, 0.25]), vec![2.0, 0.5]);
    assert!(apply("Sqrt", &[], &[-1.0])[0].is_nan());
    assert_eq!(apply("Log", &[], &[1.0, 0.0]), vec![0.0, f32::NEG_INFINITY]);
}

#[test]
fn smooth_activations_match_f64_references() {
    let reference = |f: fn(f64) -> f64| XS.iter().map(|&x| f(x as f64) as f32).collect::<Vec<_>>();
    let erf = |x: f64| {
        // 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), exact in f64 for |x| <= 4.
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    };
    let softplus = |x: f64| (1.0 + x.exp()).ln();
    assert_close(&apply("Sigmoid", &[], &XS), &reference(|x| 1.0 / (1.0 + (-x).exp())), 1e-6);
    assert_close(&apply("Tanh", &[], &XS), &reference(f64::tanh), 1e-6);
    assert_close(&apply("Exp", &[], &XS), &reference(f64::exp), 1e-6);
    assert_close(
        &apply("Erf", &[], &XS),
        &XS.iter().map(|&x| erf(x as f64) as f32).collect::<Vec<_>>(),
        1e-6,
    );
    assert_close(&apply("Softplus", &[], &XS), &reference(softplus), 1e-6);
    assert_close(
        &apply("Elu", &[], &XS),
        &reference(|x| if x < 0.0 { x.exp() - 1.0 } else { x }),
        1e-6,
    );
    assert_close(
        &apply("Elu", &[("alpha", Attribute::Float(2.0))], &XS),
        &reference(|x| if x < 0.0 { 2.0 * (x.exp() - 1.0) } else { x }),
        1e-6,
    );
    assert_close(
        &apply("Selu", &[], &XS),
        &reference(|x| {
            1.050_701_022_148_132_3
                * if x > 0.0 { x } else { 1.673_263_192_176_818_8 * (x.exp() - 1.0) }
        }),
        1e-6,
    );
    assert_close(
        &apply("Celu", &[("alpha", Attribute::Float(2.0))], &XS),
        &reference(|x| x.max(0.0) + (2.0 * ((x / 2.0).exp() - 1.0)).min(0.0)),
        1e-6,
    );
    assert_close(&apply("Mish", &[], &XS), &reference(|x| x * (1.0 + x.exp()).ln().tanh()), 1e-6);
    let gelu: Vec<f32> =
        XS.iter().map(|&x| (0.5 * x as f64 * (1.0 + erf(x as f64 / 2f64.sqrt()))) as f32).collect();
    assert_close(&apply("Gelu", &[], &XS), &gelu, 1e-6);
    let gelu_tanh = reference(|x| {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
    });
    assert_close(
        &apply("Gelu", &[("approximate", Attribute::String("tanh".into()))], &XS),
        &gelu_tanh,
        1e-6,
    );
    // Far negative inputs: exact where 1 + erf(x) would cancel.
    let tail = apply("Gelu", &[], &[-5.0])[0] as f64;
    let expected = 0.5 * -5.0 * (1.0 - erf(5.0 / 2f64.sqrt()));
    assert!((tail / expected - 1.0).abs() < 1e-5, "{tail} vs {expected}");
}

#[test]
fn integer_relu_neg_abs_and_sign() {
    let x = i64s(&[4], &[-3, 0, 5, i64::MIN]);
    let get =
        |op| run_attrs(op, &[], vec![Input::Run(x.clone())]).unwrap().as_i64().unwrap().to_vec();
    assert_eq!(get("Relu"), vec![0, 0, 5, 0]);
    assert_eq!(get("Neg"), vec![3, 0, -5, i64::MIN]);
    assert_eq!(get("Abs"), vec![3, 0, 5, i64::MIN]);
    assert_eq!(get("Sign"), vec![-1, 0, 1, -1]);
    let small = run_attrs(
        "Relu",
        &[],
        vec![Input::Run(Tensor::new(vec![2], TensorData::I32(vec![-2, 2])).unwrap())],
    );
    assert_eq!(*small.unwrap().data(), TensorData::I32(vec![0, 2]));
}

#[test]
fn prelu_broadcasts_its_slope_onto_x() {
    let x: Vec<f32> = vec![-1.0, 2.0, -3.0, 4.0, -1.0, 2.0, -3.0, 4.0, -1.0, 2.0, -3.0, 4.0];
    let out = run_attrs(
        "PRelu",
        &[],
        vec![Input::Run(f32s(&[1, 3, 2, 2], &x)), Input::Const(f32s(&[3, 1, 1], &[0.1, 0.2, 0.3]))],
    )
    .unwrap();
    assert_eq!(out.shape(), &[1, 3, 2, 2]);
    assert_close(
        out.as_f32().unwrap(),
        &[-0.1, 2.0, -0.3, 4.0, -0.2, 2.0, -0.6, 4.0, -0.3, 2.0, -0.9, 4.0],
        1e-6,
    );
    let scalar = run_attrs(
        "PRelu",
        &[],
        vec![Input::Run(f32s(&[2], &[-2.0, 2.0])), Input::Run(f32s(&[1], &[0.5]))],
    );
    assert_eq!(scalar.unwrap().as_f32().unwrap(), &[-1.0, 2.0]);
    let integers = run_attrs(
        "PRelu",
        &[],
        vec![Input::Run(i64s(&[2], &[-2, 3])), Input::Const(i64s(&[], &[3]))],
    );
    assert_eq!(integers.unwrap().as_i64().unwrap(), &[-6, 3]);
    let error = run_attrs(
        "PRelu",
        &[],
        vec![Input::Run(f32s(&[2], &[0.0; 2])), Input::Const(f32s(&[2, 2], &[0.0; 4]))],
    )
    .unwrap_err();
    assert!(
        error.message.contains("input slope of shape [2, 2] cannot be broadcast to [2]"),
        "{}",
        error.message
    );
}

#[test]
fn clip_takes_attributes_before_opset_11_and_inputs_after() {
    let x = || Input::Run(f32s(&[5], &[-3.0, -1.0, 0.0, 1.0, 3.0]));
    let attributes = run_attrs(
        "Clip",
        &[("min", Attribute::Float(-1.5)), ("max", Attribute::Float(2.0))],
        vec![x()],
    );
    assert_eq!(attributes.unwrap().as_f32().unwrap(), &[-1.5, -1.0, 0.0, 1.0, 2.0]);
    let only_max = run_attrs("Clip", &[("max", Attribute::Float(0.5))], vec![x()]).unwrap();
    assert_eq!(only_max.as_f32().unwrap(), &[-3.0, -1.0, 0.0, 0.5, 0.5]);
    let constants = run_attrs(
        "Clip",
        &[],
        vec![x(), Input::Const(f32s(&[], &[-2.0])), Input::Const(f32s(&[], &[0.5]))],
    );
    assert_eq!(constants.unwrap().as_f32().unwrap(), &[-2.0, -1.0, 0.0, 0.5, 0.5]);
    let runtime_min =
        run_attrs("Clip", &[], vec![x(), Input::Run(f32s(&[], &[0.0])), Input::Absent]);
    assert_eq!(runtime_min.unwrap().as_f32().unwrap(), &[0.0, 0.0, 0.0, 1.0, 3.0]);
    let only_max =
        run_attrs("Clip", &[], vec![x(), Input::Absent, Input::Run(f32s(&[1], &[-2.0]))]);
    assert_eq!(only_max.unwrap().as_f32().unwrap(), &[-3.0, -2.0, -2.0, -2.0, -2.0]);
    let unbounded = run_attrs("Clip", &[], vec![x()]).unwrap();
    assert_eq!(unbounded.as_f32().unwrap(), &[-3.0, -1.0, 0.0, 1.0, 3.0]);
    let crossed = run_attrs(
        "Clip",
        &[],
        vec![x(), Input::Const(f32s(&[], &[2.0])), Input::Const(f32s(&[], &[1.0]))],
    );
    assert_eq!(crossed.unwrap().as_f32().unwrap(), &[1.0; 5], "min > max gives max everywhere");
    let integers = run_attrs(
        "Clip",
        &[],
        vec![
            Input::Run(i64s(&[3], &[-9, 5, 9])),
            Input::Const(i64s(&[], &[0])),
            Input::Const(i64s(&[], &[6])),
        ],
    );
    assert_eq!(integers.unwrap().as_i64().unwrap(), &[0, 5, 6]);

    let error = run_attrs("Clip", &[], vec![x(), Input::Run(f32s(&[2], &[0.0, 1.0]))]).unwrap_err();
    assert!(
        error.message.contains("input 'min' must be a scalar, got shape [2]"),
        "{}",
        error.message
    );
    let error = run_attrs("Clip", &[], vec![x(), Input::Const(i64s(&[], &[0]))]).unwrap_err();
    assert!(
        error.message.contains("input 'min' must have the input's type f32, got i64"),
        "{}",
        error.message
    );
    let error = run_attrs(
        "Clip",
        &[("min", Attribute::Float(0.0))],
        vec![x(), Input::Const(f32s(&[], &[0.0]))],
    )
    .unwrap_err();
    assert!(error.message.contains("both as attributes"), "{}", error.message);
    let error = run_attrs(
        "Clip",
        &[],
        vec![Input::Run(Tensor::new(vec![1], TensorData::Bool(vec![true])).unwrap())],
    )
    .unwrap_err();
    assert!(
        error.message.contains("Clip does not support input X of type bool"),
        "{}",
        error.message
    );
}

#[test]
fn hardmax_follows_the_opset_of_the_graph() {
    let x = || Input::Run(f32s(&[2, 2, 2], &[1.0, 5.0, 3.0, 2.0, 7.0, 7.0, 0.0, 9.0]));
    let per_axis = run_full("Hardmax", &[], vec![x()], 13, 1).unwrap();
    assert_eq!(per_axis.as_f32().unwrap(), &[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    let middle = run_full("Hardmax", &[("axis", Attribute::Int(1))], vec![x()], 13, 1).unwrap();
    assert_eq!(middle.as_f32().unwrap(), &[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    let first = run_full("Hardmax", &[("axis", Attribute::Int(0))], vec![x()], 13, 1).unwrap();
    assert_eq!(first.as_f32().unwrap(), &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
    // Before opset 13: the dimensions from axis 1 on are one flattened row per batch item.
    let flattened = run_full("Hardmax", &[], vec![x()], 11, 1).unwrap();
    assert_eq!(flattened.as_f32().unwrap(), &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    let error = run_full("Hardmax", &[("axis", Attribute::Int(3))], vec![x()], 13, 1).unwrap_err();
    assert!(error.message.contains("attribute 'axis' is 3, outside [-3, 2]"), "{}", error.message);
}

#[test]
fn bad_types_and_attributes_are_errors() {
    let error = run_attrs("Sigmoid", &[], vec![Input::Run(i64s(&[1], &[1]))]).unwrap_err();
    assert!(error.message.starts_with("node 'act' (Sigmoid)"), "{}", error.message);
    assert!(
        error.message.contains("Sigmoid does not support input X of type i64 (supported: f32)"),
        "{}",
        error.message
    );
    let error = run_attrs(
        "Relu",
        &[],
        vec![Input::Run(Tensor::new(vec![1], TensorData::U8(vec![1])).unwrap())],
    )
    .unwrap_err();
    assert!(error.message.contains("type u8"), "{}", error.message);
    let error = run_attrs(
        "Gelu",
        &[("approximate", Attribute::String("fast".into()))],
        vec![Input::Run(f32s(&[1], &[1.0]))],
    )
    .unwrap_err();
    assert!(
        error
            .message
            .contains("attribute 'approximate' must be \"none\" or \"tanh\", got \"fast\""),
        "{}",
        error.message
    );
    let error = run_attrs(
        "LeakyRelu",
        &[("alpha", Attribute::String("x".into()))],
        vec![Input::Run(f32s(&[1], &[1.0]))],
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'alpha' must be a float"), "{}", error.message);
    let error = run_attrs(
        "Celu",
        &[("alpha", Attribute::Float(0.0))],
        vec![Input::Run(f32s(&[1], &[1.0]))],
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'alpha' must not be 0"), "{}", error.message);
    let error = run_attrs("Tanh", &[], vec![]).unwrap_err();
    assert!(error.message.contains("input 0 is required"), "{}", error.message);
}

#[test]
fn large_inputs_split_across_threads_give_the_same_results() {
    let len = 150_000;
    let x: Vec<f32> = (0..len).map(|v| (v as f32 - 75_000.0) / 5000.0).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    for op in ["Sigmoid", "HardSwish", "Tanh", "Relu"] {
        let compute = |threads| {
            pool.install(|| {
                run_full(op, &[], vec![Input::Run(f32s(&[len], &x))], 21, threads).unwrap()
            })
        };
        let serial = compute(1);
        assert_eq!(serial, compute(4), "{op}");
        let values = serial.as_f32().unwrap();
        let last = x[len - 1];
        let expected = match op {
            "Sigmoid" => 1.0 / (1.0 + (-last as f64).exp()),
            "HardSwish" => last as f64,
            "Tanh" => (last as f64).tanh(),
            _ => last as f64,
        };
        assert!((values[len - 1] as f64 - expected).abs() < 1e-6, "{op}: {}", values[len - 1]);
    }
}

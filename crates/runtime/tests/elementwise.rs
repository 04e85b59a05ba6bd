//! Elementwise arithmetic, comparison, logic and Where: single-node graphs with
//! hand-computed results, broadcasting in all its common forms, integer semantics, and
//! errors (never panics) for bad shapes and types.

use dlopt_graph::{Attribute, DataType, Graph, GraphError, Node, Tensor, TensorData, Value};
use dlopt_runtime::{BuildOptions, Plan};

/// One input of the node under test.
enum Input {
    /// Fed when running.
    Run(Tensor),
    /// A constant of the graph.
    Const(Tensor),
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap()
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap()
}

fn i32s(shape: &[usize], values: &[i32]) -> Tensor {
    Tensor::new(shape.to_vec(), TensorData::I32(values.to_vec())).unwrap()
}

fn bools(shape: &[usize], values: &[bool]) -> Tensor {
    Tensor::new(shape.to_vec(), TensorData::Bool(values.to_vec())).unwrap()
}

/// Builds a graph of one `op` node with `inputs`, runs it with `threads` and returns the
/// output, or the build or run error.
fn run_with(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<Input>,
    threads: usize,
) -> Result<Tensor, GraphError> {
    let mut graph = Graph { opset: 21, ..Default::default() };
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
    graph.check().unwrap();
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let plan = Plan::build(&graph, &shapes, &BuildOptions { threads, ..Default::default() })?;
    Ok(plan.run(&feeds)?.remove(0))
}

fn run(op: &str, inputs: Vec<Input>) -> Result<Tensor, GraphError> {
    run_with(op, &[], inputs, 1)
}

fn binary(op: &str, a: Tensor, b: Tensor) -> Tensor {
    run(op, vec![Input::Run(a), Input::Run(b)]).unwrap()
}

fn assert_close(got: &Tensor, shape: &[usize], expected: &[f32]) {
    assert_eq!(got.shape(), shape);
    let values = got.as_f32().expect("an f32 output");
    assert_eq!(values.len(), expected.len());
    for (at, (&g, &e)) in values.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "element {at}: got {g}, expected {e}");
    }
}

#[test]
fn add_broadcasts_equal_scalar_per_channel_both_sided_and_rank_differences() {
    let equal = binary(
        "Add",
        f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
        f32s(&[2, 2], &[10.0, 20.0, 30.0, 40.0]),
    );
    assert_close(&equal, &[2, 2], &[11.0, 22.0, 33.0, 44.0]);

    let scalar = binary("Add", f32s(&[3], &[1.0, 2.0, 3.0]), f32s(&[], &[0.5]));
    assert_close(&scalar, &[3], &[1.5, 2.5, 3.5]);
    let scalar_first = binary("Sub", f32s(&[], &[10.0]), f32s(&[3], &[1.0, 2.0, 3.0]));
    assert_close(&scalar_first, &[3], &[9.0, 8.0, 7.0]);

    // [N=2, C=2, H=1, W=2] + [C, 1, 1]
    let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let channel = binary("Add", f32s(&[2, 2, 1, 2], &x), f32s(&[2, 1, 1], &[100.0, 200.0]));
    assert_close(
        &channel,
        &[2, 2, 1, 2],
        &[100.0, 101.0, 202.0, 203.0, 104.0, 105.0, 206.0, 207.0],
    );

    let outer =
        binary("Mul", f32s(&[3, 1], &[1.0, 2.0, 3.0]), f32s(&[1, 4], &[1.0, 10.0, 100.0, 1000.0]));
    assert_close(
        &outer,
        &[3, 4],
        &[1.0, 10.0, 100.0, 1000.0, 2.0, 20.0, 200.0, 2000.0, 3.0, 30.0, 300.0, 3000.0],
    );

    let rank = binary(
        "Div",
        f32s(&[2, 1, 3], &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]),
        f32s(&[3], &[2.0, 4.0, 8.0]),
    );
    assert_close(&rank, &[2, 1, 3], &[1.0, 1.0, 0.75, 4.0, 2.5, 1.5]);
    let middle = binary(
        "Sub",
        f32s(&[2, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        f32s(&[1, 3, 2], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
    );
    assert_close(
        &middle,
        &[2, 3, 2],
        &[1.0, 0.0, 2.0, 1.0, 3.0, 2.0, 4.0, 3.0, 5.0, 4.0, 6.0, 5.0],
    );
}

#[test]
fn integer_arithmetic_truncates_and_wraps() {
    let quotient = binary("Div", i64s(&[4], &[7, -7, 7, -7]), i64s(&[4], &[2, 2, -2, -2]));
    assert_eq!(quotient.as_i64().unwrap(), &[3, -3, -3, 3]);
    let quotient = binary("Div", i32s(&[3], &[9, -9, i32::MIN]), i32s(&[], &[4]));
    assert_eq!(*quotient.data(), TensorData::I32(vec![2, -2, i32::MIN / 4]));
    let wrapped = binary("Add", i64s(&[2], &[i64::MAX, 1]), i64s(&[1], &[1]));
    assert_eq!(wrapped.as_i64().unwrap(), &[i64::MIN, 2]);
    let overflow = binary("Div", i64s(&[1], &[i64::MIN]), i64s(&[1], &[-1]));
    assert_eq!(overflow.as_i64().unwrap(), &[i64::MIN], "wraps instead of panicking");
    let product = binary("Mul", i32s(&[2, 1], &[3, -4]), i32s(&[2], &[5, 6]));
    assert_eq!(*product.data(), TensorData::I32(vec![15, 18, -20, -24]));
    let difference = binary("Sub", i64s(&[2], &[5, 0]), i64s(&[], &[7]));
    assert_eq!(difference.as_i64().unwrap(), &[-2, -7]);
}

#[test]
fn integer_division_by_zero_is_an_error() {
    let error = run("Div", vec![Input::Run(i64s(&[2], &[4, 5])), Input::Run(i64s(&[2], &[1, 0]))])
        .unwrap_err();
    assert!(error.message.contains("division by zero"), "{}", error.message);
    assert!(error.message.contains("node 'node' (Div)"), "{}", error.message);
    // Constant inputs are evaluated while building: the error comes from the build.
    let error = run("Mod", vec![Input::Const(i32s(&[1], &[4])), Input::Const(i32s(&[1], &[0]))])
        .unwrap_err();
    assert!(error.message.contains("division by zero"), "{}", error.message);
    // Float division by zero is IEEE.
    let inf = binary("Div", f32s(&[2], &[1.0, -1.0]), f32s(&[], &[0.0]));
    assert_eq!(inf.as_f32().unwrap(), &[f32::INFINITY, f32::NEG_INFINITY]);
}

#[test]
fn mod_follows_python_or_c_by_fmod() {
    let python =
        binary("Mod", i64s(&[6], &[-4, 7, 5, 4, -7, 8]), i64s(&[6], &[2, -3, 8, -2, 3, 5]));
    assert_eq!(python.as_i64().unwrap(), &[0, -2, 5, 0, 2, 3]);
    let c = run_with(
        "Mod",
        &[("fmod", Attribute::Int(1))],
        vec![Input::Run(i32s(&[4], &[-7, 7, -7, 7])), Input::Run(i32s(&[4], &[3, -3, -3, 3]))],
        1,
    )
    .unwrap();
    assert_eq!(*c.data(), TensorData::I32(vec![-1, 1, -1, 1]));
    let float = run_with(
        "Mod",
        &[("fmod", Attribute::Int(1))],
        vec![
            Input::Run(f32s(&[4], &[-4.5, 7.5, 5.0, -7.0])),
            Input::Run(f32s(&[4], &[2.0, -2.0, 8.0, 3.0])),
        ],
        1,
    )
    .unwrap();
    assert_close(&float, &[4], &[-0.5, 1.5, 5.0, -1.0]);
    let error = run("Mod", vec![Input::Run(f32s(&[1], &[1.0])), Input::Run(f32s(&[1], &[1.0]))])
        .unwrap_err();
    assert!(error.message.contains("'fmod' must be 1 for floating-point"), "{}", error.message);
    let error = run_with(
        "Mod",
        &[("fmod", Attribute::Int(2))],
        vec![Input::Run(i64s(&[1], &[1])), Input::Run(i64s(&[1], &[1]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'fmod' must be 0 or 1, got 2"), "{}", error.message);
}

#[test]
fn pow_handles_float_and_integer_exponents_and_constant_fast_paths() {
    let x = f32s(&[4], &[1.5, -2.0, 3.0, 0.25]);
    let general = binary("Pow", x.clone(), f32s(&[4], &[2.0, 3.0, -1.0, 0.5]));
    assert_close(&general, &[4], &[2.25, -8.0, 1.0 / 3.0, 0.5]);
    for (exponent, expected) in [(2.0, [2.25, 4.0, 9.0, 0.0625]), (1.0, [1.5, -2.0, 3.0, 0.25])] {
        let fast =
            run("Pow", vec![Input::Run(x.clone()), Input::Const(f32s(&[], &[exponent]))]).unwrap();
        assert_close(&fast, &[4], &expected);
    }
    let root = run(
        "Pow",
        vec![Input::Run(f32s(&[3], &[4.0, 2.0, 0.0])), Input::Const(f32s(&[1], &[0.5]))],
    )
    .unwrap();
    assert_close(&root, &[3], &[2.0, std::f32::consts::SQRT_2, 0.0]);
    // A constant exponent that broadcasts the output larger than X takes the general path.
    let wide =
        run("Pow", vec![Input::Run(f32s(&[1], &[3.0])), Input::Const(f32s(&[2], &[2.0, 2.0]))])
            .unwrap();
    assert_close(&wide, &[2], &[9.0, 9.0]);
    let integer_exponent = binary("Pow", x.clone(), i64s(&[4], &[2, 3, 0, -1]));
    assert_close(&integer_exponent, &[4], &[2.25, -8.0, 1.0, 4.0]);
    let integer_base =
        binary("Pow", i64s(&[5], &[2, -3, 1, -1, 5]), i64s(&[5], &[10, 3, -4, -3, -1]));
    assert_eq!(integer_base.as_i64().unwrap(), &[1024, -27, 1, -1, 0]);
    let float_exponent = binary("Pow", i32s(&[2], &[4, 9]), f32s(&[], &[0.5]));
    assert_eq!(*float_exponent.data(), TensorData::I32(vec![2, 3]));
    let error = run("Pow", vec![Input::Run(bools(&[1], &[true])), Input::Run(f32s(&[1], &[1.0]))])
        .unwrap_err();
    assert!(
        error.message.contains("Pow does not support input X of type bool"),
        "{}",
        error.message
    );
}

#[test]
fn variadic_operators_broadcast_all_their_inputs() {
    let inputs = || {
        vec![
            Input::Run(f32s(&[2, 1], &[1.0, 5.0])),
            Input::Run(f32s(&[3], &[3.0, 0.0, 6.0])),
            Input::Const(f32s(&[], &[2.0])),
        ]
    };
    assert_close(&run("Sum", inputs()).unwrap(), &[2, 3], &[6.0, 3.0, 9.0, 10.0, 7.0, 13.0]);
    assert_close(
        &run("Mean", inputs()).unwrap(),
        &[2, 3],
        &[2.0, 1.0, 3.0, 10.0 / 3.0, 7.0 / 3.0, 13.0 / 3.0],
    );
    assert_close(&run("Min", inputs()).unwrap(), &[2, 3], &[1.0, 0.0, 1.0, 2.0, 0.0, 2.0]);
    assert_close(&run("Max", inputs()).unwrap(), &[2, 3], &[3.0, 2.0, 6.0, 5.0, 5.0, 6.0]);
    let single = run("Max", vec![Input::Run(f32s(&[2], &[1.0, -1.0]))]).unwrap();
    assert_close(&single, &[2], &[1.0, -1.0]);
    let pair = binary("Mean", f32s(&[2], &[1.0, 2.0]), f32s(&[2], &[2.0, 5.0]));
    assert_close(&pair, &[2], &[1.5, 3.5]);
    let integers = run(
        "Max",
        vec![
            Input::Run(i64s(&[3], &[1, 9, -3])),
            Input::Run(i64s(&[1], &[2])),
            Input::Run(i64s(&[3], &[0, 0, -5])),
        ],
    )
    .unwrap();
    assert_eq!(integers.as_i64().unwrap(), &[2, 9, 2]);
    let sum = binary("Sum", i32s(&[2], &[1, 2]), i32s(&[2, 1], &[10, 20]));
    assert_eq!(*sum.data(), TensorData::I32(vec![11, 12, 21, 22]));
    let nan = binary("Min", f32s(&[2], &[f32::NAN, 1.0]), f32s(&[2], &[0.0, f32::NAN]));
    assert!(nan.as_f32().unwrap().iter().all(|v| v.is_nan()), "NaN propagates: {nan:?}");

    let error =
        run("Mean", vec![Input::Run(i64s(&[1], &[1])), Input::Run(i64s(&[1], &[2]))]).unwrap_err();
    assert!(
        error.message.contains("Mean does not support inputs of type i64"),
        "{}",
        error.message
    );
    let error =
        run("Sum", vec![Input::Run(i64s(&[1], &[1])), Input::Run(f32s(&[1], &[2.0]))]).unwrap_err();
    assert!(error.message.contains("same type, got i64 and f32"), "{}", error.message);
    let error =
        run("Max", vec![Input::Run(f32s(&[2], &[1.0, 2.0])), Input::Run(f32s(&[3], &[0.0; 3]))])
            .unwrap_err();
    assert!(error.message.contains("cannot be broadcast"), "{}", error.message);
}

#[test]
fn f16_arithmetic_is_computed_in_f32_and_rounded_once() {
    let halves = |values: &[f32]| {
        Tensor::new(
            vec![values.len()],
            TensorData::F16(values.iter().map(|&v| half::f16::from_f32(v)).collect()),
        )
        .unwrap()
    };
    let as_f32 = |tensor: &Tensor| tensor.to_f32_vec();
    assert_eq!(
        as_f32(&binary("Add", halves(&[1.5, 2048.0]), halves(&[0.25, 1.0]))),
        vec![1.75, 2048.0],
        "2049 rounds to even"
    );
    assert_eq!(as_f32(&binary("Max", halves(&[1.0, -3.0]), halves(&[2.0, -4.0]))), vec![2.0, -3.0]);
    let remainder = run_with(
        "Mod",
        &[("fmod", Attribute::Int(1))],
        vec![Input::Run(halves(&[-4.5, 7.5])), Input::Run(halves(&[2.0, -2.0]))],
        1,
    )
    .unwrap();
    assert_eq!(remainder.data_type(), DataType::F16);
    assert_eq!(as_f32(&remainder), vec![-0.5, 1.5]);
    assert_eq!(as_f32(&binary("Mean", halves(&[1.0, 2.0]), halves(&[2.0, 5.0]))), vec![1.5, 3.5]);
    let error =
        run("Pow", vec![Input::Run(halves(&[1.0])), Input::Run(f32s(&[1], &[1.0]))]).unwrap_err();
    assert!(
        error.message.contains("Pow does not support input X of type f16"),
        "{}",
        error.message
    );
}

#[test]
fn comparisons_give_bools() {
    let a = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = f32s(&[2], &[2.0, 2.0]);
    let cases = [
        ("Equal", [false, true, false, false]),
        ("Less", [true, false, false, false]),
        ("Greater", [false, false, true, true]),
        ("LessOrEqual", [true, true, false, false]),
        ("GreaterOrEqual", [false, true, true, true]),
    ];
    for (op, expected) in cases {
        let got = binary(op, a.clone(), b.clone());
        assert_eq!(got.shape(), &[2, 2]);
        assert_eq!(*got.data(), TensorData::Bool(expected.to_vec()), "{op}");
    }
    let integers = binary("Less", i64s(&[3], &[-1, 0, 1]), i64s(&[], &[0]));
    assert_eq!(*integers.data(), TensorData::Bool(vec![true, false, false]));
    let equal_bools = binary("Equal", bools(&[2], &[true, false]), bools(&[2, 1], &[true, false]));
    assert_eq!(*equal_bools.data(), TensorData::Bool(vec![true, false, false, true]));
    let error =
        run("Less", vec![Input::Run(bools(&[1], &[true])), Input::Run(bools(&[1], &[false]))])
            .unwrap_err();
    assert!(
        error.message.contains("Less does not support inputs of type bool"),
        "{}",
        error.message
    );
}

#[test]
fn logic_operators_work_on_bools_only() {
    let a = bools(&[4], &[false, false, true, true]);
    let b = bools(&[4], &[false, true, false, true]);
    assert_eq!(
        *binary("And", a.clone(), b.clone()).data(),
        TensorData::Bool(vec![false, false, false, true])
    );
    assert_eq!(
        *binary("Or", a.clone(), b.clone()).data(),
        TensorData::Bool(vec![false, true, true, true])
    );
    assert_eq!(
        *binary("Xor", a.clone(), b.clone()).data(),
        TensorData::Bool(vec![false, true, true, false])
    );
    let broadcast = binary("And", bools(&[2, 1], &[true, false]), bools(&[2], &[true, false]));
    assert_eq!(*broadcast.data(), TensorData::Bool(vec![true, false, false, false]));
    let not = run("Not", vec![Input::Run(a)]).unwrap();
    assert_eq!(*not.data(), TensorData::Bool(vec![true, true, false, false]));
    let error = run("Not", vec![Input::Run(f32s(&[1], &[1.0]))]).unwrap_err();
    assert!(
        error.message.contains("Not does not support input X of type f32"),
        "{}",
        error.message
    );
    let error =
        run("Or", vec![Input::Run(i64s(&[1], &[1])), Input::Run(i64s(&[1], &[0]))]).unwrap_err();
    assert!(error.message.contains("type i64"), "{}", error.message);
}

#[test]
fn where_selects_with_three_way_broadcasting() {
    let picked = run(
        "Where",
        vec![
            Input::Run(bools(&[2, 1], &[true, false])),
            Input::Run(f32s(&[1, 3], &[1.0, 2.0, 3.0])),
            Input::Const(f32s(&[], &[-1.0])),
        ],
    )
    .unwrap();
    assert_close(&picked, &[2, 3], &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    let integers = run(
        "Where",
        vec![
            Input::Run(bools(&[3], &[true, false, true])),
            Input::Run(i64s(&[3], &[1, 2, 3])),
            Input::Run(i64s(&[3], &[-1, -2, -3])),
        ],
    )
    .unwrap();
    assert_eq!(integers.as_i64().unwrap(), &[1, -2, 3]);
    let error = run(
        "Where",
        vec![
            Input::Run(f32s(&[1], &[1.0])),
            Input::Run(f32s(&[1], &[1.0])),
            Input::Run(f32s(&[1], &[1.0])),
        ],
    )
    .unwrap_err();
    assert!(error.message.contains("input condition of type f32"), "{}", error.message);
    let error = run(
        "Where",
        vec![
            Input::Run(bools(&[1], &[true])),
            Input::Run(f32s(&[1], &[1.0])),
            Input::Run(i64s(&[1], &[1])),
        ],
    )
    .unwrap_err();
    assert!(
        error.message.contains("X and Y must have the same type, got f32 and i64"),
        "{}",
        error.message
    );
}

#[test]
fn bad_shapes_and_types_are_errors_naming_the_node() {
    let error = run(
        "Add",
        vec![Input::Run(f32s(&[2, 3], &[0.0; 6])), Input::Run(f32s(&[4, 3], &[0.0; 12]))],
    )
    .unwrap_err();
    assert!(error.message.starts_with("node 'node' (Add)"), "{}", error.message);
    assert!(error.message.contains("[2, 3], [4, 3] cannot be broadcast"), "{}", error.message);
    let error =
        run("Mul", vec![Input::Run(f32s(&[2], &[0.0; 2])), Input::Run(i64s(&[2], &[0; 2]))])
            .unwrap_err();
    assert!(error.message.contains("same type, got f32 and i64"), "{}", error.message);
    let error =
        run("Add", vec![Input::Run(bools(&[1], &[true])), Input::Run(bools(&[1], &[true]))])
            .unwrap_err();
    assert!(
        error.message.contains("Add does not support inputs of type bool"),
        "{}",
        error.message
    );
    let error = run("Sub", vec![Input::Run(f32s(&[1], &[0.0]))]).unwrap_err();
    assert!(error.message.contains("input 1 is required"), "{}", error.message);
    let error = run_with(
        "Add",
        &[("axis", Attribute::Int(1)), ("broadcast", Attribute::Int(1))],
        vec![Input::Run(f32s(&[1], &[0.0])), Input::Run(f32s(&[1], &[0.0]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'axis'"), "{}", error.message);
}

#[test]
fn constant_inputs_are_folded_while_building() {
    let mut graph = Graph { opset: 21, ..Default::default() };
    let a = graph.add_constant("a".into(), i64s(&[2], &[6, 8]));
    let b = graph.add_constant("b".into(), i64s(&[], &[2]));
    let out = graph.add_value(Value {
        name: "out".into(),
        data_type: Some(DataType::I64),
        ..Default::default()
    });
    graph.nodes.push(Node {
        name: "div".into(),
        op_type: "Div".into(),
        inputs: vec![Some(a), Some(b)],
        outputs: vec![out],
        ..Default::default()
    });
    graph.outputs.push(out);
    let plan = Plan::build(&graph, &[], &BuildOptions::default()).unwrap();
    assert_eq!(plan.step_count(), 0);
    assert_eq!(plan.run(&[]).unwrap()[0].as_i64().unwrap(), &[3, 4]);
}

#[test]
fn large_broadcasts_split_across_threads_give_the_same_results() {
    // [2, 8, 64, 128] (131072 elements, above the parallel threshold) with per-channel and
    // per-column operands.
    let shape = [2usize, 8, 64, 128];
    let len: usize = shape.iter().product();
    let x: Vec<f32> = (0..len).map(|v| (v % 1000) as f32).collect();
    let scale: Vec<f32> = (0..8).map(|c| c as f32 + 1.0).collect();
    let column: Vec<f32> = (0..128).map(|w| w as f32 * 0.5).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let compute = |threads| {
        pool.install(|| {
            let scaled = run_with(
                "Mul",
                &[],
                vec![Input::Run(f32s(&shape, &x)), Input::Const(f32s(&[8, 1, 1], &scale))],
                threads,
            )
            .unwrap();
            run_with(
                "Add",
                &[],
                vec![Input::Run(scaled), Input::Const(f32s(&[128], &column))],
                threads,
            )
            .unwrap()
        })
    };
    let serial = compute(1);
    let parallel = compute(4);
    assert_eq!(serial, parallel);
    let values = parallel.as_f32().unwrap();
    for at in [0, 8191, 8192, 65535, 65536, 100_000, len - 1] {
        let channel = (at / (64 * 128)) % 8;
        let expected = (at % 1000) as f32 * scale[channel] + column[at % 128];
        assert_eq!(values[at], expected, "element {at}");
    }
}

//! The shape family on single-node graphs with hand-computed results: Identity, Dropout,
//! Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Constant, ConstantOfShape, Cast,
//! CastLike, Expand, Range and EyeLike.

use half::{bf16, f16};

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

fn tensor(shape: &[usize], data: TensorData) -> Tensor {
    Tensor::new(shape.to_vec(), data).unwrap()
}

fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

/// 0, 1, 2, ... as f32 of `shape`.
fn iota(shape: &[usize]) -> Tensor {
    let count = shape.iter().product::<usize>();
    f32s(shape, &(0..count).map(|v| v as f32).collect::<Vec<_>>())
}

/// The outcome of building and running a graph of one node.
struct Outcome {
    outputs: Vec<Tensor>,
    steps: usize,
}

/// Builds a graph of one `op` node and runs it.
fn run_node(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<In>,
    outputs: usize,
) -> Result<Outcome, GraphError> {
    let mut graph = Graph::default();
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
    let plan = Plan::build(&graph, &shapes, &BuildOptions::default())?;
    Ok(Outcome { outputs: plan.run(&feeds)?, steps: plan.step_count() })
}

fn run(op: &str, attributes: &[(&str, Attribute)], inputs: Vec<In>) -> Result<Tensor, GraphError> {
    run_node(op, attributes, inputs, 1).map(|outcome| outcome.outputs.into_iter().next().unwrap())
}

fn expect_error(result: Result<Tensor, GraphError>, parts: &[&str]) -> GraphError {
    let error = result.expect_err("the node must be refused");
    for part in parts {
        assert!(error.message.contains(part), "'{part}' missing in: {}", error.message);
    }
    error
}

// --- Identity and Dropout -----------------------------------------------------------------

#[test]
fn identity_and_dropout_pass_data_through() {
    let x = iota(&[2, 3]);
    assert_eq!(run("Identity", &[], vec![In::Run(x.clone())]).unwrap(), x);
    let outcome =
        run_node("Dropout", &[("seed", Attribute::Int(3))], vec![In::Run(x.clone())], 2).unwrap();
    assert_eq!(outcome.outputs[0], x);
    assert_eq!(outcome.outputs[1], tensor(&[2, 3], TensorData::Bool(vec![true; 6])));
    // Inference ignores the ratio; training with ratio 0 is the same.
    let ratio = || In::Const(f32s(&[], &[0.5]));
    let not_training = In::Const(tensor(&[], TensorData::Bool(vec![false])));
    assert_eq!(run("Dropout", &[], vec![In::Run(x.clone()), ratio(), not_training]).unwrap(), x);
    let training = || In::Const(tensor(&[], TensorData::Bool(vec![true])));
    let zero = In::Const(f32s(&[], &[0.0]));
    assert_eq!(run("Dropout", &[], vec![In::Run(x.clone()), zero, training()]).unwrap(), x);
    let error = expect_error(
        run("Dropout", &[], vec![In::Run(x.clone()), ratio(), training()]),
        &["node 'node' (Dropout)", "training_mode", "0.5"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
    expect_error(
        run("Dropout", &[], vec![In::Run(x.clone()), In::Absent, training()]),
        &["ratio 0.5"],
    );
    let integers = i64s(&[2], &[4, 5]);
    assert_eq!(run("Dropout", &[], vec![In::Run(integers.clone())]).unwrap(), integers);
}

// --- Shape and Size ------------------------------------------------------------------------

#[test]
fn shape_slices_dimensions_and_size_counts_elements() {
    let x = || In::Run(iota(&[2, 3, 4]));
    assert_eq!(run("Shape", &[], vec![x()]).unwrap(), i64s(&[3], &[2, 3, 4]));
    assert_eq!(
        run("Shape", &[("start", Attribute::Int(-1))], vec![x()]).unwrap(),
        i64s(&[1], &[4])
    );
    assert_eq!(
        run("Shape", &[("end", Attribute::Int(-1))], vec![x()]).unwrap(),
        i64s(&[2], &[2, 3])
    );
    let middle = [("start", Attribute::Int(1)), ("end", Attribute::Int(2))];
    assert_eq!(run("Shape", &middle, vec![x()]).unwrap(), i64s(&[1], &[3]));
    let clipped = [("start", Attribute::Int(-10)), ("end", Attribute::Int(10))];
    assert_eq!(run("Shape", &clipped, vec![x()]).unwrap(), i64s(&[3], &[2, 3, 4]));
    let reversed = [("start", Attribute::Int(2)), ("end", Attribute::Int(1))];
    assert_eq!(run("Shape", &reversed, vec![x()]).unwrap(), i64s(&[0], &[]));
    assert_eq!(run("Size", &[], vec![x()]).unwrap(), i64s(&[], &[24]));
    let flags = In::Run(tensor(&[0, 5], TensorData::Bool(vec![])));
    assert_eq!(run("Size", &[], vec![flags]).unwrap(), i64s(&[], &[0]));
}

#[test]
fn shapes_of_run_inputs_are_known_when_building() {
    // y = Reshape(z, Shape(x, start = -2)): Shape folds to [3, 4], only Reshape runs.
    let mut graph = Graph::default();
    let mut value = |name: &str, data_type: Option<DataType>| {
        graph.add_value(Value { name: name.into(), data_type, ..Default::default() })
    };
    let (x, z) = (value("x", Some(DataType::F32)), value("z", Some(DataType::F32)));
    let (shape, y) = (value("shape", None), value("y", None));
    graph.inputs.extend([x, z]);
    graph.outputs.push(y);
    graph.nodes.push(Node {
        name: "shape".into(),
        op_type: "Shape".into(),
        inputs: vec![Some(x)],
        outputs: vec![shape],
        ..Default::default()
    });
    graph.nodes[0].attributes.set("start", Attribute::Int(-2));
    graph.nodes.push(Node {
        name: "reshape".into(),
        op_type: "Reshape".into(),
        inputs: vec![Some(z), Some(shape)],
        outputs: vec![y],
        ..Default::default()
    });
    let plan = Plan::build(&graph, &[vec![2, 3, 4], vec![12]], &BuildOptions::default()).unwrap();
    assert_eq!(plan.step_op_types(), ["Reshape"]);
    let outputs = plan.run(&[iota(&[2, 3, 4]), iota(&[12])]).unwrap();
    assert_eq!(outputs[0], iota(&[3, 4]));
}

// --- Reshape and Flatten -------------------------------------------------------------------

#[test]
fn reshape_copies_zeros_and_infers_minus_one() {
    let x = iota(&[2, 3, 4]);
    let reshaped =
        run("Reshape", &[], vec![In::Run(x.clone()), In::Const(i64s(&[2], &[0, -1]))]).unwrap();
    assert_eq!(reshaped, x.reshaped(vec![2, 12]).unwrap());
    let reshaped =
        run("Reshape", &[], vec![In::Run(x.clone()), In::Const(i64s(&[3], &[4, 0, 2]))]).unwrap();
    assert_eq!(reshaped.shape(), &[4, 3, 2]);
    // allowzero keeps a literal 0.
    let empty = f32s(&[0, 3], &[]);
    let target = In::Const(i64s(&[2], &[3, 0]));
    let reshaped =
        run("Reshape", &[("allowzero", Attribute::Int(1))], vec![In::Run(empty), target]).unwrap();
    assert_eq!(reshaped.shape(), &[3, 0]);
    // A constant input is reshaped while building: no step remains.
    let outcome =
        run_node("Reshape", &[], vec![In::Const(x.clone()), In::Const(i64s(&[1], &[-1]))], 1)
            .unwrap();
    assert_eq!((outcome.steps, outcome.outputs[0].shape()), (0, &[24][..]));
}

#[test]
fn bad_reshape_targets_are_errors() {
    let x = || In::Run(iota(&[2, 3]));
    let target = |values: &[i64]| In::Const(i64s(&[values.len()], values));
    expect_error(
        run("Reshape", &[], vec![x(), target(&[-1, -1])]),
        &["node 'node' (Reshape)", "input 'shape'", "more than one"],
    );
    let error = expect_error(
        run("Reshape", &[], vec![x(), target(&[4, 2])]),
        &["[4, 2]", "8 elements", "6"],
    );
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    expect_error(run("Reshape", &[], vec![x(), target(&[4, -1])]), &["cannot infer"]);
    expect_error(run("Reshape", &[], vec![x(), target(&[-3, 2])]), &["only -1"]);
    expect_error(run("Reshape", &[], vec![x(), In::Const(f32s(&[1], &[6.0]))]), &["int64"]);
    let error = expect_error(
        run("Reshape", &[], vec![x(), In::Run(i64s(&[1], &[6]))]),
        &["input 1", "known when the plan is built"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
}

#[test]
fn flatten_splits_at_the_axis() {
    let x = || In::Run(iota(&[2, 3, 4]));
    let shape_for = |axis: i64| {
        run("Flatten", &[("axis", Attribute::Int(axis))], vec![x()]).unwrap().shape().to_vec()
    };
    assert_eq!(shape_for(0), [1, 24]);
    assert_eq!(shape_for(2), [6, 4]);
    assert_eq!(shape_for(3), [24, 1]);
    assert_eq!(shape_for(-1), [6, 4]);
    assert_eq!(shape_for(-3), [1, 24]);
    assert_eq!(run("Flatten", &[], vec![x()]).unwrap(), iota(&[2, 12]));
    expect_error(
        run("Flatten", &[("axis", Attribute::Int(4))], vec![x()]),
        &["attribute 'axis' is 4", "[-3, 3]"],
    );
    expect_error(
        run("Flatten", &[("axis", Attribute::Int(-4))], vec![x()]),
        &["attribute 'axis' is -4"],
    );
}

// --- Squeeze and Unsqueeze -----------------------------------------------------------------

#[test]
fn squeeze_removes_named_or_all_unit_dimensions() {
    let x = || In::Run(iota(&[1, 3, 1]));
    assert_eq!(run("Squeeze", &[("axes", ints(&[0]))], vec![x()]).unwrap().shape(), &[3, 1]);
    assert_eq!(
        run("Squeeze", &[], vec![x(), In::Const(i64s(&[1], &[-1]))]).unwrap().shape(),
        &[1, 3]
    );
    assert_eq!(run("Squeeze", &[], vec![x()]).unwrap(), iota(&[3]));
    let error =
        expect_error(run("Squeeze", &[("axes", ints(&[1]))], vec![x()]), &["axis 1", "size 3"]);
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    expect_error(run("Squeeze", &[("axes", ints(&[3]))], vec![x()]), &["axes is 3", "[-3, 2]"]);
}

#[test]
fn unsqueeze_inserts_unit_dimensions_of_the_output() {
    let x = || In::Run(iota(&[3, 4]));
    assert_eq!(
        run("Unsqueeze", &[("axes", ints(&[0, -1]))], vec![x()]).unwrap().shape(),
        &[1, 3, 4, 1]
    );
    let unsorted = In::Const(i64s(&[2], &[3, 1]));
    assert_eq!(run("Unsqueeze", &[], vec![x(), unsorted]).unwrap().shape(), &[3, 1, 4, 1]);
    let scalar = In::Run(f32s(&[], &[5.0]));
    assert_eq!(
        run("Unsqueeze", &[("axes", ints(&[0]))], vec![scalar]).unwrap(),
        f32s(&[1], &[5.0])
    );
    expect_error(run("Unsqueeze", &[("axes", ints(&[1, 1]))], vec![x()]), &["twice"]);
    expect_error(
        run("Unsqueeze", &[("axes", ints(&[4]))], vec![x()]),
        &["axes (axes of the output) is 4", "[-3, 2] for rank 3"],
    );
    expect_error(run("Unsqueeze", &[], vec![x()]), &["axes are required"]);
}

// --- Constant and ConstantOfShape ----------------------------------------------------------

#[test]
fn constants_come_from_their_one_attribute() {
    let constant = |name: &str, value: Attribute| run("Constant", &[(name, value)], vec![]);
    assert_eq!(constant("value_float", Attribute::Float(1.5)).unwrap(), f32s(&[], &[1.5]));
    assert_eq!(
        constant("value_floats", Attribute::Floats(vec![1.0, 2.0])).unwrap(),
        f32s(&[2], &[1.0, 2.0])
    );
    assert_eq!(constant("value_int", Attribute::Int(-3)).unwrap(), i64s(&[], &[-3]));
    assert_eq!(constant("value_ints", ints(&[4, 5])).unwrap(), i64s(&[2], &[4, 5]));
    let bytes = tensor(&[2, 1], TensorData::U8(vec![7, 9]));
    assert_eq!(constant("value", Attribute::Tensor(bytes.clone())).unwrap(), bytes);
    let error = expect_error(
        constant("value_string", Attribute::String("hi".into())),
        &["value_string", "not supported"],
    );
    assert_eq!(error.kind, ErrorKind::Unsupported);
    expect_error(run("Constant", &[], vec![]), &["exactly one", "none"]);
    let two = [("value_int", Attribute::Int(1)), ("value_float", Attribute::Float(1.0))];
    expect_error(run("Constant", &two, vec![]), &["exactly one", "value_float, value_int"]);
}

#[test]
fn constant_of_shape_fills_the_shape_with_the_value() {
    let value = Attribute::Tensor(i64s(&[1], &[7]));
    let filled =
        run("ConstantOfShape", &[("value", value)], vec![In::Const(i64s(&[2], &[2, 3]))]).unwrap();
    assert_eq!(filled, i64s(&[2, 3], &[7; 6]));
    let zeros = run("ConstantOfShape", &[], vec![In::Const(i64s(&[1], &[3]))]).unwrap();
    assert_eq!(zeros, f32s(&[3], &[0.0; 3]));
    let scalar = run("ConstantOfShape", &[], vec![In::Const(i64s(&[0], &[]))]).unwrap();
    assert_eq!(scalar, f32s(&[], &[0.0]));
    let empty = run("ConstantOfShape", &[], vec![In::Const(i64s(&[2], &[0, 4]))]).unwrap();
    assert_eq!(empty.shape(), &[0, 4]);
    expect_error(
        run("ConstantOfShape", &[], vec![In::Const(i64s(&[1], &[-2]))]),
        &["negative dimension -2"],
    );
    let two = Attribute::Tensor(f32s(&[2], &[1.0, 2.0]));
    expect_error(
        run("ConstantOfShape", &[("value", two)], vec![In::Const(i64s(&[1], &[2]))]),
        &["attribute 'value'", "one element"],
    );
    let huge = In::Const(i64s(&[3], &[1 << 20, 1 << 20, 1 << 20]));
    let error = expect_error(run("ConstantOfShape", &[], vec![huge]), &["exceed"]);
    assert_eq!(error.kind, ErrorKind::TooLarge);
}

// --- Cast and CastLike ---------------------------------------------------------------------

fn cast_to(input: Tensor, to: DataType) -> Tensor {
    run("Cast", &[("to", Attribute::Int(to.onnx_code() as i64))], vec![In::Run(input)]).unwrap()
}

#[test]
fn cast_converts_between_the_eight_types() {
    let x = f32s(&[5], &[-1.7, 0.0, 2.5, 300.0, -0.0]);
    assert_eq!(cast_to(x.clone(), DataType::I64), i64s(&[5], &[-1, 0, 2, 300, 0]));
    assert_eq!(*cast_to(x.clone(), DataType::I32).data(), TensorData::I32(vec![-1, 0, 2, 300, 0]));
    assert_eq!(
        *cast_to(x.clone(), DataType::Bool).data(),
        TensorData::Bool(vec![true, false, true, true, false])
    );
    let halves: Vec<f16> =
        [-1.7f32, 0.0, 2.5, 300.0, -0.0].iter().map(|&v| f16::from_f32(v)).collect();
    assert_eq!(*cast_to(x.clone(), DataType::F16).data(), TensorData::F16(halves));
    assert_eq!(
        *cast_to(x.clone(), DataType::BF16).data(),
        TensorData::BF16(vec![
            bf16::from_f32(-1.7),
            bf16::ZERO,
            bf16::from_f32(2.5),
            bf16::from_f32(300.0),
            bf16::NEG_ZERO
        ])
    );
    assert_eq!(cast_to(x.clone(), DataType::F32), x);
    // Integers wrap to narrower integers (two's complement) and convert exactly to floats.
    let wide = i64s(&[3], &[200, -1, 1 << 40]);
    assert_eq!(*cast_to(wide.clone(), DataType::I8).data(), TensorData::I8(vec![-56, -1, 0]));
    assert_eq!(*cast_to(wide.clone(), DataType::U8).data(), TensorData::U8(vec![200, 255, 0]));
    assert_eq!(cast_to(wide, DataType::F32), f32s(&[3], &[200.0, -1.0, (1u64 << 40) as f32]));
    let flags = tensor(&[2], TensorData::Bool(vec![true, false]));
    assert_eq!(cast_to(flags, DataType::F32), f32s(&[2], &[1.0, 0.0]));
}

#[test]
fn cast_refuses_types_outside_the_ir_by_name() {
    let x = || In::Run(f32s(&[1], &[1.0]));
    for (code, name) in
        [(11, "DOUBLE"), (8, "STRING"), (17, "FLOAT8"), (12, "UINT32"), (99, "unknown")]
    {
        let error = expect_error(
            run("Cast", &[("to", Attribute::Int(code))], vec![x()]),
            &["attribute 'to'", name],
        );
        assert_eq!(error.kind, ErrorKind::Unsupported);
    }
    expect_error(run("Cast", &[], vec![x()]), &["attribute 'to' is required"]);
    // Opset 19's saturate only concerns float8 and is accepted.
    let saturate = [("to", Attribute::Int(7)), ("saturate", Attribute::Int(0))];
    assert_eq!(run("Cast", &saturate, vec![x()]).unwrap(), i64s(&[1], &[1]));
}

#[test]
fn cast_like_takes_the_type_of_its_second_input() {
    let like = In::Const(tensor(&[0], TensorData::I32(vec![])));
    let cast = run("CastLike", &[], vec![In::Run(f32s(&[2], &[3.9, -3.9])), like]).unwrap();
    assert_eq!(*cast.data(), TensorData::I32(vec![3, -3]));
}

// --- Expand, Range, EyeLike ----------------------------------------------------------------

#[test]
fn expand_broadcasts_in_both_directions() {
    let column = f32s(&[3, 1], &[1.0, 2.0, 3.0]);
    let target = In::Const(i64s(&[3], &[2, 1, 2]));
    let expanded = run("Expand", &[], vec![In::Run(column.clone()), target]).unwrap();
    assert_eq!(
        expanded,
        f32s(&[2, 3, 2], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
    );
    // A target smaller than the input keeps the input's dimensions.
    let unchanged =
        run("Expand", &[], vec![In::Run(column.clone()), In::Const(i64s(&[1], &[1]))]).unwrap();
    assert_eq!(unchanged, column);
    let flags = tensor(&[2], TensorData::Bool(vec![true, false]));
    let expanded =
        run("Expand", &[], vec![In::Run(flags), In::Const(i64s(&[2], &[2, 1]))]).unwrap();
    assert_eq!(*expanded.data(), TensorData::Bool(vec![true, false, true, false]));
    let error = expect_error(
        run("Expand", &[], vec![In::Run(column.clone()), In::Const(i64s(&[2], &[2, 2]))]),
        &["do not broadcast"],
    );
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    let huge = In::Const(i64s(&[3], &[1 << 20, 3, 1 << 20]));
    let error = expect_error(run("Expand", &[], vec![In::Run(column), huge]), &["exceed"]);
    assert_eq!(error.kind, ErrorKind::TooLarge);
}

#[test]
fn range_counts_from_start_by_delta() {
    let scalar = |value: f32| In::Const(f32s(&[], &[value]));
    assert_eq!(
        run("Range", &[], vec![scalar(1.0), scalar(5.0), scalar(2.0)]).unwrap(),
        f32s(&[2], &[1.0, 3.0])
    );
    assert_eq!(
        run("Range", &[], vec![scalar(1.0), scalar(0.0), scalar(1.0)]).unwrap(),
        f32s(&[0], &[])
    );
    let int = |value: i64| In::Const(i64s(&[], &[value]));
    assert_eq!(run("Range", &[], vec![int(10), int(4), int(-2)]).unwrap(), i64s(&[3], &[10, 8, 6]));
    assert_eq!(run("Range", &[], vec![int(0), int(7), int(3)]).unwrap(), i64s(&[3], &[0, 3, 6]));
    let int32 = |value: i32| In::Const(tensor(&[], TensorData::I32(vec![value])));
    let range = run("Range", &[], vec![int32(-3), int32(0), int32(2)]).unwrap();
    assert_eq!(*range.data(), TensorData::I32(vec![-3, -1]));
    expect_error(run("Range", &[], vec![int(0), int(4), int(0)]), &["input 'delta' is 0"]);
    expect_error(run("Range", &[], vec![int(0), scalar(4.0), int(1)]), &["input 'limit' is f32"]);
    expect_error(
        run("Range", &[], vec![int(0), int(4), In::Run(i64s(&[], &[1]))]),
        &["input 2", "known when the plan is built"],
    );
}

#[test]
fn eye_like_fills_diagonal_k() {
    let x = || In::Run(tensor(&[2, 3], TensorData::I32(vec![0; 6])));
    let eye = run("EyeLike", &[], vec![x()]).unwrap();
    assert_eq!(*eye.data(), TensorData::I32(vec![1, 0, 0, 0, 1, 0]));
    let upper = [("k", Attribute::Int(1)), ("dtype", Attribute::Int(1))];
    assert_eq!(
        run("EyeLike", &upper, vec![x()]).unwrap(),
        f32s(&[2, 3], &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    );
    expect_error(run("EyeLike", &[], vec![In::Run(iota(&[3]))]), &["2-D"]);
}

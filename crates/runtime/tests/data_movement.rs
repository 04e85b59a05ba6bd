//! Data movement operators on single-node graphs: Concat, Split, Slice, Transpose, Gather,
//! GatherElements, Pad, Tile, DepthToSpace and SpaceToDepth, with hand-computed
//! expectations, every data type, parallel runs and error cases. (Resize and Upsample are
//! tested in `src/ops/resize_tests.rs`.)

use dlopt_graph::{
    Attribute, Attributes, DataType, ErrorKind, Graph, GraphError, Node, Tensor, TensorData, Value,
};
use dlopt_runtime::{BuildOptions, Plan};

/// A node input.
#[derive(Clone)]
enum In {
    /// Fed at run time.
    Run(Tensor),
    /// A constant of the graph.
    Const(Tensor),
    /// An omitted optional input.
    None,
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap()
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap()
}

fn range(shape: &[usize]) -> Tensor {
    let count: usize = shape.iter().product();
    f32s(shape, &(0..count).map(|v| v as f32).collect::<Vec<_>>())
}

fn attributes(list: &[(&str, Attribute)]) -> Attributes {
    let mut attributes = Attributes::default();
    for (name, value) in list {
        attributes.set(*name, value.clone());
    }
    attributes
}

fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

fn string(value: &str) -> Attribute {
    Attribute::String(value.into())
}

/// Builds a graph of one node and runs it; `threads` > 1 runs inside a rayon pool.
fn run_with(
    op: &str,
    list: &[(&str, Attribute)],
    inputs: &[In],
    outputs: usize,
    opset: i64,
    threads: usize,
) -> Result<Vec<Tensor>, GraphError> {
    let mut graph = Graph { opset, ..Default::default() };
    let mut node_inputs = Vec::new();
    let mut feeds = Vec::new();
    for (at, input) in inputs.iter().enumerate() {
        node_inputs.push(match input {
            In::Run(tensor) => {
                let id = graph.add_value(Value {
                    name: format!("in{at}"),
                    data_type: Some(tensor.data_type()),
                    ..Default::default()
                });
                graph.inputs.push(id);
                feeds.push(tensor.clone());
                Some(id)
            }
            In::Const(tensor) => Some(graph.add_constant(format!("in{at}"), tensor.clone())),
            In::None => None,
        });
    }
    let node_outputs: Vec<_> = (0..outputs)
        .map(|at| graph.add_value(Value { name: format!("out{at}"), ..Default::default() }))
        .collect();
    graph.outputs = node_outputs.clone();
    graph.nodes.push(Node {
        name: "n".into(),
        op_type: op.into(),
        inputs: node_inputs,
        outputs: node_outputs,
        attributes: attributes(list),
        ..Default::default()
    });
    graph.check()?;
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let options = BuildOptions { threads, opset };
    let plan = Plan::build(&graph, &shapes, &options)?;
    if threads > 1 {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| plan.run(&feeds))
    } else {
        plan.run(&feeds)
    }
}

fn run(
    op: &str,
    list: &[(&str, Attribute)],
    inputs: &[In],
    outputs: usize,
) -> Result<Vec<Tensor>, GraphError> {
    run_with(op, list, inputs, outputs, 21, 1)
}

fn run1(op: &str, list: &[(&str, Attribute)], inputs: &[In]) -> Tensor {
    run(op, list, inputs, 1).unwrap().remove(0)
}

fn check(tensor: &Tensor, shape: &[usize], values: &[f32]) {
    assert_eq!(tensor.shape(), shape, "shape");
    let got = tensor.to_f32_vec();
    assert_eq!(got.len(), values.len());
    for (at, (&a, &b)) in got.iter().zip(values).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "element {at}: got {a}, expected {b}\n{got:?}"
        );
    }
}

fn error_of(result: Result<Vec<Tensor>, GraphError>) -> GraphError {
    match result {
        Ok(outputs) => panic!("expected an error, got {outputs:?}"),
        Err(error) => error,
    }
}

fn assert_error(result: Result<Vec<Tensor>, GraphError>, kind: ErrorKind, words: &[&str]) {
    let error = error_of(result);
    assert_eq!(error.kind, kind, "{}", error.message);
    for word in words {
        assert!(error.message.contains(word), "'{word}' not in: {}", error.message);
    }
}

// ---------------------------------------------------------------------------------------
// Concat and Split.

#[test]
fn concat_joins_along_any_axis() {
    let a = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = f32s(&[2, 1], &[5.0, 6.0]);
    let joined = run1("Concat", &[("axis", Attribute::Int(-1))], &[In::Run(a.clone()), In::Run(b)]);
    check(&joined, &[2, 3], &[1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);
    let c = f32s(&[1, 2], &[7.0, 8.0]);
    let stacked = run1("Concat", &[("axis", Attribute::Int(0))], &[In::Run(a), In::Const(c)]);
    check(&stacked, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 7.0, 8.0]);
}

#[test]
fn concat_accepts_empty_inputs_and_folds_constants() {
    let empty = f32s(&[0, 2], &[]);
    let a = f32s(&[1, 2], &[1.0, 2.0]);
    let joined = run1("Concat", &[("axis", Attribute::Int(0))], &[In::Const(empty), In::Run(a)]);
    check(&joined, &[1, 2], &[1.0, 2.0]);
    let shape = run1(
        "Concat",
        &[("axis", Attribute::Int(0))],
        &[In::Const(i64s(&[2], &[1, 3])), In::Const(i64s(&[1], &[-1]))],
    );
    assert_eq!(shape.as_i64().unwrap(), &[1, 3, -1]);
}

#[test]
fn concat_rejects_bad_axes_and_shapes() {
    let a = In::Run(f32s(&[2, 2], &[0.0; 4]));
    let b = In::Run(f32s(&[3, 3], &[0.0; 9]));
    assert_error(
        run("Concat", &[("axis", Attribute::Int(1))], &[a.clone(), b], 1),
        ErrorKind::ShapeMismatch,
        &["input 1", "[3, 3]"],
    );
    assert_error(
        run("Concat", &[("axis", Attribute::Int(2))], &[a.clone(), a.clone()], 1),
        ErrorKind::InvalidModel,
        &["'axis'", "2"],
    );
    assert_error(
        run("Concat", &[], std::slice::from_ref(&a), 1),
        ErrorKind::InvalidModel,
        &["'axis'", "required"],
    );
    let ints = In::Run(i64s(&[2, 2], &[0; 4]));
    assert_error(
        run("Concat", &[("axis", Attribute::Int(0))], &[a.clone(), ints], 1),
        ErrorKind::InvalidModel,
        &["i64"],
    );
    let rank3 = In::Run(f32s(&[2, 2, 1], &[0.0; 4]));
    assert_error(
        run("Concat", &[("axis", Attribute::Int(0))], &[a, rank3], 1),
        ErrorKind::ShapeMismatch,
        &["input 1"],
    );
}

#[test]
fn split_uses_attribute_input_num_outputs_or_equal_parts() {
    let x = In::Run(range(&[2, 6]));
    let equal =
        run_with("Split", &[("axis", Attribute::Int(1))], std::slice::from_ref(&x), 3, 11, 1)
            .unwrap();
    check(&equal[0], &[2, 2], &[0.0, 1.0, 6.0, 7.0]);
    check(&equal[2], &[2, 2], &[4.0, 5.0, 10.0, 11.0]);
    let attribute = run_with(
        "Split",
        &[("axis", Attribute::Int(-1)), ("split", ints(&[1, 5]))],
        std::slice::from_ref(&x),
        2,
        11,
        1,
    )
    .unwrap();
    check(&attribute[0], &[2, 1], &[0.0, 6.0]);
    check(&attribute[1], &[2, 5], &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    let input =
        run_with("Split", &[], &[x.clone(), In::Const(i64s(&[2], &[0, 2]))], 2, 13, 1).unwrap();
    assert_eq!(input[0].shape(), &[0, 6]);
    check(&input[1], &[2, 6], &range(&[2, 6]).to_f32_vec());
    let uneven = run_with(
        "Split",
        &[("axis", Attribute::Int(1)), ("num_outputs", Attribute::Int(4))],
        &[x],
        4,
        18,
        1,
    )
    .unwrap();
    let sizes: Vec<usize> = uneven.iter().map(|t| t.shape()[1]).collect();
    assert_eq!(sizes, [2, 2, 2, 0]);
    check(&uneven[2], &[2, 2], &[4.0, 5.0, 10.0, 11.0]);
}

#[test]
fn split_errors_name_the_problem() {
    let x = In::Run(range(&[2, 5]));
    assert_error(
        run_with("Split", &[("axis", Attribute::Int(1))], std::slice::from_ref(&x), 2, 11, 1),
        ErrorKind::ShapeMismatch,
        &["5", "2 equal"],
    );
    assert_error(
        run_with("Split", &[("split", ints(&[1, 2]))], std::slice::from_ref(&x), 2, 11, 1),
        ErrorKind::ShapeMismatch,
        &["add up to 3"],
    );
    assert_error(
        run_with("Split", &[("split", ints(&[1, 1]))], std::slice::from_ref(&x), 3, 11, 1),
        ErrorKind::InvalidModel,
        &["3 outputs"],
    );
    let computed = In::Run(i64s(&[2], &[1, 1]));
    assert_error(
        run_with("Split", &[], &[x.clone(), computed], 2, 13, 1),
        ErrorKind::Unsupported,
        &["input 1", "known"],
    );
    assert_error(
        run_with("Split", &[("axis", Attribute::Int(-3))], &[x], 2, 13, 1),
        ErrorKind::InvalidModel,
        &["'axis'", "-3"],
    );
}

// ---------------------------------------------------------------------------------------
// Slice.

fn slice(
    x: Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Vec<Tensor>, GraphError> {
    let list = |values: &[i64]| In::Const(i64s(&[values.len()], values));
    let mut inputs = vec![In::Run(x), list(starts), list(ends)];
    inputs.push(axes.map_or(In::None, list));
    inputs.push(steps.map_or(In::None, list));
    run("Slice", &[], &inputs, 1)
}

#[test]
fn slice_takes_ranges_with_steps_and_clamps() {
    let x = range(&[3, 4]);
    check(
        &slice(x.clone(), &[1, 0], &[3, 3], None, None).unwrap()[0],
        &[2, 3],
        &[4.0, 5.0, 6.0, 8.0, 9.0, 10.0],
    );
    check(
        &slice(x.clone(), &[-1], &[i64::MIN], Some(&[-1]), Some(&[-2])).unwrap()[0],
        &[3, 2],
        &[3.0, 1.0, 7.0, 5.0, 11.0, 9.0],
    );
    check(
        &slice(x.clone(), &[-100], &[100], Some(&[0]), Some(&[2])).unwrap()[0],
        &[2, 4],
        &[0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0],
    );
    check(
        &slice(x.clone(), &[10, 0], &[0, 10], Some(&[0, 1]), Some(&[-1, 3])).unwrap()[0],
        &[2, 2],
        &[8.0, 11.0, 4.0, 7.0],
    );
    assert_eq!(slice(x.clone(), &[3], &[1], None, None).unwrap()[0].shape(), &[0, 4]);
    // Opset 1-9 form: attributes.
    let old = run_with(
        "Slice",
        &[("starts", ints(&[1])), ("ends", ints(&[-1])), ("axes", ints(&[1]))],
        &[In::Run(x)],
        1,
        9,
        1,
    );
    check(&old.unwrap()[0], &[3, 2], &[1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
}

#[test]
fn slice_rejects_bad_arguments() {
    let x = range(&[3, 4]);
    assert_error(
        slice(x.clone(), &[0], &[1], Some(&[0]), Some(&[0])),
        ErrorKind::InvalidModel,
        &["steps", "0"],
    );
    assert_error(
        slice(x.clone(), &[0], &[1], Some(&[2]), None),
        ErrorKind::InvalidModel,
        &["'axes'", "2"],
    );
    assert_error(
        slice(x.clone(), &[0, 0], &[1, 1], Some(&[1, -1]), None),
        ErrorKind::InvalidModel,
        &["twice"],
    );
    assert_error(slice(x.clone(), &[0, 0], &[1], None, None), ErrorKind::InvalidModel, &["'ends'"]);
    let computed = [In::Run(x), In::Run(i64s(&[1], &[0])), In::Const(i64s(&[1], &[1]))];
    assert_error(run("Slice", &[], &computed, 1), ErrorKind::Unsupported, &["input 1"]);
}

// ---------------------------------------------------------------------------------------
// Transpose, DepthToSpace, SpaceToDepth.

/// Reference transpose, output index by output index.
fn transposed(x: &Tensor, perm: &[usize]) -> Vec<f32> {
    let shape = x.shape();
    let values = x.to_f32_vec();
    let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    (0..values.len())
        .map(|mut index| {
            let mut from = 0;
            for o in (0..out_shape.len()).rev() {
                from += (index % out_shape[o]) * strides[perm[o]];
                index /= out_shape[o];
            }
            values[from]
        })
        .collect()
}

#[test]
fn transpose_defaults_to_reversed_axes() {
    let x = range(&[2, 3]);
    check(&run1("Transpose", &[], &[In::Run(x)]), &[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}

#[test]
fn transpose_matches_the_definition_for_many_permutations() {
    let x = range(&[2, 3, 4, 5]);
    for perm in [[0, 2, 3, 1], [0, 3, 1, 2], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 3, 2], [2, 0, 3, 1]]
    {
        let perm_i64: Vec<i64> = perm.iter().map(|&a| a as i64).collect();
        for threads in [1, 3] {
            let out = run_with(
                "Transpose",
                &[("perm", ints(&perm_i64))],
                &[In::Run(x.clone())],
                1,
                21,
                threads,
            )
            .unwrap();
            let shape: Vec<usize> = perm.iter().map(|&a| x.shape()[a]).collect();
            check(&out[0], &shape, &transposed(&x, &perm));
        }
    }
}

#[test]
fn large_transposes_agree_between_one_and_several_threads() {
    // NCHW -> NHWC and back, big enough to be split over threads.
    let x = range(&[2, 67, 41, 43]);
    let nhwc =
        run_with("Transpose", &[("perm", ints(&[0, 2, 3, 1]))], &[In::Run(x.clone())], 1, 21, 4)
            .unwrap()
            .remove(0);
    check(&nhwc, &[2, 41, 43, 67], &transposed(&x, &[0, 2, 3, 1]));
    let back = run_with("Transpose", &[("perm", ints(&[0, 3, 1, 2]))], &[In::Run(nhwc)], 1, 21, 4)
        .unwrap()
        .remove(0);
    assert_eq!(back, x);
}

#[test]
fn transpose_rejects_invalid_permutations() {
    let x = In::Run(range(&[2, 3]));
    assert_error(
        run("Transpose", &[("perm", ints(&[0, 0]))], std::slice::from_ref(&x), 1),
        ErrorKind::InvalidModel,
        &["'perm'", "[0, 0]"],
    );
    assert_error(
        run("Transpose", &[("perm", ints(&[1, 0, 2]))], std::slice::from_ref(&x), 1),
        ErrorKind::InvalidModel,
        &["'perm'"],
    );
    assert_error(
        run("Transpose", &[("perm", ints(&[0, 2]))], &[x], 1),
        ErrorKind::InvalidModel,
        &["'perm'"],
    );
}

#[test]
fn depth_to_space_and_back() {
    let x = range(&[1, 8, 1, 1]);
    let dcr = run1("DepthToSpace", &[("blocksize", Attribute::Int(2))], &[In::Run(x.clone())]);
    check(&dcr, &[1, 2, 2, 2], &[0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
    let crd = run1(
        "DepthToSpace",
        &[("blocksize", Attribute::Int(2)), ("mode", string("CRD"))],
        &[In::Run(x.clone())],
    );
    check(&crd, &[1, 2, 2, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    let y = range(&[2, 8, 3, 4]);
    let space = run1("DepthToSpace", &[("blocksize", Attribute::Int(2))], &[In::Run(y.clone())]);
    assert_eq!(space.shape(), &[2, 2, 6, 8]);
    let depth = run1("SpaceToDepth", &[("blocksize", Attribute::Int(2))], &[In::Run(space)]);
    assert_eq!(depth, y);
    let bad = run("DepthToSpace", &[("blocksize", Attribute::Int(3))], &[In::Run(x.clone())], 1);
    assert_error(bad, ErrorKind::ShapeMismatch, &["blocksize"]);
    let bad = run(
        "SpaceToDepth",
        &[("blocksize", Attribute::Int(2))],
        &[In::Run(range(&[1, 1, 3, 2]))],
        1,
    );
    assert_error(bad, ErrorKind::ShapeMismatch, &["multiples"]);
    assert_error(
        run("SpaceToDepth", &[], &[In::Run(x)], 1),
        ErrorKind::InvalidModel,
        &["'blocksize'"],
    );
}

// ---------------------------------------------------------------------------------------
// Gather and GatherElements.

#[test]
fn gather_picks_along_an_axis_with_negative_and_i32_indices() {
    let data = range(&[3, 2]);
    let rows =
        run1("Gather", &[], &[In::Run(data.clone()), In::Const(i64s(&[2, 2], &[0, -1, 1, 2]))]);
    check(&rows, &[2, 2, 2], &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 4.0, 5.0]);
    let indices = Tensor::new(vec![1], TensorData::I32(vec![-1])).unwrap();
    let column =
        run1("Gather", &[("axis", Attribute::Int(1))], &[In::Run(data.clone()), In::Run(indices)]);
    check(&column, &[3, 1], &[1.0, 3.0, 5.0]);
    let scalar = run1(
        "Gather",
        &[("axis", Attribute::Int(-2))],
        &[In::Run(data), In::Const(i64s(&[], &[1]))],
    );
    check(&scalar, &[2], &[2.0, 3.0]);
    // Shape arithmetic: all constant, evaluated while building.
    let dims = run1(
        "Gather",
        &[],
        &[In::Const(i64s(&[4], &[1, 3, 32, 100])), In::Const(i64s(&[], &[-1]))],
    );
    assert_eq!(dims.as_i64().unwrap(), &[100]);
}

#[test]
fn gather_reports_indices_out_of_range() {
    let data = In::Run(range(&[3, 2]));
    let error = error_of(run("Gather", &[], &[data.clone(), In::Run(i64s(&[2], &[0, 3]))], 1));
    assert!(
        error.message.contains("index 3") && error.message.contains("size 3"),
        "{}",
        error.message
    );
    assert!(error.message.contains("node 'n' (Gather)"), "{}", error.message);
    assert_error(
        run(
            "Gather",
            &[("axis", Attribute::Int(2))],
            &[data.clone(), In::Run(i64s(&[1], &[0]))],
            1,
        ),
        ErrorKind::InvalidModel,
        &["'axis'"],
    );
    assert_error(
        run("Gather", &[], &[data, In::Run(range(&[1]))], 1),
        ErrorKind::InvalidModel,
        &["int64 or int32"],
    );
}

#[test]
fn gather_elements_follows_the_onnx_example() {
    let data = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let along_columns = run1(
        "GatherElements",
        &[("axis", Attribute::Int(1))],
        &[In::Run(data.clone()), In::Run(i64s(&[2, 2], &[0, 0, 1, 0]))],
    );
    check(&along_columns, &[2, 2], &[1.0, 1.0, 4.0, 3.0]);
    let data = range(&[3, 3]);
    let along_rows = run1(
        "GatherElements",
        &[],
        &[In::Run(data.clone()), In::Run(i64s(&[2, 3], &[1, 2, 0, 2, 0, -3]))],
    );
    check(&along_rows, &[2, 3], &[3.0, 7.0, 2.0, 6.0, 1.0, 2.0]);
    assert_error(
        run("GatherElements", &[], &[In::Run(data.clone()), In::Run(i64s(&[1, 1], &[3]))], 1),
        ErrorKind::InvalidModel,
        &["index 3"],
    );
    assert_error(
        run("GatherElements", &[], &[In::Run(data), In::Run(i64s(&[1, 4], &[0; 4]))], 1),
        ErrorKind::ShapeMismatch,
        &["[1, 4]"],
    );
}

// ---------------------------------------------------------------------------------------
// Pad and Tile.

fn pad(
    x: Tensor,
    pads: &[i64],
    mode: &str,
    value: Option<f32>,
    axes: Option<&[i64]>,
) -> Result<Vec<Tensor>, GraphError> {
    let mut inputs = vec![In::Run(x), In::Const(i64s(&[pads.len()], pads))];
    inputs.push(value.map_or(In::None, |v| In::Const(f32s(&[], &[v]))));
    if let Some(axes) = axes {
        inputs.push(In::Const(i64s(&[axes.len()], axes)));
    }
    run("Pad", &[("mode", string(mode))], &inputs, 1)
}

#[test]
fn pad_modes_fill_the_border() {
    let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let constant = pad(x.clone(), &[1, 0, 0, 1], "constant", Some(9.0), None).unwrap();
    check(&constant[0], &[3, 4], &[9.0, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 9.0, 4.0, 5.0, 6.0, 9.0]);
    let reflect = pad(x.clone(), &[0, 2, 0, 1], "reflect", None, None).unwrap();
    check(&reflect[0], &[2, 6], &[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 6.0, 5.0, 4.0, 5.0, 6.0, 5.0]);
    let edge = pad(x.clone(), &[1, 1, 0, 0], "edge", None, None).unwrap();
    check(&edge[0], &[3, 4], &[1.0, 1.0, 2.0, 3.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0]);
    let wrap = pad(x.clone(), &[0, 1, 0, 2], "wrap", None, None).unwrap();
    check(&wrap[0], &[2, 6], &[3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 6.0, 4.0, 5.0, 6.0, 4.0, 5.0]);
    let axes = pad(x.clone(), &[1, 2], "constant", None, Some(&[-1])).unwrap();
    check(&axes[0], &[2, 6], &[0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
    let crop = pad(x.clone(), &[0, -1, -1, 1], "constant", None, None).unwrap();
    check(&crop[0], &[1, 3], &[2.0, 3.0, 0.0]);
    // Opset 2 form: attributes.
    let old = run_with(
        "Pad",
        &[("pads", ints(&[0, 1, 0, 0])), ("value", Attribute::Float(-1.0))],
        &[In::Run(x)],
        1,
        2,
        1,
    );
    check(&old.unwrap()[0], &[2, 4], &[-1.0, 1.0, 2.0, 3.0, -1.0, 4.0, 5.0, 6.0]);
}

#[test]
fn pad_rejects_computed_or_malformed_pads() {
    let x = range(&[2, 3]);
    let computed = [In::Run(x.clone()), In::Run(i64s(&[4], &[0, 0, 0, 0]))];
    assert_error(run("Pad", &[], &computed, 1), ErrorKind::Unsupported, &["input 1", "known"]);
    assert_error(
        pad(x.clone(), &[1, 1], "constant", None, None),
        ErrorKind::InvalidModel,
        &["'pads'", "4"],
    );
    assert_error(
        pad(x.clone(), &[0, -2, 0, -2], "constant", None, None),
        ErrorKind::ShapeMismatch,
        &["axis 1"],
    );
    assert_error(
        pad(x.clone(), &[0, 0, 0, 0], "mirror", None, None),
        ErrorKind::Unsupported,
        &["'mode'", "mirror"],
    );
    let wrong_type = [In::Run(x), In::Const(i64s(&[4], &[0; 4])), In::Const(i64s(&[], &[1]))];
    assert_error(run("Pad", &[], &wrong_type, 1), ErrorKind::InvalidModel, &["constant_value"]);
}

#[test]
fn pad_value_may_come_at_run_time() {
    let x = f32s(&[2], &[1.0, 2.0]);
    let inputs = [In::Run(x), In::Const(i64s(&[2], &[1, 2])), In::Run(f32s(&[], &[-3.0]))];
    check(&run1("Pad", &[], &inputs), &[5], &[-3.0, 1.0, 2.0, -3.0, -3.0]);
}

#[test]
fn absurd_sizes_are_errors_not_aborts() {
    let x = In::Run(f32s(&[2], &[1.0, 2.0]));
    let huge = In::Const(i64s(&[2], &[0, 1 << 60]));
    assert_error(run("Pad", &[], &[x.clone(), huge], 1), ErrorKind::TooLarge, &["fit"]);
    let repeats = In::Const(i64s(&[1], &[1 << 60]));
    assert_error(run("Tile", &[], &[x.clone(), repeats], 1), ErrorKind::TooLarge, &["fit"]);
    let repeats = In::Const(i64s(&[1], &[i64::MAX]));
    assert_error(run("Tile", &[], &[x, repeats], 1), ErrorKind::TooLarge, &["axis 0"]);
}

#[test]
fn tile_repeats_every_axis() {
    let x = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let tiled = run1("Tile", &[], &[In::Run(x.clone()), In::Const(i64s(&[2], &[2, 3]))]);
    let row1 = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0];
    let row2 = [3.0, 4.0, 3.0, 4.0, 3.0, 4.0];
    check(&tiled, &[4, 6], &[row1, row2, row1, row2].concat());
    assert_eq!(
        run1("Tile", &[], &[In::Run(x.clone()), In::Const(i64s(&[2], &[0, 1]))]).shape(),
        &[0, 2]
    );
    assert_error(
        run("Tile", &[], &[In::Run(x.clone()), In::Const(i64s(&[2], &[1, -1]))], 1),
        ErrorKind::InvalidModel,
        &["-1"],
    );
    assert_error(
        run("Tile", &[], &[In::Run(x), In::Const(i64s(&[1], &[2]))], 1),
        ErrorKind::InvalidModel,
        &["'repeats'"],
    );
}

// ---------------------------------------------------------------------------------------
// Every type.

/// Casts a float tensor to `data_type`.
fn as_type(tensor: &Tensor, data_type: DataType) -> Tensor {
    tensor.cast(data_type)
}

#[test]
fn moving_ops_handle_all_eight_types() {
    // Values 0 and 1 only, so bool round-trips too.
    let x = f32s(&[2, 3], &[1.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    for data_type in DataType::ALL {
        let typed = as_type(&x, data_type);
        let expect = |tensor: &Tensor, shape: &[usize], values: &[f32]| {
            assert_eq!(tensor.data_type(), data_type);
            check(tensor, shape, values);
        };
        let joined = run1(
            "Concat",
            &[("axis", Attribute::Int(1))],
            &[In::Run(typed.clone()), In::Run(typed.clone())],
        );
        expect(&joined, &[2, 6], &[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let parts =
            run_with("Split", &[("axis", Attribute::Int(0))], &[In::Run(typed.clone())], 2, 13, 1)
                .unwrap();
        expect(&parts[1], &[1, 3], &[1.0, 1.0, 0.0]);
        let flipped = run1("Transpose", &[], &[In::Run(typed.clone())]);
        expect(&flipped, &[3, 2], &[1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let sliced = slice(typed.clone(), &[-1], &[0], Some(&[1]), Some(&[-1])).unwrap().remove(0);
        expect(&sliced, &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
        let gathered = run1(
            "Gather",
            &[("axis", Attribute::Int(1))],
            &[In::Run(typed.clone()), In::Const(i64s(&[1], &[1]))],
        );
        expect(&gathered, &[2, 1], &[0.0, 1.0]);
        let elements = run1(
            "GatherElements",
            &[],
            &[In::Run(typed.clone()), In::Run(i64s(&[1, 3], &[1, 0, 1]))],
        );
        expect(&elements, &[1, 3], &[1.0, 0.0, 0.0]);
        let fill = as_type(&f32s(&[], &[1.0]), data_type);
        let inputs =
            [In::Run(typed.clone()), In::Const(i64s(&[4], &[0, 1, 0, 0])), In::Const(fill)];
        let padded = run1("Pad", &[], &inputs);
        expect(&padded, &[2, 4], &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        let tiled = run1("Tile", &[], &[In::Run(typed.clone()), In::Const(i64s(&[2], &[1, 2]))]);
        expect(&tiled, &[2, 6], &[1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let four = as_type(&f32s(&[1, 4, 1, 1], &[1.0, 0.0, 0.0, 1.0]), data_type);
        let space = run1("DepthToSpace", &[("blocksize", Attribute::Int(2))], &[In::Run(four)]);
        expect(&space, &[1, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0]);
    }
}

#[test]
fn large_copies_agree_between_one_and_several_threads() {
    let x = range(&[3, 64, 80, 40]);
    let starts = In::Const(i64s(&[2], &[1, -70]));
    let ends = In::Const(i64s(&[2], &[64, -2]));
    let axes = In::Const(i64s(&[2], &[1, 2]));
    type Case<'a> = (&'a str, Vec<(&'a str, Attribute)>, Vec<In>, usize);
    let cases: Vec<Case> = vec![
        (
            "Concat",
            vec![("axis", Attribute::Int(1))],
            vec![In::Run(x.clone()), In::Run(x.clone())],
            1,
        ),
        (
            "Concat",
            vec![("axis", Attribute::Int(0))],
            vec![In::Run(x.clone()), In::Run(x.clone())],
            1,
        ),
        ("Split", vec![("axis", Attribute::Int(2))], vec![In::Run(x.clone())], 4),
        ("Slice", vec![], vec![In::Run(x.clone()), starts, ends, axes], 1),
        (
            "Pad",
            vec![("mode", string("reflect"))],
            vec![In::Run(x.clone()), In::Const(i64s(&[8], &[0, 0, 2, 3, 0, 1, 4, 5]))],
            1,
        ),
        ("Tile", vec![], vec![In::Run(x.clone()), In::Const(i64s(&[4], &[1, 2, 1, 2]))], 1),
        (
            "Gather",
            vec![("axis", Attribute::Int(1))],
            vec![In::Run(x.clone()), In::Const(i64s(&[3], &[5, -1, 0]))],
            1,
        ),
        (
            "GatherElements",
            vec![("axis", Attribute::Int(3))],
            vec![In::Run(x.clone()), In::Run(i64s(&[3, 64, 80, 1], &vec![7; 3 * 64 * 80]))],
            1,
        ),
    ];
    for (op, list, inputs, outputs) in cases {
        let one = run_with(op, &list, &inputs, outputs, 18, 1).unwrap();
        let four = run_with(op, &list, &inputs, outputs, 18, 4).unwrap();
        assert_eq!(one, four, "{op}");
    }
}

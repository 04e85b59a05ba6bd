//! Symbolic shape inference on small graphs: unknown dimensions keep their names through
//! broadcasting, windows, reshapes and shape computations; contradictions are errors that
//! name the node; what cannot be derived stays unknown.

mod support;

use dlopt_graph::shape_inference::infer_shapes;
use dlopt_graph::{Attribute, DataType, Dim, ErrorKind, Graph, ValueId};
use support::{Builder, ints};

/// The inferred shape of `id` after running inference on `builder`'s graph.
fn infer(builder: Builder) -> Graph {
    let mut graph = builder.finish();
    infer_shapes(&mut graph).unwrap_or_else(|error| panic!("{}", error.message));
    graph
}

fn shape(graph: &Graph, id: ValueId) -> Option<Vec<Dim>> {
    graph.value(id).shape.clone()
}

#[test]
fn broadcasting_keeps_symbols_and_refuses_contradictions() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 3, 1]);
    let b = builder.input("b", dims![1, "W"]);
    let sum = builder.op("Add", "add", &[x, b], &[]);
    let same = builder.op("Equal", "equal", &[sum, x], &[]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, sum), Some(dims!["N", 3, "W"]));
    assert_eq!(graph.value(sum).data_type, Some(DataType::F32));
    assert_eq!(graph.value(same).data_type, Some(DataType::Bool));

    let mut builder = Builder::default();
    let a = builder.input("a", dims![2, 3]);
    let b = builder.input("b", dims![4, 3]);
    builder.op("Add", "bad_add", &[a, b], &[]);
    let mut graph = builder.finish();
    let error = infer_shapes(&mut graph).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(
        error
            .message
            .starts_with("node 'bad_add' (Add): shapes [2, 3] and [4, 3] do not broadcast"),
        "{}",
        error.message
    );
}

#[test]
fn strided_windows_derive_symbols_that_upsampling_undoes() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 3, "H", "W"]);
    let w = builder.floats("w", &[8, 3, 3, 3], &[0.0; 216]);
    let down = builder.op(
        "Conv",
        "down",
        &[x, w],
        &[("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))],
    );
    let pooled = builder.op(
        "MaxPool",
        "pool",
        &[down],
        &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))],
    );
    let valid = builder.op("AveragePool", "valid", &[pooled], &[("kernel_shape", ints(&[3, 3]))]);
    let global = builder.op("GlobalAveragePool", "global", &[valid], &[]);
    let roi = builder.floats("roi", &[0], &[]);
    let scales = builder.floats("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    let up = builder.op("Resize", "up", &[pooled, roi, scales], &[]);
    let wt = builder.floats("wt", &[8, 4, 2, 2], &[0.0; 128]);
    let back = builder.op("ConvTranspose", "back", &[up, wt], &[("strides", ints(&[2, 2]))]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, down), Some(dims!["N", 8, "H/2", "W/2"]));
    assert_eq!(shape(&graph, pooled), Some(dims!["N", 8, "H/4", "W/4"]));
    assert_eq!(shape(&graph, valid), Some(dims!["N", 8, "H/4-2", "W/4-2"]));
    assert_eq!(shape(&graph, global), Some(dims!["N", 8, 1, 1]));
    assert_eq!(shape(&graph, up), Some(dims!["N", 8, "H/2", "W/2"]));
    assert_eq!(shape(&graph, back), Some(dims!["N", 4, "H", "W"]));
}

#[test]
fn fixed_windows_are_exact() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 7, 10]);
    let w = builder.floats("w", &[4, 1, 3, 3], &[0.0; 36]);
    let conv = builder.op(
        "Conv",
        "conv",
        &[x, w],
        &[("strides", ints(&[2, 3])), ("group", Attribute::Int(3)), ("dilations", ints(&[1, 2]))],
    );
    let pool = builder.op(
        "MaxPool",
        "pool",
        &[x],
        &[
            ("kernel_shape", ints(&[2, 2])),
            ("strides", ints(&[2, 2])),
            ("ceil_mode", Attribute::Int(1)),
        ],
    );
    let same = builder.op(
        "AveragePool",
        "same",
        &[x],
        &[
            ("kernel_shape", ints(&[3, 3])),
            ("strides", ints(&[2, 4])),
            ("auto_pad", Attribute::String("SAME_UPPER".into())),
        ],
    );
    let graph = infer(builder);
    // (7 - 3) / 2 + 1 = 3; (10 - 5) / 3 + 1 = 2.
    assert_eq!(shape(&graph, conv), Some(dims![1, 4, 3, 2]));
    assert_eq!(shape(&graph, pool), Some(dims![1, 3, 4, 5]));
    assert_eq!(shape(&graph, same), Some(dims![1, 3, 4, 3]));
}

#[test]
fn reshape_targets_copy_zeros_and_solve_minus_one() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 120, 1, "T"]);
    let target = builder.ints("target", &[3], &[0, 120, -1]);
    let flat = builder.op("Reshape", "flat", &[x, target], &[]);
    let heads = builder.ints("heads", &[5], &[0, 0, 3, 8, -1]);
    let split = builder.op("Reshape", "split", &[flat, heads], &[]);
    let both = builder.ints("both", &[2], &[-1, 2]);
    let odd = builder.op("Reshape", "odd", &[x, both], &[]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, flat), Some(dims!["N", 120, "T"]));
    assert_eq!(shape(&graph, split), Some(dims!["N", 120, 3, 8, "T/24"]));
    // N * 120 * T / 2: one unknown per product, named after the expression.
    assert_eq!(shape(&graph, odd), Some(dims!["N*T*60", 2]));

    let mut builder = Builder::default();
    let x = builder.input("x", dims![2, 3]);
    let target = builder.ints("target", &[2], &[4, -1]);
    builder.op("Reshape", "bad_reshape", &[x, target], &[]);
    let error = infer_shapes(&mut builder.finish()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(
        error.message.contains("node 'bad_reshape' (Reshape): cannot reshape [2, 3]"),
        "{}",
        error.message
    );
}

#[test]
fn shape_computations_are_followed_into_reshape_targets() {
    // Paddle2ONNX's flatten: Reshape(x, Concat(Slice(Shape(x), 0, 2), [-1])).
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 120, 1, "T"]);
    let full = builder.op("Shape", "shape", &[x], &[]);
    let as_int = builder.op("Cast", "cast", &[full], &[("to", Attribute::Int(6))]);
    let (starts, ends, axes) = (
        builder.ints("starts", &[1], &[0]),
        builder.ints("ends", &[1], &[2]),
        builder.ints("axes", &[1], &[0]),
    );
    let head = builder.op("Slice", "slice", &[as_int, starts, ends, axes], &[]);
    let back = builder.op("Cast", "cast_back", &[head], &[("to", Attribute::Int(7))]);
    let rest = builder.ints("rest", &[1], &[-1]);
    let target = builder.op("Concat", "concat", &[back, rest], &[("axis", Attribute::Int(0))]);
    let flat = builder.op("Reshape", "flat", &[x, target], &[]);
    // Gather + Unsqueeze + arithmetic on a shape element.
    let three = builder.ints("three", &[], &[3]);
    let width = builder.op("Gather", "gather", &[full, three], &[]);
    let two = builder.ints("two", &[], &[2]);
    let doubled = builder.op("Mul", "double", &[width, two], &[]);
    let zero = builder.ints("zero_axis", &[1], &[0]);
    let doubled = builder.op("Unsqueeze", "unsqueeze", &[doubled, zero], &[]);
    let batch = builder.ints("batch", &[1], &[0]);
    let target =
        builder.op("Concat", "concat2", &[batch, doubled, rest], &[("axis", Attribute::Int(0))]);
    let wide = builder.op("Reshape", "wide", &[x, target], &[]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, full), Some(dims![4]));
    assert_eq!(graph.value(full).data_type, Some(DataType::I64));
    assert_eq!(graph.value(as_int).data_type, Some(DataType::I32));
    assert_eq!(shape(&graph, head), Some(dims![2]));
    assert_eq!(shape(&graph, flat), Some(dims!["N", 120, "T"]));
    assert_eq!(shape(&graph, wide), Some(dims!["N", "2*T", 60]));
}

#[test]
fn layout_operators_move_dimensions() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", "T", 120]);
    let t = builder.op("Transpose", "transpose", &[x], &[("perm", ints(&[0, 2, 1]))]);
    let c = builder.op("Concat", "concat", &[x, x], &[("axis", Attribute::Int(-1))]);
    let c2 = builder.op("Concat", "concat2", &[x, x], &[("axis", Attribute::Int(1))]);
    let axes = builder.ints("axes", &[2], &[0, -1]);
    let u = builder.op("Unsqueeze", "unsqueeze", &[x, axes], &[]);
    let one = builder.ints("one", &[1], &[0]);
    let s = builder.op("Squeeze", "squeeze", &[u, one], &[]);
    let f = builder.op("Flatten", "flatten", &[x], &[("axis", Attribute::Int(2))]);
    let indices = builder.ints("indices", &[2, 2], &[0, 1, 2, 3]);
    let g = builder.op("Gather", "gather", &[x, indices], &[("axis", Attribute::Int(2))]);
    let (starts, ends) =
        (builder.ints("starts", &[2], &[1, 10]), builder.ints("ends", &[2], &[i64::MAX, 100]));
    let slice_axes = builder.ints("slice_axes", &[2], &[1, 2]);
    let sl = builder.op("Slice", "slice", &[x, starts, ends, slice_axes], &[]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, t), Some(dims!["N", 120, "T"]));
    assert_eq!(shape(&graph, c), Some(dims!["N", "T", 240]));
    assert_eq!(
        shape(&graph, c2),
        Some(vec![Dim::symbol("N"), Dim::symbol("(T+T)"), Dim::Fixed(120)])
    );
    assert_eq!(shape(&graph, u), Some(dims![1, "N", "T", 120, 1]));
    assert_eq!(shape(&graph, s), Some(dims!["N", "T", 120, 1]));
    assert_eq!(shape(&graph, f), Some(dims!["N*T", 120]));
    assert_eq!(shape(&graph, g), Some(dims!["N", "T", 2, 2]));
    assert_eq!(shape(&graph, sl), Some(dims!["N", "T-1", 90]));
}

#[test]
fn matrix_products_and_normalizations() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", "T", 120]);
    let w = builder.floats("w", &[120, 360], &[0.0; 43200]);
    let m = builder.op("MatMul", "matmul", &[x, w], &[]);
    let v = builder.floats("v", &[360], &[0.0; 360]);
    let dot = builder.op("MatMul", "vector", &[m, v], &[]);
    let a = builder.input("a", dims![5, "K"]);
    let b = builder.input("b", dims![7, "K"]);
    let g = builder.op("Gemm", "gemm", &[a, b], &[("transB", Attribute::Int(1))]);
    let soft = builder.op("Softmax", "softmax", &[m], &[("axis", Attribute::Int(-1))]);
    let axes = builder.ints("axes", &[1], &[-1]);
    let mean = builder.op("ReduceMean", "mean", &[soft, axes], &[]);
    let arg = builder.op(
        "ArgMax",
        "argmax",
        &[soft],
        &[("axis", Attribute::Int(2)), ("keepdims", Attribute::Int(0))],
    );
    let graph = infer(builder);
    assert_eq!(shape(&graph, m), Some(dims!["N", "T", 360]));
    assert_eq!(shape(&graph, dot), Some(dims!["N", "T"]));
    assert_eq!(shape(&graph, g), Some(dims![5, 7]));
    assert_eq!(shape(&graph, soft), Some(dims!["N", "T", 360]));
    assert_eq!(shape(&graph, mean), Some(dims!["N", "T", 1]));
    assert_eq!(
        (shape(&graph, arg), graph.value(arg).data_type),
        (Some(dims!["N", "T"]), Some(DataType::I64))
    );

    let mut builder = Builder::default();
    let a = builder.input("a", dims![2, 3]);
    let b = builder.input("b", dims![4, 5]);
    builder.op("MatMul", "bad_matmul", &[a, b], &[]);
    let error = infer_shapes(&mut builder.finish()).unwrap_err();
    assert!(
        error
            .message
            .contains("node 'bad_matmul' (MatMul): A [2, 3] has 3 columns but B [4, 5] has 4 rows"),
        "{}",
        error.message
    );
}

#[test]
fn unknown_operators_and_data_dependent_shapes_stay_unknown() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 4]);
    let custom = builder.op("MyOp", "custom", &[x], &[]);
    let after = builder.op("Relu", "after", &[custom], &[]);
    let zeros = builder.op("NonZero", "nonzero", &[x], &[]);
    let target = builder.input("target", dims![2]);
    let reshaped = builder.op("Reshape", "reshaped", &[x, target], &[]);
    let graph = infer(builder);
    for id in [custom, after, zeros] {
        assert_eq!(
            (shape(&graph, id), graph.value(id).data_type),
            (None, None),
            "{}",
            graph.value(id).name
        );
    }
    // The target's length gives the rank; its values are unknown.
    assert_eq!(shape(&graph, reshaped), None);
}

#[test]
fn declared_shapes_are_merged_and_checked() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 3]);
    let y = builder.op("Relu", "relu", &[x], &[]);
    let z = builder.op("Neg", "neg", &[y], &[]);
    // The file knows the batch is 1 for y, and names z's dimensions differently.
    builder.graph.value_mut(y).shape = Some(dims![1, "n"]);
    builder.graph.value_mut(z).shape = Some(dims!["batch", "c"]);
    let graph = infer(builder);
    assert_eq!(shape(&graph, y), Some(dims![1, 3]));
    assert_eq!(shape(&graph, z), Some(dims![1, 3]));

    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 3]);
    let y = builder.op("Relu", "relu", &[x], &[]);
    builder.graph.value_mut(y).shape = Some(dims!["N", 4]);
    let error = infer_shapes(&mut builder.finish()).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(
        error.message.contains(
            "node 'relu' (Relu): output 'relu_out' is declared [N, 4] but its inputs give [N, 3]"
        ),
        "{}",
        error.message
    );
}

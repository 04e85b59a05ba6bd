//! The optimization passes on small graphs: each optimized graph computes what the
//! original does (run with dlopt-runtime, within 1e-5 relative), with the nodes expected
//! to go gone and the ones expected to stay still there.

mod support;

use dlopt_graph::passes::{PASSES, optimize, run_pass};
use dlopt_graph::{Attribute, DataType, Graph, Result, Tensor, ValueId};
use support::{Builder, Random, count, ints, max_relative_error, run};

/// Optimizes a copy of `graph`, checks that it computes the same on random inputs of
/// `shapes`, and returns it.
fn optimized_equivalent(graph: &Graph, shapes: &[&[usize]]) -> Graph {
    let mut optimized = graph.clone();
    optimize(&mut optimized).unwrap_or_else(|error| panic!("{}", error.message));
    optimized.check().unwrap();
    let mut random = Random::new(42);
    let inputs: Vec<Tensor> = shapes.iter().map(|shape| random.tensor(shape)).collect();
    let (expected, actual) = (run(graph, &inputs), run(&optimized, &inputs));
    let error = max_relative_error(&actual, &expected);
    assert!(error <= 1e-5, "the optimized graph differs by {error:e} (relative)");
    let names = |graph: &Graph| {
        graph.outputs.iter().map(|&id| graph.value(id).name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(graph), names(&optimized), "graph output names are kept");
    optimized
}

fn activation(graph: &Graph, node: &str) -> Option<String> {
    let node =
        graph.nodes.iter().find(|n| n.name == node).unwrap_or_else(|| panic!("no node {node}"));
    node.attributes.string("dlopt_activation").unwrap().map(str::to_string)
}

/// `x [1, 3, 6, 5] -> Conv(4 filters 3x3, pads 1, with or without bias)`.
fn conv(builder: &mut Builder, x: ValueId, with_bias: bool) -> ValueId {
    let mut random = Random::new(7);
    let w = builder.floats("W", &[4, 3, 3, 3], &random.floats(108, -0.5, 0.5));
    let mut inputs = vec![x, w];
    if with_bias {
        inputs.push(builder.floats("B", &[4], &[0.1, -0.2, 0.3, 0.0]));
    }
    builder.op(
        "Conv",
        "conv",
        &inputs,
        &[("kernel_shape", ints(&[3, 3])), ("pads", ints(&[1, 1, 1, 1]))],
    )
}

fn batch_norm(builder: &mut Builder, x: ValueId, name: &str) -> ValueId {
    let scale = builder.floats(&format!("{name}_scale"), &[4], &[1.5, -0.5, 0.8, 2.0]);
    let bias = builder.floats(&format!("{name}_bias"), &[4], &[0.1, 0.2, -0.3, 0.0]);
    let mean = builder.floats(&format!("{name}_mean"), &[4], &[0.05, -0.1, 0.2, 0.3]);
    let var = builder.floats(&format!("{name}_var"), &[4], &[0.9, 1.2, 0.5, 2.0]);
    builder.op(
        "BatchNormalization",
        name,
        &[x, scale, bias, mean, var],
        &[("epsilon", Attribute::Float(1e-3))],
    )
}

#[test]
fn conv_batch_norm_relu_becomes_one_conv() {
    for with_bias in [true, false] {
        let mut builder = Builder::default();
        let x = builder.input("x", dims![1, 3, 6, 5]);
        let y = conv(&mut builder, x, with_bias);
        let y = batch_norm(&mut builder, y, "bn");
        let y = builder.op("Relu", "relu", &[y], &[]);
        builder.output(y);
        let graph = builder.finish();
        let optimized = optimized_equivalent(&graph, &[&[1, 3, 6, 5]]);
        assert_eq!(optimized.nodes.len(), 1);
        assert_eq!(activation(&optimized, "conv").as_deref(), Some("Relu"));
        assert_eq!(optimized.value(optimized.outputs[0]).name, "relu_out");
    }
}

#[test]
fn batch_norm_after_no_conv_or_a_shared_conv_output_stays() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 4, 3, 3]);
    let y = builder.op("Relu", "relu", &[x], &[]);
    let y = batch_norm(&mut builder, y, "bn");
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 4, 3, 3]]);
    assert_eq!((count(&optimized, "BatchNormalization"), optimized.nodes.len()), (1, 2));

    // The conv output is also a graph output: folding would change it.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let c = conv(&mut builder, x, true);
    let y = batch_norm(&mut builder, c, "bn");
    builder.output(c);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(count(&optimized, "BatchNormalization"), 1);
}

#[test]
fn conv_transpose_with_groups_absorbs_batch_norm() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 4, 3, 3]);
    let mut random = Random::new(3);
    // 4 input channels in 2 groups, 2 outputs per group: 4 output channels.
    let w = builder.floats("W", &[4, 2, 2, 2], &random.floats(32, -1.0, 1.0));
    let y = builder.op(
        "ConvTranspose",
        "up",
        &[x, w],
        &[("strides", ints(&[2, 2])), ("group", Attribute::Int(2))],
    );
    let y = batch_norm(&mut builder, y, "bn");
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 4, 3, 3]]);
    assert_eq!(optimized.nodes.len(), 1);
    assert_eq!(optimized.nodes[0].inputs.len(), 3, "a bias was added");
}

#[test]
fn conv_hard_sigmoid_mul_becomes_hard_swish() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    // PP-LCNet's export: alpha is 1/6 rounded to 0.1666667.
    let gate = builder.op(
        "HardSigmoid",
        "gate",
        &[y],
        &[("alpha", Attribute::Float(0.166_666_7)), ("beta", Attribute::Float(0.5))],
    );
    let y = builder.op("Mul", "mul", &[y, gate], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 1);
    assert_eq!(activation(&optimized, "conv").as_deref(), Some("HardSwish"));
    assert_eq!(optimized.nodes[0].attributes.get("dlopt_activation_alpha"), None);
}

#[test]
fn a_hard_sigmoid_gate_that_is_no_hard_swish_stays() {
    // alpha 0.2: x * HardSigmoid(x) is no HardSwish, and the conv output has two uses.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let gate = builder.op("HardSigmoid", "gate", &[y], &[]);
    let y = builder.op("Mul", "mul", &[y, gate], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 3);
    assert_eq!(activation(&optimized, "conv"), None);
}

#[test]
fn gates_of_another_value_are_not_fused() {
    // SE-style: other * Sigmoid(conv) — the sigmoid fuses alone, the Mul stays.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let gate = builder.op("Sigmoid", "gate", &[y], &[]);
    let other = builder.op("Tanh", "other", &[x], &[]);
    let axes = builder.ints("axes", &[1], &[1]);
    let sum = builder.op("ReduceSum", "sum", &[other, axes], &[]);
    let four = builder.floats("widths", &[1, 4, 1, 1], &[1.0, 2.0, 3.0, 4.0]);
    let wide = builder.op("Mul", "widen", &[sum, four], &[]);
    let y = builder.op("Mul", "mul", &[wide, gate], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(activation(&optimized, "conv").as_deref(), Some("Sigmoid"));
    assert_eq!(count(&optimized, "Mul"), 2);
}

#[test]
fn swish_and_paddle_hard_swish_patterns_fuse() {
    // x * Sigmoid(x * 1.0): the neutral Mul goes first, then Silu fuses.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let one = builder.floats("one", &[1], &[1.0]);
    let scaled = builder.op("Mul", "beta", &[y, one], &[]);
    let gate = builder.op("Sigmoid", "gate", &[scaled], &[]);
    let y = builder.op("Mul", "swish", &[gate, y], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 1);
    assert_eq!(activation(&optimized, "conv").as_deref(), Some("Silu"));

    // x * Clip(x + 3, 0, 6) / 6.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let three = builder.floats("three", &[1], &[3.0]);
    let (zero, six) = (builder.floats("zero", &[], &[0.0]), builder.floats("six", &[], &[6.0]));
    let shifted = builder.op("Add", "add", &[y, three], &[]);
    let clipped = builder.op("Clip", "clip", &[shifted, zero, six], &[]);
    let product = builder.op("Mul", "mul", &[y, clipped], &[]);
    let y = builder.op("Div", "div", &[product, six], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 1);
    assert_eq!(activation(&optimized, "conv").as_deref(), Some("HardSwish"));
    assert_eq!(optimized.value(optimized.outputs[0]).name, "div_out");
}

#[test]
fn activations_with_parameters_follow_the_runtime_contract() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let (low, high) = (builder.floats("low", &[], &[-0.25]), builder.floats("high", &[], &[0.5]));
    let y = builder.op("Clip", "clip", &[y, low, high], &[]);
    let a = builder.floats("A", &[120, 6], &Random::new(5).floats(720, -1.0, 1.0));
    let flat = builder.op("Flatten", "flatten", &[y], &[]);
    let g = builder.op("Gemm", "gemm", &[flat, a], &[]);
    let g = builder.op("LeakyRelu", "leaky", &[g], &[("alpha", Attribute::Float(0.3))]);
    let b = builder.floats("Bm", &[6, 2], &Random::new(6).floats(12, -1.0, 1.0));
    let m = builder.op("MatMul", "matmul", &[g, b], &[]);
    let m = builder.op("Tanh", "tanh", &[m], &[]);
    builder.output(m);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 4);
    let conv = &optimized.nodes[0];
    assert_eq!(conv.attributes.float("dlopt_activation_alpha").unwrap(), Some(-0.25));
    assert_eq!(conv.attributes.float("dlopt_activation_beta").unwrap(), Some(0.5));
    assert_eq!(activation(&optimized, "gemm").as_deref(), Some("LeakyRelu"));
    let gemm = optimized.nodes.iter().find(|n| n.name == "gemm").unwrap();
    assert_eq!(gemm.attributes.float("dlopt_activation_alpha").unwrap(), Some(0.3));
    assert_eq!(gemm.attributes.get("dlopt_activation_beta"), None);
    assert_eq!(activation(&optimized, "matmul").as_deref(), Some("Tanh"));
}

#[test]
fn clip_with_computed_bounds_and_shared_outputs_stay() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let bound = builder.typed_input("bound", DataType::F32, dims![]);
    let y = conv(&mut builder, x, true);
    let clipped = builder.op("Clip", "clip", &[y, bound], &[]);
    let relu = builder.op("Relu", "relu", &[y], &[]);
    builder.output(clipped);
    builder.output(relu);
    let mut optimized = builder.finish();
    optimize(&mut optimized).unwrap();
    assert_eq!(optimized.nodes.len(), 3, "a conv output read twice keeps both readers");
    assert_eq!(activation(&optimized, "conv"), None);
}

#[test]
fn per_channel_mul_and_add_fold_into_the_conv() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, false);
    let scale = builder.floats("scale", &[1], &[0.75]);
    let y = builder.op("Mul", "scale", &[scale, y], &[]);
    let shift = builder.floats("shift", &[4, 1, 1], &[0.5, -1.0, 0.25, 0.0]);
    let y = builder.op("Add", "shift", &[y, shift], &[]);
    let y = builder.op("Relu", "relu", &[y], &[]);
    // Along the last axis, not the channels: stays.
    let row = builder.floats("row", &[5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let y = builder.op("Mul", "row", &[y, row], &[]);
    builder.output(y);
    let optimized = optimized_equivalent(&builder.finish(), &[&[1, 3, 6, 5]]);
    assert_eq!(optimized.nodes.len(), 2);
    assert_eq!(activation(&optimized, "conv").as_deref(), Some("Relu"));
}

#[test]
fn identity_chains_disappear_and_output_names_stay() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims!["N", 4]);
    let a = builder.op("Identity", "first", &[x], &[]);
    let b = builder.op("Identity", "second", &[a], &[]);
    let r = builder.op("Relu", "relu", &[b], &[]);
    let y = builder.node("Identity", "named", &[Some(r)], &["y"], &[])[0];
    let z = builder.node("Dropout", "drop", &[Some(y)], &["z"], &[])[0];
    // An Identity from the input straight to an output must stay to keep both names.
    let passed = builder.node("Identity", "pass", &[Some(x)], &["passed"], &[])[0];
    builder.output(y);
    builder.output(z);
    builder.output(passed);
    let optimized = optimized_equivalent(&builder.finish(), &[&[2, 4]]);
    let ops: Vec<&str> = optimized.nodes.iter().map(|n| n.op_type.as_str()).collect();
    // `z` is an output whose input `y` is another output: that Identity-like Dropout stays.
    assert_eq!(ops, ["Relu", "Dropout", "Identity"]);
    assert_eq!(optimized.value(optimized.nodes[0].outputs[0]).name, "y");
}

#[test]
fn dropout_with_a_used_mask_stays() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![2, 4]);
    let outputs = builder.node("Dropout", "drop", &[Some(x)], &["y", "mask"], &[]);
    let unused = builder.node("Dropout", "unused_mask", &[Some(outputs[0])], &["z", "mask2"], &[]);
    let y = builder.op("Relu", "relu", &[unused[0]], &[]);
    builder.output(y);
    builder.output(outputs[1]);
    let mut optimized = builder.finish();
    optimize(&mut optimized).unwrap();
    let ops: Vec<&str> = optimized.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Dropout", "Relu"]);
}

#[test]
fn a_shape_subgraph_on_a_static_shape_folds_away() {
    // Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write a flatten.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![2, 3, 4]);
    let shape = builder.op("Shape", "shape", &[x], &[]);
    let zero = builder.ints("zero", &[], &[0]);
    let batch = builder.op("Gather", "gather", &[shape, zero], &[("axis", Attribute::Int(0))]);
    let axes = builder.ints("axes", &[1], &[0]);
    let batch = builder.op("Unsqueeze", "unsqueeze", &[batch, axes], &[]);
    let rest = builder.ints("rest", &[1], &[-1]);
    let target = builder.op("Concat", "concat", &[batch, rest], &[("axis", Attribute::Int(0))]);
    let y = builder.op("Reshape", "reshape", &[x, target], &[]);
    builder.output(y);
    let graph = builder.finish();
    let optimized = optimized_equivalent(&graph, &[&[2, 3, 4]]);
    assert_eq!(optimized.nodes.len(), 1);
    let target = optimized.constant(optimized.nodes[0].input(1).unwrap()).unwrap();
    assert_eq!(target.to_i64_vec(), vec![2, -1]);
    assert_eq!(graph.nodes.len(), 5);
}

#[test]
fn folded_shape_arithmetic_matches_the_runtime() {
    // Every foldable operator on constants, feeding an Expand and an Add on the input:
    // the runtime computes the unoptimized graph, the optimized one has constants.
    let mut builder = Builder::default();
    let x = builder.input("x", dims![2, 3]);
    let (start, limit, delta) = (
        builder.ints("start", &[], &[1]),
        builder.ints("limit", &[], &[7]),
        builder.ints("delta", &[], &[2]),
    );
    let range = builder.op("Range", "range", &[start, limit, delta], &[]); // [1, 3, 5]
    let two = builder.ints("two", &[], &[2]);
    let scaled = builder.op("Mul", "mul", &[range, two], &[]); // [2, 6, 10]
    let diff = builder.op("Sub", "sub", &[scaled, range], &[]); // [1, 3, 5]
    let halves = builder.op("Div", "div", &[scaled, two], &[]); // [1, 3, 5]
    let same = builder.op("Equal", "equal", &[diff, halves], &[]);
    let ones = builder.ints("ones", &[3], &[1, 1, 1]);
    let picked = builder.op("Where", "where", &[same, ones, range], &[]); // [1, 1, 1]
    let starts = builder.ints("starts", &[1], &[1]);
    let ends = builder.ints("ends", &[1], &[i64::MAX]);
    let tail = builder.op("Slice", "slice", &[picked, starts, ends], &[]); // [1, 1]
    let first = builder.ints("first", &[1], &[2]);
    let target = builder.op("Concat", "concat", &[first, tail], &[("axis", Attribute::Int(0))]); // [2, 1, 1]
    let filled = builder.op(
        "ConstantOfShape",
        "fill",
        &[target],
        &[("value", Attribute::Tensor(Tensor::from_f32(vec![1], vec![0.5]).unwrap()))],
    );
    let axes = builder.ints("axes", &[1], &[0]);
    let lifted = builder.op("Unsqueeze", "unsqueeze", &[range, axes], &[]); // [[1, 3, 5]]
    let range = builder.op("Squeeze", "squeeze", &[lifted, axes], &[]);
    let as_float = builder.op("Cast", "cast", &[range], &[("to", Attribute::Int(1))]);
    let table = builder.floats("table", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let turned = builder.op("Transpose", "transpose", &[table], &[("perm", ints(&[1, 0]))]);
    let row = builder.op("Add", "row", &[turned, as_float], &[]);
    let shaped = builder.op("Add", "shaped", &[filled, row], &[]);
    let y = builder.op("Add", "y", &[x, shaped], &[]);
    builder.output(y);
    let graph = builder.finish();
    let optimized = optimized_equivalent(&graph, &[&[2, 3]]);
    assert_eq!(optimized.nodes.len(), 1, "only the Add on the input is left");
}

#[test]
fn passes_reach_a_fixed_point() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![1, 3, 6, 5]);
    let y = conv(&mut builder, x, true);
    let y = batch_norm(&mut builder, y, "bn");
    let y = builder.op("Identity", "id", &[y], &[]);
    let y = builder.op("Relu", "relu", &[y], &[]);
    builder.output(y);
    let mut graph = builder.finish();
    optimize(&mut graph).unwrap();
    for &(name, pass) in PASSES {
        assert!(!run_pass(&mut graph, name, pass).unwrap(), "pass {name} still changes the graph");
    }
}

/// A broken pass, to see `run_pass` catch it.
fn reverse_nodes(graph: &mut Graph) -> Result<bool> {
    graph.nodes.reverse();
    Ok(true)
}

#[cfg(debug_assertions)]
#[test]
fn debug_builds_check_the_graph_after_each_pass_and_name_it() {
    let mut builder = Builder::default();
    let x = builder.input("x", dims![2]);
    let a = builder.op("Relu", "a", &[x], &[]);
    let b = builder.op("Neg", "b", &[a], &[]);
    builder.output(b);
    let mut graph = builder.finish();
    let error = run_pass(&mut graph, "reverse_nodes", reverse_nodes).unwrap_err();
    assert!(error.message.contains("after pass reverse_nodes"), "{}", error.message);
    assert!(error.message.contains("node 'b' (Neg)"), "{}", error.message);
}

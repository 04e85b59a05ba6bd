//! The quantization recipe on a small conv net (opset 11, optimized, so Conv carries a fused
//! Relu): the plan's decisions and reasons, overrides, the QDQ graph (consistent, opset
//! raised to 13 for per-axis weights, int8 weights whose dequantization follows the
//! formulas), its fake-quantized results next to the float ones, its standard ONNX export,
//! and the opset 11 → 13 rewrite.

mod support;

use dlopt_graph::onnx::export_standard_model;
use dlopt_graph::passes::optimize;
use dlopt_graph::quantize::{
    ActivationScheme, Override, QuantOptions, QuantParams, QuantType, apply, plan,
    quantize_per_channel, upgrade_to_opset_13,
};
use dlopt_graph::{Attribute, DataType, Graph, Tensor, TensorData, import_model};
use support::{Builder, Random, collect_ranges, count, ints, run};

/// x [1, 3, 8, 8] → Conv 3x3 + Relu → MaxPool 2x2 → Conv 1x1 → Add (residual) →
/// GlobalAveragePool → Flatten → Gemm (transB) → Softmax, at opset 11, optimized.
fn conv_net() -> Graph {
    let mut random = Random::new(7);
    let mut b = Builder::default();
    b.graph.opset = 11;
    let x = b.input("x", dims![1, 3, 8, 8]);
    let w1 = b.constant("w1", random.tensor(&[4, 3, 3, 3]));
    let b1 = b.constant("b1", random.tensor(&[4]));
    let conv1 = b.op("Conv", "conv1", &[x, w1, b1], &[("pads", ints(&[1, 1, 1, 1]))]);
    let relu = b.op("Relu", "relu", &[conv1], &[]);
    let pool = b.op(
        "MaxPool",
        "pool",
        &[relu],
        &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))],
    );
    let w2 = b.constant("w2", random.tensor(&[4, 4, 1, 1]));
    let conv2 = b.op("Conv", "conv2", &[pool, w2], &[]);
    let add = b.op("Add", "add", &[conv2, pool], &[]);
    let gap = b.op("GlobalAveragePool", "gap", &[add], &[]);
    let flat = b.op("Flatten", "flatten", &[gap], &[]);
    let w3 = b.constant("w3", random.tensor(&[3, 4]));
    let b3 = b.constant("b3", random.tensor(&[3]));
    let gemm = b.op("Gemm", "gemm", &[flat, w3, b3], &[("transB", Attribute::Int(1))]);
    let softmax = b.op("Softmax", "softmax", &[gemm], &[("axis", Attribute::Int(1))]);
    b.output(softmax);
    let mut graph = b.finish();
    optimize(&mut graph).unwrap();
    graph
}

fn batches(count: usize, seed: u64) -> Vec<Vec<Tensor>> {
    let mut random = Random::new(seed);
    (0..count).map(|_| vec![random.tensor(&[1, 3, 8, 8])]).collect()
}

#[test]
fn the_plan_quantizes_compute_and_safe_nodes_and_explains_float_ones() {
    let graph = conv_net();
    assert_eq!(count(&graph, "Relu"), 0, "the Relu is fused into conv1");
    let plan = plan(&graph, &QuantOptions::default()).unwrap();
    for name in ["conv1", "pool", "conv2", "add", "gap", "flatten", "gemm"] {
        let decision = plan.decision(name).unwrap();
        assert!(decision.quantized, "{name}: {}", decision.reason);
    }
    let softmax = plan.decision("softmax").unwrap();
    assert!(!softmax.quantized);
    assert!(softmax.reason.contains("delicate"), "{}", softmax.reason);
    assert_eq!(plan.activation_type, QuantType::U8);
    let weights: Vec<(&str, Option<usize>)> =
        plan.weights.iter().map(|w| (w.name.as_str(), w.axis)).collect();
    assert_eq!(weights, [("w1", Some(0)), ("w2", Some(0)), ("w3", Some(0))]);
    let names: Vec<&str> = plan.activations.iter().map(|a| a.name.as_str()).collect();
    // The inputs of the quantized nodes: the input, conv1's output after the fused Relu and
    // the outputs between quantized nodes; gemm's output feeds the float Softmax in float.
    assert_eq!(
        names,
        ["x", "relu_out", "pool_out", "conv2_out", "add_out", "gap_out", "flatten_out"]
    );
    assert!(!names.contains(&"gemm_out"), "{names:?}");
}

#[test]
fn overrides_keep_nodes_float_or_force_them_to_int8() {
    let graph = conv_net();
    let mut options =
        QuantOptions { activations: ActivationScheme::SymmetricI8, ..QuantOptions::default() };
    options.by_node_name.insert("conv2".into(), Override::KeepFloat);
    options.by_op_type.insert("Softmax".into(), Override::ForceInt8);
    options.by_op_type.insert("Conv".into(), Override::ForceInt8);
    let plan = plan(&graph, &options).unwrap();
    let conv2 = plan.decision("conv2").unwrap();
    assert!(!conv2.quantized && conv2.reason.contains("node name"), "{}", conv2.reason);
    assert!(plan.decision("conv1").unwrap().quantized);
    assert!(plan.decision("softmax").unwrap().quantized);
    assert!(plan.decision("add").unwrap().quantized, "the pool feeding Add is quantized");
    assert!(plan.weights.iter().all(|w| w.name != "w2"));
    assert_eq!(plan.activation_type, QuantType::I8);
}

#[test]
fn the_qdq_graph_is_consistent_and_close_to_float() {
    let graph = conv_net();
    let plan = plan(&graph, &QuantOptions::default()).unwrap();
    let ranges = collect_ranges(&graph, &plan, &batches(4, 11));
    let qdq = apply(&graph, &plan, &ranges).unwrap();
    qdq.check().unwrap();
    assert_eq!(qdq.opset, 13, "per-axis weights need opset 13");
    assert_eq!(count(&qdq, "QuantizeLinear"), plan.activations.len());
    assert_eq!(count(&qdq, "DequantizeLinear"), plan.activations.len() + plan.weights.len());
    // The graph output keeps its name; the float weights are gone.
    assert_eq!(qdq.value(qdq.outputs[0]).name, graph.value(graph.outputs[0]).name);
    assert!(qdq.value_by_name("w1").is_none());

    // w1 became int8 with per-channel scales max|w| / 127.
    let w1 = graph.constant(graph.value_by_name("w1").unwrap()).unwrap();
    let expected = quantize_per_channel(w1.as_f32().unwrap(), w1.shape(), Some(0), 127).unwrap();
    let stored = qdq.constant(qdq.value_by_name("w1_quantized").unwrap()).unwrap();
    assert_eq!(*stored.data(), TensorData::I8(expected.values.clone()));
    let scales = qdq.constant(qdq.value_by_name("w1_scale").unwrap()).unwrap();
    assert_eq!(scales.as_f32().unwrap(), expected.scales.as_slice());
    let channel_max = w1.as_f32().unwrap()[..27].iter().fold(0.0f32, |m, w| m.max(w.abs()));
    assert_eq!(expected.scales[0], channel_max / 127.0);

    for inputs in batches(3, 99) {
        let float = run(&graph, &inputs);
        let quantized = run(&qdq, &inputs);
        let (f, q) = (float[0].as_f32().unwrap(), quantized[0].as_f32().unwrap());
        let worst = f.iter().zip(q).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 0.02, "probabilities differ by {worst}: {f:?} vs {q:?}");
        assert_ne!(f, q, "fake quantization changes the values");
    }
}

#[test]
fn activation_pairs_use_the_given_parameters() {
    let graph = conv_net();
    let plan = plan(&graph, &QuantOptions::default()).unwrap();
    let mut ranges = collect_ranges(&graph, &plan, &batches(2, 3));
    let x = graph.value_by_name("x").unwrap();
    // A coarse input quantization: scale 0.5, zero point 100.
    ranges.insert(x, QuantParams { scale: 0.5, zero_point: 100, quant_type: QuantType::U8 });
    let qdq = apply(&graph, &plan, &ranges).unwrap();
    let scale = qdq.constant(qdq.value_by_name("x_scale").unwrap()).unwrap();
    assert_eq!(scale.as_f32().unwrap(), &[0.5]);
    let zero = qdq.constant(qdq.value_by_name("x_zero_point").unwrap()).unwrap();
    assert_eq!(*zero.data(), TensorData::U8(vec![100]));

    // Without a range for x, or with an invalid one, apply refuses.
    let mut missing = ranges.clone();
    missing.remove(&x);
    let error = apply(&graph, &plan, &missing).unwrap_err();
    assert!(error.message.contains("'x'"), "{}", error.message);
    ranges.insert(x, QuantParams { scale: -1.0, zero_point: 0, quant_type: QuantType::U8 });
    assert!(apply(&graph, &plan, &ranges).is_err());
}

#[test]
fn the_standard_export_has_no_fused_activations_and_computes_the_same() {
    let graph = conv_net();
    let plan = plan(&graph, &QuantOptions::default()).unwrap();
    let ranges = collect_ranges(&graph, &plan, &batches(2, 5));
    let qdq = apply(&graph, &plan, &ranges).unwrap();
    let exported = import_model(&export_standard_model(&qdq).unwrap()).unwrap();
    assert!(
        exported
            .nodes
            .iter()
            .all(|node| node.attributes.iter().all(|(name, _)| !name.starts_with("dlopt")))
    );
    assert_eq!(count(&exported, "Relu"), 1);
    assert_eq!(exported.opset, 13);
    for inputs in batches(2, 8) {
        let (a, b) = (run(&qdq, &inputs), run(&exported, &inputs));
        assert_eq!(a[0].as_f32().unwrap(), b[0].as_f32().unwrap());
    }
}

#[test]
fn raising_the_opset_keeps_opset_11_meanings() {
    let mut b = Builder::default();
    b.graph.opset = 11;
    let x = b.input("x", dims![2, 3, 4]);
    // Softmax over the flattened [3, 4] (opset 11 axis 1), and along the last axis.
    let flat = b.op("Softmax", "flat", &[x], &[("axis", Attribute::Int(1))]);
    let last = b.op("Softmax", "last", &[x], &[("axis", Attribute::Int(-1))]);
    let wide = b.op("Unsqueeze", "wide", &[flat], &[("axes", ints(&[0]))]);
    b.output(wide);
    b.output(last);
    let mut graph = b.finish();
    optimize(&mut graph).unwrap();
    let inputs = vec![Random::new(3).tensor(&[2, 3, 4])];
    let before = run(&graph, &inputs);
    let mut raised = graph.clone();
    assert!(upgrade_to_opset_13(&mut raised).unwrap());
    raised.check().unwrap();
    assert_eq!(raised.opset, 13);
    assert_eq!(count(&raised, "Flatten"), 1, "only the non-last axis is rewritten");
    let after = run(&raised, &inputs);
    assert_eq!(before[0].shape(), after[0].shape());
    for (b, a) in before.iter().zip(&after) {
        for (x, y) in b.as_f32().unwrap().iter().zip(a.as_f32().unwrap()) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }
    // The exported model is valid opset 13: Unsqueeze's axes are an input.
    let unsqueeze = raised.nodes.iter().find(|n| n.op_type == "Unsqueeze").unwrap();
    let axes = raised.constant(unsqueeze.input(1).unwrap()).unwrap();
    assert_eq!(axes.to_i64_vec(), vec![0]);
    assert_eq!(axes.data_type(), DataType::I64);
    let mut unchanged = raised.clone();
    assert!(!upgrade_to_opset_13(&mut unchanged).unwrap());
}

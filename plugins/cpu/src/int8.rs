//! The int8 pass: quantized convolutions of a calibrated QDQ graph become
//! `dlopt::QLinearConvF32` nodes, which the runtime computes with the int8 kernels
//! (u8 activations x i8 weights, exact i32 sums, f32 epilogue with bias and activation).
//!
//! # Pattern
//!
//! ```text
//! x (f32) → QuantizeLinear(s, zp) → DequantizeLinear(s, zp) → Conv ← DequantizeLinear(Wq, Ws, axis 0, zero points 0)
//! ```
//!
//! becomes `QLinearConvF32(x, Wq, Ws, B)` with the Conv's attributes (including a fused
//! activation) plus `x_scale = s` and `x_zero_point = zp`; it reads `x` directly and writes
//! the Conv's output. Q / DQ nodes nobody reads any more are removed (a pair other nodes
//! read stays). Only what the int8 kernels run exactly is fused: uint8 activations with
//! one scale and zero point for the tensor, int8 weights with zero points 0 and one scale
//! per output channel (`axis` 0) or per tensor, a constant float32 bias or none, one group
//! or depthwise, 1-D or 2-D, reductions of at most 65536 terms. Anything else keeps the
//! float32 simulation of the QDQ graph.
//!
//! # When it runs
//!
//! At compile time, for precision int8, after `dlopt_graph::passes::optimize`: that
//! pipeline never folds DequantizeLinear (its constant folding covers shape arithmetic
//! only), so the pattern is intact, and the activations it fused into the Conv come
//! along. The fused nodes are exported into the artifact's ONNX bytes like any node of a
//! non-default domain (the export declares domain `dlopt`, version 1), so a deserialized
//! model builds the same plan.

use dlopt_graph::{Attribute, DataType, Graph, Node, Result, TensorData, ValueId};
use dlopt_runtime::ops::{
    INT8_CONV_DOMAIN, INT8_CONV_OP_TYPE, INT8_CONV_X_SCALE, INT8_CONV_X_ZERO_POINT,
};

/// Largest reduction (`C / group · kh · kw`) of the int8 kernels (exact i32 sums).
const MAX_REDUCTION: usize = 65536;

/// Rewrites every matching Conv (see the module documentation) and removes the nodes that
/// became dead; returns how many convolutions were fused.
pub fn fuse_int8_convolutions(graph: &mut Graph) -> Result<usize> {
    let producers = graph.producers();
    let mut fused = 0;
    for at in 0..graph.nodes.len() {
        if let Some(node) = fusion(graph, &producers, at) {
            graph.nodes[at] = node;
            fused += 1;
        }
    }
    if fused > 0 {
        dlopt_graph::passes::remove_dead_nodes(graph)?;
    }
    Ok(fused)
}

/// The node replacing node `at`, if it is a Conv of the pattern.
fn fusion(graph: &Graph, producers: &[Option<usize>], at: usize) -> Option<Node> {
    let conv = &graph.nodes[at];
    if conv.op_type != "Conv" || !is_onnx(conv) {
        return None;
    }
    let producer = |id: ValueId| producers[id.index()].map(|index| &graph.nodes[index]);
    // The activation: x → Q → DQ → Conv.
    let dq = producer(conv.input(0)?).filter(|n| n.op_type == "DequantizeLinear" && is_onnx(n))?;
    let q = producer(dq.input(0)?).filter(|n| n.op_type == "QuantizeLinear" && is_onnx(n))?;
    let x = q.input(0)?;
    if graph.value(x).data_type != Some(DataType::F32) || has_block_size(q) || has_block_size(dq) {
        return None;
    }
    if q.attributes.get("output_dtype").is_some() {
        return None;
    }
    let scale = scalar_f32(graph, q.input(1)?)?;
    let zero_point = u8_zero_point(graph, q.inputs.get(2).copied().flatten())?;
    if scalar_f32(graph, dq.input(1)?)? != scale
        || u8_zero_point(graph, dq.inputs.get(2).copied().flatten())? != zero_point
        || !(scale.is_finite() && scale > 0.0)
    {
        return None;
    }
    // The weights: constant int8, dequantized per output channel (or per tensor).
    let wdq = producer(conv.input(1)?).filter(|n| n.op_type == "DequantizeLinear" && is_onnx(n))?;
    let weights_id = wdq.input(0)?;
    let weights = graph.constant(weights_id).filter(|t| t.data_type() == DataType::I8)?;
    let shape = weights.shape();
    if !(3..=4).contains(&shape.len()) || has_block_size(wdq) {
        return None;
    }
    let scales_id = wdq.input(1)?;
    let scales = graph.constant(scales_id).filter(|t| t.data_type() == DataType::F32)?;
    let out_channels = shape[0];
    let per_channel = scales.len() == out_channels && scales.rank() == 1;
    if per_channel && out_channels > 1 {
        let axis = wdq.attributes.int_or("axis", 1).ok()?;
        if axis != 0 && axis != -(shape.len() as i64) {
            return None;
        }
    } else if scales.len() != 1 {
        return None;
    }
    if let Some(zero_points) = wdq.inputs.get(2).copied().flatten() {
        let zero_points = graph.constant(zero_points)?;
        match zero_points.data() {
            TensorData::I8(values) if values.iter().all(|&v| v == 0) => {}
            _ => return None,
        }
    }
    // The Conv: one group or depthwise, a constant f32 bias or none.
    let group = conv.attributes.int_or("group", 1).ok()?;
    let depthwise = group > 1 && shape[1] == 1 && group as usize == out_channels;
    let reduction: usize = shape[1..].iter().product();
    if !(group == 1 || depthwise) || reduction == 0 || reduction > MAX_REDUCTION {
        return None;
    }
    let bias = conv.inputs.get(2).copied().flatten();
    if let Some(bias) = bias {
        graph.constant(bias).filter(|t| t.data_type() == DataType::F32)?;
    }
    let mut node = Node {
        name: conv.name.clone(),
        op_type: INT8_CONV_OP_TYPE.into(),
        domain: INT8_CONV_DOMAIN.into(),
        inputs: vec![Some(x), Some(weights_id), Some(scales_id), bias],
        outputs: conv.outputs.clone(),
        attributes: conv.attributes.clone(),
    };
    node.attributes.set(INT8_CONV_X_SCALE, Attribute::Float(scale));
    node.attributes.set(INT8_CONV_X_ZERO_POINT, Attribute::Int(i64::from(zero_point)));
    Some(node)
}

/// Whether the node is of the default ONNX domain.
fn is_onnx(node: &Node) -> bool {
    dlopt_graph::onnx::is_default_domain(&node.domain)
}

/// Whether a Q / DQ node quantizes per block (opset 21).
fn has_block_size(node: &Node) -> bool {
    !matches!(node.attributes.int_or("block_size", 0), Ok(0))
}

/// The value of a constant one-element f32 tensor.
fn scalar_f32(graph: &Graph, id: ValueId) -> Option<f32> {
    let tensor = graph.constant(id)?;
    (tensor.len() == 1).then(|| tensor.as_f32().map(|values| values[0])).flatten()
}

/// A uint8 zero point: a constant one-element uint8 tensor, or 0 when absent.
fn u8_zero_point(graph: &Graph, id: Option<ValueId>) -> Option<u8> {
    let Some(id) = id else { return Some(0) };
    match graph.constant(id)?.data() {
        TensorData::U8(values) if values.len() == 1 => Some(values[0]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use dlopt_graph::{Tensor, Value};

    use super::*;

    /// `x → Q → DQ → Conv(·, DQ(Wq))` for a 1x1 convolution 4 → 4 channels, with the
    /// activation zero point `zp` and the weight zero points `wzp`; the Conv writes `y`.
    fn pattern(zp: TensorData, wzp: Vec<i8>, group: i64) -> Graph {
        let mut graph = Graph { opset: 13, ..Default::default() };
        let x = graph.add_value(Value {
            name: "x".into(),
            data_type: Some(DataType::F32),
            ..Default::default()
        });
        graph.inputs.push(x);
        let mut value =
            |name: &str| graph.add_value(Value { name: name.into(), ..Default::default() });
        let (q, dq, wdq, y) = (value("q"), value("dq"), value("wdq"), value("y"));
        graph.outputs.push(y);
        let s = graph.add_constant("s".into(), Tensor::scalar(TensorData::F32(vec![0.1])).unwrap());
        let z = graph.add_constant("z".into(), Tensor::scalar(zp).unwrap());
        let per_group = 4 / group as usize;
        let w = graph.add_constant(
            "w".into(),
            Tensor::new(vec![4, per_group, 1, 1], TensorData::I8(vec![3; 4 * per_group])).unwrap(),
        );
        let ws = graph.add_constant("ws".into(), Tensor::from_f32(vec![4], vec![0.5; 4]).unwrap());
        let wz =
            graph.add_constant("wz".into(), Tensor::new(vec![4], TensorData::I8(wzp)).unwrap());
        let node = |name: &str, op: &str, inputs: Vec<ValueId>, output| Node {
            name: name.into(),
            op_type: op.into(),
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![output],
            ..Default::default()
        };
        let mut weights = node("wdq", "DequantizeLinear", vec![w, ws, wz], wdq);
        weights.attributes.set("axis", Attribute::Int(0));
        let mut conv = node("conv", "Conv", vec![dq, wdq], y);
        conv.attributes.set("group", Attribute::Int(group));
        graph.nodes = vec![
            node("q", "QuantizeLinear", vec![x, s, z], q),
            node("dq", "DequantizeLinear", vec![q, s, z], dq),
            weights,
            conv,
        ];
        graph
    }

    fn op_types(graph: &Graph) -> Vec<&str> {
        graph.nodes.iter().map(|node| node.op_type.as_str()).collect()
    }

    #[test]
    fn the_pattern_becomes_one_node_reading_the_float_input() {
        let mut graph = pattern(TensorData::U8(vec![7]), vec![0; 4], 1);
        assert_eq!(fuse_int8_convolutions(&mut graph).unwrap(), 1);
        assert_eq!(op_types(&graph), ["QLinearConvF32"]);
        let node = &graph.nodes[0];
        assert_eq!(node.domain, "dlopt");
        assert_eq!(node.input(0), Some(graph.inputs[0]));
        assert_eq!(node.attributes.float(INT8_CONV_X_SCALE).unwrap(), Some(0.1));
        assert_eq!(node.attributes.int(INT8_CONV_X_ZERO_POINT).unwrap(), Some(7));
        assert_eq!(graph.constant(node.input(1).unwrap()).unwrap().data_type(), DataType::I8);
    }

    #[test]
    fn a_pair_other_nodes_read_stays() {
        let mut graph = pattern(TensorData::U8(vec![7]), vec![0; 4], 1);
        let dq = graph.nodes[1].outputs[0];
        let relu_out = graph.add_value(Value { name: "r".into(), ..Default::default() });
        graph.nodes.push(Node {
            name: "relu".into(),
            op_type: "Relu".into(),
            inputs: vec![Some(dq)],
            outputs: vec![relu_out],
            ..Default::default()
        });
        graph.outputs.push(relu_out);
        assert_eq!(fuse_int8_convolutions(&mut graph).unwrap(), 1);
        assert_eq!(
            op_types(&graph),
            ["QuantizeLinear", "DequantizeLinear", "QLinearConvF32", "Relu"]
        );
    }

    #[test]
    fn what_the_int8_kernels_cannot_run_is_left_alone() {
        for mut graph in [
            pattern(TensorData::I8(vec![0]), vec![0; 4], 1),
            pattern(TensorData::U8(vec![7]), vec![0, 1, 0, 0], 1),
            pattern(TensorData::U8(vec![7]), vec![0; 4], 2),
        ] {
            let before = op_types(&graph).join(",");
            assert_eq!(fuse_int8_convolutions(&mut graph).unwrap(), 0);
            assert_eq!(op_types(&graph).join(","), before);
        }
    }
}

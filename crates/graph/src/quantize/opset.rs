//! Raising a graph's opset to 13, which per-axis DequantizeLinear needs (opsets 10 to 12
//! only have per-tensor scales: an opset 11 model with a per-axis DequantizeLinear is
//! invalid, and ONNX Runtime refuses it).
//!
//! Between opsets 11 and 13 these operators changed meaning, and are rewritten so that the
//! graph computes the same:
//! - Softmax, LogSoftmax, Hardmax: before 13 they work on the input flattened to 2-D at
//!   `axis` (default 1), from 13 on along the single `axis` (default -1). When `axis` is the
//!   last axis the two agree (the attribute is made explicit); otherwise the node becomes
//!   `Reshape(op(Flatten(x, axis), axis = 1), Shape(x))`.
//! - Squeeze, Unsqueeze, ReduceSum: the `axes` attribute becomes input 1; Split: the
//!   `split` attribute becomes input 1.
//!
//! Every other change between opsets 11 and 13 of the operators dlopt implements only adds
//! element types or optional inputs, so the other nodes stay as they are.

use crate::attribute::{Attribute, Attributes};
use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::{Graph, Node, Value};
use crate::onnx::is_default_domain;
use crate::tensor::Tensor;

/// The opset per-axis DequantizeLinear needs.
pub const PER_AXIS_OPSET: i64 = 13;

/// Raises `graph` to opset 13 if it is below (see the module documentation); returns whether
/// it changed.
pub fn upgrade_to_opset_13(graph: &mut Graph) -> Result<bool> {
    if graph.opset >= PER_AXIS_OPSET {
        return Ok(false);
    }
    // The old nodes stay in the graph until the end, so that new names avoid theirs.
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for mut node in graph.nodes.clone() {
        if !is_default_domain(&node.domain) {
            nodes.push(node);
            continue;
        }
        match node.op_type.as_str() {
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                nodes.extend(coerced_to_axis(graph, node)?);
                continue;
            }
            "Squeeze" | "Unsqueeze" | "ReduceSum" => attribute_to_input(graph, &mut node, "axes"),
            "Split" => attribute_to_input(graph, &mut node, "split"),
            _ => {}
        }
        nodes.push(node);
    }
    graph.nodes = nodes;
    graph.opset = PER_AXIS_OPSET;
    Ok(true)
}

/// Moves ints attribute `name` of `node` to a constant input 1 (absent attribute: nothing).
fn attribute_to_input(graph: &mut Graph, node: &mut Node, name: &str) {
    let Some(Attribute::Ints(values)) = node.attributes.remove(name) else { return };
    let tensor = Tensor::from_i64(vec![values.len()], values).expect("a 1-D shape");
    let id = graph.add_constant(graph.unique_name(&format!("{}_{name}", node.name)), tensor);
    node.inputs.resize(1, None);
    node.inputs.push(Some(id));
}

/// The opset 13 form of an opset 11 Softmax / LogSoftmax / Hardmax.
fn coerced_to_axis(graph: &mut Graph, mut node: Node) -> Result<Vec<Node>> {
    let input = node.input(0).ok_or_else(|| GraphError::invalid("input 0 is required"))?;
    let rank = graph.value(input).shape.as_ref().map(Vec::len).ok_or_else(|| {
        GraphError::unsupported(
            "the rank of the input is unknown, so its opset 11 meaning cannot be kept at opset 13",
        )
        .at_node(&node)
    })? as i64;
    let axis = node.attributes.int_or("axis", 1)?;
    let axis = if axis < 0 { axis + rank } else { axis };
    if axis == rank - 1 {
        node.attributes.set("axis", Attribute::Int(axis));
        return Ok(vec![node]);
    }
    let output = node.outputs[0];
    let value = |graph: &mut Graph, suffix: &str, data_type| {
        let name = graph.unique_name(&format!("{}_{suffix}", node.name));
        graph.add_value(Value { name, data_type: Some(data_type), ..Value::default() })
    };
    let float = graph.value(output).data_type.unwrap_or(DataType::F32);
    let flat = value(graph, "flat", float);
    let computed = value(graph, "2d", float);
    let shape = value(graph, "shape", DataType::I64);
    let named = |graph: &Graph, suffix: &str| graph.unique_name(&format!("{}_{suffix}", node.name));
    let mut flatten_axis = Attributes::default();
    flatten_axis.set("axis", Attribute::Int(axis));
    let flatten = Node {
        name: named(graph, "flatten"),
        op_type: "Flatten".into(),
        inputs: vec![Some(input)],
        outputs: vec![flat],
        attributes: flatten_axis,
        ..Node::default()
    };
    let shape_of = Node {
        name: named(graph, "shape"),
        op_type: "Shape".into(),
        inputs: vec![Some(input)],
        outputs: vec![shape],
        ..Node::default()
    };
    let reshape = Node {
        name: named(graph, "reshape"),
        op_type: "Reshape".into(),
        inputs: vec![Some(computed), Some(shape)],
        outputs: vec![output],
        ..Node::default()
    };
    node.inputs = vec![Some(flat)];
    node.outputs = vec![computed];
    node.attributes.set("axis", Attribute::Int(1));
    Ok(vec![flatten, node, shape_of, reshape])
}

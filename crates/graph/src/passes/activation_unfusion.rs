//! The inverse of [`fuse_activations`](super::fuse_activations): every compute node with a
//! fused activation (`dlopt_activation`, see `activation_fusion.rs`) loses the attributes
//! and is followed by standard ONNX nodes computing the activation, so that other ONNX
//! runtimes can run the graph. The compute node now writes `<node>_linear`; the activation's
//! last node writes the compute node's former output, so value names stay.
//!
//! `Silu` becomes `x * Sigmoid(x)`; `HardSwish` stays HardSwish from opset 14 on and becomes
//! `x * HardSigmoid(x, 1/6, 0.5)` before; `Clip` takes its bounds as constant inputs.

use crate::attribute::{Attribute, Attributes};
use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::{Graph, Node, Value, ValueId};
use crate::passes::activation_fusion::{ACTIVATION, ALPHA, BETA};
use crate::tensor::Tensor;

/// Expands every fused activation into standard nodes (see the module documentation);
/// returns whether anything changed.
pub fn unfuse_activations(graph: &mut Graph) -> Result<bool> {
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let mut changed = false;
    for mut node in graph.nodes.clone() {
        let Some(name) = node.attributes.string(ACTIVATION)?.map(str::to_string) else {
            nodes.push(node);
            continue;
        };
        let alpha = node.attributes.float(ALPHA)?;
        let beta = node.attributes.float(BETA)?;
        for attribute in [ACTIVATION, ALPHA, BETA] {
            node.attributes.remove(attribute);
        }
        let output = node.outputs[0];
        let linear = new_value(graph, &format!("{}_linear", node.name), output);
        node.outputs[0] = linear;
        let expanded = expand(graph, &node, &name, alpha, beta, linear, output)?;
        nodes.push(node);
        nodes.extend(expanded);
        changed = true;
    }
    graph.nodes = nodes;
    Ok(changed)
}

/// A new f32 value named after `base` with the shape of `like`.
fn new_value(graph: &mut Graph, base: &str, like: ValueId) -> ValueId {
    let name = graph.unique_name(base);
    let shape = graph.value(like).shape.clone();
    graph.add_value(Value { name, data_type: Some(DataType::F32), shape, constant: None })
}

/// A node of `op_type` named after `base`.
fn unary(
    graph: &Graph,
    base: &str,
    op_type: &str,
    inputs: Vec<Option<ValueId>>,
    output: ValueId,
    attributes: &[(&str, f32)],
) -> Node {
    let mut set = Attributes::default();
    for &(name, value) in attributes {
        set.set(name, Attribute::Float(value));
    }
    Node {
        name: graph.unique_name(base),
        op_type: op_type.into(),
        domain: String::new(),
        inputs,
        outputs: vec![output],
        attributes: set,
    }
}

/// The standard nodes computing activation `name` from `x` into `y`.
fn expand(
    graph: &mut Graph,
    compute: &Node,
    name: &str,
    alpha: Option<f32>,
    beta: Option<f32>,
    x: ValueId,
    y: ValueId,
) -> Result<Vec<Node>> {
    let base = format!("{}_{name}", compute.name);
    let gated = |graph: &mut Graph, gate: &str, attributes: &[(&str, f32)]| {
        let g = new_value(graph, &format!("{base}_gate"), y);
        let first = unary(graph, &format!("{base}_{gate}"), gate, vec![Some(x)], g, attributes);
        let mul = unary(graph, &format!("{base}_mul"), "Mul", vec![Some(x), Some(g)], y, &[]);
        vec![first, mul]
    };
    Ok(match name {
        "Relu" | "Sigmoid" | "Tanh" => vec![unary(graph, &base, name, vec![Some(x)], y, &[])],
        "LeakyRelu" => {
            let alpha = alpha.unwrap_or(0.01);
            vec![unary(graph, &base, name, vec![Some(x)], y, &[("alpha", alpha)])]
        }
        "HardSigmoid" => {
            let parameters = [("alpha", alpha.unwrap_or(0.2)), ("beta", beta.unwrap_or(0.5))];
            vec![unary(graph, &base, name, vec![Some(x)], y, &parameters)]
        }
        "HardSwish" if graph.opset >= 14 => {
            vec![unary(graph, &base, name, vec![Some(x)], y, &[])]
        }
        "HardSwish" => gated(graph, "HardSigmoid", &[("alpha", 1.0 / 6.0), ("beta", 0.5)]),
        "Silu" => gated(graph, "Sigmoid", &[]),
        "Clip" => {
            let mut bound = |suffix: &str, value: Option<f32>| {
                value.map(|value| {
                    let name = graph.unique_name(&format!("{base}_{suffix}"));
                    graph.add_constant(name, Tensor::from_f32(Vec::new(), vec![value]).unwrap())
                })
            };
            let (min, max) = (bound("min", alpha), bound("max", beta));
            vec![unary(graph, &base, name, vec![Some(x), min, max], y, &[])]
        }
        other => {
            return Err(GraphError::unsupported(format!(
                "fused activation '{other}' has no standard ONNX form here"
            ))
            .at_node(compute));
        }
    })
}

//! Removes arithmetic with a neutral constant: `x * 1`, `1 * x`, `x / 1`, `x + 0`, `0 + x`,
//! `x - 0` (exporters write `x * 1.0` before a Sigmoid for Swish's beta). IEEE arithmetic
//! gives `x` back exactly (up to the sign of a zero sum).
//!
//! Only where the constant cannot change the shape: all its dimensions are 1 and its rank
//! is at most that of `x` (which must be known), and the types agree.

use crate::error::Result;
use crate::graph::{Graph, Node, ValueId};
use crate::onnx::is_default_domain;
use crate::passes::rewrite::{bypass, remove_nodes};

/// Whether constant `id` holds only `neutral` and broadcasts away against `other`.
fn is_neutral(graph: &Graph, id: ValueId, other: ValueId, neutral: f64) -> bool {
    let Some(tensor) = graph.constant(id) else { return false };
    let other = graph.value(other);
    let Some(rank) = other.shape.as_ref().map(Vec::len) else { return false };
    tensor.shape().iter().all(|&dim| dim == 1)
        && tensor.rank() <= rank
        && other.data_type == Some(tensor.data_type())
        && tensor.data().to_f64_vec().iter().all(|&v| v == neutral)
}

/// The input that `node` passes through, if it is a neutral operation.
fn passed_input(graph: &Graph, node: &Node) -> Option<ValueId> {
    if !is_default_domain(&node.domain) || node.inputs.len() != 2 || node.outputs.len() != 1 {
        return None;
    }
    let (a, b) = (node.input(0)?, node.input(1)?);
    let (neutral, commutes) = match node.op_type.as_str() {
        "Mul" => (1.0, true),
        "Div" => (1.0, false),
        "Add" => (0.0, true),
        "Sub" => (0.0, false),
        _ => return None,
    };
    if is_neutral(graph, b, a, neutral) {
        Some(a)
    } else if commutes && is_neutral(graph, a, b, neutral) {
        Some(b)
    } else {
        None
    }
}

/// The pass: see the module documentation.
pub fn remove_neutral_elements(graph: &mut Graph) -> Result<bool> {
    let mut removed = Vec::new();
    for at in 0..graph.nodes.len() {
        let Some(input) = passed_input(graph, &graph.nodes[at]) else { continue };
        let output = graph.nodes[at].outputs[0];
        if bypass(graph, at, input, output) {
            removed.push(at);
        }
    }
    remove_nodes(graph, &removed);
    Ok(!removed.is_empty())
}

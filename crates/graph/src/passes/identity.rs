//! Removes Identity nodes, and Dropout nodes (inference: Dropout passes its input through)
//! whose mask output is unused and that are not in training mode.
//!
//! Uses of the output read the input instead. Graph output names are kept: an Identity
//! that produces a graph output hands that name to the node producing its input; it stays
//! where that is impossible (its input is a graph input, another graph output or a
//! constant).

use crate::error::Result;
use crate::graph::{Graph, Node};
use crate::onnx::is_default_domain;
use crate::passes::rewrite::{bypass, remove_nodes};

/// Whether `node` passes input 0 through unchanged as output 0, with nothing else used.
fn passes_through(graph: &Graph, node: &Node, counts: &[usize]) -> bool {
    if !is_default_domain(&node.domain) || node.input(0).is_none() || node.outputs.is_empty() {
        return false;
    }
    match node.op_type.as_str() {
        "Identity" => node.outputs.len() == 1,
        "Dropout" => {
            let mask_unused = node.outputs[1..].iter().all(|mask| counts[mask.index()] == 0);
            // Opset 12+: input 2 is training_mode; only a constant false is inference.
            let inference = match node.input(2) {
                None => true,
                Some(mode) => graph
                    .constant(mode)
                    .is_some_and(|mode| mode.to_i64_vec().iter().all(|&v| v == 0)),
            };
            mask_unused && inference
        }
        _ => false,
    }
}

/// The pass: see the module documentation.
pub fn remove_identities(graph: &mut Graph) -> Result<bool> {
    let mut removed = Vec::new();
    // Bypassing a node changes no use count of a Dropout mask, so one count serves all.
    let counts = graph.use_counts();
    for at in 0..graph.nodes.len() {
        let node = &graph.nodes[at];
        if !passes_through(graph, node, &counts) {
            continue;
        }
        let (input, output) = (node.inputs[0].unwrap_or(node.outputs[0]), node.outputs[0]);
        if bypass(graph, at, input, output) {
            removed.push(at);
        }
    }
    remove_nodes(graph, &removed);
    Ok(!removed.is_empty())
}

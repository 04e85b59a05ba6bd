//! Small graph edits the passes share: who uses a value, reading constants, adding new
//! ones, bypassing a node that passes its input through, dropping nodes.

use crate::graph::{Graph, ValueId};
use crate::tensor::Tensor;

/// For each value, the indices of the nodes reading it (once per reading input).
pub(crate) fn consumers(graph: &Graph) -> Vec<Vec<usize>> {
    let mut consumers = vec![Vec::new(); graph.values.len()];
    for (at, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs.iter().flatten() {
            consumers[input.index()].push(at);
        }
    }
    consumers
}

/// Whether `id` is one of the graph's outputs.
pub(crate) fn is_graph_output(graph: &Graph, id: ValueId) -> bool {
    graph.outputs.contains(&id)
}

/// Whether `id` is one of the graph's inputs.
pub(crate) fn is_graph_input(graph: &Graph, id: ValueId) -> bool {
    graph.inputs.contains(&id)
}

/// The f32 data of a constant f32 value.
pub(crate) fn f32_constant(graph: &Graph, id: ValueId) -> Option<&Tensor> {
    graph.constant(id).filter(|tensor| tensor.as_f32().is_some())
}

/// The single element of a constant float value (any float type), as f32.
pub(crate) fn float_scalar(graph: &Graph, id: ValueId) -> Option<f32> {
    let tensor = graph.constant(id)?;
    (tensor.len() == 1 && tensor.data_type().is_float()).then(|| tensor.to_f32_vec()[0])
}

/// Adds a constant named after `base` (made unique).
pub(crate) fn add_constant(graph: &mut Graph, base: &str, tensor: Tensor) -> ValueId {
    let name = graph.unique_name(base);
    graph.add_constant(name, tensor)
}

/// Removes the nodes at `indices` (into `graph.nodes`).
pub(crate) fn remove_nodes(graph: &mut Graph, indices: &[usize]) {
    if indices.is_empty() {
        return;
    }
    let mut remove = vec![false; graph.nodes.len()];
    indices.iter().for_each(|&at| remove[at] = true);
    let mut at = 0;
    graph.nodes.retain(|_| {
        let keep = !remove[at];
        at += 1;
        keep
    });
}

/// Makes node `node`, which passes `input` through unchanged as `output`, unnecessary:
/// afterwards nothing reads `output` (the caller removes the node). Graph output names are
/// kept: if `output` is a graph output, the node producing `input` produces `output`
/// instead. Returns `false` (and changes nothing) where that is impossible: `output` is a
/// graph output and `input` is a graph input, a graph output or a constant.
pub(crate) fn bypass(graph: &mut Graph, node: usize, input: ValueId, output: ValueId) -> bool {
    if !is_graph_output(graph, output) {
        graph.replace_uses(output, input);
        return true;
    }
    if is_graph_input(graph, input)
        || is_graph_output(graph, input)
        || graph.constant(input).is_some()
    {
        return false;
    }
    let Some(producer) = graph.nodes.iter().position(|n| n.outputs.contains(&input)) else {
        return false;
    };
    debug_assert!(producer < node, "nodes are in topological order");
    for slot in graph.nodes[producer].outputs.iter_mut().filter(|slot| **slot == input) {
        *slot = output;
    }
    graph.replace_uses(input, output);
    // The output keeps its declarations, and gains what was known about the input.
    let (known_type, known_shape) =
        (graph.value(input).data_type, graph.value(input).shape.clone());
    let value = graph.value_mut(output);
    value.data_type = value.data_type.or(known_type);
    if value.shape.is_none() {
        value.shape = known_shape;
    }
    true
}

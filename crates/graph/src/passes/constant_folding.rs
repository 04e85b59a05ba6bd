//! Constant folding without input shapes: nodes whose inputs are all constants are
//! computed once and replaced by their results, for the operators exporters emit in shape
//! computations (Gather, Unsqueeze, Squeeze, Concat, ConstantOfShape, Cast, Reshape,
//! Slice, Add/Sub/Mul/Div, Range, Equal, Where, Transpose), plus Shape of a value whose
//! shape is fully known.
//!
//! The implementations are small and plain (they run once per model, on small tensors);
//! the runtime also evaluates all-constant nodes when it builds a plan, so what is not
//! folded here still costs nothing per run. Results larger than their inputs by more
//! than [`GROWTH_LIMIT`](super::fold_data::GROWTH_LIMIT) elements are not folded.

use crate::error::Result;
use crate::graph::{Graph, Node};
use crate::onnx::is_default_domain;
use crate::passes::rewrite::remove_nodes;
use crate::passes::{fold_arithmetic, fold_data};
use crate::shape::{fixed_shape, symbolic};
use crate::tensor::{Tensor, TensorData};

/// The operators folded when all their inputs are constant.
const FOLDABLE: &[&str] = &[
    "Add",
    "Cast",
    "Concat",
    "ConstantOfShape",
    "Div",
    "Equal",
    "Gather",
    "Mul",
    "Range",
    "Reshape",
    "Slice",
    "Squeeze",
    "Sub",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// Shape of a value whose shape is fully known (attributes `start` / `end`, opset 15).
fn static_shape(graph: &Graph, node: &Node) -> Option<Vec<Tensor>> {
    let shape = fixed_shape(graph.value(node.input(0)?).shape.as_ref()?)?;
    let rank = shape.len() as i64;
    let start = node.attributes.int_or("start", 0).ok()?;
    let end = node.attributes.int_or("end", rank).ok()?;
    let clamp = |at: i64| (if at < 0 { at + rank } else { at }).clamp(0, rank) as usize;
    let dims: Vec<i64> =
        shape.get(clamp(start)..clamp(end).max(clamp(start)))?.iter().map(|&d| d as i64).collect();
    Some(vec![Tensor::new(vec![dims.len()], TensorData::I64(dims)).ok()?])
}

/// The outputs of `node` if it can be folded.
fn fold(graph: &Graph, node: &Node) -> Option<Vec<Tensor>> {
    if !is_default_domain(&node.domain) {
        return None;
    }
    if node.op_type == "Shape" {
        return static_shape(graph, node);
    }
    if !FOLDABLE.contains(&node.op_type.as_str()) || node.inputs.iter().all(Option::is_none) {
        return None;
    }
    let inputs: Vec<Option<&Tensor>> = node
        .inputs
        .iter()
        .map(|input| match input {
            None => Some(None),
            Some(id) => graph.constant(*id).map(Some),
        })
        .collect::<Option<_>>()?;
    let outputs =
        fold_data::evaluate(node, &inputs).or_else(|| fold_arithmetic::evaluate(node, &inputs))?;
    (outputs.len() == node.outputs.len()).then_some(outputs)
}

/// The pass: see the module documentation.
pub fn fold_constants(graph: &mut Graph) -> Result<bool> {
    let mut removed = Vec::new();
    // In order, so that a chain folds in one sweep: each result is a constant for the next.
    for at in 0..graph.nodes.len() {
        let Some(outputs) = fold(graph, &graph.nodes[at]) else { continue };
        for (id, tensor) in graph.nodes[at].outputs.clone().into_iter().zip(outputs) {
            let value = graph.value_mut(id);
            value.data_type = Some(tensor.data_type());
            value.shape = Some(symbolic(tensor.shape()));
            value.constant = Some(tensor);
        }
        removed.push(at);
    }
    remove_nodes(graph, &removed);
    Ok(!removed.is_empty())
}

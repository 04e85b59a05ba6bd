//! Removes nodes whose outputs nothing uses (repeatedly, so dead chains go), then drops
//! values nothing refers to ([`Graph::compact`]: value ids change).

use crate::error::Result;
use crate::graph::Graph;

/// The pass: see the module documentation. Reports a change if nodes or values went.
pub fn remove_dead_nodes(graph: &mut Graph) -> Result<bool> {
    let (nodes, values) = (graph.nodes.len(), graph.values.len());
    graph.remove_dead_nodes();
    graph.compact();
    Ok(graph.nodes.len() != nodes || graph.values.len() != values)
}

//! Graph optimization passes for inference. Each pass is a function
//! `fn(&mut Graph) -> Result<bool>` returning whether it changed the graph, and preserves
//! the graph's results up to float rounding; [`optimize`] runs them all to a fixed point.
//!
//! | pass | what it does |
//! |---|---|
//! | [`remove_identities`] | drops Identity and inference Dropout, keeping graph output names |
//! | [`fold_constants`] | computes nodes whose inputs are all constant (shape arithmetic) |
//! | [`remove_neutral_elements`] | drops `x * 1`, `x + 0` and the like |
//! | [`fold_batch_norms`] | folds BatchNormalization into the preceding Conv / ConvTranspose |
//! | [`fold_channel_affines`] | folds a per-channel constant Mul / Add / Sub into the preceding convolution |
//! | [`fuse_activations`] | fuses activations into Conv / ConvTranspose / Gemm / MatMul |
//! | [`remove_dead_nodes`] | drops unused nodes and values |
//!
//! [`unfuse_activations`] undoes [`fuse_activations`] for export to other runtimes
//! ([`export_standard_model`](crate::onnx::export_standard_model)); [`optimize`] does not run it.
//!
//! Passes read shapes where they need them (e.g. to know that a constant cannot
//! broadcast a value to a larger shape), so [`optimize`] infers shapes first.

mod activation_fusion;
mod activation_unfusion;
mod batch_norm;
mod channel_affine;
mod constant_folding;
mod conv_channels;
mod dead_nodes;
mod fold_arithmetic;
mod fold_data;
mod identity;
mod neutral_elements;
mod rewrite;

pub use activation_fusion::fuse_activations;
pub use activation_unfusion::unfuse_activations;
pub use batch_norm::fold_batch_norms;
pub use channel_affine::fold_channel_affines;
pub use constant_folding::fold_constants;
pub use dead_nodes::remove_dead_nodes;
pub use identity::remove_identities;
pub use neutral_elements::remove_neutral_elements;

use crate::error::Result;
use crate::graph::Graph;

/// A pass: changes the graph in place and reports whether it changed anything.
pub type Pass = fn(&mut Graph) -> Result<bool>;

/// The passes [`optimize`] runs, by name, in order.
pub const PASSES: &[(&str, Pass)] = &[
    ("remove_identities", remove_identities),
    ("fold_constants", fold_constants),
    ("remove_neutral_elements", remove_neutral_elements),
    ("fold_batch_norms", fold_batch_norms),
    ("fold_channel_affines", fold_channel_affines),
    ("fuse_activations", fuse_activations),
    ("remove_dead_nodes", remove_dead_nodes),
];

/// Rounds of all passes before [`optimize`] stops even if something still changes (each
/// round removes nodes, so real models settle in two or three).
const MAX_ROUNDS: usize = 32;

/// Runs `pass`; in debug builds checks the graph afterwards, naming the pass if it broke it.
pub fn run_pass(graph: &mut Graph, name: &str, pass: Pass) -> Result<bool> {
    let changed = pass(graph).map_err(|error| error.context(format!("pass {name}")))?;
    #[cfg(debug_assertions)]
    graph
        .check()
        .map_err(|error| error.context(format!("the graph is inconsistent after pass {name}")))?;
    Ok(changed)
}

/// Infers shapes, then runs [`PASSES`] in order until none changes the graph.
pub fn optimize(graph: &mut Graph) -> Result<()> {
    crate::shape_inference::infer_shapes(graph)
        .map_err(|error| error.context("shape inference"))?;
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for &(name, pass) in PASSES {
            changed |= run_pass(graph, name, pass)?;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

//! Folds BatchNormalization (inference) into the Conv or ConvTranspose producing its
//! input, when nothing else uses that output: per output channel,
//! `W' = W * scale / sqrt(var + eps)` and `b' = (b - mean) * scale / sqrt(var + eps) + beta`.
//! The convolution keeps its name and produces the BatchNormalization's output value.
//! A BatchNormalization after anything else stays.

use crate::error::Result;
use crate::graph::{Graph, Node};
use crate::onnx::is_default_domain;
use crate::passes::conv_channels::{ChannelAffine, fold_into_conv, foldable_conv};
use crate::passes::rewrite::{f32_constant, remove_nodes};

/// The channel map of a BatchNormalization in inference mode with constant parameters of
/// `channels` entries each.
fn batch_norm_affine(
    graph: &Graph,
    node: &Node,
    channels: usize,
    counts: &[usize],
) -> Option<ChannelAffine> {
    if node.attributes.int_or("training_mode", 0).ok()? != 0 || node.inputs.len() != 5 {
        return None;
    }
    if node.outputs[1..].iter().any(|extra| counts[extra.index()] > 0) {
        return None;
    }
    let epsilon = node.attributes.float_or("epsilon", 1e-5).ok()? as f64;
    let parameter = |index: usize| -> Option<Vec<f64>> {
        let tensor = f32_constant(graph, node.input(index)?)?;
        (tensor.len() == channels).then(|| tensor.to_f32_vec().into_iter().map(f64::from).collect())
    };
    let (gamma, beta, mean, variance) =
        (parameter(1)?, parameter(2)?, parameter(3)?, parameter(4)?);
    let scale: Vec<f64> =
        (0..channels).map(|c| gamma[c] / (variance[c] + epsilon).sqrt()).collect();
    let shift = (0..channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
    Some(ChannelAffine { scale, shift })
}

/// The pass: see the module documentation.
pub fn fold_batch_norms(graph: &mut Graph) -> Result<bool> {
    let counts = graph.use_counts();
    let producers = graph.producers();
    let mut removed = Vec::new();
    for at in 0..graph.nodes.len() {
        let node = &graph.nodes[at];
        if node.op_type != "BatchNormalization"
            || !is_default_domain(&node.domain)
            || node.outputs.is_empty()
        {
            continue;
        }
        let Some(x) = node.input(0) else { continue };
        let Some(conv_at) = producers[x.index()] else { continue };
        if counts[x.index()] != 1 {
            continue;
        }
        let Some(conv) = foldable_conv(graph, &graph.nodes[conv_at]) else { continue };
        let Some(affine) = batch_norm_affine(graph, node, conv.channels, &counts) else { continue };
        let output = node.outputs[0];
        if fold_into_conv(graph, conv_at, &affine).is_some() {
            graph.nodes[conv_at].outputs[0] = output;
            removed.push(at);
        }
    }
    remove_nodes(graph, &removed);
    Ok(!removed.is_empty())
}

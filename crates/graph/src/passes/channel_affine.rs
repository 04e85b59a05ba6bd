//! Folds a constant per-channel Mul, Add or Sub after a Conv or ConvTranspose into its
//! weights and bias, when nothing else uses the convolution's output: `conv(x) * k` scales
//! the weights and bias of each channel, `conv(x) + k` and `conv(x) - k` shift the bias.
//! Exporters of re-parameterized networks (PP-LCNetV3's learnable affine blocks) and of
//! frozen normalizations emit these.
//!
//! `k` must be f32 and broadcast along the channel axis only: every dimension 1 except
//! possibly the one aligned with axis 1, which is the channel count; its rank is at most
//! the output's, so the output shape does not change.

use crate::error::Result;
use crate::graph::{Graph, ValueId};
use crate::onnx::is_default_domain;
use crate::passes::conv_channels::{ChannelAffine, FoldableConv, fold_into_conv, foldable_conv};
use crate::passes::rewrite::{f32_constant, remove_nodes};

/// The per-channel values of constant `k` against a convolution output, if it broadcasts
/// along the channel axis only.
fn per_channel(graph: &Graph, k: ValueId, conv: &FoldableConv) -> Option<Vec<f64>> {
    let tensor = f32_constant(graph, k)?;
    let shape = tensor.shape();
    if shape.len() > conv.rank {
        return None;
    }
    let skip = conv.rank - shape.len();
    for (at, &dim) in shape.iter().enumerate() {
        let along_channels = skip + at == 1;
        if dim != 1 && !(along_channels && dim == conv.channels) {
            return None;
        }
    }
    let values: Vec<f64> = tensor.to_f32_vec().into_iter().map(f64::from).collect();
    Some(if values.len() == 1 { vec![values[0]; conv.channels] } else { values })
}

/// The pass: see the module documentation.
pub fn fold_channel_affines(graph: &mut Graph) -> Result<bool> {
    let counts = graph.use_counts();
    let producers = graph.producers();
    let mut removed = Vec::new();
    for at in 0..graph.nodes.len() {
        let node = &graph.nodes[at];
        let op = node.op_type.as_str();
        if !matches!(op, "Mul" | "Add" | "Sub")
            || !is_default_domain(&node.domain)
            || node.outputs.len() != 1
        {
            continue;
        }
        let (Some(a), Some(b)) = (node.input(0), node.input(1)) else { continue };
        // The convolution output and the constant, in either order for Mul and Add.
        let from_conv = |id: ValueId| producers[id.index()].filter(|_| counts[id.index()] == 1);
        let (conv_at, k) = match (from_conv(a), from_conv(b)) {
            (Some(conv_at), _) if graph.constant(b).is_some() => (conv_at, b),
            (_, Some(conv_at)) if op != "Sub" && graph.constant(a).is_some() => (conv_at, a),
            _ => continue,
        };
        let Some(conv) = foldable_conv(graph, &graph.nodes[conv_at]) else { continue };
        let Some(values) = per_channel(graph, k, &conv) else { continue };
        let affine = match op {
            "Mul" => ChannelAffine { scale: values, shift: vec![0.0; conv.channels] },
            "Add" => ChannelAffine { scale: vec![1.0; conv.channels], shift: values },
            _ => ChannelAffine {
                scale: vec![1.0; conv.channels],
                shift: values.iter().map(|v| -v).collect(),
            },
        };
        let output = node.outputs[0];
        if fold_into_conv(graph, conv_at, &affine).is_some() {
            graph.nodes[conv_at].outputs[0] = output;
            removed.push(at);
        }
    }
    remove_nodes(graph, &removed);
    Ok(!removed.is_empty())
}

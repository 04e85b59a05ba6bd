//! Per-output-channel affine maps folded into a convolution's constants: when a Conv or
//! ConvTranspose output `y` is only used as `y * scale[c] + shift[c]` (c the channel, axis
//! 1), the weights of channel c are multiplied by `scale[c]` and the bias becomes
//! `bias[c] * scale[c] + shift[c]`. BatchNormalization and constant Mul / Add after a
//! convolution are such maps. The products are computed in f64 and rounded once.

use crate::graph::{Graph, Node, ValueId};
use crate::onnx::is_default_domain;
use crate::passes::activation_fusion::ACTIVATION;
use crate::passes::rewrite::{add_constant, f32_constant};
use crate::tensor::Tensor;

/// `y * scale[c] + shift[c]` per output channel c.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ChannelAffine {
    /// The factor per channel.
    pub(crate) scale: Vec<f64>,
    /// The addend per channel.
    pub(crate) shift: Vec<f64>,
}

/// A convolution whose constants can absorb a channel map.
pub(crate) struct FoldableConv {
    /// The number of output channels.
    pub(crate) channels: usize,
    /// The rank of the output (that of the weights).
    pub(crate) rank: usize,
}

/// What makes `node` foldable: a Conv or ConvTranspose with constant f32 weights, no or a
/// constant f32 bias, and no fused activation (which would come before the map).
pub(crate) fn foldable_conv(graph: &Graph, node: &Node) -> Option<FoldableConv> {
    let transposed = match node.op_type.as_str() {
        "Conv" => false,
        "ConvTranspose" => true,
        _ => return None,
    };
    if !is_default_domain(&node.domain)
        || node.outputs.len() != 1
        || node.attributes.get(ACTIVATION).is_some()
    {
        return None;
    }
    let weights = f32_constant(graph, node.input(1)?)?;
    if weights.rank() < 3 {
        return None;
    }
    let group =
        usize::try_from(node.attributes.int_or("group", 1).ok()?).ok().filter(|&g| g > 0)?;
    let channels = if transposed { weights.shape()[1] * group } else { weights.shape()[0] };
    if transposed && weights.shape()[0] % group != 0 {
        return None;
    }
    if let Some(bias) = node.input(2) {
        if f32_constant(graph, bias)?.len() != channels {
            return None;
        }
    }
    Some(FoldableConv { channels, rank: weights.rank() })
}

/// The output channel of each weight element: `[M, C/g, k...]` for Conv, `[C, M/g, k...]`
/// for ConvTranspose with `group` groups.
fn weight_channels(shape: &[usize], transposed: bool, group: usize) -> Vec<usize> {
    let kernel: usize = shape[2..].iter().product();
    let count = shape[0] * shape[1] * kernel;
    if !transposed {
        return (0..count).map(|at| at / (shape[1] * kernel)).collect();
    }
    let inputs_per_group = shape[0] / group;
    (0..count)
        .map(|at| {
            let (input, output) = (at / (shape[1] * kernel), at / kernel % shape[1]);
            input / inputs_per_group * shape[1] + output
        })
        .collect()
}

/// Folds `affine` into conv node `at` (checked with [`foldable_conv`]), giving it new
/// weight and bias constants; the node's output then carries the mapped values.
pub(crate) fn fold_into_conv(graph: &mut Graph, at: usize, affine: &ChannelAffine) -> Option<()> {
    let node = &graph.nodes[at];
    let conv = foldable_conv(graph, node)?;
    if affine.scale.len() != conv.channels || affine.shift.len() != conv.channels {
        return None;
    }
    let weights_id = node.input(1)?;
    let weights = f32_constant(graph, weights_id)?;
    let group = node.attributes.int_or("group", 1).ok()? as usize;
    let channels = weight_channels(weights.shape(), node.op_type == "ConvTranspose", group);
    let scaled: Vec<f32> = weights
        .as_f32()?
        .iter()
        .zip(&channels)
        .map(|(&w, &c)| (w as f64 * affine.scale[c]) as f32)
        .collect();
    let old_bias: Vec<f32> = match node.input(2) {
        Some(bias) => f32_constant(graph, bias)?.as_f32()?.to_vec(),
        None => vec![0.0; conv.channels],
    };
    let bias: Vec<f32> = (0..conv.channels)
        .map(|c| (old_bias[c] as f64 * affine.scale[c] + affine.shift[c]) as f32)
        .collect();
    let weights_shape = weights.shape().to_vec();
    let base = graph.value(weights_id).name.clone();
    let new_weights = Tensor::from_f32(weights_shape, scaled).ok()?;
    let new_bias = Tensor::from_f32(vec![conv.channels], bias).ok()?;
    let weights_id: ValueId = add_constant(graph, &format!("{base}_folded"), new_weights);
    let bias_id = add_constant(graph, &format!("{}_bias_folded", graph.nodes[at].name), new_bias);
    let node = &mut graph.nodes[at];
    node.inputs.resize(3, None);
    node.inputs[1] = Some(weights_id);
    node.inputs[2] = Some(bias_id);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_weights_map_to_their_output_channel() {
        // ConvTranspose W [C=4, M/g=3, 1] with 2 groups: input channels 0-1 feed outputs
        // 0-2, input channels 2-3 feed outputs 3-5.
        let channels = weight_channels(&[4, 3, 1], true, 2);
        assert_eq!(channels, vec![0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
        let channels = weight_channels(&[2, 3, 2], false, 1);
        assert_eq!(channels, vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    }
}

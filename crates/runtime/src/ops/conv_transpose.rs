//! ConvTranspose (1-D and 2-D, f32): the gradient of Conv with respect to its input,
//! computed by `dlopt-kernels` as GEMM + col2im with a fused bias + activation epilogue.
//!
//! The output size per spatial axis is
//! `full = stride * (in - 1) + dilation * (kernel - 1) + 1`, plus `output_padding`, less
//! the pads. The pads come from
//! * `output_shape` if given: `total = full + output_padding - output_shape`, split in
//!   half with the odd element at the beginning, or at the end for `auto_pad=SAME_UPPER`
//!   (a negative total adds rows / columns at the end instead);
//! * else `auto_pad` SAME_UPPER / SAME_LOWER: as if `output_shape = in * stride`;
//! * else `pads` (none for `VALID`).

use dlopt_graph::{GraphError, Node, Result};
use dlopt_kernels::{ConvTranspose2d, PackedConvTransposeWeights, conv_transpose2d};

use super::Registry;
use super::convolution::{check_bias, group_attribute, kernel_shape};
use super::element::{input_slice, output_slice};
use super::fused_activation::fused_activation;
use super::kernel_call::{constant_f32, kernel_error, require_f32};
use super::spatial::{
    AutoPad, LIMIT, non_negative_list, output_shape, pads4, pair, positive_list, shape4, span,
    spatial_rank,
};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, required};

/// Adds ConvTranspose.
pub fn register(registry: &mut Registry) {
    registry.add("ConvTranspose", build_conv_transpose as BuildFn);
}

/// The target spatial sizes of the `output_shape` attribute (spatial entries only, or
/// `[N, C, spatial...]`), if given.
fn output_shape_attribute(node: &Node, spatial: usize) -> Result<Option<Vec<usize>>> {
    let Some(values) = node.attributes.ints("output_shape")? else { return Ok(None) };
    let sizes = match values.len() {
        n if n == spatial => values,
        n if n == spatial + 2 => &values[2..],
        n => {
            return Err(GraphError::invalid(format!(
                "attribute 'output_shape' has {n} entries {values:?}, the input has {spatial} spatial axes"
            )));
        }
    };
    sizes
        .iter()
        .map(|&size| {
            usize::try_from(size).ok().filter(|&s| (1..=LIMIT).contains(&s)).ok_or_else(|| {
                GraphError::invalid(format!(
                    "attribute 'output_shape' is {values:?}; sizes must be at least 1 and at most {LIMIT}"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Pads (`[begin..., end...]`) and kernel output padding that give `targets` outputs from
/// full sizes `full` (see the module documentation).
fn pads_for_targets(
    targets: &[usize],
    full: &[usize],
    output_padding: &[usize],
    auto_pad: AutoPad,
) -> (Vec<usize>, Vec<usize>) {
    let spatial = targets.len();
    let mut pads = vec![0; 2 * spatial];
    let mut extra = output_padding.to_vec();
    for axis in 0..spatial {
        let available = full[axis] + output_padding[axis];
        if targets[axis] > available {
            extra[axis] = targets[axis] - full[axis];
            continue;
        }
        let total = available - targets[axis];
        let (small, large) = (total / 2, total - total / 2);
        let (begin, end) =
            if auto_pad == AutoPad::SameUpper { (small, large) } else { (large, small) };
        pads[axis] = begin;
        pads[axis + spatial] = end;
    }
    (pads, extra)
}

/// ConvTranspose: `Y = act(conv_transpose(X, W) + B)` for X `[N, C, (H,) W]` and W
/// `[C, M / group, (kh,) kw]` (constant), with `kernel_shape`, `strides`, `dilations`,
/// `pads`, `output_padding`, `output_shape`, `auto_pad` and `group`.
fn build_conv_transpose(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    require_f32(node, "X", x.data_type)?;
    let spatial = spatial_rank(node, "X", x.shape)?;
    let w = required(node, inputs, 1)?;
    if w.shape.len() != x.shape.len() {
        return Err(GraphError::shape(format!(
            "input 'W' has shape {:?}, expected rank {} like X {:?}",
            w.shape,
            x.shape.len(),
            x.shape
        )));
    }
    let weights = constant_f32(node, inputs, 1, "W")?.unwrap_or_default();
    let bias = constant_f32(node, inputs, 2, "B")?;
    let group = group_attribute(node)?;
    let kernel = kernel_shape(node, &w.shape[2..])?;
    let strides = positive_list(node, "strides", spatial, 1)?;
    let dilations = positive_list(node, "dilations", spatial, 1)?;
    let output_padding = non_negative_list(node, "output_padding", spatial)?;
    let auto_pad = AutoPad::of(node)?;
    let [batch, channels, in_h, in_w] = shape4(x.shape);
    let sizes = &x.shape[2..];
    if sizes.contains(&0) {
        return Err(GraphError::shape(format!(
            "input 'X' has an empty spatial axis: {:?}",
            x.shape
        )));
    }
    let out_channels = w.shape[1].checked_mul(group).unwrap_or(0);
    if channels == 0 || w.shape[0] != channels || channels % group != 0 || out_channels == 0 {
        return Err(GraphError::shape(format!(
            "attribute 'group' is {group}: X has {channels} channels and W is {:?}; W must be \
             [C, M / group, ...] with C divisible by the group count",
            w.shape
        )));
    }
    check_bias(inputs, out_channels)?;
    let full: Vec<usize> = (0..spatial)
        .map(|axis| (sizes[axis] - 1) * strides[axis] + span(kernel[axis], dilations[axis]))
        .collect();
    let (pads, padding) = if let Some(targets) = output_shape_attribute(node, spatial)? {
        pads_for_targets(&targets, &full, &output_padding, auto_pad)
    } else if auto_pad.is_same() {
        let targets: Vec<usize> = (0..spatial).map(|axis| sizes[axis] * strides[axis]).collect();
        pads_for_targets(&targets, &full, &output_padding, auto_pad)
    } else if auto_pad == AutoPad::Valid {
        (vec![0; 2 * spatial], output_padding.clone())
    } else {
        (non_negative_list(node, "pads", 2 * spatial)?, output_padding.clone())
    };
    for axis in 0..spatial {
        if pads[axis] + pads[axis + spatial] >= full[axis] + padding[axis] {
            return Err(GraphError::shape(format!(
                "attribute 'pads' is {pads:?}: it removes all {} outputs of spatial axis {axis}",
                full[axis] + padding[axis]
            )));
        }
    }
    let geometry = ConvTranspose2d {
        batch,
        in_channels: channels,
        in_h,
        in_w,
        out_channels,
        kernel: pair(&kernel, 1),
        strides: pair(&strides, 1),
        dilations: pair(&dilations, 1),
        pads: pads4(&pads),
        output_padding: pair(&padding, 0),
        groups: group,
    };
    let packed = PackedConvTransposeWeights::new(&geometry, weights, bias).map_err(kernel_error)?;
    let activation = fused_activation(node)?;
    let shape = output_shape(geometry.output_shape(), spatial);
    let empty = batch == 0;
    let run = crate::op::kernel(move |inputs, outputs, context| {
        let x = input_slice::<f32>(inputs, 0)?;
        let y = output_slice::<f32>(outputs, 0)?;
        if empty {
            return Ok(());
        }
        conv_transpose2d(&geometry, x, &packed, activation, y, context.threads)
            .map_err(kernel_error)
    });
    Ok(BuiltOp { kernel: run, outputs: vec![OutputInfo::new(x.data_type, shape)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_pads_or_extra_output() {
        // full 9 + output_padding 0: target 7 removes 2, target 10 adds one at the end.
        let (pads, extra) = pads_for_targets(&[7, 10], &[9, 9], &[0, 0], AutoPad::NotSet);
        assert_eq!((pads, extra), (vec![1, 0, 1, 0], vec![0, 1]));
        // Odd totals: the extra pad at the beginning, or at the end for SAME_UPPER.
        let (pads, _) = pads_for_targets(&[6], &[9], &[0], AutoPad::NotSet);
        assert_eq!(pads, vec![2, 1]);
        let (pads, _) = pads_for_targets(&[6], &[9], &[0], AutoPad::SameUpper);
        assert_eq!(pads, vec![1, 2]);
    }
}

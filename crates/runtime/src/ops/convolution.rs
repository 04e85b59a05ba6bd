//! Operators of the convolution family: Conv here, ConvTranspose in `conv_transpose.rs`.
//!
//! Both run f32 NCHW data through the kernels of `dlopt-kernels` (1-D as 2-D with
//! height 1; 3-D and more is unsupported). Weights and bias must be constants: they are
//! checked and packed once, when the plan is built. A bias and an activation fused by a
//! graph pass (see `fused_activation.rs`) are applied by the kernel's epilogue.

use dlopt_graph::{GraphError, Node, Result};
use dlopt_kernels::{Activation, Conv2d, PackedConvWeights, conv2d};

use super::Registry;
use super::element::{input_slice, output_slice};
use super::fused_activation::fused_activation;
use super::kernel_call::{constant_f32, kernel_error, require_f32};
use super::spatial::{
    AutoPad, LIMIT, forward_pads, output_shape, pads4, pair, positive_list, shape4, span,
    spatial_rank,
};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, required};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("Conv", build_conv as BuildFn);
    super::conv_transpose::register(registry);
}

/// The `group` attribute (default 1), at least 1 and at most [`LIMIT`].
pub(crate) fn group_attribute(node: &Node) -> Result<usize> {
    let group = node.attributes.int_or("group", 1)?;
    usize::try_from(group).ok().filter(|&g| (1..=LIMIT).contains(&g)).ok_or_else(|| {
        GraphError::invalid(format!(
            "attribute 'group' is {group}, it must be at least 1 and at most {LIMIT}"
        ))
    })
}

/// The kernel size per spatial axis: the `kernel_shape` attribute, which must agree with
/// the weights' trailing dimensions `weight_kernel`, or those dimensions.
pub(crate) fn kernel_shape(node: &Node, weight_kernel: &[usize]) -> Result<Vec<usize>> {
    let kernel = positive_list(node, "kernel_shape", weight_kernel.len(), 1)?;
    if node.attributes.ints("kernel_shape")?.is_some() && kernel != weight_kernel {
        return Err(GraphError::shape(format!(
            "attribute 'kernel_shape' is {kernel:?}, but the weights have kernel size {weight_kernel:?}"
        )));
    }
    if weight_kernel.contains(&0) {
        return Err(GraphError::shape(format!(
            "the weights have an empty kernel {weight_kernel:?}"
        )));
    }
    Ok(weight_kernel.to_vec())
}

/// Checks that the optional bias holds one value per output channel.
pub(crate) fn check_bias(inputs: &[Option<InputInfo<'_>>], out_channels: usize) -> Result<()> {
    match inputs.get(2).copied().flatten() {
        Some(bias) if bias.shape != [out_channels] => Err(GraphError::shape(format!(
            "input 'B' has shape {:?}, expected [{out_channels}] (one value per output channel)",
            bias.shape
        ))),
        _ => Ok(()),
    }
}

/// The geometry of a Conv-like node (Conv attributes `kernel_shape`, `strides`,
/// `dilations`, `pads`, `auto_pad`, `group`) for X `[N, C, (H,) W]` and weights of shape
/// `w_shape` `[M, C / group, (kh,) kw]`: the kernels' [`Conv2d`] (1-D as 2-D with height
/// 1) and the spatial rank, after checking that everything fits together.
pub(crate) fn conv_geometry(
    node: &Node,
    x_shape: &[usize],
    w_shape: &[usize],
) -> Result<(Conv2d, usize)> {
    let spatial = spatial_rank(node, "X", x_shape)?;
    if w_shape.len() != x_shape.len() {
        return Err(GraphError::shape(format!(
            "input 'W' has shape {w_shape:?}, expected rank {} like X {x_shape:?}",
            x_shape.len(),
        )));
    }
    let group = group_attribute(node)?;
    let kernel = kernel_shape(node, &w_shape[2..])?;
    let strides = positive_list(node, "strides", spatial, 1)?;
    let dilations = positive_list(node, "dilations", spatial, 1)?;
    let sizes = &x_shape[2..];
    let pads = forward_pads(node, AutoPad::of(node)?, sizes, &kernel, &strides, &dilations)?;
    let [batch, channels, in_h, in_w] = shape4(x_shape);
    let out_channels = w_shape[0];
    if channels == 0 || out_channels == 0 {
        return Err(GraphError::shape(format!(
            "X {x_shape:?} and W {w_shape:?} must have channels"
        )));
    }
    if channels % group != 0
        || w_shape[1].checked_mul(group) != Some(channels)
        || out_channels % group != 0
    {
        return Err(GraphError::shape(format!(
            "attribute 'group' is {group}: X has {channels} channels and W is {w_shape:?}; W must be \
             [M, C / group, ...] with C and M divisible by the group count"
        )));
    }
    for axis in 0..spatial {
        let extent = span(kernel[axis], dilations[axis]);
        if sizes[axis] + pads[axis] + pads[axis + spatial] < extent {
            return Err(GraphError::shape(format!(
                "the window (kernel {kernel:?}, dilations {dilations:?}) spans {extent} on spatial axis {axis}, \
                 more than the padded input ({} plus pads {pads:?})",
                sizes[axis]
            )));
        }
    }
    let conv = Conv2d {
        batch,
        in_channels: channels,
        in_h,
        in_w,
        out_channels,
        kernel: pair(&kernel, 1),
        strides: pair(&strides, 1),
        dilations: pair(&dilations, 1),
        pads: pads4(&pads),
        groups: group,
    };
    Ok((conv, spatial))
}

/// Conv: `Y = act(conv(X, W) + B)` for X `[N, C, (H,) W]` and W `[M, C / group, (kh,) kw]`
/// (constant), with `kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad` and
/// `group`; output `[N, M, (OH,) OW]` with `O = floor((I + pads - dilation * (k - 1) - 1)
/// / stride) + 1`.
fn build_conv(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    require_f32(node, "X", x.data_type)?;
    let w = required(node, inputs, 1)?;
    let (conv, spatial) = conv_geometry(node, x.shape, w.shape)?;
    check_bias(inputs, conv.out_channels)?;
    let weights = constant_f32(node, inputs, 1, "W")?.unwrap_or_default();
    let bias = constant_f32(node, inputs, 2, "B")?;
    let packed = PackedConvWeights::new(&conv, weights, bias).map_err(kernel_error)?;
    let activation: Activation = fused_activation(node)?;
    let shape = output_shape(conv.output_shape(), spatial);
    let empty = shape.contains(&0);
    let run = crate::op::kernel(move |inputs, outputs, context| {
        let x = input_slice::<f32>(inputs, 0)?;
        let y = output_slice::<f32>(outputs, 0)?;
        if empty {
            return Ok(());
        }
        // The kernel keeps its im2col scratch per calling thread, so concurrent runs of a
        // plan never share it.
        conv2d(&conv, x, &packed, activation, y, context.threads).map_err(kernel_error)
    });
    Ok(BuiltOp { kernel: run, outputs: vec![OutputInfo::new(x.data_type, shape)] })
}

//! Operators of the normalization family (f32): BatchNormalization (inference),
//! InstanceNormalization, LayerNormalization and LRN.
//!
//! The rest of the family lives next door and registers from here: Softmax and LogSoftmax
//! (`softmax.rs`), the Reduce operators (`reduce.rs`), ArgMax and ArgMin (`arg_reduce.rs`).

use std::sync::Arc;

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::axes::normalize_axis;
use super::expand::{broadcast_copy, broadcast_shapes};
use super::vector_math::{for_each_row, mean_variance, multiversion};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};
use crate::view::TensorView;

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("BatchNormalization", build_batch_normalization as BuildFn);
    registry.add("InstanceNormalization", build_instance_normalization as BuildFn);
    registry.add("LayerNormalization", build_layer_normalization as BuildFn);
    registry.add("LRN", build_lrn as BuildFn);
    super::softmax::register(registry);
    super::reduce::register(registry);
    super::arg_reduce::register(registry);
}

/// Input `index` (named `name`), which must be f32.
fn f32_input<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
    name: &str,
) -> Result<InputInfo<'a>> {
    let input = required(node, inputs, index)?;
    if input.data_type != DataType::F32 {
        return Err(GraphError::unsupported(format!(
            "input '{name}' is {}; only f32 is supported",
            input.data_type
        )));
    }
    Ok(input)
}

/// Input `index` (named `name`): f32 of shape `[channels]`.
fn channel_input<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
    name: &str,
    channels: usize,
) -> Result<InputInfo<'a>> {
    let input = f32_input(node, inputs, index, name)?;
    if input.shape != [channels] {
        return Err(GraphError::shape(format!(
            "input '{name}' has shape {:?}, expected [{channels}] (one value per channel)",
            input.shape
        )));
    }
    Ok(input)
}

/// The (N, C, D1·D2·...) of input `name` of shape (N, C, D1, D2, ...).
fn batch_channels_spatial(x: &InputInfo<'_>, name: &str) -> Result<(usize, usize, usize)> {
    match x.shape {
        [batch, channels, rest @ ..] => Ok((*batch, *channels, rest.iter().product())),
        _ => Err(GraphError::shape(format!(
            "input '{name}' must have the shape (N, C, ...), got {:?}",
            x.shape
        ))),
    }
}

/// Inference batch normalization as a per-channel `a·x + b`:
/// `a = scale / sqrt(var + epsilon)`, `b = bias - mean·a`.
pub(crate) fn batch_norm_affine(
    scale: &[f32],
    bias: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let a: Vec<f32> = scale.iter().zip(var).map(|(&s, &v)| s / (v + epsilon).sqrt()).collect();
    let b = bias.iter().zip(mean).zip(&a).map(|((&b, &m), &a)| b - m * a).collect();
    (a, b)
}

multiversion! {
/// `output = a·input + b`.
fn affine(input: &[f32], output: &mut [f32], a: f32, b: f32) {
    for (o, &v) in output.iter_mut().zip(input) {
        *o = a * v + b;
    }
}
}

multiversion! {
/// The mean and population variance of `values`.
fn statistics(values: &[f32]) -> (f32, f32) {
    mean_variance(values)
}
}

/// Applies a per-channel `a·x + b` to (N, C, S) data.
fn channel_affine(threads: usize, x: &[f32], y: &mut [f32], spatial: usize, a: &[f32], b: &[f32]) {
    let channels = a.len();
    for_each_row(threads, x, spatial, y, spatial, |plane, input, output| {
        affine(input, output, a[plane % channels], b[plane % channels]);
    });
}

/// BatchNormalization in inference form: `Y = (X - mean) / sqrt(var + epsilon) · scale + B`
/// per channel (axis 1), computed as `a·X + b` with `a` and `b` prepared while building
/// when the four parameters are constant. Training (attribute `training_mode` = 1, or the
/// running-statistics outputs) is refused.
fn build_batch_normalization(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let x = f32_input(node, inputs, 0, "X")?;
    let training = node.attributes.int_or("training_mode", 0)?;
    if training != 0 {
        return Err(GraphError::unsupported(format!(
            "attribute 'training_mode' is {training}: training (batch statistics) is not supported"
        )));
    }
    if node.attributes.int_or("spatial", 1)? == 0 {
        return Err(GraphError::unsupported(
            "attribute 'spatial' is 0: non-spatial batch normalization is not supported",
        ));
    }
    if node.outputs.len() != 1 {
        return Err(GraphError::unsupported(format!(
            "the node names {} outputs; running mean and variance only exist in training, which is not supported",
            node.outputs.len()
        )));
    }
    let epsilon = node.attributes.float_or("epsilon", 1e-5)?;
    let (_, channels, spatial) = batch_channels_spatial(&x, "X")?;
    let names = ["scale", "B", "input_mean", "input_var"];
    let parameters = (0..4)
        .map(|at| channel_input(node, inputs, at + 1, names[at], channels))
        .collect::<Result<Vec<_>>>()?;
    let constants: Option<Vec<&[f32]>> =
        parameters.iter().map(|p| p.constant.and_then(|t| t.as_f32())).collect();
    let prepared = constants.map(|v| Arc::new(batch_norm_affine(v[0], v[1], v[2], v[3], epsilon)));
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let input = crate::op::input(inputs, 0)?.f32()?;
            let output = outputs[0].f32()?;
            let computed;
            let (a, b) = match &prepared {
                Some(prepared) => (&prepared.0, &prepared.1),
                None => {
                    let p = (1..5)
                        .map(|at| crate::op::input(inputs, at)?.f32())
                        .collect::<Result<Vec<_>>>()?;
                    computed = batch_norm_affine(p[0], p[1], p[2], p[3], epsilon);
                    (&computed.0, &computed.1)
                }
            };
            channel_affine(context.threads, input, output, spatial, a, b);
            Ok(())
        }),
        outputs: vec![OutputInfo::new(DataType::F32, x.shape.to_vec())],
    })
}

/// InstanceNormalization: `y = scale · (x - mean) / sqrt(variance + epsilon) + B` with mean
/// and (population) variance per sample and channel, over the spatial axes.
fn build_instance_normalization(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let x = f32_input(node, inputs, 0, "input")?;
    let (_, channels, spatial) = batch_channels_spatial(&x, "input")?;
    channel_input(node, inputs, 1, "scale", channels)?;
    channel_input(node, inputs, 2, "B", channels)?;
    let epsilon = node.attributes.float_or("epsilon", 1e-5)?;
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let input = crate::op::input(inputs, 0)?.f32()?;
            let scale = crate::op::input(inputs, 1)?.f32()?;
            let bias = crate::op::input(inputs, 2)?.f32()?;
            let output = outputs[0].f32()?;
            for_each_row(context.threads, input, spatial, output, spatial, |plane, values, out| {
                let (mean, variance) = statistics(values);
                let a = scale[plane % channels] / (variance + epsilon).sqrt();
                affine(values, out, a, bias[plane % channels] - mean * a);
            });
            Ok(())
        }),
        outputs: vec![OutputInfo::new(DataType::F32, x.shape.to_vec())],
    })
}

/// How LayerNormalization's Scale or B applies: one value per element of a normalized row
/// (the usual case), or per element of X.
enum Affine {
    /// Absent (B only): nothing to add.
    None,
    /// Broadcast to one normalized row, prepared while building.
    Row(Vec<f32>),
    /// Broadcast at run time from input `index` of `shape` to one row.
    RowAtRun { index: usize, shape: Vec<usize> },
    /// Broadcast at run time from input `index` of `shape` to all of X.
    Full { index: usize, shape: Vec<usize> },
}

impl Affine {
    /// The values for each element of `x_shape`'s rows (`row_shape` = `x_shape[axis..]`).
    fn new(
        input: Option<InputInfo<'_>>,
        index: usize,
        name: &str,
        x_shape: &[usize],
        row_shape: &[usize],
    ) -> Result<Affine> {
        let Some(input) = input else { return Ok(Affine::None) };
        if input.data_type != DataType::F32 {
            return Err(GraphError::unsupported(format!(
                "input '{name}' is {}; only f32 is supported",
                input.data_type
            )));
        }
        let broadcast =
            broadcast_shapes(input.shape, x_shape).ok().filter(|shape| shape == x_shape);
        if broadcast.is_none() {
            return Err(GraphError::shape(format!(
                "input '{name}' of shape {:?} does not broadcast to X of shape {x_shape:?}",
                input.shape
            )));
        }
        // Leading 1s aside, does it only span the normalized axes?
        let significant = input.shape.iter().skip_while(|&&dim| dim == 1).count();
        if significant > row_shape.len() {
            return Ok(Affine::Full { index, shape: input.shape.to_vec() });
        }
        let shape: Vec<usize> = input.shape[input.shape.len() - significant..].to_vec();
        match input.constant.and_then(|tensor| tensor.as_f32()) {
            Some(values) => {
                let mut row = vec![0.0; row_shape.iter().product()];
                broadcast_copy(values, &shape, row_shape, &mut row);
                Ok(Affine::Row(row))
            }
            None => Ok(Affine::RowAtRun { index, shape }),
        }
    }

    /// The values at run time: `None` if absent, else a slice of the row length or of X's.
    fn values<'v>(
        &'v self,
        inputs: &[Option<TensorView<'v>>],
        row_shape: &[usize],
        x_shape: &[usize],
        storage: &'v mut Vec<f32>,
    ) -> Result<Option<&'v [f32]>> {
        let (index, shape, target) = match self {
            Affine::None => return Ok(None),
            Affine::Row(values) => return Ok(Some(values)),
            Affine::RowAtRun { index, shape } => (*index, shape, row_shape),
            Affine::Full { index, shape } => (*index, shape, x_shape),
        };
        let values = crate::op::input(inputs, index)?.f32()?;
        if values.len() == target.iter().product::<usize>() {
            return Ok(Some(values));
        }
        storage.resize(target.iter().product(), 0.0);
        broadcast_copy(values, shape, target, storage);
        Ok(Some(storage))
    }
}

/// LayerNormalization (opset 17): normalizes X over axes `axis..` (attribute, default -1)
/// to zero mean and unit variance (`epsilon` added to the variance), then multiplies by
/// Scale and adds the optional B (both broadcast to X). Optional outputs Mean and
/// InvStdDev have X's shape with the normalized axes set to 1. Computed in f32
/// (`stash_type` must be 1).
fn build_layer_normalization(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let x = f32_input(node, inputs, 0, "X")?;
    if node.outputs.len() > 3 {
        return Err(GraphError::invalid(format!(
            "the node names {} outputs, the operator has at most 3",
            node.outputs.len()
        )));
    }
    let stash_type = node.attributes.int_or("stash_type", 1)?;
    if stash_type != 1 {
        return Err(GraphError::unsupported(format!(
            "attribute 'stash_type' is {stash_type}; only 1 (float) is supported"
        )));
    }
    let epsilon = node.attributes.float_or("epsilon", 1e-5)?;
    let x_shape = x.shape.to_vec();
    let axis =
        normalize_axis(node.attributes.int_or("axis", -1)?, x_shape.len(), "attribute 'axis'")?;
    let row_shape = x_shape[axis..].to_vec();
    let row: usize = row_shape.iter().product();
    let scale = Affine::new(Some(required(node, inputs, 1)?), 1, "Scale", &x_shape, &row_shape)?;
    let bias = Affine::new(inputs.get(2).copied().flatten(), 2, "B", &x_shape, &row_shape)?;
    let statistics_shape: Vec<usize> =
        x_shape.iter().enumerate().map(|(at, &dim)| if at < axis { dim } else { 1 }).collect();
    let mut outputs = vec![OutputInfo::new(DataType::F32, x_shape.clone())];
    for _ in 1..node.outputs.len() {
        outputs.push(OutputInfo::new(DataType::F32, statistics_shape.clone()));
    }
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let input = crate::op::input(inputs, 0)?.f32()?;
            if row == 0 {
                // Empty rows: Y is empty, the statistics of nothing are NaN.
                for statistic in outputs.iter_mut().skip(1) {
                    statistic.f32()?.fill(f32::NAN);
                }
                return Ok(());
            }
            let (mut scale_storage, mut bias_storage) = (Vec::new(), Vec::new());
            let scale = scale.values(inputs, &row_shape, &x_shape, &mut scale_storage)?;
            let bias = bias.values(inputs, &row_shape, &x_shape, &mut bias_storage)?;
            let (first, extra) = outputs.split_at_mut(1);
            let output = first[0].f32()?;
            let means = extra.first_mut().map(|view| view.f32()).transpose()?;
            layer_norm_rows(context.threads, input, output, row, epsilon, scale, bias, means);
            if let Some(inverse) = extra.get_mut(1) {
                // The statistics are cheap next to the rows: recompute them for InvStdDev.
                let inverse = inverse.f32()?;
                for (o, values) in inverse.iter_mut().zip(input.chunks_exact(row)) {
                    *o = 1.0 / (statistics(values).1 + epsilon).sqrt();
                }
            }
            Ok(())
        }),
        outputs,
    })
}

multiversion! {
/// Normalizes one row; `scale` and `bias` have the row's length.
fn layer_norm_row(
    values: &[f32],
    out: &mut [f32],
    epsilon: f32,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
) {
    let (mean, variance) = mean_variance(values);
    let inverse = 1.0 / (variance + epsilon).sqrt();
    let rows = out.iter_mut().zip(values);
    match (scale, bias) {
        (Some(s), Some(b)) => {
            for (((o, &v), &s), &b) in rows.zip(s).zip(b) {
                *o = (v - mean) * inverse * s + b;
            }
        }
        (Some(s), None) => rows.zip(s).for_each(|((o, &v), &s)| *o = (v - mean) * inverse * s),
        (None, Some(b)) => rows.zip(b).for_each(|((o, &v), &b)| *o = (v - mean) * inverse + b),
        (None, None) => rows.for_each(|(o, &v)| *o = (v - mean) * inverse),
    }
}
}

/// Normalizes each row of `row` elements; `scale` and `bias` hold one row or all of X.
#[allow(clippy::too_many_arguments)]
fn layer_norm_rows(
    threads: usize,
    input: &[f32],
    output: &mut [f32],
    row: usize,
    epsilon: f32,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
    means: Option<&mut [f32]>,
) {
    fn part(values: Option<&[f32]>, row: usize, at: usize) -> Option<&[f32]> {
        values.map(|v| if v.len() == row { v } else { &v[at * row..][..row] })
    }
    for_each_row(threads, input, row, output, row, |at, values, out| {
        layer_norm_row(values, out, epsilon, part(scale, row, at), part(bias, row, at));
    });
    if let Some(means) = means {
        for (o, values) in means.iter_mut().zip(input.chunks_exact(row)) {
            *o = statistics(values).0;
        }
    }
}

/// LRN (local response normalization across channels): `y = x / (bias + alpha / size ·
/// square_sum)^beta`, the sum over channels `c - (size-1)/2 ..= c + ceil((size-1)/2)`.
fn build_lrn(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = f32_input(node, inputs, 0, "X")?;
    let (_, channels, spatial) = batch_channels_spatial(&x, "X")?;
    let size = node
        .attributes
        .int("size")?
        .ok_or_else(|| GraphError::invalid("attribute 'size' is required"))?;
    if size < 1 {
        return Err(GraphError::invalid(format!(
            "attribute 'size' is {size}; it must be at least 1"
        )));
    }
    let alpha = node.attributes.float_or("alpha", 1e-4)?;
    let beta = node.attributes.float_or("beta", 0.75)?;
    let bias = node.attributes.float_or("bias", 1.0)?;
    let before = ((size - 1) / 2) as usize;
    let after = (size as usize).saturating_sub(1) - before;
    let factor = alpha / size as f32;
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let input = crate::op::input(inputs, 0)?.f32()?;
            let output = outputs[0].f32()?;
            let block = channels * spatial;
            if block == 0 {
                return Ok(());
            }
            let sums = context.scratch.f32(spatial);
            for (sample, out) in input.chunks_exact(block).zip(output.chunks_exact_mut(block)) {
                for channel in 0..channels {
                    sums.fill(0.0);
                    let window =
                        channel.saturating_sub(before)..(channel + after + 1).min(channels);
                    for other in window {
                        let plane = &sample[other * spatial..][..spatial];
                        sums.iter_mut().zip(plane).for_each(|(s, &v)| *s += v * v);
                    }
                    let range = channel * spatial..(channel + 1) * spatial;
                    for ((o, &v), &s) in
                        out[range.clone()].iter_mut().zip(&sample[range]).zip(sums.iter())
                    {
                        *o = v / (bias + factor * s).powf(beta);
                    }
                }
            }
            Ok(())
        }),
        outputs: vec![OutputInfo::new(DataType::F32, x.shape.to_vec())],
    })
}

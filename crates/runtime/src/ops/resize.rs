//! Resize (opset 10-19) and Upsample (opset 7-9, Resize's predecessor) on f32 data.
//!
//! Everything shape-dependent is decided when the plan is built: output sizes (from scales
//! or sizes, constant inputs), and for every output coordinate of every resized axis the
//! input positions and weights it reads ("taps", see [`AxisTaps`]), following the
//! coordinate transformation and interpolation mode. The kernels (`resize_kernel.rs`)
//! then only combine taps. Interpolation is separable, so N-d linear and cubic resizing
//! is one 1-d pass per resized axis.

use dlopt_graph::{DataType, ErrorKind, GraphError, Node, Result, Tensor};

use super::Registry;
use super::data_movement::{integer_values, normalize_axes, try_vec};
use super::resize_kernel::ResizePlan;
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, kernel, required,
};

/// Adds Resize and Upsample.
pub fn register(registry: &mut Registry) {
    registry.add("Resize", build_resize as BuildFn);
    registry.add("Upsample", build_upsample as BuildFn);
}

/// The largest output size of one axis (far beyond any image; keeps sizes in range).
const MAX_AXIS: usize = 1 << 40;

/// Maps output coordinates to input coordinates (attribute `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coordinates {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

/// How nearest mode rounds a non-integral input coordinate (attribute `nearest_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Upsample and Resize-10: down when enlarging, up when shrinking.
    Legacy,
}

/// The interpolation (attribute `mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Interpolation {
    Nearest(Rounding),
    Linear,
    Cubic { a: f64, exclude_outside: bool },
}

/// What each output coordinate of one axis reads: `width` taps of (input index, weight),
/// or the extrapolation value where `outside` (tf_crop_and_resize beyond the input).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AxisTaps {
    /// Input size of the axis.
    pub input: usize,
    /// Output size of the axis.
    pub output: usize,
    /// Taps per output coordinate: 1 (nearest), 2 (linear) or 4 (cubic).
    pub width: usize,
    /// `output * width` input indices, all in range.
    pub index: Vec<usize>,
    /// `output * width` weights.
    pub weight: Vec<f32>,
    /// Per output coordinate: whether it takes the extrapolation value instead.
    pub outside: Vec<bool>,
}

impl AxisTaps {
    /// Whether the axis is left as it is (output `o` is input `o`).
    pub fn is_identity(&self) -> bool {
        self.input == self.output
            && (0..self.output).all(|o| {
                let taps = o * self.width..(o + 1) * self.width;
                let at_o: f32 =
                    taps.clone().filter(|&t| self.index[t] == o).map(|t| self.weight[t]).sum();
                !self.outside[o]
                    && at_o == 1.0
                    && taps.filter(|&t| self.index[t] != o).all(|t| self.weight[t] == 0.0)
            })
    }
}

/// One resized axis: sizes, scale and region of interest.
#[derive(Clone, Copy, Debug)]
struct AxisResize {
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
}

/// The input coordinate output coordinate `x` maps to, or `None` to extrapolate. Follows
/// ONNX's reference: the resized length in the formulas is `scale * input`, which differs
/// from the integral output size when scales are given.
fn source_coordinate(mode: Coordinates, x: f64, axis: &AxisResize) -> Option<f64> {
    let input = axis.input as f64;
    let scale = axis.scale;
    let resized = scale * input;
    Some(match mode {
        Coordinates::HalfPixel => (x + 0.5) / scale - 0.5,
        Coordinates::HalfPixelSymmetric => {
            let adjustment = axis.output as f64 / resized;
            input / 2.0 * (1.0 - adjustment) + (x + 0.5) / scale - 0.5
        }
        Coordinates::PytorchHalfPixel if axis.output <= 1 => 0.0,
        Coordinates::PytorchHalfPixel => (x + 0.5) / scale - 0.5,
        Coordinates::AlignCorners if resized == 1.0 => 0.0,
        Coordinates::AlignCorners => x * (input - 1.0) / (resized - 1.0),
        Coordinates::Asymmetric => x / scale,
        Coordinates::TfHalfPixelForNn => (x + 0.5) / scale,
        Coordinates::TfCropAndResize => {
            let (start, end) = axis.roi;
            let span = (end - start) * (input - 1.0);
            let at = if resized == 1.0 { span / 2.0 } else { x * span / (resized - 1.0) }
                + start * (input - 1.0);
            if at < 0.0 || at > input - 1.0 {
                return None;
            }
            at
        }
    })
}

/// Keys cubic convolution weights for the neighbours at offsets -1, 0, 1, 2 of a position
/// `s` (in [0, 1)) past the integer below it.
fn cubic_weights(s: f64, a: f64) -> [f64; 4] {
    let far = |d: f64| ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a;
    let near = |d: f64| ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0;
    [far(s + 1.0), near(s), near(1.0 - s), far(2.0 - s)]
}

/// The taps of one axis.
fn axis_taps(
    axis: &AxisResize,
    mode: Coordinates,
    interpolation: Interpolation,
) -> Result<AxisTaps> {
    let width = match interpolation {
        Interpolation::Nearest(_) => 1,
        Interpolation::Linear => 2,
        Interpolation::Cubic { .. } => 4,
    };
    let last = axis.input.saturating_sub(1) as i64;
    let clamp = |at: i64| at.clamp(0, last) as usize;
    let mut taps = AxisTaps {
        input: axis.input,
        output: axis.output,
        width,
        index: try_vec(axis.output * width, "resize taps")?,
        weight: try_vec(axis.output * width, "resize taps")?,
        outside: try_vec(axis.output, "resize taps")?,
    };
    for o in 0..axis.output {
        let Some(x) = source_coordinate(mode, o as f64, axis) else {
            taps.outside.push(true);
            taps.index.extend(std::iter::repeat_n(0, width));
            taps.weight.extend(std::iter::repeat_n(0.0, width));
            continue;
        };
        taps.outside.push(false);
        let below = x.floor();
        let fraction = x - below;
        let below = below as i64;
        match interpolation {
            Interpolation::Nearest(rounding) => {
                let up = match rounding {
                    _ if fraction == 0.0 => false,
                    Rounding::RoundPreferFloor => fraction > 0.5,
                    Rounding::RoundPreferCeil => fraction >= 0.5,
                    Rounding::Floor => false,
                    Rounding::Ceil => true,
                    Rounding::Legacy => axis.scale < 1.0,
                };
                taps.index.push(clamp(below + up as i64));
                taps.weight.push(1.0);
            }
            Interpolation::Linear => {
                taps.index.extend([clamp(below), clamp(below + 1)]);
                taps.weight.extend([(1.0 - fraction) as f32, fraction as f32]);
            }
            Interpolation::Cubic { a, exclude_outside } => {
                let mut weights = cubic_weights(fraction, a);
                let neighbours = [below - 1, below, below + 1, below + 2];
                if exclude_outside {
                    for (weight, &at) in weights.iter_mut().zip(&neighbours) {
                        if at < 0 || at > last {
                            *weight = 0.0;
                        }
                    }
                    let sum: f64 = weights.iter().sum();
                    if sum != 0.0 {
                        weights.iter_mut().for_each(|weight| *weight /= sum);
                    }
                }
                taps.index.extend(neighbours.map(clamp));
                taps.weight.extend(weights.map(|weight| weight as f32));
            }
        }
    }
    Ok(taps)
}

/// Float values of a constant tensor (f32 or f16 scales and rois), as f64.
fn float_values(tensor: &Tensor, what: &str) -> Result<Vec<f64>> {
    if !tensor.data_type().is_float() {
        return Err(GraphError::invalid(format!(
            "{what} must be a float tensor, got {}",
            tensor.data_type()
        )));
    }
    Ok(tensor.to_f32_vec().into_iter().map(f64::from).collect())
}

/// Constant input `index` if the node has it and it is not empty.
fn optional_constant<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
) -> Result<Option<&'a Tensor>> {
    match inputs.get(index).copied().flatten() {
        None => Ok(None),
        Some(info) if info.shape.contains(&0) => Ok(None),
        Some(_) => Ok(Some(constant_input(node, inputs, index)?)),
    }
}

/// Output size `floor(input * scale)` for a positive, finite `scale`.
fn scaled_size(input: usize, scale: f64, axis: usize) -> Result<usize> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(GraphError::invalid(format!(
            "scale {scale} for axis {axis} must be positive and finite"
        )));
    }
    let size = (input as f64 * scale).floor();
    if size > MAX_AXIS as f64 {
        return Err(GraphError::new(
            ErrorKind::TooLarge,
            format!("scale {scale} makes axis {axis} too long"),
        ));
    }
    Ok(size as usize)
}

/// The f32 input 0, which must have rank >= 1.
fn float_input<'a>(node: &Node, inputs: &[Option<InputInfo<'a>>]) -> Result<InputInfo<'a>> {
    let data = required(node, inputs, 0)?;
    if data.data_type != DataType::F32 {
        return Err(GraphError::unsupported(format!(
            "{} supports f32 data, got {}",
            node.op_type, data.data_type
        )));
    }
    if data.shape.is_empty() {
        return Err(GraphError::invalid("the input must have rank >= 1"));
    }
    Ok(data)
}

/// Builds the kernel once sizes, scales and rois of every axis are known.
fn finish(
    data: InputInfo<'_>,
    axes: &[AxisResize],
    mode: Coordinates,
    interpolation: Interpolation,
    extrapolation: f32,
) -> Result<BuiltOp> {
    for (at, axis) in axes.iter().enumerate() {
        if axis.output > MAX_AXIS {
            return Err(GraphError::new(
                ErrorKind::TooLarge,
                format!("axis {at} would have size {}, more than dlopt resizes to", axis.output),
            ));
        }
        if axis.input == 0 && axis.output > 0 {
            return Err(GraphError::invalid(format!(
                "axis {at} is empty and cannot be resized to {}",
                axis.output
            )));
        }
    }
    let shape: Vec<usize> = axes.iter().map(|axis| axis.output).collect();
    dlopt_graph::tensor::element_count(&shape)?;
    let taps =
        axes.iter().map(|axis| axis_taps(axis, mode, interpolation)).collect::<Result<_>>()?;
    let plan = ResizePlan::new(data.shape, taps, extrapolation);
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| plan.run(inputs, outputs, context)),
        outputs: vec![OutputInfo::new(DataType::F32, shape)],
    })
}

/// Resize (opset 10-19) on f32 data. From opset 11 the inputs are X, roi, scales and
/// sizes; exactly one of scales and sizes is given (a non-empty constant), roi only matters
/// for tf_crop_and_resize. Attributes: `mode` nearest (default) / linear / cubic (all
/// separable over every resized axis); `coordinate_transformation_mode` half_pixel
/// (default), half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric,
/// tf_half_pixel_for_nn, tf_crop_and_resize (with `extrapolation_value`); `nearest_mode`
/// round_prefer_floor (default), round_prefer_ceil, floor, ceil; `cubic_coeff_a` (-0.75)
/// and `exclude_outside`; opset 18's `axes` and `keep_aspect_ratio_policy` (stretch,
/// not_larger, not_smaller). `antialias` is not supported. Resize-10 (inputs X and scales)
/// behaves like Upsample.
fn build_resize(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    let data = float_input(node, inputs)?;
    if options.opset < 11 {
        return build_legacy(node, inputs, data);
    }
    let attributes = &node.attributes;
    let antialias = attributes.int_or("antialias", 0)?;
    if antialias != 0 {
        return Err(GraphError::unsupported(format!(
            "attribute 'antialias' is {antialias}; antialiasing is not supported"
        )));
    }
    let rounding = match attributes.string_or("nearest_mode", "round_prefer_floor")? {
        "round_prefer_floor" => Rounding::RoundPreferFloor,
        "round_prefer_ceil" => Rounding::RoundPreferCeil,
        "floor" => Rounding::Floor,
        "ceil" => Rounding::Ceil,
        other => {
            return Err(GraphError::invalid(format!(
                "attribute 'nearest_mode' is '{other}', which ONNX does not define"
            )));
        }
    };
    let interpolation = match attributes.string_or("mode", "nearest")? {
        "nearest" => Interpolation::Nearest(rounding),
        "linear" => Interpolation::Linear,
        "cubic" => Interpolation::Cubic {
            a: attributes.float_or("cubic_coeff_a", -0.75)? as f64,
            exclude_outside: attributes.int_or("exclude_outside", 0)? != 0,
        },
        other => {
            return Err(GraphError::invalid(format!(
                "attribute 'mode' is '{other}'; must be nearest, linear or cubic"
            )));
        }
    };
    let mode = match attributes.string_or("coordinate_transformation_mode", "half_pixel")? {
        "half_pixel" => Coordinates::HalfPixel,
        "half_pixel_symmetric" => Coordinates::HalfPixelSymmetric,
        "pytorch_half_pixel" => Coordinates::PytorchHalfPixel,
        "align_corners" => Coordinates::AlignCorners,
        "asymmetric" => Coordinates::Asymmetric,
        "tf_half_pixel_for_nn" => Coordinates::TfHalfPixelForNn,
        "tf_crop_and_resize" => Coordinates::TfCropAndResize,
        other => {
            return Err(GraphError::unsupported(format!(
                "attribute 'coordinate_transformation_mode' is '{other}', which is not supported"
            )));
        }
    };
    let extrapolation = attributes.float_or("extrapolation_value", 0.0)?;
    let rank = data.shape.len();
    let axes = match attributes.ints("axes")? {
        Some(axes) => normalize_axes(axes, rank, "attribute 'axes'")?,
        None => (0..rank).collect(),
    };
    let roi =
        optional_constant(node, inputs, 1)?.map(|t| float_values(t, "input 'roi'")).transpose()?;
    let scales = optional_constant(node, inputs, 2)?
        .map(|t| float_values(t, "input 'scales'"))
        .transpose()?;
    let sizes = optional_constant(node, inputs, 3)?
        .map(|t| integer_values(t, "input 'sizes'"))
        .transpose()?;
    let count = axes.len();
    let mut resized: Vec<AxisResize> = data
        .shape
        .iter()
        .map(|&dim| AxisResize { input: dim, output: dim, scale: 1.0, roi: (0.0, 1.0) })
        .collect();
    if mode == Coordinates::TfCropAndResize {
        let roi = roi.ok_or_else(|| GraphError::invalid("tf_crop_and_resize needs input 'roi'"))?;
        if roi.len() != 2 * count {
            return Err(GraphError::invalid(format!(
                "input 'roi' has {} values, {} are needed (start and end of {count} axes)",
                roi.len(),
                2 * count
            )));
        }
        for (at, &axis) in axes.iter().enumerate() {
            resized[axis].roi = (roi[at], roi[at + count]);
        }
    }
    match (scales, sizes) {
        (Some(_), Some(_)) => {
            return Err(GraphError::invalid(
                "only one of inputs 'scales' and 'sizes' may be given",
            ));
        }
        (None, None) => {
            return Err(GraphError::invalid("one of inputs 'scales' and 'sizes' is required"));
        }
        (Some(scales), None) => {
            if scales.len() != count {
                return Err(GraphError::invalid(format!(
                    "input 'scales' has {} values for {count} axes",
                    scales.len()
                )));
            }
            for (&axis, &scale) in axes.iter().zip(&scales) {
                resized[axis].output = scaled_size(data.shape[axis], scale, axis)?;
                resized[axis].scale = scale;
            }
        }
        (None, Some(sizes)) => {
            if sizes.len() != count {
                return Err(GraphError::invalid(format!(
                    "input 'sizes' has {} values for {count} axes",
                    sizes.len()
                )));
            }
            if let Some(bad) = sizes.iter().find(|&&size| size < 0) {
                return Err(GraphError::invalid(format!(
                    "input 'sizes' has a negative size {bad}"
                )));
            }
            let ratio = |at: usize| sizes[at] as f64 / data.shape[axes[at]] as f64;
            let policy = attributes.string_or("keep_aspect_ratio_policy", "stretch")?;
            let common = match policy {
                "stretch" => None,
                "not_larger" => Some((0..count).map(ratio).fold(f64::INFINITY, f64::min)),
                "not_smaller" => Some((0..count).map(ratio).fold(0.0, f64::max)),
                other => {
                    return Err(GraphError::invalid(format!(
                        "attribute 'keep_aspect_ratio_policy' is '{other}'; must be stretch, not_larger or not_smaller"
                    )));
                }
            };
            for (at, &axis) in axes.iter().enumerate() {
                let input = data.shape[axis];
                let (scale, output) = match common {
                    None => (ratio(at), sizes[at] as usize),
                    Some(scale) => (scale, (scale * input as f64 + 0.5).floor() as usize),
                };
                resized[axis].output = output;
                resized[axis].scale = scale;
            }
        }
    }
    finish(data, &resized, mode, interpolation, extrapolation)
}

/// Legacy resizing (Upsample, Resize-10): asymmetric coordinates, nearest rounds down when
/// enlarging (up when shrinking), linear is multilinear.
fn legacy(node: &Node, data: InputInfo<'_>, scales: &[f64]) -> Result<BuiltOp> {
    let interpolation = match node.attributes.string_or("mode", "nearest")? {
        "nearest" => Interpolation::Nearest(Rounding::Legacy),
        "linear" | "bilinear" => Interpolation::Linear,
        other => {
            return Err(GraphError::invalid(format!(
                "attribute 'mode' is '{other}'; must be nearest or linear"
            )));
        }
    };
    if scales.len() != data.shape.len() {
        return Err(GraphError::invalid(format!(
            "'scales' has {} values for a rank-{} input",
            scales.len(),
            data.shape.len()
        )));
    }
    let axes = data
        .shape
        .iter()
        .zip(scales)
        .enumerate()
        .map(|(axis, (&input, &scale))| {
            Ok(AxisResize {
                input,
                output: scaled_size(input, scale, axis)?,
                scale,
                roi: (0.0, 1.0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    finish(data, &axes, Coordinates::Asymmetric, interpolation, 0.0)
}

/// Resize-10 and Upsample-9: the scales are constant input 1.
fn build_legacy(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    data: InputInfo<'_>,
) -> Result<BuiltOp> {
    let scales = float_values(constant_input(node, inputs, 1)?, "input 'scales'")?;
    legacy(node, data, &scales)
}

/// Upsample (opset 7-9, deprecated): `floor(input * scale)` per axis with `scales` from the
/// attribute (opset 7-8) or a constant input (opset 9); `mode` nearest (default) or
/// linear, on asymmetric coordinates.
fn build_upsample(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = float_input(node, inputs)?;
    match node.attributes.floats("scales")? {
        Some(scales) => {
            legacy(node, data, &scales.iter().map(|&scale| scale as f64).collect::<Vec<_>>())
        }
        None => build_legacy(node, inputs, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(input: usize, output: usize, scale: f64) -> AxisResize {
        AxisResize { input, output, scale, roi: (0.0, 1.0) }
    }

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for s in [0.0, 0.25, 0.5, 0.9] {
            let weights = cubic_weights(s, -0.75);
            assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(cubic_weights(0.0, -0.5), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn coordinates_follow_the_onnx_formulas() {
        let up = axis(4, 8, 2.0);
        assert_eq!(source_coordinate(Coordinates::HalfPixel, 3.0, &up), Some(1.25));
        assert_eq!(source_coordinate(Coordinates::Asymmetric, 3.0, &up), Some(1.5));
        assert_eq!(source_coordinate(Coordinates::TfHalfPixelForNn, 3.0, &up), Some(1.75));
        assert_eq!(source_coordinate(Coordinates::AlignCorners, 7.0, &up), Some(3.0));
        assert_eq!(
            source_coordinate(Coordinates::PytorchHalfPixel, 0.0, &axis(4, 1, 0.25)),
            Some(0.0)
        );
        let crop = AxisResize { roi: (0.5, 1.0), ..axis(5, 3, 0.6) };
        assert_eq!(source_coordinate(Coordinates::TfCropAndResize, 0.0, &crop), Some(2.0));
        let beyond = AxisResize { roi: (0.5, 1.5), ..axis(5, 3, 0.6) };
        assert_eq!(source_coordinate(Coordinates::TfCropAndResize, 2.0, &beyond), None);
    }

    #[test]
    fn nearest_rounding_modes_differ_only_on_ties() {
        let taps = |rounding| {
            axis_taps(&axis(4, 8, 2.0), Coordinates::Asymmetric, Interpolation::Nearest(rounding))
                .unwrap()
                .index
        };
        assert_eq!(taps(Rounding::RoundPreferFloor), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(taps(Rounding::RoundPreferCeil), vec![0, 1, 1, 2, 2, 3, 3, 3]);
        assert_eq!(taps(Rounding::Floor), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(taps(Rounding::Ceil), vec![0, 1, 1, 2, 2, 3, 3, 3]);
        let linear =
            axis_taps(&axis(3, 3, 1.0), Coordinates::HalfPixel, Interpolation::Linear).unwrap();
        assert!(linear.is_identity());
        let shifted =
            axis_taps(&axis(3, 3, 1.0), Coordinates::TfHalfPixelForNn, Interpolation::Linear)
                .unwrap();
        assert!(!shifted.is_identity());
    }
}

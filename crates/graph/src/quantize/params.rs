//! The arithmetic of linear quantization, as ONNX's QuantizeLinear / DequantizeLinear
//! define it: `q = saturate(round_half_even(x / scale) + zero_point)` and
//! `x' = (q - zero_point) * scale`.
//!
//! [`QuantParams`] is what [`apply`](super::apply) takes per activation value: plain numbers,
//! so any calibration (min/max, percentiles, entropy) can supply them;
//! [`QuantParams::from_min_max`] is the simple min/max choice. Weights are quantized per
//! output channel, symmetrically: `scale = max|w_channel| / levels` ([`quantize_per_channel`]).

use crate::data_type::DataType;
use crate::error::{GraphError, Result};

/// The integer type of quantized activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantType {
    /// uint8, `[0, 255]` (asymmetric: any zero point).
    U8,
    /// int8, `[-128, 127]` (symmetric use: zero point 0).
    I8,
}

impl QuantType {
    /// The IR element type.
    pub fn data_type(self) -> DataType {
        match self {
            QuantType::U8 => DataType::U8,
            QuantType::I8 => DataType::I8,
        }
    }

    /// The smallest and largest value.
    pub fn range(self) -> (i32, i32) {
        match self {
            QuantType::U8 => (0, 255),
            QuantType::I8 => (-128, 127),
        }
    }
}

/// The quantization of one value: scale, zero point and integer type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// The step between consecutive integers, in the float domain (finite, > 0).
    pub scale: f32,
    /// The integer that represents 0.0 (within the type's range).
    pub zero_point: i32,
    /// The integer type.
    pub quant_type: QuantType,
}

impl QuantParams {
    /// Parameters covering `[min, max]` (widened to include 0, so that 0 is exact):
    /// asymmetric u8 with `scale = (max - min) / 255`, or symmetric i8 with
    /// `scale = max(|min|, |max|) / 127` and zero point 0. An empty or all-zero range
    /// gives scale 1.
    pub fn from_min_max(min: f32, max: f32, quant_type: QuantType) -> QuantParams {
        let (min, max) = (min.min(0.0), max.max(0.0));
        match quant_type {
            QuantType::U8 => {
                let scale = (max - min) / 255.0;
                if !(scale.is_finite() && scale > 0.0) {
                    return QuantParams { scale: 1.0, zero_point: 0, quant_type };
                }
                let zero_point = (-min / scale).round_ties_even().clamp(0.0, 255.0) as i32;
                QuantParams { scale, zero_point, quant_type }
            }
            QuantType::I8 => {
                let scale = min.abs().max(max.abs()) / 127.0;
                let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
                QuantParams { scale, zero_point: 0, quant_type }
            }
        }
    }

    /// Checks that the scale is finite and positive and the zero point in range; `what`
    /// names the value in the error.
    pub fn validate(&self, what: &str) -> Result<()> {
        let (low, high) = self.quant_type.range();
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(GraphError::invalid(format!(
                "the scale of {what} is {}, it must be finite and positive",
                self.scale
            )));
        }
        if !(low..=high).contains(&self.zero_point) {
            return Err(GraphError::invalid(format!(
                "the zero point of {what} is {}, outside [{low}, {high}]",
                self.zero_point
            )));
        }
        Ok(())
    }

    /// The integer of `x`: `saturate(round_half_even(x / scale) + zero_point)`.
    pub fn quantize(&self, x: f32) -> i32 {
        let (low, high) = self.quant_type.range();
        quantize(x, self.scale, self.zero_point, low, high)
    }

    /// `x` quantized and dequantized: what a QuantizeLinear → DequantizeLinear pair gives.
    pub fn fake_quantize(&self, x: f32) -> f32 {
        (self.quantize(x) - self.zero_point) as f32 * self.scale
    }
}

/// `clamp(round_half_even(x / scale) + zero_point, low, high)`; NaN gives the zero point.
fn quantize(x: f32, scale: f32, zero_point: i32, low: i32, high: i32) -> i32 {
    let rounded = (x / scale).round_ties_even();
    let rounded = if rounded.is_nan() { 0.0 } else { rounded as f64 };
    (rounded + zero_point as f64).clamp(low as f64, high as f64) as i32
}

/// Weights quantized symmetrically per channel to `[-levels, levels]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelQuantized {
    /// The int8 values, in the weight's layout.
    pub values: Vec<i8>,
    /// One scale per channel: `max|w_channel| / levels` (1 for an all-zero channel).
    pub scales: Vec<f32>,
}

/// Quantizes `weights` of `shape` per channel along `axis` (`None`: one channel, per
/// tensor), symmetrically to `[-levels, levels]` (127 or 63), rounding half to even.
pub fn quantize_per_channel(
    weights: &[f32],
    shape: &[usize],
    axis: Option<usize>,
    levels: i32,
) -> Result<ChannelQuantized> {
    if !(1..=127).contains(&levels) {
        return Err(GraphError::invalid(format!("weight levels {levels} outside [1, 127]")));
    }
    let (outer, channels, inner) = match axis {
        Some(axis) if axis < shape.len() => (
            shape[..axis].iter().product::<usize>(),
            shape[axis],
            shape[axis + 1..].iter().product::<usize>(),
        ),
        Some(axis) => {
            return Err(GraphError::invalid(format!(
                "channel axis {axis} of a weight of shape {shape:?}"
            )));
        }
        None => (1, 1, weights.len()),
    };
    if outer * channels * inner != weights.len() {
        return Err(GraphError::shape(format!(
            "a weight of shape {shape:?} with {} elements",
            weights.len()
        )));
    }
    let channel = |at: usize| (at / inner) % channels;
    let mut largest = vec![0.0f32; channels];
    for (at, &w) in weights.iter().enumerate() {
        if !w.is_finite() {
            return Err(GraphError::invalid(format!("weight element {at} is {w}")));
        }
        largest[channel(at)] = largest[channel(at)].max(w.abs());
    }
    let scales: Vec<f32> =
        largest.iter().map(|&m| if m > 0.0 { m / levels as f32 } else { 1.0 }).collect();
    let values = weights
        .iter()
        .enumerate()
        .map(|(at, &w)| quantize(w, scales[channel(at)], 0, -levels, levels) as i8)
        .collect();
    Ok(ChannelQuantized { values, scales })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_parameters_include_zero_and_round_half_to_even() {
        let p = QuantParams::from_min_max(-1.0, 3.0, QuantType::U8);
        assert_eq!(p.scale, 4.0 / 255.0);
        assert_eq!(p.zero_point, 64); // 63.75 -> 64
        assert_eq!(p.fake_quantize(0.0), 0.0);
        assert_eq!(p.quantize(100.0), 255);
        let positive = QuantParams::from_min_max(2.0, 5.1, QuantType::U8);
        assert_eq!((positive.zero_point, positive.scale), (0, 5.1 / 255.0));
        let s = QuantParams::from_min_max(-0.5, 127.0, QuantType::I8);
        assert_eq!((s.scale, s.zero_point), (1.0, 0));
        assert_eq!([s.quantize(0.5), s.quantize(1.5), s.quantize(-200.0)], [0, 2, -128]);
        let empty = QuantParams::from_min_max(0.0, 0.0, QuantType::I8);
        assert_eq!(empty.scale, 1.0);
        assert!(QuantParams { scale: 0.0, ..empty }.validate("x").is_err());
        assert!(QuantParams { zero_point: 200, ..empty }.validate("x").is_err());
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Two output channels (axis 0) of 3 values each.
        let w = [63.5, -127.0, 31.75, 0.0, 0.0, 0.0];
        let q = quantize_per_channel(&w, &[2, 3], Some(0), 127).unwrap();
        assert_eq!(q.scales, vec![1.0, 1.0]);
        assert_eq!(q.values, vec![64, -127, 32, 0, 0, 0]); // 63.5 -> 64, 31.75 -> 32
        // Channels on axis 1 (Gemm's B [K, N]) with 63 levels.
        let q = quantize_per_channel(&[63.0, 126.0, -63.0, 31.5], &[2, 2], Some(1), 63).unwrap();
        assert_eq!(q.scales, vec![1.0, 2.0]);
        assert_eq!(q.values, vec![63, 63, -63, 16]); // 15.75 -> 16
        let q = quantize_per_channel(&[1.0, -4.0], &[2], None, 127).unwrap();
        assert_eq!(q.scales, vec![4.0 / 127.0]);
        assert!(quantize_per_channel(&[1.0], &[1], Some(1), 127).is_err());
    }
}

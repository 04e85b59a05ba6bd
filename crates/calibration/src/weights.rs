//! Per-channel symmetric int8 weight quantization: each channel `c` of a weight tensor
//! gets `scale_c = max |w_c| / L` and `q = clamp(round_half_even(w / scale_c), -L, L)`,
//! `L` the [`WeightLevels`] (127, or 63 for 7-bit weights).
//!
//! Convolution weights `[M, C/group, kh, kw]` are quantized per output channel, axis 0
//! ([`quantize_weights_per_output_channel`]); MatMul weights `[K, N]` per column, axis 1
//! ([`quantize_weights_per_channel`] with `axis = 1`). A channel of zeros gets
//! [`MIN_SCALE`] and zeros. The [`WeightQuantReport`] summarises the scales and the
//! largest error for the calibration report.

use crate::error::{Result, element_count, ensure};
use crate::params::MIN_SCALE;

/// How many positive levels the quantized weights use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLevels {
    /// `[-127, 127]`: full int8.
    Int8,
    /// `[-63, 63]`: 7-bit weights, for AVX2 `vpmaddubsw` kernels, whose pairwise
    /// `u8 * i8` sums saturate in i16 unless `2 * 255 * |w| <= 32767`.
    Int7,
}

impl WeightLevels {
    /// `L`: 127 or 63.
    pub fn max_level(self) -> i32 {
        match self {
            WeightLevels::Int8 => 127,
            WeightLevels::Int7 => 63,
        }
    }
}

/// A summary of the per-channel scales and errors, for the calibration report. The scale
/// statistics leave out all-zero channels (counted in `zero_channels`); they are 0 when
/// every channel is zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightQuantReport {
    /// The smallest scale of a nonzero channel.
    pub min_scale: f32,
    /// The largest scale of a nonzero channel.
    pub max_scale: f32,
    /// The mean scale of the nonzero channels.
    pub mean_scale: f32,
    /// The largest `|w - q * scale|` over all weights (at most half the channel's scale).
    pub max_abs_error: f32,
    /// Channels whose weights are all zero.
    pub zero_channels: usize,
}

/// Weights quantized per channel along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct PerChannelWeights {
    /// The quantized weights, same shape and layout as the float weights.
    pub data: Vec<i8>,
    /// One scale per channel (`shape[axis]` of them).
    pub scales: Vec<f32>,
    /// The shape of the weight tensor.
    pub shape: Vec<usize>,
    /// The channel axis.
    pub axis: usize,
    /// The levels used.
    pub levels: WeightLevels,
    /// Scale statistics and the largest error.
    pub report: WeightQuantReport,
}

impl PerChannelWeights {
    /// The weights the quantized data stands for, `q * scale_c`.
    pub fn dequantize(&self) -> Vec<f32> {
        let (_, channels, inner) = split_at_axis(&self.shape, self.axis);
        self.data
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * self.scales[(i / inner) % channels])
            .collect()
    }
}

/// Quantizes `weights` of shape `shape` (`[M, ...]`) per output channel, axis 0.
pub fn quantize_weights_per_output_channel(
    weights: &[f32],
    shape: &[usize],
    levels: WeightLevels,
) -> Result<PerChannelWeights> {
    quantize_weights_per_channel(weights, shape, 0, levels)
}

/// Quantizes `weights` of shape `shape` per channel along `axis`. `Err` if the length
/// does not match the shape, `axis` is out of range, or a weight is NaN or infinite.
pub fn quantize_weights_per_channel(
    weights: &[f32],
    shape: &[usize],
    axis: usize,
    levels: WeightLevels,
) -> Result<PerChannelWeights> {
    ensure(axis < shape.len(), || format!("axis {axis} is out of range for shape {shape:?}"))?;
    let len = element_count("weights", shape)?;
    ensure(weights.len() == len, || {
        format!("weights hold {} values, shape {shape:?} needs {len}", weights.len())
    })?;
    ensure(weights.iter().all(|w| w.is_finite()), || {
        "weights contain NaN or infinity".to_string()
    })?;
    let (_, channels, inner) = split_at_axis(shape, axis);
    let channel_of = |i: usize| (i / inner) % channels;

    let mut max_abs = vec![0.0f32; channels];
    for (i, &w) in weights.iter().enumerate() {
        let c = channel_of(i);
        max_abs[c] = max_abs[c].max(w.abs());
    }
    let level = levels.max_level();
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| if m == 0.0 { MIN_SCALE } else { (m / level as f32).max(MIN_SCALE) })
        .collect();

    let mut max_abs_error = 0.0f32;
    let data = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let scale = scales[channel_of(i)];
            let q = (w / scale).round_ties_even().clamp(-level as f32, level as f32) as i8;
            max_abs_error = max_abs_error.max((w - f32::from(q) * scale).abs());
            q
        })
        .collect();

    let nonzero: Vec<f32> =
        max_abs.iter().zip(&scales).filter(|&(&m, _)| m != 0.0).map(|(_, &s)| s).collect();
    let report = WeightQuantReport {
        min_scale: nonzero.iter().copied().reduce(f32::min).unwrap_or(0.0),
        max_scale: nonzero.iter().copied().reduce(f32::max).unwrap_or(0.0),
        mean_scale: if nonzero.is_empty() {
            0.0
        } else {
            (nonzero.iter().map(|&s| f64::from(s)).sum::<f64>() / nonzero.len() as f64) as f32
        },
        max_abs_error,
        zero_channels: channels - nonzero.len(),
    };
    Ok(PerChannelWeights { data, scales, shape: shape.to_vec(), axis, levels, report })
}

/// `(outer, channels, inner)`: the element at `(o, c, i)` is at `(o * channels + c) * inner + i`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product::<usize>().max(1);
    (outer, shape[axis], inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{Rng, gaussian};

    fn weights(seed: u64, n: usize) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        // Channels of very different magnitudes.
        (0..n).map(|i| gaussian(&mut rng) * (1 + i % 7) as f32 * 0.01).collect()
    }

    fn check_channels(w: &[f32], q: &PerChannelWeights, channel_of: impl Fn(usize) -> usize) {
        let level = q.levels.max_level();
        let channels = q.scales.len();
        let mut max_abs = vec![0.0f32; channels];
        let mut max_q = vec![0i32; channels];
        for (i, (&x, &qi)) in w.iter().zip(&q.data).enumerate() {
            let c = channel_of(i);
            if x.abs() > max_abs[c] {
                max_abs[c] = x.abs();
                max_q[c] = i32::from(qi) * x.signum() as i32;
            }
            assert!(i32::from(qi).abs() <= level);
            let error = (x - f32::from(qi) * q.scales[c]).abs();
            assert!(
                error <= 0.5 * q.scales[c] * (1.0 + 1e-6),
                "{i}: {error} > {} / 2",
                q.scales[c]
            );
        }
        // Each channel's largest magnitude maps to the top level.
        assert_eq!(max_q, vec![level; channels]);
    }

    #[test]
    fn each_output_channel_spans_the_full_levels_with_at_most_half_a_step_of_error() {
        let shape = [14, 3, 3, 3];
        let w = weights(1, 14 * 27);
        for levels in [WeightLevels::Int8, WeightLevels::Int7] {
            let q = quantize_weights_per_output_channel(&w, &shape, levels).unwrap();
            assert_eq!(q.scales.len(), 14);
            check_channels(&w, &q, |i| i / 27);
            assert!(q.report.max_abs_error <= 0.5 * q.report.max_scale * (1.0 + 1e-6));
            let back = q.dequantize();
            let max_error = w.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert_eq!(max_error, q.report.max_abs_error);
        }
    }

    #[test]
    fn matmul_weights_are_quantized_per_column() {
        let (k, n) = (32, 5);
        let w = weights(2, k * n);
        let q = quantize_weights_per_channel(&w, &[k, n], 1, WeightLevels::Int8).unwrap();
        assert_eq!(q.scales.len(), n);
        check_channels(&w, &q, |i| i % n);
        // Int7 halves the resolution: scales about twice as large.
        let q7 = quantize_weights_per_channel(&w, &[k, n], 1, WeightLevels::Int7).unwrap();
        for (s8, s7) in q.scales.iter().zip(&q7.scales) {
            assert!((s7 / s8 - 127.0 / 63.0).abs() < 1e-5);
        }
    }

    #[test]
    fn report_summarises_scales_and_skips_zero_channels() {
        let w = [1.27f32, -0.5, 0.0, 0.0, 2.54, 1.0];
        let q = quantize_weights_per_output_channel(&w, &[3, 2], WeightLevels::Int8).unwrap();
        assert_eq!(q.scales[1], MIN_SCALE);
        assert_eq!(&q.data[2..4], &[0, 0]);
        assert_eq!(q.report.zero_channels, 1);
        assert_eq!(q.report.min_scale, 1.27 / 127.0);
        assert_eq!(q.report.max_scale, 2.54 / 127.0);
        assert!((q.report.mean_scale - 0.015).abs() < 1e-7);
    }

    #[test]
    fn rejects_bad_shapes_and_non_finite_weights() {
        assert!(
            quantize_weights_per_output_channel(&[1.0; 5], &[2, 3], WeightLevels::Int8).is_err()
        );
        assert!(quantize_weights_per_channel(&[1.0; 6], &[2, 3], 2, WeightLevels::Int8).is_err());
        assert!(
            quantize_weights_per_output_channel(&[1.0, f32::NAN], &[2, 1], WeightLevels::Int8)
                .is_err()
        );
    }
}

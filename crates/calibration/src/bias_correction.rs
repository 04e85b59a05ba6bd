//! Fast bias correction (OpenVINO DefaultQuantization's `FastBiasCorrection`): quantizing
//! a layer's weights shifts the mean of each output channel; adding the opposite shift
//! to the bias puts the means back.
//!
//! For a layer `y = W x + b` with quantized weights `W'`, over the calibration inputs:
//!
//! `shift_c = mean(y_c) - mean(y'_c)` where `y' = W' x + b`, and `b'_c = b_c + shift_c`,
//!
//! so that `mean(W' x + b') = mean(W x + b)` per channel.
//!
//! # How the host uses it
//!
//! 1. For each layer with weights and a bias (Conv, Gemm/MatMul + Add), run the float
//!    model on the calibration set and keep the layer's float *input*.
//! 2. Run the layer alone on that same float input twice: with the float weights and
//!    with the fake-quantized weights ([`weights`](crate::weights), dequantized). Feed
//!    both outputs to a [`ChannelMeans`](crate::accumulate::ChannelMeans) each.
//! 3. [`bias_shift`] of the two means; optionally skip the layer when
//!    [`bias_shift_magnitude`] exceeds a threshold ([`DEFAULT_MAGNITUDE_THRESHOLD`]),
//!    as a large relative change usually means too few samples rather than a real shift.
//! 4. [`corrected_bias`] becomes the layer's bias in the quantized model (a layer without
//!    bias gets one, from zeros).
//!
//! Using the float input for both runs (not the quantized model's own input) is what
//! makes it "fast": each layer is corrected independently, in one pass.

use crate::error::{Result, ensure};

/// The largest [`bias_shift_magnitude`] a host should apply by default (the relative
/// change OpenVINO's fast bias correction accepts).
pub const DEFAULT_MAGNITUDE_THRESHOLD: f64 = 2.0;

/// `float_means[c] - quantized_means[c]` per channel: what to add to the bias. `Err`
/// unless the lengths match and every mean is finite.
pub fn bias_shift(float_means: &[f64], quantized_means: &[f64]) -> Result<Vec<f32>> {
    ensure(float_means.len() == quantized_means.len(), || {
        format!(
            "{} float channel means but {} quantized ones",
            float_means.len(),
            quantized_means.len()
        )
    })?;
    ensure(float_means.iter().chain(quantized_means).all(|m| m.is_finite()), || {
        "channel means contain NaN or infinity".to_string()
    })?;
    Ok(float_means.iter().zip(quantized_means).map(|(f, q)| (f - q) as f32).collect())
}

/// `max_c |shift_c / bias_c|` over the channels with a nonzero bias: how much the
/// correction changes the bias relative to its size. `+inf` if every bias is zero (or
/// there are none) and some shift is not, 0 if nothing changes. `Err` unless the lengths
/// match.
pub fn bias_shift_magnitude(bias: &[f32], shift: &[f32]) -> Result<f64> {
    check_lengths(bias, shift)?;
    if shift.iter().all(|&s| s == 0.0) {
        return Ok(0.0);
    }
    let magnitude = bias
        .iter()
        .zip(shift)
        .filter(|&(&b, _)| b != 0.0)
        .map(|(&b, &s)| (f64::from(s) / f64::from(b)).abs())
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    Ok(magnitude.unwrap_or(f64::INFINITY))
}

/// `bias[c] + shift[c]`. `Err` unless the lengths match.
pub fn corrected_bias(bias: &[f32], shift: &[f32]) -> Result<Vec<f32>> {
    check_lengths(bias, shift)?;
    Ok(bias.iter().zip(shift).map(|(b, s)| b + s).collect())
}

fn check_lengths(bias: &[f32], shift: &[f32]) -> Result<()> {
    ensure(bias.len() == shift.len(), || {
        format!("bias has {} channels, shift {}", bias.len(), shift.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulate::ChannelMeans;
    use crate::test_data::{Rng, gaussian};
    use crate::weights::{WeightLevels, quantize_weights_per_output_channel};

    /// `y[n, m] = sum_k w[m, k] x[n, k] + b[m]`, laid out `[N, M]`.
    fn dense(x: &[f32], w: &[f32], b: &[f32], k: usize) -> Vec<f32> {
        x.chunks(k)
            .flat_map(|row| {
                w.chunks(k)
                    .zip(b)
                    .map(move |(wm, bm)| wm.iter().zip(row).map(|(a, b)| a * b).sum::<f32>() + bm)
            })
            .collect()
    }

    #[test]
    fn corrected_bias_restores_the_float_channel_means() {
        let (n, k, m) = (256, 16, 4);
        let mut rng = Rng::new(12);
        // Inputs with a nonzero mean, so weight errors shift the output means.
        let x: Vec<f32> = (0..n * k).map(|_| 1.0 + gaussian(&mut rng)).collect();
        let w: Vec<f32> = (0..m * k).map(|_| gaussian(&mut rng)).collect();
        let b = vec![0.5f32, -0.25, 1.0, 2.0];
        // 7-bit weights, to make the shift visible.
        let wq = quantize_weights_per_output_channel(&w, &[m, k], WeightLevels::Int7)
            .unwrap()
            .dequantize();

        let mut float_means = ChannelMeans::new(m);
        float_means.add(&dense(&x, &w, &b, k), n).unwrap();
        let mut quant_means = ChannelMeans::new(m);
        quant_means.add(&dense(&x, &wq, &b, k), n).unwrap();
        let shift = bias_shift(&float_means.means(), &quant_means.means()).unwrap();
        assert!(shift.iter().any(|s| s.abs() > 1e-4), "{shift:?}");
        assert!(bias_shift_magnitude(&b, &shift).unwrap() < DEFAULT_MAGNITUDE_THRESHOLD);

        let corrected = corrected_bias(&b, &shift).unwrap();
        let mut corrected_means = ChannelMeans::new(m);
        corrected_means.add(&dense(&x, &wq, &corrected, k), n).unwrap();
        for (f, c) in float_means.means().iter().zip(corrected_means.means()) {
            assert!((f - c).abs() < 1e-5, "{f} vs {c}");
        }
    }

    #[test]
    fn magnitude_is_relative_to_the_bias() {
        assert_eq!(bias_shift_magnitude(&[2.0, -4.0], &[1.0, 1.0]).unwrap(), 0.5);
        assert_eq!(bias_shift_magnitude(&[0.0, 0.0], &[1.0, 0.0]).unwrap(), f64::INFINITY);
        assert_eq!(bias_shift_magnitude(&[0.0], &[0.0]).unwrap(), 0.0);
        assert!(bias_shift(&[1.0], &[1.0, 2.0]).is_err());
        assert!(bias_shift(&[f64::NAN], &[1.0]).is_err());
        assert_eq!(bias_shift(&[1.5, -1.0], &[1.0, 0.0]).unwrap(), vec![0.5, -1.0]);
    }
}

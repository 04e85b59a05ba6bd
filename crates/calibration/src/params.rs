//! Quantization parameters from a range: `q = saturate(round(x / scale) + zero_point)`,
//! `x' = (q - zero_point) * scale`, rounding half to even as ONNX `QuantizeLinear` does.
//!
//! * Symmetric int8 ([`QuantParams::symmetric_int8`]): `zero_point = 0`,
//!   `scale = max(|lo|, |hi|) / 127`, `q` in `[-127, 127]` (the restricted range, as
//!   TensorRT uses: `-x` quantizes to `-q`). An ONNX int8 `QuantizeLinear` with the same
//!   scale saturates at -128 instead; the two differ only for values below
//!   `-127.5 * scale`, outside the calibrated range.
//! * Asymmetric uint8 ([`QuantParams::asymmetric_uint8`]): the range is first widened to
//!   contain 0 (`lo' = min(lo, 0)`, `hi' = max(hi, 0)`), `scale = (hi' - lo') / 255`,
//!   `zero_point = round(-lo' / scale)` clamped to `[0, 255]`, an exact integer, so 0 is
//!   represented exactly (`dequantize(quantize(0)) == 0`). The representable range is
//!   then `[-zero_point * scale, (255 - zero_point) * scale]`, which can differ from
//!   `[lo', hi']` by up to half a step at either end.
//!
//! A range of zero width (all values 0) would give scale 0; the scale is never below
//! [`MIN_SCALE`], so it stays a normal `f32` whose reciprocal, and whose product with
//! another such scale, are finite and normal too.

use crate::error::{Result, ensure};
use crate::estimator::{Range, Symmetry};

/// The smallest scale produced: `2^-40` (about `9.1e-13`).
pub const MIN_SCALE: f32 = 1.0 / (1u64 << 40) as f32;

/// Affine quantization parameters of one tensor (or one channel).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// The size of one quantization step, at least [`MIN_SCALE`].
    pub scale: f32,
    /// The quantized value that represents 0.
    pub zero_point: i32,
    /// The smallest quantized value (-127 symmetric, 0 asymmetric).
    pub qmin: i32,
    /// The largest quantized value (127 symmetric, 255 asymmetric).
    pub qmax: i32,
}

impl QuantParams {
    /// Symmetric int8 parameters covering `range`: zero point 0,
    /// `scale = max(|lo|, |hi|) / 127`, `q` in `[-127, 127]`. `Err` unless both bounds
    /// are finite and `lo <= hi`.
    pub fn symmetric_int8(range: Range) -> Result<QuantParams> {
        check_range(range)?;
        let amax = f64::from(range.lo.abs().max(range.hi.abs()));
        Ok(QuantParams { scale: safe_scale(amax / 127.0), zero_point: 0, qmin: -127, qmax: 127 })
    }

    /// Asymmetric uint8 parameters covering `range` widened to contain 0:
    /// `scale = (hi' - lo') / 255`, `zero_point = round(-lo' / scale)` in `[0, 255]`.
    /// `Err` unless both bounds are finite and `lo <= hi`.
    pub fn asymmetric_uint8(range: Range) -> Result<QuantParams> {
        check_range(range)?;
        let lo = f64::from(range.lo.min(0.0));
        let hi = f64::from(range.hi.max(0.0));
        let scale = safe_scale((hi - lo) / 255.0);
        let zero_point = (-lo / f64::from(scale)).round_ties_even().clamp(0.0, 255.0) as i32;
        Ok(QuantParams { scale, zero_point, qmin: 0, qmax: 255 })
    }

    /// [`symmetric_int8`](Self::symmetric_int8) or
    /// [`asymmetric_uint8`](Self::asymmetric_uint8) as `symmetry` says.
    pub fn from_range(range: Range, symmetry: Symmetry) -> Result<QuantParams> {
        match symmetry {
            Symmetry::Symmetric => QuantParams::symmetric_int8(range),
            Symmetry::Asymmetric => QuantParams::asymmetric_uint8(range),
        }
    }

    /// `saturate(round_half_even(x / scale) + zero_point)` into `[qmin, qmax]`; NaN gives
    /// the zero point, infinities saturate.
    pub fn quantize(&self, x: f32) -> i32 {
        if x.is_nan() {
            return self.zero_point;
        }
        let rounded = f64::from((x / self.scale).round_ties_even());
        (rounded + f64::from(self.zero_point)).clamp(f64::from(self.qmin), f64::from(self.qmax))
            as i32
    }

    /// `(q - zero_point) * scale`.
    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point) as f32 * self.scale
    }

    /// `dequantize(quantize(x))`: `x` as the quantized tensor represents it.
    pub fn fake_quantize(&self, x: f32) -> f32 {
        self.dequantize(self.quantize(x))
    }

    /// The values `qmin` and `qmax` stand for: everything outside is clipped to them.
    pub fn representable_range(&self) -> Range {
        Range { lo: self.dequantize(self.qmin), hi: self.dequantize(self.qmax) }
    }
}

/// `scale` as `f32`, at least [`MIN_SCALE`].
fn safe_scale(scale: f64) -> f32 {
    (scale as f32).max(MIN_SCALE)
}

fn check_range(range: Range) -> Result<()> {
    ensure(range.lo.is_finite() && range.hi.is_finite() && range.lo <= range.hi, || {
        format!("range [{}, {}] must be finite with lo <= hi", range.lo, range.hi)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::Rng;

    fn range(lo: f32, hi: f32) -> Range {
        Range { lo, hi }
    }

    #[test]
    fn symmetric_scale_is_the_larger_magnitude_over_127() {
        let p = QuantParams::symmetric_int8(range(-0.5, 2.54)).unwrap();
        assert_eq!(p.zero_point, 0);
        assert_eq!(p.scale, (2.54f64 as f32 as f64 / 127.0) as f32);
        assert_eq!(p.quantize(2.54), 127);
        assert_eq!(p.quantize(-2.54), -127);
        assert_eq!(p.quantize(-100.0), -127);
        assert_eq!(p.quantize(f32::INFINITY), 127);
        assert_eq!(p.quantize(f32::NAN), 0);
    }

    #[test]
    fn rounds_half_to_even() {
        let p = QuantParams::symmetric_int8(range(-127.0, 127.0)).unwrap();
        assert_eq!(p.scale, 1.0);
        assert_eq!(p.quantize(0.5), 0);
        assert_eq!(p.quantize(1.5), 2);
        assert_eq!(p.quantize(2.5), 2);
        assert_eq!(p.quantize(-2.5), -2);
        assert_eq!(p.quantize(-3.5), -4);
    }

    #[test]
    fn asymmetric_represents_zero_exactly_and_round_trips_within_half_a_step() {
        let mut rng = Rng::new(21);
        for (lo, hi) in [(-0.37, 2.91), (0.2, 5.0), (-3.0, -1.0), (-1e-3, 7.77), (-6.1, 0.05)] {
            let p = QuantParams::asymmetric_uint8(range(lo, hi)).unwrap();
            assert!((0..=255).contains(&p.zero_point));
            assert_eq!(p.dequantize(p.quantize(0.0)), 0.0);
            let widened = (lo.min(0.0), hi.max(0.0));
            assert!((p.scale - (widened.1 - widened.0) / 255.0).abs() <= 1e-6 * p.scale);
            for _ in 0..2000 {
                let x = rng.uniform(widened.0, widened.1);
                let q = p.quantize(x);
                assert!((0..=255).contains(&q));
                let represented = p.representable_range();
                // Inside the representable range: within half a step (plus f32 rounding).
                if x >= represented.lo && x <= represented.hi {
                    assert!(
                        (p.dequantize(q) - x).abs() <= 0.5 * p.scale * (1.0 + 1e-5),
                        "{x} -> {q}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_width_ranges_get_the_minimum_scale() {
        let p = QuantParams::asymmetric_uint8(range(0.0, 0.0)).unwrap();
        assert_eq!(p.scale, MIN_SCALE);
        assert_eq!(p.zero_point, 0);
        assert_eq!(p.fake_quantize(0.0), 0.0);
        let s = QuantParams::symmetric_int8(range(0.0, 0.0)).unwrap();
        assert_eq!(s.scale, MIN_SCALE);
        assert!((1.0 / s.scale).is_finite() && (s.scale * s.scale).is_normal());
    }

    #[test]
    fn rejects_non_finite_or_reversed_ranges() {
        assert!(QuantParams::symmetric_int8(range(f32::NAN, 1.0)).is_err());
        assert!(QuantParams::asymmetric_uint8(range(2.0, 1.0)).is_err());
        assert!(QuantParams::asymmetric_uint8(range(0.0, f32::INFINITY)).is_err());
    }
}

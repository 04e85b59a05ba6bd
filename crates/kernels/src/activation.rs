//! Element-wise activations: the [`Activation`] enum, applied in place to a slice.
//!
//! Used twice: as the fused epilogue of convolutions (bias + activation on a block of
//! output that is still in cache) and by the runtime for standalone activation operators.
//!
//! The loops are written so that the compiler vectorises them (one `match` outside the
//! loop, branch-free bodies, no libm calls), and are compiled three times (baseline,
//! AVX2+FMA, AVX-512) with the widest chosen at run time. `exp` is a polynomial
//! ([`exp_approx`], relative error < 3e-7), because libm's `expf`
//! is a function call that blocks vectorisation.

use crate::cpu::{SimdLevel, simd_level};

/// An element-wise activation function, with ONNX semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)` (ONNX `Clip`; `Relu6` is `Clip { min: 0, max: 6 }`). Never
    /// panics, even for `min > max` or NaN bounds (unlike `f32::clamp`).
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `max(0, min(1, alpha * x + beta))` (ONNX defaults: alpha 0.2, beta 0.5).
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * max(0, min(1, x / 6 + 0.5))` (ONNX `HardSwish`).
    HardSwish,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `x` if `x >= 0`, else `alpha * x` (ONNX default alpha 0.01).
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// SiLU / Swish: `x * sigmoid(x)`.
    Silu,
    /// Hyperbolic tangent.
    Tanh,
}

impl Activation {
    /// Applies the activation to one value (the scalar definition the slices follow).
    #[inline(always)]
    pub fn apply_scalar(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(min).min(max),
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0),
            Activation::Sigmoid => sigmoid(x),
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Silu => x * sigmoid(x),
            Activation::Tanh => tanh(x),
        }
    }

    /// Applies the activation to every element of `data`, in place.
    pub fn apply(self, data: &mut [f32]) {
        self.apply_with_bias(data, 0.0);
    }

    /// `data[i] = act(data[i] + bias)` for every element: the convolution epilogue for one
    /// output channel.
    pub fn apply_with_bias(self, data: &mut [f32], bias: f32) {
        if self == Activation::None && bias == 0.0 {
            return;
        }
        match simd_level() {
            // SAFETY: the level was detected at run time, so the CPU has these features.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe { apply_avx512(self, data, bias) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => unsafe { apply_avx2(self, data, bias) },
            _ => apply_generic(self, data, bias),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn apply_avx512(act: Activation, data: &mut [f32], bias: f32) {
    apply_generic(act, data, bias);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn apply_avx2(act: Activation, data: &mut [f32], bias: f32) {
    apply_generic(act, data, bias);
}

/// One loop per variant, so that each loop body is branch-free and vectorises.
#[inline(always)]
fn apply_generic(act: Activation, data: &mut [f32], bias: f32) {
    match act {
        Activation::None => data.iter_mut().for_each(|x| *x += bias),
        Activation::Relu => data.iter_mut().for_each(|x| *x = (*x + bias).max(0.0)),
        Activation::Clip { min, max } => {
            data.iter_mut().for_each(|x| *x = (*x + bias).max(min).min(max));
        }
        Activation::HardSigmoid { alpha, beta } => {
            data.iter_mut().for_each(|x| *x = (alpha * (*x + bias) + beta).clamp(0.0, 1.0))
        }
        Activation::HardSwish => data.iter_mut().for_each(|x| {
            let v = *x + bias;
            *x = v * (v * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0);
        }),
        Activation::Sigmoid => data.iter_mut().for_each(|x| *x = sigmoid(*x + bias)),
        Activation::LeakyRelu { alpha } => data.iter_mut().for_each(|x| {
            let v = *x + bias;
            *x = if v >= 0.0 { v } else { alpha * v };
        }),
        Activation::Silu => data.iter_mut().for_each(|x| {
            let v = *x + bias;
            *x = v * sigmoid(v);
        }),
        Activation::Tanh => data.iter_mut().for_each(|x| *x = tanh(*x + bias)),
    }
}

/// `1 / (1 + exp(-x))` through [`exp_approx`].
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// `tanh(x)`: an odd Taylor polynomial near zero (where `1 - e` would cancel), else
/// `(1 - e) / (1 + e)` with `e = exp(-2|x|)`.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let e = exp_approx(-2.0 * a);
    let big = (1.0 - e) / (1.0 + e);
    let x2 = x * x;
    let small = a * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    let r = if a < 0.125 { small } else { big };
    r.copysign(x)
}

/// `exp(x)` for f32 without libm, vectorisable: `2^n * p(r)` with `n = round(x / ln 2)`,
/// `r = x - n ln 2` in `[-ln2/2, ln2/2]` and `p` a degree-6 Taylor polynomial. Inputs are
/// clamped to `[-87.3, 88.3]`, so the result is always a finite normal number (very
/// negative inputs give ~1e-38 instead of a denormal or 0); NaN stays NaN. Relative
/// error < 3e-7 within the clamp range.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    p * scale
}

//! Bias + activation applied to a vector of AVX-512 accumulators before they are stored,
//! for the hand-written kernels (pointwise and direct convolution). Activations without
//! a cheap vector form ([`Epilogue::Store`]) are left to [`Activation::apply`] after the
//! store.

use std::arch::x86_64::*;

use crate::activation::Activation;

/// An activation a kernel applies in registers, or `Store` (the caller applies it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epilogue {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip(f32, f32),
    /// `min(max(alpha * x + beta, 0), 1)`.
    HardSigmoid(f32, f32),
    /// `x * min(max(x / 6 + 0.5, 0), 1)`.
    HardSwish,
    /// `x < 0 ? alpha * x : x`.
    LeakyRelu(f32),
    /// Stored as is; [`Activation::apply`] follows.
    Store,
}

impl Epilogue {
    /// The epilogue for `activation`.
    pub(crate) fn of(activation: Activation) -> Epilogue {
        match activation {
            Activation::None => Epilogue::None,
            Activation::Relu => Epilogue::Relu,
            // NaN bounds: `f32::max` ignores them, the vector max would not.
            Activation::Clip { min, max } if !min.is_nan() && !max.is_nan() => {
                Epilogue::Clip(min, max)
            }
            Activation::Clip { .. } => Epilogue::Store,
            Activation::HardSigmoid { alpha, beta } => Epilogue::HardSigmoid(alpha, beta),
            Activation::HardSwish => Epilogue::HardSwish,
            Activation::LeakyRelu { alpha } => Epilogue::LeakyRelu(alpha),
            Activation::Sigmoid | Activation::Silu | Activation::Tanh => Epilogue::Store,
        }
    }

    /// The activation of `v` (same formulas as [`Activation::apply_scalar`]).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn apply(self, v: __m512) -> __m512 {
        let zero = _mm512_setzero_ps();
        let one = _mm512_set1_ps(1.0);
        match self {
            Epilogue::None | Epilogue::Store => v,
            Epilogue::Relu => _mm512_max_ps(v, zero),
            Epilogue::Clip(min, max) => {
                _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(min)), _mm512_set1_ps(max))
            }
            Epilogue::HardSigmoid(alpha, beta) => {
                let y =
                    _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(alpha)), _mm512_set1_ps(beta));
                _mm512_min_ps(_mm512_max_ps(y, zero), one)
            }
            Epilogue::HardSwish => {
                let y =
                    _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.0 / 6.0)), _mm512_set1_ps(0.5));
                _mm512_mul_ps(v, _mm512_min_ps(_mm512_max_ps(y, zero), one))
            }
            Epilogue::LeakyRelu(alpha) => {
                let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero);
                _mm512_mask_mul_ps(v, negative, v, _mm512_set1_ps(alpha))
            }
        }
    }
}

//! The fused epilogue shared by every int8 kernel: zero-point compensation, scaling,
//! bias, activation and the store (i32, f32 or requantized u8 / i8), one value at a time
//! (portable kernels) or 16 at a time from an AVX-512 register.

use super::{InputQuant, Int8Output};
use crate::activation::Activation;
use crate::error::{Result, ensure, ensure_len};

use super::weights::PackedInt8Weights;

/// A mutable slice shared between workers that write provably disjoint parts of it
/// (the int8 counterpart of `parallel::SharedMut`, for any element type).
#[derive(Debug)]
pub(crate) struct SharedPtr<T> {
    ptr: *mut T,
    len: usize,
}

impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedPtr<T> {}

// SAFETY: the pointer is only written through `write` / `ptr_at`, whose callers guarantee
// that concurrently written elements never overlap.
unsafe impl<T: Send> Send for SharedPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedPtr<T> {}

impl<T> SharedPtr<T> {
    pub(crate) fn new(data: &mut [T]) -> SharedPtr<T> {
        SharedPtr { ptr: data.as_mut_ptr(), len: data.len() }
    }

    /// The pointer at element `at`, whose `n` elements must be in bounds (checked).
    #[inline(always)]
    pub(crate) fn ptr_at(&self, at: usize, n: usize) -> *mut T {
        assert!(at + n <= self.len, "int8 output range {at}+{n} past length {}", self.len);
        // SAFETY: in bounds (checked above).
        unsafe { self.ptr.add(at) }
    }

    /// Writes element `at` (bounds-checked).
    ///
    /// # Safety
    /// No other worker may access element `at` concurrently.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, at: usize, value: T) {
        // SAFETY: in bounds (ptr_at); exclusivity is the caller's promise.
        unsafe { self.ptr_at(at, 1).write(value) }
    }
}

/// The output buffer and its quantization.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dst {
    I32(SharedPtr<i32>),
    F32(SharedPtr<f32>),
    /// Buffer, `1 / scale`, zero point.
    U8(SharedPtr<u8>, f32, f32),
    I8(SharedPtr<i8>, f32, f32),
}

/// Everything the epilogue of one call needs, per output channel.
pub(crate) struct Epi {
    /// `za · rowsum[m]` (wrapping: the difference with the accumulator is exact).
    comp: Vec<i32>,
    /// `sa · sw[m]`.
    scale: Vec<f32>,
    bias: Vec<f32>,
    act: Activation,
    #[cfg(target_arch = "x86_64")]
    vact: crate::epilogue::Epilogue,
    pub(crate) dst: Dst,
}

impl Epi {
    /// The epilogue of a call with `weights`, `input` quantization and `output`
    /// (`needed` elements), or `Err` for bad quantization parameters or a short buffer.
    pub(crate) fn new(
        weights: &PackedInt8Weights,
        input: InputQuant,
        activation: Activation,
        output: Int8Output<'_>,
        needed: usize,
    ) -> Result<Epi> {
        ensure(input.scale.is_finite() && input.scale > 0.0, || {
            format!("int8: input scale {} must be positive and finite", input.scale)
        })?;
        ensure_len("int8: output", output.len(), needed)?;
        let out_scale = |s: f32| {
            ensure(s.is_finite() && s > 0.0, || {
                format!("int8: output scale {s} must be positive and finite")
            })
            .map(|_| 1.0 / s)
        };
        let dst = match output {
            Int8Output::I32(d) => {
                ensure(activation == Activation::None, || {
                    "int8: i32 output takes no activation".into()
                })?;
                Dst::I32(SharedPtr::new(d))
            }
            Int8Output::F32(d) => Dst::F32(SharedPtr::new(d)),
            Int8Output::U8 { data, scale, zero_point } => {
                Dst::U8(SharedPtr::new(data), out_scale(scale)?, zero_point as f32)
            }
            Int8Output::I8 { data, scale, zero_point } => {
                Dst::I8(SharedPtr::new(data), out_scale(scale)?, zero_point as f32)
            }
        };
        let za = input.zero_point as i32;
        Ok(Epi {
            comp: weights.row_sums().iter().map(|&s| s.wrapping_mul(za)).collect(),
            scale: weights.scales().iter().map(|&s| s * input.scale).collect(),
            bias: weights.bias().to_vec(),
            act: activation,
            #[cfg(target_arch = "x86_64")]
            vact: crate::epilogue::Epilogue::of(activation),
            dst,
        })
    }

    /// Finishes accumulator `acc` of channel `ch` and stores it at element `at`.
    ///
    /// # Safety
    /// No other worker may access element `at` concurrently.
    #[inline(always)]
    pub(crate) unsafe fn store(&self, ch: usize, at: usize, acc: i32) {
        let v = acc.wrapping_sub(self.comp[ch]);
        let y = |v: i32| self.act.apply_scalar(v as f32 * self.scale[ch] + self.bias[ch]);
        // SAFETY: the caller's promise.
        unsafe {
            match self.dst {
                Dst::I32(p) => p.write(at, v),
                Dst::F32(p) => p.write(at, y(v)),
                Dst::U8(p, inv, zp) => p.write(at, requant(y(v), inv, zp, 0.0, 255.0) as u8),
                Dst::I8(p, inv, zp) => p.write(at, requant(y(v), inv, zp, -128.0, 127.0) as i8),
            }
        }
    }

    /// Finishes 16 accumulators of channel `ch` and stores the lanes of `mask` at
    /// elements `at ..`. Scale + bias and the requantization use fused multiply-adds
    /// (one rounding fewer than [`Epi::store`]: results may differ by an ulp, or by a
    /// level for values within an ulp of a rounding tie).
    ///
    /// # Safety
    /// AVX-512F/BW/VL; no other worker may access those elements concurrently.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    #[inline]
    pub(crate) unsafe fn store16(
        &self,
        ch: usize,
        at: usize,
        acc: std::arch::x86_64::__m512i,
        mask: std::arch::x86_64::__mmask16,
    ) {
        use crate::epilogue::Epilogue;
        use std::arch::x86_64::*;
        const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let n = 16 - mask.leading_zeros() as usize;
        let v = _mm512_sub_epi32(acc, _mm512_set1_epi32(self.comp[ch]));
        if let Dst::I32(p) = self.dst {
            // SAFETY: elements at .. at + n: in bounds (ptr_at), the caller's.
            unsafe { _mm512_mask_storeu_epi32(p.ptr_at(at, n), mask, v) };
            return;
        }
        // Straight-line code (a closure here was not inlined: one call per vector).
        let scale = _mm512_set1_ps(self.scale[ch]);
        let y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), scale, _mm512_set1_ps(self.bias[ch]));
        let y = match self.vact {
            Epilogue::Store => {
                let mut lanes = [0f32; 16];
                // SAFETY: 16 f32 into a 16-element array.
                unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), y) };
                lanes.iter_mut().for_each(|x| *x = self.act.apply_scalar(*x));
                // SAFETY: as above.
                unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
            }
            e => e.apply(y),
        };
        // SAFETY: the lanes stored are elements at .. at + n, in bounds (ptr_at) and
        // exclusive (the caller's promise); masked lanes are not touched.
        unsafe {
            match self.dst {
                Dst::I32(_) => {}
                Dst::F32(p) => _mm512_mask_storeu_ps(p.ptr_at(at, n), mask, y),
                Dst::U8(p, inv, zp) => {
                    let t = _mm512_fmadd_ps(y, _mm512_set1_ps(inv), _mm512_set1_ps(zp));
                    // max returns its second operand for NaN: NaN becomes 0. Values past
                    // i32 convert to 0x8000_0000, which the unsigned saturation (as for
                    // everything above 255) turns into 255.
                    let t = _mm512_max_ps(t, _mm512_setzero_ps());
                    let q = _mm512_cvtusepi32_epi8(_mm512_cvt_roundps_epi32::<NEAREST>(t));
                    _mm_mask_storeu_epi8(p.ptr_at(at, n).cast(), mask, q)
                }
                Dst::I8(p, inv, zp) => {
                    let t = _mm512_fmadd_ps(y, _mm512_set1_ps(inv), _mm512_set1_ps(zp));
                    let t = _mm512_max_ps(t, _mm512_set1_ps(-128.0));
                    let t = _mm512_min_ps(t, _mm512_set1_ps(127.0));
                    let q = _mm512_cvtsepi32_epi8(_mm512_cvt_roundps_epi32::<NEAREST>(t));
                    _mm_mask_storeu_epi8(p.ptr_at(at, n), mask, q)
                }
            }
        }
    }

    /// Finishes a tile of `rows x V` accumulator vectors (channels `ch0 ..`, row stride
    /// `stride`, the first `cols` of the `16 V` pixels): one call per tile, the
    /// per-vector [`Epi::store16`] inlined in its loop.
    ///
    /// # Safety
    /// As [`Epi::store16`], for every element of the tile.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) unsafe fn store_tile<const V: usize>(
        &self,
        acc: &[[std::arch::x86_64::__m512i; V]],
        rows: usize,
        cols: usize,
        ch0: usize,
        out: usize,
        stride: usize,
    ) {
        for (r, acc) in acc.iter().enumerate().take(rows) {
            for (v, &s) in acc.iter().enumerate() {
                let n = cols - 16 * v;
                let mask = if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as u16 };
                // SAFETY: the caller's promise.
                unsafe { self.store16(ch0 + r, out + r * stride + 16 * v, s, mask) };
            }
        }
    }
}

/// `round_half_even(clamp(y · inv + zp, lo, hi))`, NaN giving `lo` (as the vector code).
#[inline(always)]
pub(crate) fn requant(y: f32, inv: f32, zp: f32, lo: f32, hi: f32) -> f32 {
    let t = y * inv + zp;
    let t = if t > lo { t } else { lo };
    let t = if t < hi { t } else { hi };
    t.round_ties_even()
}

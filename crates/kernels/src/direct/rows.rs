//! The pitched-run row kernels of the direct convolution (see [`super`]):
//! `out[i] = bias + sum_t weights[t] * buffer[offsets[t] + i]`, one run of outputs with
//! each tap a constant offset into the phase planes. With AVX-512 or AVX2 and FMA, blocks
//! of up to 8 vectors stay in registers across all taps ([`x86::row_avx512`],
//! [`x86::row_avx2`], written with `std::arch` intrinsics: left to itself the compiler
//! split the accumulators into odd vector widths and spilled them); else one axpy per
//! tap ([`row_portable`]).

use crate::cpu::SimdLevel;

/// `out[i] = bias + sum_t weights[t] * buffer[offsets[t] + i]` with the best kernel for
/// `level`.
pub(super) fn row(
    level: SimdLevel,
    buffer: &[f32],
    offsets: &[usize],
    weights: &[f32],
    bias: f32,
    out: &mut [f32],
) {
    // Every kernel may read whole vectors past `out.len()`, up to the next multiple of 16.
    let reach = out.len().next_multiple_of(16);
    assert!(
        offsets.iter().all(|&o| o + reach <= buffer.len()),
        "direct conv: tap run outside the stored rows"
    );
    assert_eq!(offsets.len(), weights.len());
    match level {
        // SAFETY: the CPU has AVX-512F (run-time detection); reads are in bounds (assert).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { x86::row_avx512(buffer, offsets, weights, bias, out) },
        // SAFETY: the CPU has AVX2 and FMA (run-time detection); reads are in bounds.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => unsafe { x86::row_avx2(buffer, offsets, weights, bias, out) },
        _ => row_portable(buffer, offsets, weights, bias, out),
    }
}

/// The portable row kernel: one axpy per tap.
fn row_portable(buffer: &[f32], offsets: &[usize], weights: &[f32], bias: f32, out: &mut [f32]) {
    let n = out.len();
    out.fill(bias);
    for (&off, &w) in offsets.iter().zip(weights) {
        for (o, x) in out.iter_mut().zip(&buffer[off..off + n]) {
            *o += w * x;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// One row's operands, shared by the blocks of a row kernel.
    ///
    /// Blocks hold `V` vectors of outputs in `V` accumulators across all taps. Rows run in
    /// blocks of 8 vectors, then one block of the remaining 1-7, so that even a row's tail
    /// has several independent FMA chains (an FMA has 4 cycles of latency and 2 issue per
    /// cycle); the row's last vector is stored under a mask.
    struct Row<'a> {
        src: *const f32,
        dst: *mut f32,
        offsets: &'a [usize],
        weights: &'a [f32],
        bias: f32,
        /// Vectors in the row (`out.len()` rounded up).
        vectors: usize,
        /// Outputs in the row's last vector.
        tail: usize,
    }

    impl Row<'_> {
        fn new<'a>(
            buffer: &'a [f32],
            offsets: &'a [usize],
            weights: &'a [f32],
            bias: f32,
            out: &mut [f32],
            lanes: usize,
        ) -> Row<'a> {
            let n = out.len();
            let vectors = n.div_ceil(lanes);
            Row {
                src: buffer.as_ptr(),
                dst: out.as_mut_ptr(),
                offsets,
                weights,
                bias,
                vectors,
                tail: n - (vectors - 1) * lanes,
            }
        }

        /// AVX-512 block of `V` 16-lane vectors starting at vector `first`.
        ///
        /// # Safety
        /// AVX-512F; `first + V <= vectors`; the bounds contract of [`row_avx512`].
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn block512<const V: usize>(&self, first: usize) {
            let mut acc = [_mm512_set1_ps(self.bias); V];
            // SAFETY: loads end at offsets[t] + 16 * (first + V), within the caller's
            // bound offsets[t] + 16 * vectors; full stores end at 16 * (first + V - 1) <= n
            // (only the row's last vector can be partial, and it is masked).
            unsafe {
                for (&off, &w) in self.offsets.iter().zip(self.weights) {
                    let (wv, p) = (_mm512_set1_ps(w), self.src.add(off + 16 * first));
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p.add(16 * v)), *a);
                    }
                }
                for (v, a) in acc.iter().enumerate() {
                    let d = self.dst.add(16 * (first + v));
                    if first + v + 1 < self.vectors || self.tail == 16 {
                        _mm512_storeu_ps(d, *a);
                    } else {
                        _mm512_mask_storeu_ps(d, ((1u32 << self.tail) - 1) as __mmask16, *a);
                    }
                }
            }
        }

        /// AVX2 block of `V` 8-lane vectors starting at vector `first`.
        ///
        /// # Safety
        /// AVX2 and FMA; `first + V <= vectors`; the bounds contract of [`row_avx2`].
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn block256<const V: usize>(&self, first: usize) {
            let mut acc = [_mm256_set1_ps(self.bias); V];
            // SAFETY: as in block512, with 8 lanes.
            unsafe {
                for (&off, &w) in self.offsets.iter().zip(self.weights) {
                    let (wv, p) = (_mm256_set1_ps(w), self.src.add(off + 8 * first));
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p.add(8 * v)), *a);
                    }
                }
                for (v, a) in acc.iter().enumerate() {
                    let d = self.dst.add(8 * (first + v));
                    if first + v + 1 < self.vectors || self.tail == 8 {
                        _mm256_storeu_ps(d, *a);
                    } else {
                        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(self.tail as i32), lanes);
                        _mm256_maskstore_ps(d, mask, *a);
                    }
                }
            }
        }
    }

    /// Calls `$row.$block::<V>(first)` over the row: blocks of 8 vectors, then the rest.
    macro_rules! for_blocks {
        ($row:ident, $block:ident) => {{
            let mut v = 0;
            while $row.vectors - v >= 8 {
                $row.$block::<8>(v);
                v += 8;
            }
            match $row.vectors - v {
                1 => $row.$block::<1>(v),
                2 => $row.$block::<2>(v),
                3 => $row.$block::<3>(v),
                4 => $row.$block::<4>(v),
                5 => $row.$block::<5>(v),
                6 => $row.$block::<6>(v),
                7 => $row.$block::<7>(v),
                _ => {}
            }
        }};
    }

    /// AVX-512 row kernel (16 lanes, blocks of up to 8 vectors).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and `offsets[t] + out.len().next_multiple_of(16)`
    /// must not exceed `buffer.len()` for any `t`; `weights` as long as `offsets`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row_avx512(
        buffer: &[f32],
        offsets: &[usize],
        weights: &[f32],
        bias: f32,
        out: &mut [f32],
    ) {
        let row = Row::new(buffer, offsets, weights, bias, out, 16);
        // SAFETY: the blocks cover vectors 0..row.vectors; the bounds are the caller's.
        unsafe { for_blocks!(row, block512) }
    }

    /// AVX2 row kernel (8 lanes, blocks of up to 8 vectors).
    ///
    /// # Safety
    /// As [`row_avx512`], with AVX2 and FMA instead of AVX-512F.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row_avx2(
        buffer: &[f32],
        offsets: &[usize],
        weights: &[f32],
        bias: f32,
        out: &mut [f32],
    ) {
        let row = Row::new(buffer, offsets, weights, bias, out, 8);
        // SAFETY: as above, with 8-lane vectors (n rounded up to 16 covers their reads).
        unsafe { for_blocks!(row, block256) }
    }
}

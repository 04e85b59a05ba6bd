//! The AVX-512 row-block kernel of the direct convolution (see [`super`]), for kernel
//! heights 3, 5 and 7 and vertical strides 1 and 2 ([`super::block_kernel_suits`]):
//! blocks of up to 16 output rows by 16 columns in registers across all taps, the rows of
//! a block sharing their loads, stored straight into the output with the bias and
//! activation applied ([`Epilogue`]). The loops over rows and tap rows are unrolled at
//! compile time (`unroll!`) for each kernel height and stride.

use std::arch::x86_64::*;

use crate::epilogue::Epilogue;

/// `unroll!(N, |i| body)` runs `body` for `i` in `0..N` (`N` a constant expression of
/// at most 24), unrolled with `i` a constant in each copy, so that conditions and
/// array indices depending on `i` fold at compile time (LLVM left such nested loops
/// rolled, indexing the accumulators dynamically through the stack). `unroll!(small
/// N, ...)` takes `N <= 8` and expands to fewer copies (nesting multiplies them).
macro_rules! unroll {
    (small $n:expr, |$i:ident| $body:block) => {
        unroll!(@each $n, 8, $i, $body, [0 1 2 3 4 5 6 7])
    };
    ($n:expr, |$i:ident| $body:block) => {
        unroll!(@each $n, 24, $i, $body, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23])
    };
    (@each $n:expr, $max:literal, $i:ident, $body:block, [$($k:literal)*]) => {{
        const { assert!($n <= $max) };
        $(
            if $k < $n {
                let $i: usize = $k;
                $body
            }
        )*
    }};
}

/// The output channels of a group over one band for the row-block kernel: blocks
/// of up to [`super::ROW_BLOCK`] output rows by one 16-lane vector of columns, in
/// registers across all taps. Rows of a block share their loads: with stride 1, the
/// input row `ir` feeds output row `ir - ky` through tap row `ky`, so a block of `R`
/// rows loads `R + kh - 1` vectors per tap column instead of `R * kh`, and the split
/// loads at unaligned tap offsets stop limiting the FMA rate. All the group's output
/// channels run over one block before the next, while its inputs are in L1.
pub(super) struct Block<'a> {
    /// The band's phase planes.
    pub planes: &'a [f32],
    /// `[cg, kw, sh]`: offset of tap column `(c, kx)` in vertical phase `ry`.
    pub bases: &'a [usize],
    /// The group's `[mg, cg, kh, kw]` weights.
    pub weights: &'a [f32],
    /// The group's `mg` biases.
    pub bias: Option<&'a [f32]>,
    pub cg: usize,
    pub kw: usize,
    /// Elements of a plane row.
    pub pitch: usize,
    /// Output rows of the band and their width.
    pub rows: usize,
    pub ow: usize,
    /// Elements between the output channels.
    pub channel_stride: usize,
    /// The activation, applied before the store (unless `Store`).
    pub epilogue: Epilogue,
}

impl Block<'_> {
    /// Computes the band for kernel height `kh` (3, 5 or 7) and vertical stride `sh`
    /// (1 or 2) into `out` (output channel `mi`'s band at `out + mi * channel_stride`,
    /// `rows x ow` each).
    ///
    /// # Safety
    /// Those `mg` bands must be valid for writes and not accessed by anyone else
    /// during the call.
    pub(super) unsafe fn run(&self, kh: usize, sh: usize, out: *mut f32) {
        let vectors = self.ow.div_ceil(16);
        // Reads: up to ROW_BLOCK - 1 rows past the band (the last block may be
        // shorter than its kernel) plus (kh - 1) / sh rows of taps, 16 lanes from
        // the last vector's start, plus the tap column offsets.
        let reach = (self.rows + super::ROW_BLOCK - 1 + (kh - 1) / sh) * self.pitch + 16 * vectors;
        assert!(
            self.bases.iter().all(|&b| b + reach <= self.planes.len()),
            "direct conv: row block outside the planes"
        );
        let taps = self.cg * kh * self.kw;
        let mg = self.weights.len() / taps;
        assert!(
            self.bases.len() == self.cg * self.kw * sh
                && self.weights.len() == mg * taps
                && self.bias.is_none_or(|b| b.len() == mg)
                && self.rows >= 1
        );
        // SAFETY: AVX-512F was detected (block_kernel_suits); reads are within the
        // planes (assert above), writes within the caller's bands (masked to `ow`
        // per row, rows below `rows`).
        unsafe {
            match (kh, sh) {
                (3, 1) => self.bands::<3, 1>(out, mg),
                (3, 2) => self.bands::<3, 2>(out, mg),
                (5, 1) => self.bands::<5, 1>(out, mg),
                (5, 2) => self.bands::<5, 2>(out, mg),
                (7, 1) => self.bands::<7, 1>(out, mg),
                (7, 2) => self.bands::<7, 2>(out, mg),
                _ => unreachable!("row-block kernel for kh {kh}, sh {sh}"),
            }
        }
    }

    /// Blocks of 16 rows, then 8 and 4 (the last one's extra rows are computed from
    /// read-ahead rows and not stored); per block every channel.
    ///
    /// # Safety
    /// AVX-512F; the contract of [`Block::run`].
    #[target_feature(enable = "avx512f")]
    unsafe fn bands<const KH: usize, const SH: usize>(&self, out: *mut f32, mg: usize) {
        let vectors = self.ow.div_ceil(16);
        let tail = mask16(self.ow - 16 * (vectors - 1));
        let taps = self.cg * KH * self.kw;
        let mut r0 = 0;
        while r0 < self.rows {
            // 16 rows, then the tail as 8 and 4 (computing at most 3 extra rows).
            let left = self.rows - r0;
            let r = if left >= 13 {
                16
            } else if left > 4 {
                8
            } else {
                4
            };
            for v in 0..vectors {
                let mask = if v + 1 == vectors { tail } else { 0xffff };
                for mi in 0..mg {
                    let weights = &self.weights[mi * taps..(mi + 1) * taps];
                    let bias = self.bias.map_or(0.0, |b| b[mi]);
                    let dst = out.wrapping_add(mi * self.channel_stride);
                    // SAFETY: forwarded contract.
                    unsafe {
                        match r {
                            16 => self.block::<KH, SH, 16>(weights, bias, dst, r0, v, mask),
                            8 => self.block::<KH, SH, 8>(weights, bias, dst, r0, v, mask),
                            _ => self.block::<KH, SH, 4>(weights, bias, dst, r0, v, mask),
                        }
                    }
                }
            }
            r0 += r;
        }
    }

    /// Output rows `r0 .. r0 + R` (those below `rows` stored) by columns
    /// `16 v .. 16 v + 16` (lanes in `mask` stored) of one output channel (its
    /// `[cg, KH, kw]` weights, its bias, its band at `out`).
    ///
    /// # Safety
    /// AVX-512F; the contract of [`Block::run`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const KH: usize, const SH: usize, const R: usize>(
        &self,
        weights: &[f32],
        bias: f32,
        out: *mut f32,
        r0: usize,
        v: usize,
        mask: __mmask16,
    ) {
        let mut acc = [_mm512_set1_ps(bias); R];
        let start = r0 * self.pitch + 16 * v;
        let src = self.planes.as_ptr();
        for c in 0..self.cg {
            for kx in 0..self.kw {
                let w: [__m512; KH] =
                    std::array::from_fn(|ky| _mm512_set1_ps(weights[(c * KH + ky) * self.kw + kx]));
                let bases = &self.bases[(c * self.kw + kx) * SH..][..SH];
                unroll!(small SH, |ry| {
                    // SAFETY: within the planes (checked in run).
                    let mut p = unsafe { src.add(bases[ry] + start) };
                    unroll!(R + (KH - 1) / SH, |ir| {
                        // SAFETY: as above; one row further per step (a running
                        // pointer: with `ir * pitch` LLVM kept every row's address
                        // live and spilled).
                        let x = unsafe { _mm512_loadu_ps(p) };
                        p = p.wrapping_add(self.pitch);
                        unroll!(small KH, |ky| {
                            if ky % SH == ry && ir >= ky / SH && ir - ky / SH < R {
                                let r = ir - ky / SH;
                                acc[r] = _mm512_fmadd_ps(w[ky], x, acc[r]);
                            }
                        });
                    });
                });
            }
        }
        for (r, a) in acc.iter().enumerate() {
            if r0 + r < self.rows {
                let y = self.epilogue.apply(*a);
                // SAFETY: row r0 + r of the band, columns 16 v + lanes of `mask` < ow.
                unsafe { _mm512_mask_storeu_ps(out.add((r0 + r) * self.ow + 16 * v), mask, y) };
            }
        }
    }
}

/// The low `n` bits set (all 16 for `n >= 16`); also used by the AVX-512 plane fill.
#[inline(always)]
pub(super) fn mask16(n: usize) -> __mmask16 {
    if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
}

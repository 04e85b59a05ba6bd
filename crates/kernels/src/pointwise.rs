//! Pointwise (1x1, stride 1, unpadded, one group) convolution with AVX-512: the GEMM
//! `out[M, P] = W[M, K] * x[K, P]` (`K` input channels, `P = H * W` pixels) with the
//! weights packed once and the bias + activation applied in registers.
//!
//! The `gemm` crate packs both operands on every call and has no fused epilogue, and the
//! convolution split a small `P` over two threads unevenly (112 + 84 of 196 pixels). On
//! PP-LCNet's layers (`P` = 196 to 12544, `M`, `K` = 16 to 256) this kernel is within
//! 8% of it on one thread (faster with few input channels) and 5-40% faster on two;
//! [`prefers`] keeps the shapes where it lost on the GEMM path. Here:
//!
//! * Weights are packed when the plan is built into blocks of [`MR`] output channels,
//!   `[M / MR][K][MR]` (the last block zero-padded), so a block's `MR` weights for one
//!   input channel are adjacent.
//! * The input is read in place: row `k` of `x` is input channel `k`, contiguous over
//!   pixels. A panel is `16 * V` pixels wide (`V <= `[`NV`] vectors, the last one
//!   masked), so the microkernel keeps `MR x V` accumulators (24 of the 32 vector
//!   registers), loads `V` vectors of `x` and broadcasts `MR` weights per input channel:
//!   11 loads per 24 FMAs. A row's last panel may have 4 vectors (two halves of 4 x 4),
//!   so that 49 or 196 pixels need no extra pass over the weights for their last few.
//! * Work items are (batch, column chunk, block range of output channels): a chunk is
//!   as many panels as keep its inputs (`K x chunk`, 64 KiB) in L1 or close, and each
//!   block of output channels runs over the whole chunk. (With one item per panel, large
//!   images ran at half the speed: dozens of short streams defeat the prefetchers; with
//!   256 KiB chunks, small images ran 10-25% slower on one thread.) At least four items
//!   per thread when `threads > 1`, pulled from a shared counter, so that small `P`
//!   still splits evenly by output channels.

use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::parallel::{SharedMut, for_each};

/// Output channels per microkernel block.
pub(crate) const MR: usize = 8;
/// Vectors (of 16 pixels) per panel.
pub(crate) const NV: usize = 3;

/// Pointwise weights packed in blocks of [`MR`] output channels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PackedPointwise {
    m: usize,
    k: usize,
    /// `[m.div_ceil(MR)][k][MR]`.
    data: Vec<f32>,
}

impl PackedPointwise {
    /// Packs `weights` (`[m, k]`, row-major).
    pub(crate) fn new(m: usize, k: usize, weights: &[f32]) -> PackedPointwise {
        assert_eq!(weights.len(), m * k);
        let blocks = m.div_ceil(MR);
        let mut data = vec![0.0; blocks * k * MR];
        for (row, w) in weights.chunks_exact(k).enumerate() {
            let (block, r) = (row / MR, row % MR);
            for (kk, &v) in w.iter().enumerate() {
                data[(block * k + kk) * MR + r] = v;
            }
        }
        PackedPointwise { m, k, data }
    }
}

/// Whether the pointwise kernel can run: AVX-512 and a 1x1 single-group kernel.
pub(crate) fn suits(conv: &Conv2d) -> bool {
    conv.kernel == [1, 1]
        && conv.groups == 1
        && crate::cpu::simd_level() == crate::cpu::SimdLevel::Avx512
}

/// Whether this kernel is the faster one for `conv` (a pointwise convolution whose
/// weights were packed): up to 4096 pixels, or few input channels, but not fewer than 64
/// pixels with 64 or more input channels unless a single one. On large images with 32 or
/// more input channels the `gemm` crate, which packs its panels of the input into
/// contiguous memory, measured 10-40% faster (e.g. 48 -> 48 channels at 184 x 248); on
/// a 7x7 image with 256 or 512 input channels it was 25% faster (this kernel's 4-vector
/// panel reads the input twice per block of weights).
pub(crate) fn prefers(conv: &Conv2d) -> bool {
    let (p, k) = (conv.in_h * conv.in_w, conv.in_channels);
    (p <= 4096 || k <= 16) && (p >= 64 || p == 1 || k < 64)
}

/// `output = activation(W * input + bias)` for a pointwise `conv` (checked by the caller:
/// 1x1, stride 1, no padding, one group, buffers of the right lengths) on up to
/// `threads` threads.
///
/// `weights` are the unpacked `[M, K]` weights: a single pixel (`P = 1`, e.g. after a
/// global pool in a squeeze-excitation block) is a matrix-vector product, which reads
/// each weight once, so it runs on the row-major weights as dot products over `K`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    conv: &Conv2d,
    input: &[f32],
    packed: &PackedPointwise,
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
) {
    let (m, k, p) = (packed.m, packed.k, conv.in_h * conv.in_w);
    assert!(conv.in_channels == k && conv.out_channels == m && weights.len() == m * k);
    assert!(input.len() == conv.batch * k * p && output.len() == conv.batch * m * p);
    if let Some(bias) = bias {
        assert_eq!(bias.len(), m);
    }
    if p == 1 {
        gemv(conv.batch, m, k, input, weights, bias, activation, output, threads);
        return;
    }
    let panel = 16 * NV;
    // Column chunks: whole panels whose K x chunk inputs stay in L2 while every block of
    // output channels runs over them (streaming each output row in long runs).
    let budget = (CHUNK_BYTES / 4 / k).max(panel) / panel * panel;
    let chunks = p.div_ceil(budget);
    let chunk = p.div_ceil(chunks).next_multiple_of(panel).min(p);
    let mut chunks = p.div_ceil(chunk);
    if chunks > 1 && p - (chunks - 1) * chunk <= 16 {
        // A last chunk of a few pixels would stream all the weights again for them:
        // the previous chunk takes them (its last panel up to 64 pixels).
        chunks -= 1;
    }
    let blocks = m.div_ceil(MR);
    // Split the output channels too when the pixels alone give too few items.
    let want = if threads > 1 { 4 * threads } else { 1 };
    let mparts = want.div_ceil(conv.batch * chunks).clamp(1, blocks);
    let blocks_per_part = blocks.div_ceil(mparts);
    let mparts = blocks.div_ceil(blocks_per_part);
    let items = conv.batch * chunks * mparts;
    let epilogue = x86::Epilogue::of(activation);
    let out = SharedMut::new(output);
    for_each(threads, items, |item| {
        let part = item % mparts;
        let rest = item / mparts;
        let (batch, ch) = (rest / chunks, rest % chunks);
        let (c0, c1) = (ch * chunk, if ch + 1 == chunks { p } else { (ch + 1) * chunk });
        let b0 = part * blocks_per_part;
        let b1 = (b0 + blocks_per_part).min(blocks);
        let x = &input[batch * k * p..(batch + 1) * k * p];
        // Rows b0 * MR .. b1 * MR (clipped to m), columns c0..c1 of this batch's output
        // belong to this item only (items differ in batch, column chunk or block range).
        let first = (batch * m + b0 * MR) * p;
        assert!(first + (m.min(b1 * MR) - b0 * MR) * p <= out.len());
        let tile = |block: usize, p0: usize, cols: usize| {
            let m0 = block * MR;
            let rows = MR.min(m - m0);
            let tile = x86::Tile {
                k,
                a: &packed.data[block * k * MR..(block + 1) * k * MR],
                x,
                p,
                p0,
                cols,
                bias: bias.map(|b| &b[m0..m0 + rows]),
                epilogue,
            };
            // SAFETY: the tile writes columns p0.. of rows m0..m0 + rows (row stride p):
            // in bounds (assert) and this item's.
            unsafe { tile.run(out.ptr_at(first + (block - b0) * MR * p), rows) };
        };
        let panels = panels(c0, c1);
        // Each block over the whole chunk, streaming its output rows.
        for block in b0..b1 {
            for (p0, cols) in panels.clone() {
                tile(block, p0, cols);
            }
        }
        if let x86::Epilogue::Store = epilogue {
            for r in 0..m.min(b1 * MR) - b0 * MR {
                // SAFETY: this item's columns of row r, after the tiles are done.
                activation.apply(unsafe { out.slice(first + r * p + c0, c1 - c0) });
            }
        }
    });
}

/// The panels of pixels `c0..c1` (not empty), as `(first pixel, pixels)`: 48 pixels
/// each, the last one up to 64 (4 vectors) rather than a 1-vector panel that would
/// stream the block's weights again for a few pixels (49 = 48 + 1 on a 7x7 image).
fn panels(c0: usize, c1: usize) -> impl Iterator<Item = (usize, usize)> + Clone {
    let width = move |p0: usize| if c1 - p0 <= 16 * (NV + 1) { c1 - p0 } else { 16 * NV };
    std::iter::successors(Some(c0), move |&p0| (p0 + width(p0) < c1).then(|| p0 + width(p0)))
        .map(move |p0| (p0, width(p0)))
}

/// Bytes of input a column chunk spans (`K x chunk`), kept in L1 (or L2) while every
/// block of output channels runs over it.
const CHUNK_BYTES: usize = 64 * 1024;

/// Rows per matrix-vector work item (a multiple of [`x86::GEMV_ROWS`]).
const GEMV_ITEM_ROWS: usize = 64;

/// `output[b, m] = activation(weights[m, :] . input[b, :] + bias[m])`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn gemv(
    batch: usize,
    m: usize,
    k: usize,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
) {
    let parts = m.div_ceil(GEMV_ITEM_ROWS);
    let out = SharedMut::new(output);
    for_each(threads, batch * parts, |item| {
        let (b, part) = (item / parts, item % parts);
        let (m0, m1) = (part * GEMV_ITEM_ROWS, ((part + 1) * GEMV_ITEM_ROWS).min(m));
        // SAFETY: outputs m0..m1 of batch element b belong to this item only.
        let dst = unsafe { out.slice(b * m + m0, m1 - m0) };
        let x = &input[b * k..(b + 1) * k];
        // SAFETY: AVX-512F was detected (suits).
        unsafe { x86::gemv_avx512(&weights[m0 * k..m1 * k], x, dst) };
        for (i, d) in dst.iter_mut().enumerate() {
            *d += bias.map_or(0.0, |bias| bias[m0 + i]);
        }
        activation.apply(dst);
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{MR, NV};
    pub(super) use crate::epilogue::Epilogue;

    /// One block of up to [`MR`] output channels over one panel of pixels.
    pub(super) struct Tile<'a> {
        pub k: usize,
        /// The block's packed weights, `[k][MR]`.
        pub a: &'a [f32],
        /// The batch element's input, `[k][p]`.
        pub x: &'a [f32],
        pub p: usize,
        /// First pixel and pixel count of the panel (`cols <= 16 * (NV + 1)`).
        pub p0: usize,
        pub cols: usize,
        /// The block's bias (`rows` values).
        pub bias: Option<&'a [f32]>,
        pub epilogue: Epilogue,
    }

    impl Tile<'_> {
        /// Computes the tile into `dst` (the block's output rows, row stride `p`,
        /// starting at its first row's pixel 0), storing `rows` rows.
        ///
        /// # Safety
        /// Columns `p0 .. p0 + cols` of rows `0 .. rows` at `dst` must be valid for
        /// writes and not accessed by anyone else during the call.
        pub(super) unsafe fn run(&self, dst: *mut f32, rows: usize) {
            let vectors = self.cols.div_ceil(16);
            assert!(self.cols >= 1 && vectors <= NV + 1 && self.p0 + self.cols <= self.p);
            assert!(self.a.len() == self.k * MR && self.x.len() == self.k * self.p);
            assert!((1..=MR).contains(&rows));
            assert!(self.bias.is_none_or(|b| b.len() == rows));
            // SAFETY: AVX-512F was detected (suits); the loads stay inside x (masked to
            // the panel's columns of each row) and a; the stores are the caller's.
            unsafe {
                match vectors {
                    1 => self.compute::<MR, 1>(dst, 0, rows),
                    2 => self.compute::<MR, 2>(dst, 0, rows),
                    3 => self.compute::<MR, 3>(dst, 0, rows),
                    _ => {
                        // 8 x 4 accumulators would not fit the 32 registers: two halves
                        // of 4 rows (the second reads the block's weights from L1).
                        const HALF: usize = MR / 2;
                        self.compute::<HALF, 4>(dst, 0, rows.min(HALF));
                        if rows > HALF {
                            self.compute::<HALF, 4>(dst, HALF, rows - HALF);
                        }
                    }
                }
            }
        }

        /// Rows `row0 .. row0 + R` of the block (the first `rows` stored) by the panel's
        /// `V` vectors.
        ///
        /// # Safety
        /// AVX-512F; the bounds asserted in [`Tile::run`] and its contract.
        #[target_feature(enable = "avx512f")]
        unsafe fn compute<const R: usize, const V: usize>(
            &self,
            dst: *mut f32,
            row0: usize,
            rows: usize,
        ) {
            let tail = mask16(self.cols - 16 * (V - 1));
            let mask = |v: usize| if v + 1 == V { tail } else { 0xffff };
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            let mut xp = self.x.as_ptr().wrapping_add(self.p0);
            let mut ap = self.a.as_ptr().wrapping_add(row0);
            for _ in 0..self.k {
                // SAFETY: row kk of x, columns p0 .. p0 + cols (masked); R of the MR
                // weights.
                unsafe {
                    let xv: [__m512; V] =
                        std::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), xp.add(16 * v)));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let w = _mm512_set1_ps(*ap.add(r));
                        for (a, &x) in acc.iter_mut().zip(&xv) {
                            *a = _mm512_fmadd_ps(w, x, *a);
                        }
                    }
                }
                xp = xp.wrapping_add(self.p);
                ap = ap.wrapping_add(MR);
            }
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let bias = _mm512_set1_ps(self.bias.map_or(0.0, |b| b[row0 + r]));
                for (v, &a) in acc.iter().enumerate() {
                    let y = self.epilogue.apply(_mm512_add_ps(a, bias));
                    let at = (row0 + r) * self.p + self.p0 + 16 * v;
                    // SAFETY: row row0 + r, columns p0 + 16 v .. (masked to cols) of dst.
                    unsafe { _mm512_mask_storeu_ps(dst.add(at), mask(v), y) };
                }
            }
        }
    }

    /// Rows the matrix-vector kernel reduces at once.
    pub(super) const GEMV_ROWS: usize = 8;

    /// `dst[r] = w[r, :] . x` for the rows of `w` (`[dst.len(), x.len()]`, row-major):
    /// [`GEMV_ROWS`] rows at a time, 16 columns per step, the last step masked.
    ///
    /// # Safety
    /// AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv_avx512(w: &[f32], x: &[f32], dst: &mut [f32]) {
        let k = x.len();
        assert_eq!(w.len(), dst.len() * k);
        let steps = k.div_ceil(16);
        let last = if k.is_multiple_of(16) { 0xffff } else { mask16(k % 16) };
        let mut r0 = 0;
        while r0 < dst.len() {
            let rows = GEMV_ROWS.min(dst.len() - r0);
            let mut acc = [_mm512_setzero_ps(); GEMV_ROWS];
            for s in 0..steps {
                let mask = if s + 1 == steps { last } else { 0xffff };
                // SAFETY: columns 16 s .. (masked to k) of x and of rows r0 .. r0 + rows.
                unsafe {
                    let xv = _mm512_maskz_loadu_ps(mask, x.as_ptr().add(16 * s));
                    for (r, a) in acc.iter_mut().enumerate().take(rows) {
                        let wv = _mm512_maskz_loadu_ps(mask, w.as_ptr().add((r0 + r) * k + 16 * s));
                        *a = _mm512_fmadd_ps(wv, xv, *a);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate().take(rows) {
                dst[r0 + r] = _mm512_reduce_add_ps(*a);
            }
            r0 += rows;
        }
    }

    /// The low `n` bits set (all 16 for `n >= 16`).
    #[inline(always)]
    fn mask16(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
    }
}

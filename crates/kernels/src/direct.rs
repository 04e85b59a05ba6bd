//! Direct convolution for small per-group reductions: depthwise layers
//! (`in_channels / groups == 1`, any channel multiplier) and stems with few input
//! channels (e.g. 3 -> 16, 3x3, stride 2), any kernel size, stride, dilation and padding.
//!
//! Hand-written because no crate offers it and GEMM is the wrong tool here: with a
//! reduction of `k = C/g * kh * kw` = 9 (depthwise) or 27 (an RGB stem) the GEMM
//! microkernel cannot amortise its packing, and im2col writes `k` floats per output.
//!
//! A work item is (batch element, group, band of output rows). It stores the input rows
//! its band reads, for each of the group's channels, padded and phase-split
//! (`phase.rs`), so every tap of every output row reads a contiguous run. An output row
//! of channel `m` is then `bias + sum over in-image taps (c, ky, kx) of w * run`: the row
//! kernel keeps a block of outputs in vector registers across all taps and stores it once.
//! The row kernels use `std::arch` intrinsics for AVX-512 (blocks of up to 8 x 16 lanes,
//! masked tail store) and AVX2+FMA (up to 8 x 8 lanes), chosen at run time, with a
//! portable fallback: left to itself the compiler split the accumulators into odd vector
//! widths and spilled them. The activation runs on each finished row while it is in L1.

use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::cpu::{SimdLevel, simd_level};
use crate::parallel::{SharedMut, for_each_item, workers_for};
use crate::phase::PhaseRows;

/// Bytes of stored input rows a work item aims for (well inside L2).
const BAND_BYTES: usize = 256 * 1024;

/// Whether the direct kernel beats im2col + GEMM for `conv`: always for depthwise; else
/// for strided convolutions whose reduction and output channel count per group are both
/// small, like an RGB stem (3 -> 16, 3x3, stride 2: about 1.4x faster than GEMM, whose
/// `m = 16`, `k = 27` are too small for its microkernel). At stride 1 im2col is cheaper
/// relative to the output and GEMM measured faster.
pub(crate) fn suits(conv: &Conv2d) -> bool {
    let cg = conv.in_channels / conv.groups;
    let mg = conv.out_channels / conv.groups;
    let small = cg <= 4 && cg * conv.kernel[0] * conv.kernel[1] <= 32 && mg <= 16;
    cg == 1 || (small && conv.strides[1] >= 2)
}

/// Per-worker scratch: the stored input rows, the row-fill scratch and one output row's
/// taps.
#[derive(Default)]
struct Scratch {
    rows: Vec<f32>,
    tmp: Vec<f32>,
    offsets: Vec<usize>,
    /// Index into one output channel's `C/g * kh * kw` weights of each tap in `offsets`.
    tap_index: Vec<usize>,
    weights: Vec<f32>,
}

/// Computes the convolution directly; shapes were validated by the caller. `weights` is
/// `[M, C/g, kh, kw]`.
pub(crate) fn run(
    conv: &Conv2d,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
) {
    let [kh, kw] = conv.kernel;
    let [sh, dh] = [conv.strides[0], conv.dilations[0]];
    let (h, w, oh, ow) = (conv.in_h, conv.in_w, conv.out_h(), conv.out_w());
    let (cg, mg) = (conv.in_channels / conv.groups, conv.out_channels / conv.groups);
    let layout = PhaseRows::new(w, conv.pads[1], conv.strides[1], ow, (kw - 1) * conv.dilations[1]);
    let row_len = layout.row_len();
    let tap_offsets: Vec<usize> =
        (0..kw).map(|kx| layout.tap_offset(kx * conv.dilations[1])).collect();
    // Output rows per band: input rows (about band * stride + kernel span) of all the
    // group's channels within BAND_BYTES, and enough bands to keep the threads busy.
    let budget_rows = (BAND_BYTES / 4 / (row_len * cg)).max(1);
    let mut band = (budget_rows.saturating_sub((kh - 1) * dh) / sh).clamp(1, oh);
    let outer = conv.batch * conv.groups;
    if threads > 1 && outer * oh.div_ceil(band) < 2 * threads {
        band = oh.div_ceil((2 * threads).div_ceil(outer)).max(1);
    }
    let bands = oh.div_ceil(band);
    let items = outer * bands;
    let level = simd_level();
    let mut states: Vec<Scratch> =
        (0..workers_for(threads, items)).map(|_| Scratch::default()).collect();
    let out = SharedMut::new(output);
    for_each_item(&mut states, items, |item, s| {
        let (ng, b) = (item / bands, item % bands);
        let (batch, group) = (ng / conv.groups, ng % conv.groups);
        let (oh0, oh1) = (b * band, ((b + 1) * band).min(oh));
        // Input rows read by the band, clipped to the image.
        let ih_lo = (oh0 * sh).saturating_sub(conv.pads[0]).min(h);
        let ih_hi =
            ((oh1 - 1) * sh + (kh - 1) * dh + 1).saturating_sub(conv.pads[0]).min(h).max(ih_lo);
        let band_rows = ih_hi - ih_lo;
        s.rows.resize(cg * band_rows * row_len, 0.0);
        let x = &input[(batch * conv.in_channels + group * cg) * h * w..][..cg * h * w];
        for c in 0..cg {
            let src = &x[(c * h + ih_lo) * w..(c * h + ih_hi) * w];
            let dst = &mut s.rows[c * band_rows * row_len..(c + 1) * band_rows * row_len];
            for (r, d) in src.chunks_exact(w).zip(dst.chunks_exact_mut(row_len)) {
                layout.fill(r, d, 0.0, &mut s.tmp);
            }
        }
        // Row by row, all output channels of the group: the few stored rows one output
        // row reads stay in L1 while every channel's weights run over them.
        for y in oh0..oh1 {
            s.offsets.clear();
            s.tap_index.clear();
            for c in 0..cg {
                for ky in 0..kh {
                    let ih = (y * sh + ky * dh) as isize - conv.pads[0] as isize;
                    if ih >= ih_lo as isize && (ih as usize) < ih_hi {
                        let start = (c * band_rows + ih as usize - ih_lo) * row_len;
                        s.offsets.extend(tap_offsets.iter().map(|&o| start + o));
                        s.tap_index.extend((c * kh + ky) * kw..(c * kh + ky + 1) * kw);
                    }
                }
            }
            for mi in 0..mg {
                let channel = group * mg + mi;
                let taps = &weights[channel * cg * kh * kw..(channel + 1) * cg * kh * kw];
                s.weights.clear();
                s.weights.extend(s.tap_index.iter().map(|&t| taps[t]));
                // SAFETY: row y of this output channel belongs to this item only (items
                // differ in batch, group or band of rows).
                let out_row =
                    unsafe { out.slice(((batch * conv.out_channels + channel) * oh + y) * ow, ow) };
                row(
                    level,
                    &s.rows,
                    &s.offsets,
                    &s.weights,
                    bias.map_or(0.0, |b| b[channel]),
                    out_row,
                );
                activation.apply(out_row);
            }
        }
    });
}

/// `out[i] = bias + sum_t weights[t] * buffer[offsets[t] + i]` with the best kernel for
/// `level`.
fn row(
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

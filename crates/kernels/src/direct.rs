//! Direct convolution for small per-group reductions: depthwise layers
//! (`in_channels / groups == 1`, any channel multiplier) and stems with few input
//! channels (e.g. 3 -> 16, 3x3, stride 2), any kernel size, stride, dilation and padding.
//!
//! Hand-written because no crate offers it and GEMM is the wrong tool here: with a
//! reduction of `k = C/g * kh * kw` = 9 (depthwise) or 27 (an RGB stem) the GEMM
//! microkernel cannot amortise its packing, and im2col writes `k` floats per output.
//!
//! # Layout: pitched phase planes
//!
//! A work item is (batch element, group, band of output rows). It copies the input its
//! band reads, for each of the group's channels, into *phase planes*: the zero-padded
//! input split by stride phase in both directions, `plane[c][ry][rx][i][j] =
//! padded[c][(oh0 + i) * sh + ry][j * sw + rx]`, every plane row `pitch = ow + qx`
//! elements long (`qx = (kw - 1) * dw / sw`, the horizontal reach of the kernel in a
//! phase). Output `(y, x)` of the band then reads, for tap `(c, ky, kx)`, plane
//! `(c, ky dh % sh, kx dw % sw)` at row `y + ky dh / sh`, column `x + kx dw / sw`: every
//! tap reads contiguous runs, however small the image, whatever the stride. With
//! AVX-512, planes are filled with masked loads (padding costs nothing extra) and stride
//! 2 is split with two permutes per 16 outputs.
//!
//! # Kernels
//!
//! * Row blocks (AVX-512, kernel height 3, 5 or 7, vertical stride 1 or 2, see
//!   [`x86::Block`]): blocks of up to 16 output rows by 16 columns in registers across
//!   all taps, stored straight into the output with the bias and activation applied.
//!   The rows of a block share their loads (input row `ir` feeds output row `ir - ky`
//!   through tap row `ky`): 20 loads per 80 FMAs for a 5x5 kernel instead of one per
//!   FMA, which, at unaligned tap offsets, split across cache lines.
//! * Pitched runs (otherwise, and with AVX2 or no SIMD): the band of a channel is one run
//!   of `rows * pitch` outputs at pitched index `y * pitch + x`, each tap a constant
//!   offset into the planes; the row kernel keeps blocks of 8 vectors in registers
//!   across all taps. The `qx` columns at the end of each pitched row are computed and
//!   dropped, the rest compacted into the output.
//!
//! On PP-LCNet's depthwise layers (224x224 input) the previous layout, one output row per
//! kernel call, ran at 4-20 GFLOP/s on one thread, mostly per-row set-up on small images;
//! row blocks run them 1.4-4x faster (see the crate docs and the `lcnet_bench` example).
//! The row kernels use `std::arch` intrinsics, chosen at run time, with a portable
//! fallback: left to itself the compiler split the accumulators into odd vector widths
//! and spilled them.

use std::cell::RefCell;

use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::cpu::{SimdLevel, simd_level};
use crate::parallel::{SharedMut, for_each};
use crate::phase::copy_short;

/// Bytes of phase planes a work item aims for (inside L2, close to L1).
const BAND_BYTES: usize = 64 * 1024;

/// Bytes of phase planes a work item of the row-block kernel aims for (inside L2).
const BLOCK_BAND_BYTES: usize = 512 * 1024;

/// Bytes of one channel's pitched output a work item aims for (inside L1).
const OUT_BYTES: usize = 32 * 1024;

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

/// Per-thread scratch: the phase planes and one channel's pitched run.
#[derive(Default)]
struct Scratch {
    planes: Vec<f32>,
    out: Vec<f32>,
    /// Taps and weights of one segment of a pitched run.
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

thread_local! {
    /// Scratch kept per thread across calls (rayon workers included), so steady-state
    /// inference neither allocates nor zeroes it.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The band and plane geometry of one convolution.
#[derive(Clone, Debug)]
struct Layout {
    /// Elements of a plane row (and of a pitched output row): `ow + qx`.
    pitch: usize,
    /// Plane rows a full band reads beyond its output rows: `(kh - 1) * dh / sh`.
    qy: usize,
    /// Elements between consecutive planes (a full band's rows plus read-ahead slack).
    plane_stride: usize,
    /// Output rows per band (the last band may be shorter) and the band count.
    band: usize,
    bands: usize,
    /// Offset of each tap `(c, ky, kx)` (in the weights' order) inside the planes.
    offsets: Vec<usize>,
    /// Whether the row-block kernel runs (AVX-512, see [`x86::Block`]) rather than the
    /// pitched-run one.
    blocks: bool,
    /// For the row-block kernel: the offset of tap column `(c, kx)` in vertical phase
    /// `ry`, `[cg, kw, sh]` (plane start plus `kx * dw / sw`).
    bases: Vec<usize>,
}

impl Layout {
    fn new(conv: &Conv2d, threads: usize) -> Layout {
        let [kh, kw] = conv.kernel;
        let [sh, sw] = conv.strides;
        let [dh, dw] = conv.dilations;
        let (oh, ow) = (conv.out_h(), conv.out_w());
        let cg = conv.in_channels / conv.groups;
        let (qy, qx) = ((kh - 1) * dh / sh, (kw - 1) * dw / sw);
        let pitch = ow + qx;
        // Rows per band: the planes within BAND_BYTES, one channel's pitched run within
        // OUT_BYTES, and enough bands to keep the threads busy.
        let plane_row_bytes = 4 * cg * sh * sw * pitch;
        let by_input = (BAND_BYTES / plane_row_bytes).saturating_sub(qy);
        let blocks = block_kernel_suits(conv);
        let outer = conv.batch * conv.groups;
        let mut band = if blocks {
            // Row blocks: the planes only need to stay in L2 (a block's rows are in L1);
            // with few planes, the bands in all a multiple of `threads`.
            let mut bands = (oh + qy) * plane_row_bytes / BLOCK_BAND_BYTES + 1;
            if threads > 1 && outer < 4 * threads {
                bands = (outer * bands).next_multiple_of(threads).div_ceil(outer);
            }
            oh.div_ceil(bands)
        } else {
            by_input.min(OUT_BYTES / (4 * pitch)).clamp(1, oh)
        };
        if !blocks && threads > 1 && outer < 4 * threads {
            // Few planes: cut them into a multiple of `threads` bands in all.
            let want = (outer * oh.div_ceil(band)).max(2 * threads).next_multiple_of(threads);
            band = band.min(oh.div_ceil(want.div_ceil(outer))).max(1);
        }
        let bands = oh.div_ceil(band);
        // The row-block kernel reads up to ROW_BLOCK - 1 rows past a band, and whole
        // vectors past a row's end.
        let extra_rows = if blocks { ROW_BLOCK } else { 0 };
        let plane_stride = ((band + qy + extra_rows) * pitch + qx + 16 + 16 * usize::from(blocks))
            .next_multiple_of(16);
        let mut bases = Vec::new();
        if blocks {
            for c in 0..cg {
                for kx in 0..kw {
                    for ry in 0..sh {
                        let plane = (c * sh + ry) * sw + (kx * dw) % sw;
                        bases.push(plane * plane_stride + kx * dw / sw);
                    }
                }
            }
        }
        let mut offsets = Vec::with_capacity(cg * kh * kw);
        for c in 0..cg {
            for ky in 0..kh {
                for kx in 0..kw {
                    let (ty, tx) = (ky * dh, kx * dw);
                    let plane = (c * sh + ty % sh) * sw + tx % sw;
                    offsets.push(plane * plane_stride + (ty / sh) * pitch + tx / sw);
                }
            }
        }
        Layout { pitch, qy, plane_stride, band, bands, offsets, blocks, bases }
    }
}

/// Output width from which the pitched-run kernel runs row by row, straight into the
/// output, rather than over the band's pitched rows (whose `qx` extra columns per row
/// and compaction cost more than long rows gain).
const PER_ROW_WIDTH: usize = 48;

/// The most output rows the row-block kernel computes at once.
const ROW_BLOCK: usize = 16;

/// Whether the row-block kernel handles `conv`: AVX-512, kernel height 3, 5 or 7 (its
/// loops are unrolled per height), vertical stride 1 or 2, no vertical dilation, and at
/// least 4 output rows. Shorter outputs (text-line models: 2 or 3 rows of 96) would
/// leave most of a block's rows, and its FMA chains, empty; the pitched run covers them
/// in long vectors (1.7x faster on 2 x 96, 5x5).
fn block_kernel_suits(conv: &Conv2d) -> bool {
    simd_level() == SimdLevel::Avx512
        && matches!(conv.kernel[0], 3 | 5 | 7)
        && matches!(conv.strides[0], 1 | 2)
        && conv.dilations[0] == 1
        && conv.out_h() >= 4
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
    let layout = Layout::new(conv, threads);
    let items = conv.batch * conv.groups * layout.bands;
    let level = simd_level();
    let out = SharedMut::new(output);
    for_each(threads, items, |item| {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                run_item(conv, &layout, level, item, input, weights, bias, activation, out, &mut s)
            }
            // Re-entered on this thread (a worker that stole work while busy): fresh scratch.
            Err(_) => run_item(
                conv,
                &layout,
                level,
                item,
                input,
                weights,
                bias,
                activation,
                out,
                &mut Scratch::default(),
            ),
        })
    });
}

/// One work item: fills the band's planes, then runs every output channel of the group
/// over them.
#[allow(clippy::too_many_arguments)]
fn run_item(
    conv: &Conv2d,
    layout: &Layout,
    level: SimdLevel,
    item: usize,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    activation: Activation,
    out: SharedMut,
    s: &mut Scratch,
) {
    let (h, w, oh, ow) = (conv.in_h, conv.in_w, conv.out_h(), conv.out_w());
    let (cg, mg) = (conv.in_channels / conv.groups, conv.out_channels / conv.groups);
    let taps = cg * conv.kernel[0] * conv.kernel[1];
    let (ng, b) = (item / layout.bands, item % layout.bands);
    let (batch, group) = (ng / conv.groups, ng % conv.groups);
    let (oh0, oh1) = (b * layout.band, ((b + 1) * layout.band).min(oh));
    let rows = oh1 - oh0;
    let planes_len = cg * conv.strides[0] * conv.strides[1] * layout.plane_stride;
    if s.planes.len() < planes_len {
        s.planes.resize(planes_len, 0.0);
    }
    let x = &input[(batch * conv.in_channels + group * cg) * h * w..][..cg * h * w];
    fill_planes(level, conv, layout, x, oh0, rows, &mut s.planes);
    #[cfg(target_arch = "x86_64")]
    if layout.blocks {
        let channel0 = group * mg;
        let block = x86::Block {
            planes: &s.planes[..planes_len],
            bases: &layout.bases,
            weights: &weights[channel0 * taps..(channel0 + mg) * taps],
            bias: bias.map(|b| &b[channel0..channel0 + mg]),
            cg,
            kw: conv.kernel[1],
            pitch: layout.pitch,
            rows,
            ow,
            channel_stride: oh * ow,
            epilogue: crate::epilogue::Epilogue::of(activation),
        };
        // Rows oh0..oh1 of the group's output channels belong to this item only (items
        // differ in batch, group or band of rows); the block writes only those.
        let first = ((batch * conv.out_channels + channel0) * oh + oh0) * ow;
        assert!(first + (mg - 1) * oh * ow + rows * ow <= out.len());
        // SAFETY: the rows above are in bounds (assert) and exclusively this item's.
        unsafe { block.run(conv.kernel[0], conv.strides[0], out.ptr_at(first)) };
        if let crate::epilogue::Epilogue::Store = block.epilogue {
            for mi in 0..mg {
                // SAFETY: as above, once the block has finished writing.
                activation.apply(unsafe { out.slice(first + mi * oh * ow, rows * ow) });
            }
        }
        return;
    }
    let run_len = rows * layout.pitch;
    if s.out.len() < run_len {
        s.out.resize(run_len, 0.0);
    }
    // Segments of output rows whose kernel rows inside the image are the same range:
    // taps entirely in the padding are skipped (on images a few rows high most are, e.g.
    // 3 of 5 kernel rows on a 2-row output).
    let [kh, kw] = conv.kernel;
    let ky_range = |y: usize| {
        let top = (y * conv.strides[0]) as isize - conv.pads[0] as isize;
        let dh = conv.dilations[0] as isize;
        let lo = (0..kh).find(|&ky| top + ky as isize * dh >= 0).unwrap_or(kh);
        let hi = (0..kh).rfind(|&ky| top + (ky as isize) * dh < h as isize).map_or(0, |k| k + 1);
        (lo, hi.max(lo))
    };
    let mut y = oh0;
    while y < oh1 {
        let range = ky_range(y);
        let mut end = y + 1;
        while end < oh1 && ky_range(end) == range {
            end += 1;
        }
        let (start, len) = ((y - oh0) * layout.pitch, (end - y) * layout.pitch);
        s.offsets.clear();
        for c in 0..cg {
            for ky in range.0..range.1 {
                s.offsets.extend_from_slice(&layout.offsets[(c * kh + ky) * kw..][..kw]);
            }
        }
        for mi in 0..mg {
            let channel = group * mg + mi;
            let all = &weights[channel * taps..(channel + 1) * taps];
            s.weights.clear();
            for c in 0..cg {
                s.weights.extend_from_slice(&all[(c * kh + range.0) * kw..(c * kh + range.1) * kw]);
            }
            let bias = bias.map_or(0.0, |b| b[channel]);
            // SAFETY: rows y..end of this output channel belong to this item only (items
            // differ in batch, group or band of rows).
            let dst = unsafe {
                out.slice(((batch * conv.out_channels + channel) * oh + y) * ow, (end - y) * ow)
            };
            if ow >= PER_ROW_WIDTH {
                // Wide rows: one run per output row, straight into the output (a row's
                // run starts `pitch` further into the planes than the previous one's).
                for (r, d) in dst.chunks_exact_mut(ow).enumerate() {
                    let shift = start + r * layout.pitch;
                    row(level, &s.planes[shift..planes_len], &s.offsets, &s.weights, bias, d);
                }
            } else {
                let run = &mut s.out[start..start + len];
                row(level, &s.planes[start..planes_len], &s.offsets, &s.weights, bias, run);
                for (d, p) in dst.chunks_exact_mut(ow).zip(run.chunks_exact(layout.pitch)) {
                    copy_short(&p[..ow], d);
                }
            }
            activation.apply(dst);
        }
        y = end;
    }
}

/// Fills the phase planes of the band starting at output row `oh0` (`rows` rows) from the
/// group's input channels `x` (`[cg, h, w]`), with the widest vectors available.
#[allow(clippy::too_many_arguments)]
fn fill_planes(
    level: SimdLevel,
    conv: &Conv2d,
    layout: &Layout,
    x: &[f32],
    oh0: usize,
    rows: usize,
    planes: &mut [f32],
) {
    match level {
        // SAFETY: the level was detected at run time, so the CPU has these features.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { fill_avx512(level, conv, layout, x, oh0, rows, planes) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => unsafe { fill_avx2(level, conv, layout, x, oh0, rows, planes) },
        _ => fill_generic(level, conv, layout, x, oh0, rows, planes),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn fill_avx512(
    level: SimdLevel,
    conv: &Conv2d,
    layout: &Layout,
    x: &[f32],
    oh0: usize,
    rows: usize,
    planes: &mut [f32],
) {
    fill_generic(level, conv, layout, x, oh0, rows, planes);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_avx2(
    level: SimdLevel,
    conv: &Conv2d,
    layout: &Layout,
    x: &[f32],
    oh0: usize,
    rows: usize,
    planes: &mut [f32],
) {
    fill_generic(level, conv, layout, x, oh0, rows, planes);
}

/// Padded rows `oh0 * sh ..` of every channel, each split into its `sw` horizontal
/// phases and stored in the plane of its vertical phase, padding included. Rows outside
/// the image are zeroed for the row-block kernel only: the pitched-run kernel skips the
/// taps that would read them. Rows past those, read only for outputs that are dropped,
/// keep whatever values the scratch held.
#[inline(always)]
fn fill_generic(
    level: SimdLevel,
    conv: &Conv2d,
    layout: &Layout,
    x: &[f32],
    oh0: usize,
    rows: usize,
    planes: &mut [f32],
) {
    let (h, w) = (conv.in_h, conv.in_w);
    let [sh, sw] = conv.strides;
    let (pitch, stride) = (layout.pitch, layout.plane_stride);
    let (pad_top, pad_left) = (conv.pads[0], conv.pads[1]);
    let cg = conv.in_channels / conv.groups;
    // Padded rows oh0 * sh + r for r in 0..(rows + qy) * sh; those in r_lo..r_hi are
    // inside the image.
    let first = (oh0 * sh) as isize - pad_top as isize;
    let r_end = (rows + layout.qy) * sh;
    let r_lo = ((-first).max(0) as usize).min(r_end);
    let r_hi = ((h as isize - first).max(0) as usize).clamp(r_lo, r_end);
    #[cfg(target_arch = "x86_64")]
    if level == SimdLevel::Avx512 && sw <= 2 && sh <= 2 {
        let fill = x86::PlaneFill { w, pad_left, pitch, stride, sh, sw, zero_rows: layout.blocks };
        for c in 0..cg {
            let channel = &x[c * h * w..(c + 1) * h * w];
            let planes = &mut planes[c * sh * sw * stride..(c + 1) * sh * sw * stride];
            // SAFETY: the CPU has AVX-512F (run-time detection).
            unsafe { fill.channel(channel, first, r_lo, r_hi, r_end, planes) };
        }
        return;
    }
    let _ = level;
    for c in 0..cg {
        let channel = &x[c * h * w..(c + 1) * h * w];
        for r in 0..r_end {
            let (ry, i) = match sh {
                1 => (0, r),
                2 => (r & 1, r >> 1),
                _ => (r % sh, r / sh),
            };
            let base = (c * sh + ry) * sw * stride + i * pitch;
            if r < r_lo || r >= r_hi {
                if layout.blocks {
                    for rx in 0..sw {
                        planes[base + rx * stride..][..pitch].fill(0.0);
                    }
                }
                continue;
            }
            let iy = (first + r as isize) as usize;
            let src = &channel[iy * w..(iy + 1) * w];
            for rx in 0..sw {
                // Phase rx holds padded columns j * sw + rx, i.e. input columns
                // j * sw + rx - pad_left.
                let dst = &mut planes[base + rx * stride..][..pitch];
                for (j, d) in dst.iter_mut().enumerate() {
                    let ix = (j * sw + rx) as isize - pad_left as isize;
                    *d = if ix >= 0 && (ix as usize) < w { src[ix as usize] } else { 0.0 };
                }
            }
        }
    }
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
            let reach =
                (self.rows + super::ROW_BLOCK - 1 + (kh - 1) / sh) * self.pitch + 16 * vectors;
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
                    let w: [__m512; KH] = std::array::from_fn(|ky| {
                        _mm512_set1_ps(weights[(c * KH + ky) * self.kw + kx])
                    });
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

    /// The low `n` bits set (all 16 for `n >= 16`).
    #[inline(always)]
    fn mask16(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
    }

    /// Lanes `i` of a window starting at input column `start` with `0 <= start + i < w`,
    /// for the window's lanes `first .. first + 16`.
    #[inline(always)]
    fn valid_lanes(start: isize, first: isize, w: usize) -> __mmask16 {
        let lo = (-start - first).clamp(0, 16);
        let hi = (w as isize - start - first).clamp(0, 16);
        if hi <= lo { 0 } else { ((mask16((hi - lo) as usize) as u32) << lo) as __mmask16 }
    }

    /// Fills one channel's phase planes (stride 1 or 2 horizontally) with AVX-512: each
    /// plane row is written whole, 16 outputs per step from masked loads (masked-off
    /// lanes read nothing and are zero), so padding costs nothing extra.
    pub(super) struct PlaneFill {
        pub w: usize,
        pub pad_left: usize,
        pub pitch: usize,
        /// Elements between planes.
        pub stride: usize,
        pub sh: usize,
        /// 1 or 2.
        pub sw: usize,
        /// Whether rows outside the image are written (zeros) or left alone.
        pub zero_rows: bool,
    }

    impl PlaneFill {
        /// Padded rows `r` in `0..r_end` of the band (input row `first + r`, inside the
        /// image for `r_lo <= r < r_hi`, else zero if `zero_rows`) of the channel `x`
        /// (`[h, w]`) into `planes` (the channel's `sh * sw` planes).
        ///
        /// # Safety
        /// AVX-512F.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn channel(
            &self,
            x: &[f32],
            first: isize,
            r_lo: usize,
            r_hi: usize,
            r_end: usize,
            planes: &mut [f32],
        ) {
            let (sh, sw) = (self.sh, self.sw);
            assert!(matches!((sh, sw), (1 | 2, 1 | 2)));
            // Every plane row written lies inside `planes`, every input row read inside x.
            assert!(
                r_end == 0 || (r_end.div_ceil(sh) - 1) * self.pitch + self.pitch <= self.stride
            );
            assert!(planes.len() >= sh * sw * self.stride);
            assert!(
                r_hi <= r_lo
                    || (first + r_lo as isize >= 0
                        && x.len() >= (first + r_hi as isize) as usize * self.w)
            );
            // SAFETY: AVX-512F; bounds asserted above.
            unsafe {
                match (sh, sw) {
                    (1, 1) => self.fill::<1, 1>(x, first, r_lo, r_hi, r_end, planes),
                    (1, 2) => self.fill::<1, 2>(x, first, r_lo, r_hi, r_end, planes),
                    (2, 1) => self.fill::<2, 1>(x, first, r_lo, r_hi, r_end, planes),
                    _ => self.fill::<2, 2>(x, first, r_lo, r_hi, r_end, planes),
                }
            }
        }

        /// Offset of plane row `r` (vertical phase `r % SH`, row `r / SH`).
        #[inline(always)]
        fn row<const SH: usize, const SW: usize>(&self, r: usize) -> usize {
            (r % SH) * SW * self.stride + (r / SH) * self.pitch
        }

        /// [`PlaneFill::channel`] for strides `SH`, `SW`, 16 outputs of a plane row at a
        /// time; rows outside the image zero.
        ///
        /// # Safety
        /// AVX-512F; the bounds asserted in [`PlaneFill::channel`].
        #[target_feature(enable = "avx512f")]
        unsafe fn fill<const SH: usize, const SW: usize>(
            &self,
            x: &[f32],
            first: isize,
            r_lo: usize,
            r_hi: usize,
            r_end: usize,
            planes: &mut [f32],
        ) {
            let pitch = self.pitch;
            let zero_rows =
                if self.zero_rows { (0..r_lo).chain(r_hi..r_end) } else { (0..0).chain(0..0) };
            // SAFETY (all calls below): stores stay inside the plane rows (masked to
            // `pitch`); loads read only in-image lanes of rows r_lo..r_hi (masks), the
            // other lanes' addresses are never dereferenced.
            if pitch <= 64 {
                // Short rows: column chunk by chunk, the masks hoisted out of the rows.
                for t in (0..pitch).step_by(16) {
                    for r in zero_rows.clone() {
                        unsafe { self.zero_chunk::<SH, SW>(planes, r, t) };
                    }
                    for r in r_lo..r_hi {
                        unsafe { self.chunk::<SH, SW>(x, first, planes, r, t) };
                    }
                }
            } else {
                // Long rows: row by row, so that reads and writes stream.
                for r in zero_rows {
                    for t in (0..pitch).step_by(16) {
                        unsafe { self.zero_chunk::<SH, SW>(planes, r, t) };
                    }
                }
                for r in r_lo..r_hi {
                    for t in (0..pitch).step_by(16) {
                        unsafe { self.chunk::<SH, SW>(x, first, planes, r, t) };
                    }
                }
            }
        }

        /// Zeroes plane row `r`'s outputs `t .. t + 16` (clipped to the pitch).
        ///
        /// # Safety
        /// AVX-512F; the bounds asserted in [`PlaneFill::channel`].
        #[inline(always)]
        unsafe fn zero_chunk<const SH: usize, const SW: usize>(
            &self,
            planes: &mut [f32],
            r: usize,
            t: usize,
        ) {
            let d = self.row::<SH, SW>(r) + t;
            let store = mask16(self.pitch - t);
            for rx in 0..SW {
                // SAFETY: inside plane row r (asserted by the caller), masked to pitch.
                unsafe {
                    _mm512_mask_storeu_ps(
                        planes.as_mut_ptr().add(d + rx * self.stride),
                        store,
                        _mm512_setzero_ps(),
                    )
                };
            }
        }

        /// Stores plane row `r`'s outputs `t .. t + 16` (clipped to the pitch) of every
        /// horizontal phase from input row `first + r`.
        ///
        /// # Safety
        /// AVX-512F; the bounds asserted in [`PlaneFill::channel`]; `r_lo <= r < r_hi`.
        #[inline(always)]
        unsafe fn chunk<const SH: usize, const SW: usize>(
            &self,
            x: &[f32],
            first: isize,
            planes: &mut [f32],
            r: usize,
            t: usize,
        ) {
            let w = self.w;
            let d = self.row::<SH, SW>(r) + t;
            let store = mask16(self.pitch - t);
            // Input columns of the chunk: SW * 16 padded columns from SW * t.
            let start = (SW * t) as isize - self.pad_left as isize;
            let p = x.as_ptr().wrapping_offset((first + r as isize) * w as isize + start);
            let dst = planes.as_mut_ptr();
            // SAFETY: loads read only lanes inside input row first + r (masks); stores
            // stay inside the plane row.
            unsafe {
                // Plain loads inside the row: on wide rows the masked loads stalled on
                // cache misses (the input streams in), plain ones keep the prefetchers fed.
                let load = |offset: isize, first_lane: isize| {
                    let mask = valid_lanes(start, first_lane, w);
                    if mask == 0xffff {
                        _mm512_loadu_ps(p.wrapping_offset(offset))
                    } else {
                        _mm512_maskz_loadu_ps(mask, p.wrapping_offset(offset))
                    }
                };
                let a = load(0, 0);
                if SW == 1 {
                    _mm512_mask_storeu_ps(dst.add(d), store, a);
                } else {
                    let evens = _mm512_setr_epi32(
                        0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                    );
                    let odds = _mm512_setr_epi32(
                        1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                    );
                    let b = load(16, 16);
                    _mm512_mask_storeu_ps(dst.add(d), store, _mm512_permutex2var_ps(a, evens, b));
                    _mm512_mask_storeu_ps(
                        dst.add(d + self.stride),
                        store,
                        _mm512_permutex2var_ps(a, odds, b),
                    );
                }
            }
        }
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

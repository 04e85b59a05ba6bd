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
//!   [`blocks::Block`]): blocks of up to 16 output rows by 16 columns in registers across
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
//!
//! # Modules
//!
//! * This one: the choice of kernel ([`suits`], [`block_kernel_suits`]) and the work
//!   items ([`run`]), which fill the planes and run one of the kernels over them.
//! * [`planes`]: the band and plane geometry ([`planes::Layout`]) and the filling of the
//!   phase planes (portable, and AVX-512 with masked loads).
//! * [`blocks`]: the AVX-512 row-block kernel.
//! * [`rows`]: the pitched-run row kernels (AVX-512, AVX2 and portable).

use std::cell::RefCell;

use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::cpu::{SimdLevel, simd_level};
use crate::parallel::{SharedMut, for_each};
use crate::phase::copy_short;

#[cfg(target_arch = "x86_64")]
mod blocks;
mod planes;
mod rows;

use planes::{Layout, fill_planes};
use rows::row;

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
        let block = blocks::Block {
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

//! im2col: gathers the receptive fields of a tile of output positions into a matrix.
//!
//! For one batch element and one group, `col[r, j]` with `r = (c, ky, kx)` (channel-major,
//! as the weights `[M, C/g, kh, kw]` are) and `j` the `j`-th output position of the tile
//! is the input value under kernel tap `(ky, kx)` of that position, or 0 in the padding.
//! Rows are filled a run of output row at a time: the in-image part of a run is a
//! inline vector copy at stride 1 or a strided gather, the rest zeros.

use crate::conv::Conv2d;
use crate::cpu::{SimdLevel, simd_level};
use crate::phase::copy_short;

/// Fills `col` (`[C/g * kh * kw, len]`, row-major) for output positions `p0..p0 + len`
/// (flattened `oh * OW + ow`). `input` holds the group's `C/g` input planes.
///
/// Compiled for AVX-512 too (whole-cache-line moves), chosen at run time: at baseline
/// SSE2 the copies took a quarter of a 3x3 convolution's time.
pub(crate) fn im2col_tile(conv: &Conv2d, input: &[f32], p0: usize, len: usize, col: &mut [f32]) {
    match simd_level() {
        // SAFETY: the CPU has AVX-512F (run-time detection).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { im2col_avx512(conv, input, p0, len, col) },
        _ => im2col_generic(conv, input, p0, len, col),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn im2col_avx512(conv: &Conv2d, input: &[f32], p0: usize, len: usize, col: &mut [f32]) {
    im2col_generic(conv, input, p0, len, col);
}

#[inline(always)]
fn im2col_generic(conv: &Conv2d, input: &[f32], p0: usize, len: usize, col: &mut [f32]) {
    let [kh, kw] = conv.kernel;
    let (h, w) = (conv.in_h, conv.in_w);
    let ow_count = conv.out_w();
    let cg = conv.in_channels_per_group();
    debug_assert_eq!(col.len(), cg * kh * kw * len);
    for (r, row) in col.chunks_exact_mut(len).enumerate() {
        let kx = r % kw;
        let ky = (r / kw) % kh;
        let c = r / (kw * kh);
        let plane = &input[c * h * w..(c + 1) * h * w];
        let x_off = (kx * conv.dilations[1]) as isize - conv.pads[1] as isize;
        let y_off = (ky * conv.dilations[0]) as isize - conv.pads[0] as isize;
        let mut j = 0;
        while j < len {
            let p = p0 + j;
            let (oh, ow0) = (p / ow_count, p % ow_count);
            let run = (ow_count - ow0).min(len - j);
            let dst = &mut row[j..j + run];
            let ih = (oh * conv.strides[0]) as isize + y_off;
            if ih < 0 || ih >= h as isize {
                dst.fill(0.0);
            } else {
                let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                gather_run(src, dst, ow0, conv.strides[1], x_off);
            }
            j += run;
        }
    }
}

/// `dst[i] = src[(ow0 + i) * stride + x_off]`, or 0 where that index is outside `src`.
#[inline(always)]
fn gather_run(src: &[f32], dst: &mut [f32], ow0: usize, stride: usize, x_off: isize) {
    let w = src.len() as isize;
    let s = stride as isize;
    // First i whose source index is >= 0, and first i whose index is >= w.
    let first_in = |bound: isize| -> usize {
        let need = bound - x_off - (ow0 as isize) * s;
        if need <= 0 { 0 } else { (need as usize).div_ceil(stride) }
    };
    let lo = first_in(0).min(dst.len());
    let hi = first_in(w).min(dst.len()).max(lo);
    dst[..lo].fill(0.0);
    dst[hi..].fill(0.0);
    if hi > lo {
        let start = ((ow0 + lo) * stride) as isize + x_off;
        let start = start as usize;
        if stride == 1 {
            copy_short(&src[start..start + (hi - lo)], &mut dst[lo..hi]);
        } else {
            for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(stride)) {
                *d = *s;
            }
        }
    }
}

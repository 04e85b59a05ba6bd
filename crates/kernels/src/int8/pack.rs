//! Activation panels: rows of u8 activations interleaved by 4 (`[K / 4][N][4]`), taken
//! from a row-major matrix (1x1 convolution, GEMM) or from a u8 im2col whose padding is
//! the activation zero point.

use crate::conv::Conv2d;

/// Writes `dst[j][i] = rows[i][j]` for `j < len` (`0` for a missing row) and zeros for
/// `len <= j < dst.len() / 4`: one 4-row group of a panel.
pub(crate) fn interleave4(rows: [Option<&[u8]>; 4], len: usize, dst: &mut [u8]) {
    assert!(dst.len() >= 4 * len && dst.len().is_multiple_of(4));
    assert!(rows.iter().flatten().all(|r| r.len() >= len));
    let mut j = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SSE2 is part of x86-64: 16 pixels of 4 rows per step.
        while j + 16 <= len {
            // SAFETY: rows hold at least len >= j + 16 bytes, dst at least 4 len.
            unsafe {
                let load = |r: Option<&[u8]>| match r {
                    Some(r) => _mm_loadu_si128(r.as_ptr().add(j).cast()),
                    None => _mm_setzero_si128(),
                };
                let (r0, r1, r2, r3) = (load(rows[0]), load(rows[1]), load(rows[2]), load(rows[3]));
                let (lo01, hi01) = (_mm_unpacklo_epi8(r0, r1), _mm_unpackhi_epi8(r0, r1));
                let (lo23, hi23) = (_mm_unpacklo_epi8(r2, r3), _mm_unpackhi_epi8(r2, r3));
                let d = dst.as_mut_ptr().add(4 * j).cast::<__m128i>();
                _mm_storeu_si128(d, _mm_unpacklo_epi16(lo01, lo23));
                _mm_storeu_si128(d.add(1), _mm_unpackhi_epi16(lo01, lo23));
                _mm_storeu_si128(d.add(2), _mm_unpacklo_epi16(hi01, hi23));
                _mm_storeu_si128(d.add(3), _mm_unpackhi_epi16(hi01, hi23));
            }
            j += 16;
        }
    }
    for (jj, d) in dst[4 * j..4 * len].chunks_exact_mut(4).enumerate() {
        for (i, row) in rows.iter().enumerate() {
            d[i] = row.map_or(0, |r| r[j + jj]);
        }
    }
    dst[4 * len..].fill(0);
}

/// Fills `dst` (`len` bytes) with im2col row `r = (c, ky, kx)` of one batch element:
/// the input under tap `(ky, kx)` of output positions `p0 .. p0 + len` (flattened
/// `oh · OW + ow`), `pad` outside the image. `input` holds the element's channels.
pub(crate) fn im2col_row(
    conv: &Conv2d,
    input: &[u8],
    r: usize,
    p0: usize,
    pad: u8,
    dst: &mut [u8],
) {
    let [kh, kw] = conv.kernel;
    let (h, w) = (conv.in_h, conv.in_w);
    let ow_count = conv.out_w();
    let (kx, ky, c) = (r % kw, (r / kw) % kh, r / (kw * kh));
    let plane = &input[c * h * w..(c + 1) * h * w];
    let x_off = (kx * conv.dilations[1]) as isize - conv.pads[1] as isize;
    let y_off = (ky * conv.dilations[0]) as isize - conv.pads[0] as isize;
    let len = dst.len();
    let mut j = 0;
    while j < len {
        let p = p0 + j;
        let (oh, ow0) = (p / ow_count, p % ow_count);
        let run = (ow_count - ow0).min(len - j);
        let out = &mut dst[j..j + run];
        let ih = (oh * conv.strides[0]) as isize + y_off;
        if ih < 0 || ih >= h as isize {
            out.fill(pad);
        } else {
            let src = &plane[ih as usize * w..(ih as usize + 1) * w];
            gather_run(src, out, ow0, conv.strides[1], x_off, pad);
        }
        j += run;
    }
}

/// `dst[i] = src[(ow0 + i) · stride + x_off]`, or `pad` outside `src`.
#[inline(always)]
fn gather_run(src: &[u8], dst: &mut [u8], ow0: usize, stride: usize, x_off: isize, pad: u8) {
    let w = src.len() as isize;
    let s = stride as isize;
    let first_at_least = |bound: isize| -> usize {
        let need = bound - x_off - (ow0 as isize) * s;
        if need <= 0 { 0 } else { (need as usize).div_ceil(stride) }
    };
    let lo = first_at_least(0).min(dst.len());
    let hi = first_at_least(w).min(dst.len()).max(lo);
    dst[..lo].fill(pad);
    dst[hi..].fill(pad);
    if hi > lo {
        let start = (((ow0 + lo) * stride) as isize + x_off) as usize;
        if stride == 1 {
            dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
        } else {
            for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(stride)) {
                *d = *s;
            }
        }
    }
}

//! Input rows padded and split into stride phases, so that every tap of a strided window
//! reads a contiguous run.
//!
//! For horizontal stride `s`, a row is stored as `s` phases of `phase_len` elements:
//! `phase[r][j] = padded[j * s + r]`, where `padded` is the row with `pad_left` pad
//! values in front and pad values after. Output column `o` under tap offset `t`
//! (`t = kx * dilation`) reads `padded[o * s + t] = phase[t % s][o + t / s]`, so for fixed
//! `t` consecutive outputs read consecutive elements, whatever `s`, the padding or the
//! dilation. Used by the direct convolution (pad 0) and pooling (pad `-inf` or 0).

/// The layout of one padded, phase-split row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PhaseRows {
    w: usize,
    pad_left: usize,
    stride: usize,
    /// Elements of one phase: every read `o + t / s` for `o < out_w` rounded up to 16
    /// (whole vectors) stays inside.
    pub phase_len: usize,
}

impl PhaseRows {
    /// The layout for rows of width `w` read by `out_w` outputs at `stride` with taps up
    /// to offset `max_tap` (`(kw - 1) * dilation`).
    pub(crate) fn new(
        w: usize,
        pad_left: usize,
        stride: usize,
        out_w: usize,
        max_tap: usize,
    ) -> PhaseRows {
        PhaseRows { w, pad_left, stride, phase_len: out_w.next_multiple_of(16) + max_tap / stride }
    }

    /// Elements of one stored row (all phases).
    pub(crate) fn row_len(&self) -> usize {
        self.stride * self.phase_len
    }

    /// Offset inside a stored row of the run read by tap offset `tap`.
    pub(crate) fn tap_offset(&self, tap: usize) -> usize {
        (tap % self.stride) * self.phase_len + tap / self.stride
    }

    /// Stores `src` (one input row of `w` elements) into `dst` (`row_len` elements),
    /// padding with `pad`. `tmp` is scratch for strides above 1.
    #[inline(always)]
    pub(crate) fn fill(&self, src: &[f32], dst: &mut [f32], pad: f32, tmp: &mut Vec<f32>) {
        let (s, len) = (self.stride, self.phase_len);
        debug_assert_eq!(src.len(), self.w);
        let dst = &mut dst[..s * len];
        if s == 1 {
            pad_row(src, self.pad_left, dst, pad);
            return;
        }
        tmp.resize(s * len, 0.0);
        pad_row(src, self.pad_left, tmp, pad);
        if s == 2 {
            // An interleaved access pattern the compiler vectorises with shuffles.
            let (even, odd) = dst.split_at_mut(len);
            for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(tmp.chunks_exact(2)) {
                *e = pair[0];
                *o = pair[1];
            }
        } else {
            for (j, group) in tmp.chunks_exact(s).enumerate() {
                for (r, &v) in group.iter().enumerate() {
                    dst[r * len + j] = v;
                }
            }
        }
    }
}

/// `dst = [pad; pad_left] ++ src ++ [pad; ...]`, truncated to `dst.len()`.
#[inline(always)]
fn pad_row(src: &[f32], pad_left: usize, dst: &mut [f32], pad: f32) {
    let start = pad_left.min(dst.len());
    let end = (pad_left + src.len()).min(dst.len());
    dst[..start].fill(pad);
    copy_short(&src[..end - start], &mut dst[start..end]);
    dst[end..].fill(pad);
}

/// `dst.copy_from_slice(src)` for rows of a few to a few hundred elements, without a call
/// to `memmove` (whose start-up cost dominated at this size): whole 16-element chunks,
/// then one last chunk that overlaps the previous one; below 16 elements two overlapping
/// chunks of 8 or 4.
#[inline(always)]
pub(crate) fn copy_short(src: &[f32], dst: &mut [f32]) {
    let n = src.len();
    assert_eq!(n, dst.len());
    if n < 16 {
        if n >= 8 {
            copy_chunk::<8>(&src[..8], &mut dst[..8]);
            copy_chunk::<8>(&src[n - 8..], &mut dst[n - 8..]);
        } else if n >= 4 {
            copy_chunk::<4>(&src[..4], &mut dst[..4]);
            copy_chunk::<4>(&src[n - 4..], &mut dst[n - 4..]);
        } else {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
        }
        return;
    }
    for (d, s) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
        copy_chunk::<16>(s, d);
    }
    copy_chunk::<16>(&src[n - 16..], &mut dst[n - 16..]);
}

/// Copies exactly `N` elements as one array.
#[inline(always)]
fn copy_chunk<const N: usize>(src: &[f32], dst: &mut [f32]) {
    let s: &[f32; N] = src.try_into().unwrap();
    let d: &mut [f32; N] = dst.try_into().unwrap();
    *d = *s;
}

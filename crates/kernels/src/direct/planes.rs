//! The phase planes of the direct convolution (see [`super`] for their layout): the band
//! and plane geometry of one convolution ([`Layout`]), and the copy of a band's input
//! into its zero-padded, stride-phase-split planes ([`fill_planes`]). The copy is
//! compiled for AVX-512 and AVX2 besides the baseline; with AVX-512 and strides up to 2
//! it is written by hand ([`x86::PlaneFill`]): masked loads, so padding costs nothing
//! extra, and two permutes per 16 outputs to split stride 2.

use super::{ROW_BLOCK, block_kernel_suits};
use crate::conv::Conv2d;
use crate::cpu::SimdLevel;

/// Bytes of phase planes a work item aims for (inside L2, close to L1).
const BAND_BYTES: usize = 64 * 1024;

/// Bytes of phase planes a work item of the row-block kernel aims for (inside L2).
const BLOCK_BAND_BYTES: usize = 512 * 1024;

/// Bytes of one channel's pitched output a work item aims for (inside L1).
const OUT_BYTES: usize = 32 * 1024;

/// The band and plane geometry of one convolution.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    /// Elements of a plane row (and of a pitched output row): `ow + qx`.
    pub(super) pitch: usize,
    /// Plane rows a full band reads beyond its output rows: `(kh - 1) * dh / sh`.
    pub(super) qy: usize,
    /// Elements between consecutive planes (a full band's rows plus read-ahead slack).
    pub(super) plane_stride: usize,
    /// Output rows per band (the last band may be shorter) and the band count.
    pub(super) band: usize,
    pub(super) bands: usize,
    /// Offset of each tap `(c, ky, kx)` (in the weights' order) inside the planes.
    pub(super) offsets: Vec<usize>,
    /// Whether the row-block kernel runs (AVX-512, see [`super::blocks::Block`]) rather than the
    /// pitched-run one.
    pub(super) blocks: bool,
    /// For the row-block kernel: the offset of tap column `(c, kx)` in vertical phase
    /// `ry`, `[cg, kw, sh]` (plane start plus `kx * dw / sw`).
    pub(super) bases: Vec<usize>,
}

impl Layout {
    pub(super) fn new(conv: &Conv2d, threads: usize) -> Layout {
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

/// Fills the phase planes of the band starting at output row `oh0` (`rows` rows) from the
/// group's input channels `x` (`[cg, h, w]`), with the widest vectors available.
#[allow(clippy::too_many_arguments)]
pub(super) fn fill_planes(
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::direct::blocks::mask16;

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
}

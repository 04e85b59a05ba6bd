//! x86-64 micro-kernels: AVX-512 VNNI, AVX-VNNI and AVX2 GEMM tiles, and the AVX-512
//! VNNI depthwise row kernel.
//!
//! The GEMM tiles share the contract of `gemm::tile_kernel`: a row block of packed
//! weights `wb` (`[k4][MR][4]` i8) times a panel `a` (`[k4][..][4]` u8 at group stride
//! `stride`), `rows` rows and `cols` pixels stored through the epilogue. Every load
//! reads whole 16-pixel vectors: panels are zero-padded to a multiple of 16 pixels.

use std::arch::x86_64::*;

use super::epilogue::Epi;
use super::weights::MR;

/// The low `n` bits set (all 16 for `n >= 16`).
#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
}

/// AVX-512 VNNI tile: `MR` rows x up to 48 pixels in 24 zmm accumulators.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; the bounds asserted by `tile_kernel`; exclusive output.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_avx512vnni(
    wb: &[i8],
    k4: usize,
    a: &[u8],
    stride: usize,
    rows: usize,
    cols: usize,
    epi: &Epi,
    ch0: usize,
    out: usize,
    out_stride: usize,
) {
    // SAFETY: forwarded contract.
    unsafe {
        match cols.div_ceil(16) {
            1 => vnni512::<1>(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride),
            2 => vnni512::<2>(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride),
            _ => vnni512::<3>(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn vnni512<const V: usize>(
    wb: &[i8],
    k4: usize,
    a: &[u8],
    stride: usize,
    rows: usize,
    cols: usize,
    epi: &Epi,
    ch0: usize,
    out: usize,
    out_stride: usize,
) {
    assert!(wb.len() == k4 * MR * 4 && (k4 - 1) * stride + 64 * V <= a.len());
    assert!(rows <= MR && cols > 16 * (V - 1) && cols <= 16 * V);
    let mut acc = [[_mm512_setzero_si512(); V]; MR];
    let mut ap = a.as_ptr();
    let mut wp = wb.as_ptr().cast::<i32>();
    for _ in 0..k4 {
        // SAFETY: group g of the panel: V vectors of 64 bytes (asserted above); MR words
        // of the weights' group g.
        unsafe {
            let av: [__m512i; V] =
                std::array::from_fn(|v| _mm512_loadu_si512(ap.add(64 * v).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_epi32(wp.add(r).read_unaligned());
                for (s, &x) in acc.iter_mut().zip(&av) {
                    *s = _mm512_dpbusd_epi32(*s, x, w);
                }
            }
        }
        ap = ap.wrapping_add(stride);
        wp = wp.wrapping_add(MR);
    }
    // SAFETY: pixels 0 .. cols of rows 0 .. rows: the caller's.
    unsafe { epi.store_tile::<V>(&acc, rows, cols, ch0, out, out_stride) };
}

#[target_feature(enable = "avx2")]
#[inline]
fn dot_maddubs(acc: __m256i, a: __m256i, w: __m256i) -> __m256i {
    // u8 x i8 pairs into saturating i16: exact for |w| <= 63 (2 · 255 · 63 < 2^15).
    let pairs = _mm256_maddubs_epi16(a, w);
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn dot_avxvnni(acc: __m256i, a: __m256i, w: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, a, w)
}

/// An AVX2-width tile: halves of 4 rows x chunks of 16 pixels (8 ymm accumulators, few
/// enough for the 16 registers with `vpmaddubsw`'s temporaries), then the scalar
/// epilogue.
macro_rules! tile_256 {
    ($(#[$doc:meta])* $name:ident, $features:literal, $dot:ident) => {
        $(#[$doc])*
        /// # Safety
        /// The target features; the bounds asserted by `tile_kernel`; exclusive output.
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn $name(
            wb: &[i8],
            k4: usize,
            a: &[u8],
            stride: usize,
            rows: usize,
            cols: usize,
            epi: &Epi,
            ch0: usize,
            out: usize,
            out_stride: usize,
        ) {
            assert!(wb.len() == k4 * MR * 4 && rows <= MR);
            assert!((k4 - 1) * stride + 4 * cols.next_multiple_of(16) <= a.len());
            let mut buf = [[0i32; 16]; 4];
            for r0 in (0..rows).step_by(4) {
                for c0 in (0..cols).step_by(16) {
                    let mut acc = [[_mm256_setzero_si256(); 2]; 4];
                    let mut ap = a[4 * c0..].as_ptr();
                    let mut wp = wb[4 * r0..].as_ptr().cast::<i32>();
                    for _ in 0..k4 {
                        // SAFETY: 64 bytes of group g at pixel c0 (asserted); words r0 ..
                        // r0 + 4 of the weights' group g.
                        unsafe {
                            let a0 = _mm256_loadu_si256(ap.cast());
                            let a1 = _mm256_loadu_si256(ap.add(32).cast());
                            for (r, acc) in acc.iter_mut().enumerate() {
                                let w = _mm256_set1_epi32(wp.add(r).read_unaligned());
                                acc[0] = $dot(acc[0], a0, w);
                                acc[1] = $dot(acc[1], a1, w);
                            }
                        }
                        ap = ap.wrapping_add(stride);
                        wp = wp.wrapping_add(MR);
                    }
                    for (b, acc) in buf.iter_mut().zip(&acc) {
                        // SAFETY: 2 x 8 i32 into a 16-element array.
                        unsafe {
                            _mm256_storeu_si256(b.as_mut_ptr().cast(), acc[0]);
                            _mm256_storeu_si256(b.as_mut_ptr().add(8).cast(), acc[1]);
                        }
                    }
                    for (r, b) in buf.iter().enumerate().take(rows - r0) {
                        for (c, &v) in b.iter().enumerate().take(cols - c0) {
                            let at = out + (r0 + r) * out_stride + c0 + c;
                            // SAFETY: the caller's output.
                            unsafe { epi.store(ch0 + r0 + r, at, v) };
                        }
                    }
                }
            }
        }
    };
}

tile_256!(
    /// AVX2 tile (`vpmaddubsw` + `vpmaddwd`): 7-bit weights only.
    tile_avx2,
    "avx2",
    dot_maddubs
);
tile_256!(
    /// AVX-VNNI tile (256-bit `vpdpbusd`).
    tile_avxvnni,
    "avx2,avxvnni",
    dot_avxvnni
);

/// One output row of a depthwise convolution on a zero-point-padded plane.
pub(crate) struct DwRow<'a> {
    /// The padded plane, `wp` bytes per row.
    pub plane: &'a [u8],
    pub wp: usize,
    /// Plane row of tap row 0.
    pub row0: usize,
    pub kernel: [usize; 2],
    /// Dilations `[h, w]`.
    pub dil: [usize; 2],
    /// `w as u8 as i32` per tap (the weight in byte 0 of a 32-bit lane).
    pub taps: &'a [i32],
    /// Output columns.
    pub ow: usize,
}

/// Depthwise output row with AVX-512 VNNI, 64 columns (4 accumulators) at a time:
/// each column's input byte is zero-extended into its own 32-bit lane (stride 2: the
/// 16-bit zero extension of 32 bytes puts columns `2j` in byte 0 of lane `j`), and
/// `vpdpbusd` with the tap's weight in byte 0 multiplies and accumulates.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; `wp >= ow.next_multiple_of(64) · S + (kw − 1) · dil_w` and the
/// plane holds the tap rows; the output row `out .. out + ow` is the caller's.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn dw_row_avx512vnni<const S: usize>(
    row: &DwRow<'_>,
    epi: &Epi,
    ch: usize,
    out: usize,
) {
    let [kh, kw] = row.kernel;
    assert!(S == 1 || S == 2);
    assert!(row.wp >= row.ow.next_multiple_of(64) * S + (kw - 1) * row.dil[1]);
    assert!((row.row0 + (kh - 1) * row.dil[0] + 1) * row.wp <= row.plane.len());
    assert_eq!(row.taps.len(), kh * kw);
    let base = row.plane.as_ptr();
    for j0 in (0..row.ow).step_by(64) {
        let mut acc = [_mm512_setzero_si512(); 4];
        for ky in 0..kh {
            let line = (row.row0 + ky * row.dil[0]) * row.wp + j0 * S;
            for kx in 0..kw {
                let w = _mm512_set1_epi32(row.taps[ky * kw + kx]);
                let at = line + kx * row.dil[1];
                for (v, s) in acc.iter_mut().enumerate() {
                    // SAFETY: bytes at .. at + 16 S (+ 16 S v) are inside the plane row
                    // (asserted width).
                    let x = unsafe {
                        if S == 1 {
                            _mm512_cvtepu8_epi32(_mm_loadu_si128(base.add(at + 16 * v).cast()))
                        } else {
                            _mm512_cvtepu8_epi16(_mm256_loadu_si256(base.add(at + 32 * v).cast()))
                        }
                    };
                    *s = _mm512_dpbusd_epi32(*s, x, w);
                }
            }
        }
        for (v, &s) in acc.iter().enumerate() {
            let j = j0 + 16 * v;
            if j < row.ow {
                // SAFETY: columns j .. ow of the caller's output row.
                unsafe { epi.store16(ch, out + j, s, mask16(row.ow - j)) };
            }
        }
    }
}

/// Fills `dst` (a multiple of 16 lanes) with the quads of a padded plane row: lane `j`
/// holds the bytes at `S·j .. S·j + 4`, in the order `(0, 1, 2, 3)` for `S = 1` and
/// `(0, 2, 1, 3)` for `S = 2` (two 16-bit zero extensions, one shifted by a byte).
///
/// # Safety
/// AVX-512F/BW/VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn build_quads<const S: usize>(src: &[u8], dst: &mut [u32]) {
    assert!((S == 1 || S == 2) && dst.len().is_multiple_of(16));
    assert!(S * dst.len() + 3 <= src.len());
    let s = src.as_ptr();
    for j in (0..dst.len()).step_by(16) {
        // SAFETY: S = 1 reads bytes j .. j + 19, S = 2 bytes 2 j .. 2 j + 34, inside
        // src (asserted); writes 16 lanes of dst.
        unsafe {
            let q = if S == 1 {
                let b = |i: usize| _mm512_cvtepu8_epi32(_mm_loadu_si128(s.add(j + i).cast()));
                let lo = _mm512_or_si512(b(0), _mm512_slli_epi32::<8>(b(1)));
                let hi =
                    _mm512_or_si512(_mm512_slli_epi32::<16>(b(2)), _mm512_slli_epi32::<24>(b(3)));
                _mm512_or_si512(lo, hi)
            } else {
                let a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(s.add(2 * j).cast()));
                let b = _mm512_cvtepu8_epi16(_mm256_loadu_si256(s.add(2 * j + 2).cast()));
                _mm512_or_si512(a, _mm512_slli_epi32::<8>(b))
            };
            _mm512_storeu_si512(dst.as_mut_ptr().add(j).cast(), q);
        }
    }
}

/// One output row of a depthwise convolution (dilation 1 along the row) from quad rows
/// ([`build_quads`]): tap group `g` (taps `4g .. 4g + 4` of a kernel row, one 32-bit
/// weight word in the quads' byte order) of output column `o` is lane `o + 4g / S`, so
/// each kernel row costs `kw.div_ceil(4)` loads and `vpdpbusd` per 16 outputs.
/// `words` holds `[kh][kw.div_ceil(4)]` weight words; 64 columns per step.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; `quads` holds the tap rows `row0 + ky · dh` of `wq` lanes with
/// `wq >= ow.next_multiple_of(64) + 4 (groups − 1) / S`; the output row is the caller's.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dw_quad_row<const S: usize>(
    quads: &[u32],
    wq: usize,
    row0: usize,
    dh: usize,
    words: &[i32],
    kh: usize,
    ow: usize,
    epi: &Epi,
    ch: usize,
    out: usize,
) {
    let groups = words.len() / kh;
    assert!((S == 1 || S == 2) && words.len() == kh * groups && groups >= 1);
    assert!(wq >= ow.next_multiple_of(64) + 4 * (groups - 1) / S);
    assert!((row0 + (kh - 1) * dh + 1) * wq <= quads.len());
    let q = quads.as_ptr();
    for j0 in (0..ow).step_by(64) {
        let mut acc = [_mm512_setzero_si512(); 4];
        for ky in 0..kh {
            let line = (row0 + ky * dh) * wq + j0;
            for g in 0..groups {
                let w = _mm512_set1_epi32(words[ky * groups + g]);
                let at = line + 4 * g / S;
                for (v, s) in acc.iter_mut().enumerate() {
                    // SAFETY: lanes at + 16 v .. + 16 are inside the quad row (asserted).
                    let x = unsafe { _mm512_loadu_si512(q.add(at + 16 * v).cast()) };
                    *s = _mm512_dpbusd_epi32(*s, x, w);
                }
            }
        }
        for (v, &s) in acc.iter().enumerate() {
            let j = j0 + 16 * v;
            if j < ow {
                // SAFETY: columns j .. ow of the caller's output row.
                unsafe { epi.store16(ch, out + j, s, mask16(ow - j)) };
            }
        }
    }
}

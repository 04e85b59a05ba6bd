//! Direct int8 depthwise convolution (`groups == in_channels == out_channels`).
//!
//! Each work item (batch element, channel, band of output rows) copies the input rows
//! its band needs into a plane padded with the activation zero point (so that the
//! compensation `acc − za · Σw` also covers the border), then accumulates every output
//! row in i32 over the `kh × kw` window and finishes it through the epilogue. AVX-512
//! VNNI runs 64 output columns per step for strides 1 and 2; other strides and paths
//! run the portable row kernel (compiled for AVX2 on the AVX2 paths).

use super::Int8Path;
use super::epilogue::Epi;
use crate::conv::Conv2d;
use crate::parallel::for_each_item;

/// Runs the depthwise `conv` (checked by the caller) on `input` (`[N, C, H, W]` u8) with
/// `weights` `[C][kh · kw]`.
pub(crate) fn run(
    conv: &Conv2d,
    input: &[u8],
    za: u8,
    weights: &[i8],
    epi: &Epi,
    path: Int8Path,
    threads: usize,
) {
    let (c, h, w) = (conv.in_channels, conv.in_h, conv.in_w);
    let [kh, kw] = conv.kernel;
    let [sh, sw] = conv.strides;
    let [dh, dw] = conv.dilations;
    let (oh, ow) = (conv.out_h(), conv.out_w());
    let (pt, pl) = (conv.pads[0], conv.pads[1]);
    let planes = conv.batch * c;
    let mut bands = 1;
    if threads > 1 && planes < 4 * threads {
        bands = (4 * threads).div_ceil(planes).min(oh);
    }
    let band = oh.div_ceil(bands);
    let bands = oh.div_ceil(band);
    let vector = path == Int8Path::Avx512Vnni && (sw == 1 || sw == 2);
    // Dilation 1 along rows: the quad kernel (4 taps per `vpdpbusd`).
    let quad = vector && dw == 1;
    let groups = kw.div_ceil(4);
    let wq = if quad {
        (ow.next_multiple_of(64) + 4 * (groups - 1) / sw).next_multiple_of(16)
    } else {
        0
    };
    // Room for whole 64-column steps of the vector kernel, and for the quads.
    let wp = (pl + w).max(ow.next_multiple_of(64) * sw + (kw - 1) * dw).max(wq * sw + 4);
    let band_rows = (band - 1) * sh + (kh - 1) * dh + 1;
    let workers = crate::parallel::workers_for(threads, planes * bands);
    let mut states: Vec<(Vec<u8>, Vec<i32>, Vec<u32>)> = (0..workers)
        .map(|_| (vec![0u8; band_rows * wp], vec![0i32; ow], vec![0u32; band_rows * wq]))
        .collect();
    for_each_item(&mut states, planes * bands, |item, (plane, acc, quads)| {
        let (pc, bi) = (item / bands, item % bands);
        let ch = pc % c;
        let (oh0, oh1) = (bi * band, ((bi + 1) * band).min(oh));
        let rows = (oh1 - oh0 - 1) * sh + (kh - 1) * dh + 1;
        let src = &input[pc * h * w..(pc + 1) * h * w];
        let first = (oh0 * sh) as isize - pt as isize;
        for (i, line) in plane[..rows * wp].chunks_exact_mut(wp).enumerate() {
            let ih = first + i as isize;
            line.fill(za);
            if (0..h as isize).contains(&ih) {
                let ih = ih as usize;
                line[pl..pl + w].copy_from_slice(&src[ih * w..(ih + 1) * w]);
            }
        }
        let wt = &weights[ch * kh * kw..(ch + 1) * kh * kw];
        let taps: Vec<i32> = wt.iter().map(|&v| v as u8 as i32).collect();
        if quad {
            let quads = &mut quads[..rows * wq];
            let words = quad_words(wt, kh, kw, sw);
            build_quad_rows(&plane[..rows * wp], wp, quads, wq, sw);
            for y in oh0..oh1 {
                let (row0, out) = ((y - oh0) * sh, (pc * oh + y) * ow);
                // Output row y of plane pc belongs to this item only.
                quad_row(quads, wq, row0, dh, &words, kh, ow, sw, epi, ch, out);
            }
            return;
        }
        for y in oh0..oh1 {
            let row0 = (y - oh0) * sh;
            let out = (pc * oh + y) * ow;
            // Output row y of plane pc belongs to this item only (items differ in plane
            // or band of rows).
            if vector {
                let plane = &plane[..rows * wp];
                let taps = &taps;
                let row = VectorRow { plane, wp, row0, kernel: [kh, kw], dil: [dh, dw], taps, ow };
                vector_row(&row, sw, epi, ch, out);
                continue;
            }
            let args = RowArgs {
                plane: &plane[..rows * wp],
                wp,
                row0,
                kernel: [kh, kw],
                dil: [dh, dw],
                sw,
                wt,
            };
            match path {
                // SAFETY: AVX2 available (resolved path).
                #[cfg(target_arch = "x86_64")]
                Int8Path::Avx2 | Int8Path::AvxVnni | Int8Path::Avx512Vnni => unsafe {
                    row_avx2(&args, acc)
                },
                _ => row_generic(&args, acc),
            }
            for (j, &v) in acc.iter().enumerate() {
                // SAFETY: as above.
                unsafe { epi.store(ch, out + j, v) };
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
use super::x86::DwRow as VectorRow;

#[cfg(target_arch = "x86_64")]
fn vector_row(row: &VectorRow<'_>, sw: usize, epi: &Epi, ch: usize, out: usize) {
    // SAFETY: AVX-512 VNNI is available (resolved path); the plane is
    // `ow.next_multiple_of(64) * sw + (kw - 1) * dw` wide (see `run`); the output row is
    // the caller's.
    unsafe {
        if sw == 1 {
            super::x86::dw_row_avx512vnni::<1>(row, epi, ch, out)
        } else {
            super::x86::dw_row_avx512vnni::<2>(row, epi, ch, out)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
struct VectorRow<'a> {
    plane: &'a [u8],
    wp: usize,
    row0: usize,
    kernel: [usize; 2],
    dil: [usize; 2],
    taps: &'a [i32],
    ow: usize,
}

#[cfg(not(target_arch = "x86_64"))]
fn vector_row(_: &VectorRow<'_>, _: usize, _: &Epi, _: usize, _: usize) {
    unreachable!("the AVX-512 path exists on x86-64 only")
}

/// The weight words of the quad kernel, `[kh][kw.div_ceil(4)]`: taps `4g .. 4g + 4` of a
/// kernel row (0 past `kw`) in the quads' byte order (stride 2: `(0, 2, 1, 3)`).
fn quad_words(wt: &[i8], kh: usize, kw: usize, sw: usize) -> Vec<i32> {
    let order: [usize; 4] = if sw == 2 { [0, 2, 1, 3] } else { [0, 1, 2, 3] };
    let mut words = Vec::with_capacity(kh * kw.div_ceil(4));
    for ky in 0..kh {
        for g in 0..kw.div_ceil(4) {
            let tap = |i: usize| {
                let kx = 4 * g + order[i];
                if kx < kw { wt[ky * kw + kx] as u8 } else { 0 }
            };
            words.push(i32::from_le_bytes([tap(0), tap(1), tap(2), tap(3)]));
        }
    }
    words
}

#[cfg(target_arch = "x86_64")]
fn build_quad_rows(plane: &[u8], wp: usize, quads: &mut [u32], wq: usize, sw: usize) {
    for (src, dst) in plane.chunks_exact(wp).zip(quads.chunks_exact_mut(wq)) {
        // SAFETY: AVX-512 VNNI path (resolved), so AVX-512F/BW/VL; wp >= wq * sw + 4.
        unsafe {
            if sw == 1 {
                super::x86::build_quads::<1>(src, dst)
            } else {
                super::x86::build_quads::<2>(src, dst)
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn quad_row(
    quads: &[u32],
    wq: usize,
    row0: usize,
    dh: usize,
    words: &[i32],
    kh: usize,
    ow: usize,
    sw: usize,
    epi: &Epi,
    ch: usize,
    out: usize,
) {
    // SAFETY: AVX-512 VNNI (resolved path); wq >= ow.next_multiple_of(64) + 4 (groups
    // - 1) / sw (see `run`); the output row is the caller's.
    unsafe {
        if sw == 1 {
            super::x86::dw_quad_row::<1>(quads, wq, row0, dh, words, kh, ow, epi, ch, out)
        } else {
            super::x86::dw_quad_row::<2>(quads, wq, row0, dh, words, kh, ow, epi, ch, out)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn build_quad_rows(_: &[u8], _: usize, _: &mut [u32], _: usize, _: usize) {
    unreachable!("the AVX-512 path exists on x86-64 only")
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
fn quad_row(
    _: &[u32],
    _: usize,
    _: usize,
    _: usize,
    _: &[i32],
    _: usize,
    _: usize,
    _: usize,
    _: &Epi,
    _: usize,
    _: usize,
) {
    unreachable!("the AVX-512 path exists on x86-64 only")
}

/// One output row for the portable kernel.
struct RowArgs<'a> {
    plane: &'a [u8],
    wp: usize,
    row0: usize,
    kernel: [usize; 2],
    dil: [usize; 2],
    sw: usize,
    wt: &'a [i8],
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_avx2(args: &RowArgs<'_>, acc: &mut [i32]) {
    row_generic(args, acc);
}

/// `acc[j] = Σ_taps plane[row, j · sw + kx · dw] · w` (plain loops the compiler
/// vectorises for stride 1).
#[inline(always)]
fn row_generic(args: &RowArgs<'_>, acc: &mut [i32]) {
    let [kh, kw] = args.kernel;
    let ow = acc.len();
    acc.fill(0);
    for ky in 0..kh {
        let line = (args.row0 + ky * args.dil[0]) * args.wp;
        for kx in 0..kw {
            let w = args.wt[ky * kw + kx] as i32;
            let start = line + kx * args.dil[1];
            let src = &args.plane[start..start + (ow - 1) * args.sw + 1];
            if args.sw == 1 {
                for (a, &x) in acc.iter_mut().zip(src) {
                    *a += x as i32 * w;
                }
            } else {
                for (a, &x) in acc.iter_mut().zip(src.iter().step_by(args.sw)) {
                    *a += x as i32 * w;
                }
            }
        }
    }
}

//! The int8 GEMM driver `W_i8[M, K] × A_u8[K, P] → [M, P]` with the fused epilogue, the
//! portable micro-kernel and [`gemm_u8i8`].
//!
//! Work items are (batch element, tile of pixels, range of row blocks). A tile is as many
//! pixels as keep its packed activations (`K × tile` bytes) within [`TILE_BYTES`] of L2;
//! each item packs its tile (unless its worker just packed the same one), then runs every
//! row block of its range over the whole tile in panels of [`PANEL`] pixels, so each
//! output row is written in long runs.

use std::cell::RefCell;

use super::epilogue::Epi;
use super::pack::{im2col_row, interleave4};
use super::weights::{MR, PackedInt8Weights};
use super::{InputQuant, Int8Output, Int8Path};
use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::error::{Result, checked_product, ensure_len};
use crate::parallel::{for_each_item, workers_for};

/// 16-pixel vectors per panel of the AVX-512 micro-kernel.
pub(crate) const NV: usize = 3;
/// Pixels per micro-kernel panel.
pub(crate) const PANEL: usize = 16 * NV;
/// Bytes of packed activations per tile (a quarter of Zen 5's 1 MiB L2).
const TILE_BYTES: usize = 256 * 1024;

/// Where the `[K, P]` activations of each batch element come from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Row-major `[batch][K][P]` (a plain matrix or an NCHW input read by a 1x1 conv).
    Rows(&'a [u8]),
    /// im2col of an NCHW input, `pad` (the activation zero point) outside the image.
    Im2col { conv: &'a Conv2d, input: &'a [u8], pad: u8 },
}

thread_local! {
    /// Panel scratch reused across calls on the same thread (no per-call page faults).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `out[b] = epilogue(W × A[b])` for `batch` elements of `p` pixels each; the output of
/// element `b`, channel `m`, pixel `j` is element `(b · M + m) · p + j`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn drive(
    w: &PackedInt8Weights,
    batch: usize,
    p: usize,
    src: Source<'_>,
    epi: &Epi,
    path: Int8Path,
    threads: usize,
) -> Result<()> {
    let (m, k, k4) = (w.rows(), w.depth(), w.groups4());
    if batch == 0 || p == 0 {
        return Ok(());
    }
    let target = (TILE_BYTES / (4 * k4)).clamp(PANEL, 8192) / PANEL * PANEL;
    let mut tiles = p.div_ceil(target);
    if threads > 1 {
        tiles = tiles.max((4 * threads).div_ceil(batch).min(p / PANEL));
    }
    let tile = p.div_ceil(tiles).next_multiple_of(16).min(p);
    let tiles = p.div_ceil(tile);
    let tpad = tile.next_multiple_of(16);
    let blocks = m.div_ceil(MR);
    let want = if threads > 1 { 4 * threads } else { 1 };
    let mparts = want.div_ceil(batch * tiles).clamp(1, blocks);
    let per_part = blocks.div_ceil(mparts);
    let mparts = blocks.div_ceil(per_part);
    let items = batch * tiles * mparts;
    let workers = workers_for(threads, items);
    let tmp_len = if matches!(src, Source::Im2col { .. }) { 4 * tile } else { 0 };
    let per_worker = checked_product("int8: panel", &[4 * k4, tpad])? + tmp_len;
    let total = checked_product("int8: scratch", &[per_worker, workers])?;
    let run = |scratch: &mut Vec<u8>| {
        if scratch.len() < total {
            scratch.resize(total, 0);
        }
        let mut states: Vec<(&mut [u8], Option<usize>)> =
            scratch[..total].chunks_mut(per_worker).map(|c| (c, None)).collect();
        for_each_item(&mut states, items, |item, (buf, last)| {
            let part = item % mparts;
            let key = item / mparts;
            let (b, t) = (key / tiles, key % tiles);
            let p0 = t * tile;
            let len = tile.min(p - p0);
            let lpad = len.next_multiple_of(16);
            let (panel, tmp) = buf.split_at_mut(4 * k4 * tpad);
            let panel = &mut panel[..4 * k4 * lpad];
            if *last != Some(key) {
                fill_panel(src, b, k, p, p0, len, panel, tmp);
                *last = Some(key);
            }
            let b0 = part * per_part;
            for block in b0..(b0 + per_part).min(blocks) {
                let m0 = block * MR;
                let rows = MR.min(m - m0);
                let wb = w.block(block);
                for q0 in (0..len).step_by(PANEL) {
                    let cols = PANEL.min(len - q0);
                    let out = (b * m + m0) * p + p0 + q0;
                    // SAFETY: the tile writes pixels p0 + q0 .. + cols of rows m0 ..
                    // m0 + rows of batch element b: items differ in batch element, pixel
                    // tile or row-block range, so no other item writes them.
                    unsafe {
                        tile_kernel(
                            path,
                            wb,
                            k4,
                            &panel[4 * q0..],
                            4 * lpad,
                            rows,
                            cols,
                            epi,
                            m0,
                            out,
                            p,
                        )
                    };
                }
            }
        });
    };
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => run(&mut s),
        // Re-entered from a rayon worker that stole work inside a call: fresh buffer.
        Err(_) => run(&mut Vec::new()),
    });
    Ok(())
}

/// Packs pixels `p0 .. p0 + len` of batch element `b` into `panel` (`[K / 4][lpad][4]`).
#[allow(clippy::too_many_arguments)]
fn fill_panel(
    src: Source<'_>,
    b: usize,
    k: usize,
    p: usize,
    p0: usize,
    len: usize,
    panel: &mut [u8],
    tmp: &mut [u8],
) {
    let group_len = panel.len() / k.div_ceil(4);
    for (g, dst) in panel.chunks_exact_mut(group_len).enumerate() {
        let n = 4.min(k - 4 * g);
        match src {
            Source::Rows(a) => {
                let row = |i: usize| {
                    let at = (b * k + 4 * g + i) * p + p0;
                    (i < n).then(|| &a[at..at + len])
                };
                interleave4([row(0), row(1), row(2), row(3)], len, dst);
            }
            Source::Im2col { conv, input, pad } => {
                let plane = conv.in_channels * conv.in_h * conv.in_w;
                let x = &input[b * plane..(b + 1) * plane];
                for (i, t) in tmp[..4 * len].chunks_exact_mut(len).enumerate().take(n) {
                    im2col_row(conv, x, 4 * g + i, p0, pad, t);
                }
                let row = |i: usize| (i < n).then(|| &tmp[i * len..(i + 1) * len]);
                interleave4([row(0), row(1), row(2), row(3)], len, dst);
            }
        }
    }
}

/// One row block (`rows <= MR` of the packed block `wb`) times `cols <= PANEL` pixels of
/// the panel `a` (group stride `stride` bytes), finished into the output at `out` (row
/// stride `out_stride`) as channels `ch0 ..`.
///
/// # Safety
/// The output elements written must belong to the caller alone.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_kernel(
    path: Int8Path,
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
    assert!(wb.len() == k4 * MR * 4 && (1..=MR).contains(&rows) && (1..=PANEL).contains(&cols));
    assert!((k4 - 1) * stride + 4 * cols.next_multiple_of(16) <= a.len());
    // SAFETY: the paths were checked available (Int8Path::resolve); bounds asserted
    // above; output exclusivity is the caller's promise.
    unsafe {
        match path {
            #[cfg(target_arch = "x86_64")]
            Int8Path::Avx512Vnni => super::x86::tile_avx512vnni(
                wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride,
            ),
            #[cfg(target_arch = "x86_64")]
            Int8Path::AvxVnni => {
                super::x86::tile_avxvnni(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride)
            }
            #[cfg(target_arch = "x86_64")]
            Int8Path::Avx2 => {
                super::x86::tile_avx2(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride)
            }
            _ => tile_scalar(wb, k4, a, stride, rows, cols, epi, ch0, out, out_stride),
        }
    }
}

/// The portable micro-kernel (same contract as [`tile_kernel`]).
#[allow(clippy::too_many_arguments)]
unsafe fn tile_scalar(
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
    let mut acc = [[0i32; PANEL]; MR];
    for g in 0..k4 {
        let ag = &a[g * stride..g * stride + 4 * cols];
        let wg = &wb[g * MR * 4..(g + 1) * MR * 4];
        for (acc, w) in acc.iter_mut().zip(wg.chunks_exact(4)).take(rows) {
            for (s, x) in acc.iter_mut().zip(ag.chunks_exact(4)) {
                *s += (0..4).map(|i| x[i] as i32 * w[i] as i32).sum::<i32>();
            }
        }
    }
    for (r, acc) in acc.iter().enumerate().take(rows) {
        for (c, &v) in acc.iter().enumerate().take(cols) {
            // SAFETY: the caller's promise.
            unsafe { epi.store(ch0 + r, out + r * out_stride + c, v) };
        }
    }
}

/// `output = epilogue(W × A)`: `A` is `[K, n]` row-major uint8, quantized by `input`;
/// the output `[M, n]` is stored as [`Int8Output`] says, after the activation. `path`
/// forces an ISA path (`None`: the best for these weights).
#[allow(clippy::too_many_arguments)]
pub fn gemm_u8i8(
    weights: &PackedInt8Weights,
    a: &[u8],
    n: usize,
    input: InputQuant,
    activation: Activation,
    output: Int8Output<'_>,
    path: Option<Int8Path>,
    threads: usize,
) -> Result<()> {
    let path = Int8Path::resolve(path, weights.levels())?;
    let (m, k) = (weights.rows(), weights.depth());
    ensure_len("int8 GEMM: A", a.len(), checked_product("int8 GEMM: A", &[k, n])?)?;
    let epi = Epi::new(weights, input, activation, output, checked_product("int8 GEMM", &[m, n])?)?;
    drive(weights, 1, n, Source::Rows(&a[..k * n]), &epi, path, threads)
}

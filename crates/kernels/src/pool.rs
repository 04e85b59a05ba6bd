//! 2-D pooling, NCHW: `MaxPool`, `AveragePool` and their global forms.
//!
//! Windowed pools work a row at a time on padded, phase-split input rows
//! (`phase.rs`, padded with the reduction's identity): for each output row and each
//! kernel tap whose input row is inside the image, the whole output row is combined with a
//! contiguous run, a loop the compiler vectorises whatever the stride. Window validity is
//! separable, so average-pool divisors are `rows_counted(oh) * cols_counted(ow)`.
//!
//! Conventions (ONNX / PyTorch): pads count as `-inf` for max and are excluded from the
//! average unless `count_include_pad`, which counts pad positions inside
//! `[-pad_begin, size + pad_end)` but not the extra positions `ceil_mode` adds past the end
//! padding. With `ceil_mode`, a last window that would start in the end padding is dropped.
//! A max window with no tap in the image gives `-inf`; such an average gives 0.

use crate::error::{Result, checked_product, ensure, ensure_len};
use crate::parallel::{SharedMut, for_each, for_each_item, workers_for};
use crate::phase::PhaseRows;

/// The shape of a 2-D pooling: input `[batch, channels, in_h, in_w]`, output
/// `[batch, channels, out_h, out_w]`. Pairs are `[height, width]`; `pads` is
/// `[top, left, bottom, right]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// N.
    pub batch: usize,
    /// C.
    pub channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[stride_h, stride_w]`.
    pub strides: [usize; 2],
    /// `[dilation_h, dilation_w]`.
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

impl Pool2d {
    /// A pooling of an NCHW input of shape `input` with a `[kh, kw]` window; strides and
    /// dilations 1, no padding, floor mode.
    pub fn new(input: [usize; 4], kernel: [usize; 2]) -> Pool2d {
        let [batch, channels, in_h, in_w] = input;
        Pool2d {
            batch,
            channels,
            in_h,
            in_w,
            kernel,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            ceil_mode: false,
        }
    }

    /// Sets the strides `[h, w]`.
    pub fn with_strides(mut self, strides: [usize; 2]) -> Pool2d {
        self.strides = strides;
        self
    }

    /// Sets the dilations `[h, w]`.
    pub fn with_dilations(mut self, dilations: [usize; 2]) -> Pool2d {
        self.dilations = dilations;
        self
    }

    /// Sets the pads `[top, left, bottom, right]`.
    pub fn with_pads(mut self, pads: [usize; 4]) -> Pool2d {
        self.pads = pads;
        self
    }

    /// Sets `ceil_mode`.
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Pool2d {
        self.ceil_mode = ceil_mode;
        self
    }

    fn out_size(&self, axis: usize) -> usize {
        let (size, begin, end) =
            ([self.in_h, self.in_w][axis], self.pads[axis], self.pads[axis + 2]);
        let (k, d, s) = (self.kernel[axis], self.dilations[axis], self.strides[axis]);
        if k == 0 || d == 0 || s == 0 {
            return 0;
        }
        let span = d.saturating_mul(k - 1).saturating_add(1);
        let Some(rest) = (size + begin + end).checked_sub(span) else { return 0 };
        let mut out = if self.ceil_mode { rest.div_ceil(s) + 1 } else { rest / s + 1 };
        if self.ceil_mode && (out - 1) * s >= size + begin {
            out -= 1;
        }
        out
    }

    /// Output height (0 if the geometry is invalid).
    pub fn out_h(&self) -> usize {
        self.out_size(0)
    }

    /// Output width (0 if the geometry is invalid).
    pub fn out_w(&self) -> usize {
        self.out_size(1)
    }

    /// `[batch, channels, out_h, out_w]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.out_h(), self.out_w()]
    }

    /// Checks the geometry: nonzero kernel, strides and dilations, a window that fits the
    /// padded input, and sizes that fit `usize`.
    pub fn validate(&self) -> Result<()> {
        ensure(
            self.kernel.iter().chain(&self.strides).chain(&self.dilations).all(|&v| v >= 1),
            || {
                format!(
                    "Pool: kernel {:?}, strides {:?} and dilations {:?} must be at least 1",
                    self.kernel, self.strides, self.dilations
                )
            },
        )?;
        ensure(self.out_h() >= 1 && self.out_w() >= 1, || {
            format!(
                "Pool: window {:?} does not fit the padded input {}x{}",
                self.kernel, self.in_h, self.in_w
            )
        })?;
        checked_product("Pool: input", &[self.batch, self.channels, self.in_h, self.in_w])?;
        checked_product("Pool: output", &self.output_shape())?;
        Ok(())
    }

    fn check_buffers(&self, input: &[f32], output: &[f32]) -> Result<()> {
        self.validate()?;
        ensure_len("Pool: input", input.len(), self.batch * self.channels * self.in_h * self.in_w)?;
        ensure_len("Pool: output", output.len(), self.output_shape().iter().product())
    }

    /// For output index `o` along `axis`, the taps `t` whose position
    /// `o * s + t * d - pad_begin` lies in `[lo, hi)` (positions may be negative).
    fn tap_count(&self, axis: usize, o: usize, lo: isize, hi: isize) -> usize {
        let (k, d, s, begin) =
            (self.kernel[axis], self.dilations[axis], self.strides[axis], self.pads[axis]);
        (0..k)
            .filter(|&t| {
                let pos = (o * s + t * d) as isize - begin as isize;
                pos >= lo && pos < hi
            })
            .count()
    }
}

/// How a windowed pool combines one run of inputs into a run of outputs.
#[derive(Clone, Copy)]
enum Reduce {
    Max,
    Sum,
}

/// Per-worker scratch of the windowed pools.
#[derive(Default)]
struct Scratch {
    plane: Vec<f32>,
    tmp: Vec<f32>,
}

/// Stores the plane's rows padded with the identity of `reduce` and phase-split
/// ([`crate::phase`]), then for every output row and in-image kernel row combines each
/// tap's contiguous run into the output row. `out` must hold the identity already.
fn pool_plane(p: &Pool2d, reduce: Reduce, x: &[f32], out: &mut [f32], s: &mut Scratch) {
    let (h, w, ow) = (p.in_h, p.in_w, p.out_w());
    let rows = PhaseRows::new(w, p.pads[1], p.strides[1], ow, (p.kernel[1] - 1) * p.dilations[1]);
    let pad = match reduce {
        Reduce::Max => f32::NEG_INFINITY,
        Reduce::Sum => 0.0,
    };
    s.plane.resize(h * rows.row_len(), 0.0);
    for (src, stored) in x.chunks_exact(w).zip(s.plane.chunks_exact_mut(rows.row_len())) {
        rows.fill(src, stored, pad, &mut s.tmp);
    }
    for (oh, row) in out.chunks_exact_mut(ow).enumerate() {
        for ky in 0..p.kernel[0] {
            let ih = (oh * p.strides[0] + ky * p.dilations[0]) as isize - p.pads[0] as isize;
            if ih < 0 || ih >= h as isize {
                continue;
            }
            let stored = &s.plane[ih as usize * rows.row_len()..][..rows.row_len()];
            for kx in 0..p.kernel[1] {
                let run = &stored[rows.tap_offset(kx * p.dilations[1])..][..ow];
                match reduce {
                    Reduce::Max => row.iter_mut().zip(run).for_each(|(d, v)| *d = d.max(*v)),
                    Reduce::Sum => row.iter_mut().zip(run).for_each(|(d, v)| *d += v),
                }
            }
        }
    }
}

/// Runs `plane(i, dst, scratch)` for every input plane on up to `threads` workers.
fn for_each_plane<F>(p: &Pool2d, output: &mut [f32], threads: usize, plane: F)
where
    F: Fn(usize, &mut [f32], &mut Scratch) + Sync,
{
    let planes = p.batch * p.channels;
    let out_plane = p.out_h() * p.out_w();
    let out = SharedMut::new(output);
    let mut states: Vec<Scratch> =
        (0..workers_for(threads, planes)).map(|_| Scratch::default()).collect();
    for_each_item(&mut states, planes, |i, s| {
        // SAFETY: one output plane per item.
        plane(i, unsafe { out.slice(i * out_plane, out_plane) }, s);
    });
}

/// ONNX `MaxPool` (values only) on up to `threads` threads.
pub fn max_pool2d(p: &Pool2d, input: &[f32], output: &mut [f32], threads: usize) -> Result<()> {
    p.check_buffers(input, output)?;
    let in_plane = p.in_h * p.in_w;
    for_each_plane(p, output, threads, |i, dst, s| {
        dst.fill(f32::NEG_INFINITY);
        pool_plane(p, Reduce::Max, &input[i * in_plane..(i + 1) * in_plane], dst, s);
    });
    Ok(())
}

/// ONNX `AveragePool` on up to `threads` threads; see the module docs for what
/// `count_include_pad` counts.
pub fn avg_pool2d(
    p: &Pool2d,
    count_include_pad: bool,
    input: &[f32],
    output: &mut [f32],
    threads: usize,
) -> Result<()> {
    p.check_buffers(input, output)?;
    let in_plane = p.in_h * p.in_w;
    let counts = |axis: usize, size: usize, outs: usize| -> Vec<f32> {
        let (lo, hi) = if count_include_pad {
            (-(p.pads[axis] as isize), (size + p.pads[axis + 2]) as isize)
        } else {
            (0, size as isize)
        };
        (0..outs).map(|o| p.tap_count(axis, o, lo, hi) as f32).collect()
    };
    let rows = counts(0, p.in_h, p.out_h());
    let cols = counts(1, p.in_w, p.out_w());
    for_each_plane(p, output, threads, |i, dst, s| {
        dst.fill(0.0);
        pool_plane(p, Reduce::Sum, &input[i * in_plane..(i + 1) * in_plane], dst, s);
        for (row, &rc) in dst.chunks_exact_mut(p.out_w()).zip(&rows) {
            for (v, &cc) in row.iter_mut().zip(&cols) {
                let n = rc * cc;
                *v = if n > 0.0 { *v / n } else { 0.0 };
            }
        }
    });
    Ok(())
}

/// ONNX `GlobalAveragePool`: `output[i]` = mean of `input[i * plane_len..][..plane_len]`
/// for each of the `planes` (= N * C) planes.
pub fn global_avg_pool(
    planes: usize,
    plane_len: usize,
    input: &[f32],
    output: &mut [f32],
    threads: usize,
) -> Result<()> {
    global(planes, plane_len, input, output, threads, |x| sum(x) / x.len() as f32)
}

/// ONNX `GlobalMaxPool`: `output[i]` = max of plane `i`.
pub fn global_max_pool(
    planes: usize,
    plane_len: usize,
    input: &[f32],
    output: &mut [f32],
    threads: usize,
) -> Result<()> {
    global(planes, plane_len, input, output, threads, max)
}

fn global(
    planes: usize,
    plane_len: usize,
    input: &[f32],
    output: &mut [f32],
    threads: usize,
    reduce: impl Fn(&[f32]) -> f32 + Sync,
) -> Result<()> {
    ensure(plane_len >= 1, || "GlobalPool: empty planes".into())?;
    ensure_len(
        "GlobalPool: input",
        input.len(),
        checked_product("GlobalPool: input", &[planes, plane_len])?,
    )?;
    ensure_len("GlobalPool: output", output.len(), planes)?;
    // Planes per work item: enough to make an item worth a thread hand-off.
    let chunk = (65536 / plane_len).clamp(1, planes.max(1));
    let out = SharedMut::new(output);
    for_each(threads, planes.div_ceil(chunk), |c| {
        let first = c * chunk;
        let count = chunk.min(planes - first);
        // SAFETY: items write disjoint ranges of output.
        let dst = unsafe { out.slice(first, count) };
        for (i, v) in dst.iter_mut().enumerate() {
            *v = reduce(&input[(first + i) * plane_len..][..plane_len]);
        }
    });
    Ok(())
}

/// Sum with 16 independent accumulators, so the compiler can vectorise it (a single
/// accumulator is a serial dependency it may not reorder).
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Max with 16 independent accumulators (see [`sum`]).
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for i in 0..16 {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter().fold(tail, |a, &b| a.max(b))
}

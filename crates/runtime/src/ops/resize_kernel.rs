//! The kernels of Resize and Upsample: combine the per-axis taps planned in `resize.rs`.
//!
//! Axes the taps leave alone are skipped. Nearest resizing of the last two axes (the
//! common NCHW case) is one gather pass that copies repeated rows and, for integer
//! enlargement factors, fills runs of equal values. Everything else is separable: one
//! 1-d pass per resized axis, through scratch buffers, the most shrinking axis first.

use dlopt_graph::{GraphError, Result};

use super::data_movement::{copy_slice, for_each_chunk, typed_input, typed_output, worth_parallel};
use super::resize::AxisTaps;
use crate::op::RunContext;
use crate::view::{TensorView, TensorViewMut};

/// One 1-d pass: `[outer, taps.input, inner] -> [outer, taps.output, inner]`.
#[derive(Clone, Debug)]
struct Pass {
    outer: usize,
    inner: usize,
    taps: AxisTaps,
}

impl Pass {
    fn input_len(&self) -> usize {
        self.outer * self.taps.input * self.inner
    }

    fn output_len(&self) -> usize {
        self.outer * self.taps.output * self.inner
    }
}

/// Nearest resizing of the last two axes: planes of `rows` x `cols` input.
#[derive(Clone, Debug)]
struct NearestPlanes {
    rows: usize,
    cols: usize,
    /// Input row of each output row.
    row_of: Vec<usize>,
    /// Input column of each output column.
    col_of: Vec<usize>,
    /// `Some(f)` when output column `c` reads input column `c / f` and `cols * f` columns
    /// are written (an integer enlargement).
    repeat: Option<usize>,
}

/// How a resize runs.
#[derive(Clone, Debug)]
enum Strategy {
    /// No axis changes.
    Copy,
    /// Single-pass nearest over the last two axes.
    Nearest(NearestPlanes),
    /// Separable passes in order.
    Passes(Vec<Pass>),
}

/// A resize compiled for one input shape.
#[derive(Clone, Debug)]
pub(crate) struct ResizePlan {
    strategy: Strategy,
    input_len: usize,
    output_len: usize,
    extrapolation: f32,
}

impl ResizePlan {
    /// Plans resizing an input of `shape` with `taps` (one per axis).
    pub(crate) fn new(shape: &[usize], taps: Vec<AxisTaps>, extrapolation: f32) -> ResizePlan {
        let input_len = shape.iter().product();
        let output_len = taps.iter().map(|taps| taps.output).product();
        let rank = shape.len();
        let resized: Vec<usize> = (0..rank).filter(|&axis| !taps[axis].is_identity()).collect();
        let all_nearest = resized
            .iter()
            .all(|&axis| taps[axis].width == 1 && !taps[axis].outside.contains(&true));
        let strategy = if resized.is_empty() {
            Strategy::Copy
        } else if all_nearest && rank >= 2 && resized.iter().all(|&axis| axis + 2 >= rank) {
            let (rows, cols) = (&taps[rank - 2], &taps[rank - 1]);
            let repeat = (cols.output > 0 && cols.output % cols.input.max(1) == 0)
                .then(|| cols.output / cols.input.max(1))
                .filter(|&factor| cols.index.iter().enumerate().all(|(c, &at)| at == c / factor));
            Strategy::Nearest(NearestPlanes {
                rows: rows.input,
                cols: cols.input,
                row_of: rows.index.clone(),
                col_of: cols.index.clone(),
                repeat,
            })
        } else {
            Strategy::Passes(order_passes(shape, &taps, resized))
        };
        ResizePlan { strategy, input_len, output_len, extrapolation }
    }

    /// Runs the resize of input 0 into output 0.
    pub(crate) fn run(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
        context: &mut RunContext<'_>,
    ) -> Result<()> {
        let input = typed_input::<f32>(inputs, 0)?;
        let output = typed_output::<f32>(outputs)?;
        if input.len() != self.input_len || output.len() != self.output_len {
            return Err(GraphError::invalid(format!(
                "resize planned for {} -> {} elements got {} -> {}",
                self.input_len,
                self.output_len,
                input.len(),
                output.len()
            )));
        }
        let parallel = worth_parallel::<f32>(output.len().max(input.len()), context);
        match &self.strategy {
            Strategy::Copy => copy_slice(output, input, parallel),
            Strategy::Nearest(planes) => nearest_planes(planes, input, output, parallel),
            Strategy::Passes(passes) => {
                let middle =
                    passes[..passes.len() - 1].iter().map(Pass::output_len).max().unwrap_or(0);
                let scratch = context.scratch.f32(2 * middle);
                let (a, b) = scratch.split_at_mut(middle);
                let e = self.extrapolation;
                // Where the previous pass left its data: the input (None), `a` or `b`.
                let mut in_a = None;
                for (at, pass) in passes.iter().enumerate() {
                    let (read, write) = (pass.input_len(), pass.output_len());
                    let last = at + 1 == passes.len();
                    match (in_a, last) {
                        (None, true) => run_pass(pass, input, output, e, parallel),
                        (None, false) => run_pass(pass, input, &mut a[..write], e, parallel),
                        (Some(true), true) => run_pass(pass, &a[..read], output, e, parallel),
                        (Some(true), false) => {
                            run_pass(pass, &a[..read], &mut b[..write], e, parallel)
                        }
                        (Some(false), true) => run_pass(pass, &b[..read], output, e, parallel),
                        (Some(false), false) => {
                            run_pass(pass, &b[..read], &mut a[..write], e, parallel)
                        }
                    }
                    in_a = Some(in_a != Some(true));
                }
            }
        }
        Ok(())
    }
}

/// Orders the passes of the `resized` axes: the one shrinking the data most goes first
/// (so later passes touch less), inner axes first among equals.
fn order_passes(shape: &[usize], taps: &[AxisTaps], mut resized: Vec<usize>) -> Vec<Pass> {
    let mut current = shape.to_vec();
    let mut passes = Vec::with_capacity(resized.len());
    let ratio = |axis: usize| taps[axis].output as f64 / taps[axis].input.max(1) as f64;
    while let Some((position, &axis)) = resized
        .iter()
        .enumerate()
        .min_by(|&(_, &a), &(_, &b)| ratio(a).total_cmp(&ratio(b)).then(b.cmp(&a)))
    {
        resized.remove(position);
        passes.push(Pass {
            outer: current[..axis].iter().product(),
            inner: current[axis + 1..].iter().product(),
            taps: taps[axis].clone(),
        });
        current[axis] = taps[axis].output;
    }
    passes
}

/// One separable pass. Lines along the axis are gathered tap by tap; when the axis is not
/// the innermost, whole `inner`-long rows are combined (vectorisable multiply-adds).
fn run_pass(
    pass: &Pass,
    source: &[f32],
    destination: &mut [f32],
    extrapolation: f32,
    parallel: bool,
) {
    let taps = &pass.taps;
    let (input, output, inner, width) = (taps.input, taps.output, pass.inner, taps.width);
    if inner == 1 {
        let any_outside = taps.outside.contains(&true);
        for_each_chunk(destination, output, parallel, |line, values| {
            let line = &source[line * input..(line + 1) * input];
            match width {
                1 => gather_line::<1>(line, values, taps),
                2 => gather_line::<2>(line, values, taps),
                4 => gather_line::<4>(line, values, taps),
                _ => gather_line_any(line, values, taps),
            }
            if any_outside {
                for (value, &outside) in values.iter_mut().zip(&taps.outside) {
                    if outside {
                        *value = extrapolation;
                    }
                }
            }
        });
        return;
    }
    for_each_chunk(destination, inner, parallel, |row, values| {
        let (line, o) = (row / output, row % output);
        if taps.outside[o] {
            values.fill(extrapolation);
            return;
        }
        let base = line * input * inner;
        let range = o * width..(o + 1) * width;
        // Taps of weight 0 (exact input positions) are skipped: less work, and an infinite
        // neighbour does not turn the result into NaN.
        let mut first = true;
        for (&at, &weight) in taps.index[range.clone()].iter().zip(&taps.weight[range]) {
            if weight == 0.0 {
                continue;
            }
            let from = &source[base + at * inner..base + (at + 1) * inner];
            if first && weight == 1.0 {
                values.copy_from_slice(from);
            } else if first {
                values.iter_mut().zip(from).for_each(|(value, &x)| *value = weight * x);
            } else {
                values.iter_mut().zip(from).for_each(|(value, &x)| *value += weight * x);
            }
            first = false;
        }
        if first {
            values.fill(0.0);
        }
    });
}

/// `values[o] = sum_k weight[o][k] * line[index[o][k]]` with `K` taps per output.
fn gather_line<const K: usize>(line: &[f32], values: &mut [f32], taps: &AxisTaps) {
    let indices = taps.index.chunks_exact(K);
    let weights = taps.weight.chunks_exact(K);
    for ((value, index), weight) in values.iter_mut().zip(indices).zip(weights) {
        let mut sum = 0.0;
        for k in 0..K {
            sum += weight[k] * line[index[k]];
        }
        *value = sum;
    }
}

/// [`gather_line`] for any number of taps (the planner only makes 1, 2 or 4).
fn gather_line_any(line: &[f32], values: &mut [f32], taps: &AxisTaps) {
    let width = taps.width;
    for (o, value) in values.iter_mut().enumerate() {
        let range = o * width..(o + 1) * width;
        let pairs = taps.index[range.clone()].iter().zip(&taps.weight[range]);
        *value = pairs.map(|(&at, &weight)| weight * line[at]).sum();
    }
}

/// Nearest over the last two axes in one pass: each output row reads one input row; a row
/// reading the same input row as the one before it in the same plane is copied from it.
fn nearest_planes(plan: &NearestPlanes, source: &[f32], destination: &mut [f32], parallel: bool) {
    let (out_rows, out_cols) = (plan.row_of.len(), plan.col_of.len());
    if out_cols == 0 || out_rows == 0 {
        return;
    }
    let group = 4096usize.div_ceil(out_cols).max(1);
    for_each_chunk(destination, group * out_cols, parallel, |chunk_index, chunk| {
        let first_row = chunk_index * group;
        for (r, row) in (first_row..).zip(0..chunk.len() / out_cols) {
            let (plane, out_row) = (r / out_rows, r % out_rows);
            let in_row = plan.row_of[out_row];
            let start = row * out_cols;
            if row > 0 && out_row > 0 && plan.row_of[out_row - 1] == in_row {
                chunk.copy_within(start - out_cols..start, start);
                continue;
            }
            let line = &source[(plane * plan.rows + in_row) * plan.cols..][..plan.cols];
            let values = &mut chunk[start..start + out_cols];
            match plan.repeat {
                Some(1) => values.copy_from_slice(line),
                // The common 2x case with a fixed run length the compiler can unroll.
                Some(2) => values.chunks_exact_mut(2).zip(line).for_each(|(pair, &x)| pair.fill(x)),
                Some(factor) => {
                    values.chunks_exact_mut(factor).zip(line).for_each(|(run, &x)| run.fill(x))
                }
                None => {
                    values.iter_mut().zip(&plan.col_of).for_each(|(value, &at)| *value = line[at])
                }
            }
        }
    });
}

//! The Reduce family: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
//! ReduceL2, ReduceSumSquare, ReduceLogSum and ReduceLogSumExp.
//!
//! `axes` is an attribute before opset 18 (ReduceSum: before 13) and an optional input
//! (constant when building) since; both forms are accepted. No or empty axes reduce over
//! every axis, unless `noop_with_empty_axes` = 1: then nothing is reduced, but the
//! element-wise steps of composite reductions still apply (ReduceSumSquare squares,
//! ReduceLogSum takes the logarithm, ...). `keepdims` (default 1) keeps reduced axes as
//! size 1. Reducing an empty set gives the neutral value: 0 for sums, 1 for products,
//! -inf for ReduceMax and ReduceLogSum(Exp), +inf for ReduceMin, NaN for ReduceMean.
//!
//! f32 supports every reduction. The layout is simplified first (size-1 axes dropped,
//! neighbouring axes of the same kind merged); reducing trailing axes (the last axis, or
//! H×W per channel) reduces contiguous rows, reducing leading or middle axes accumulates
//! whole rows into the output (both vectorize and split over threads). Other layouts are
//! first permuted so that the reduced axes come last. ReduceSum, ReduceProd, ReduceMax and
//! ReduceMin also take integer tensors (sums and products wrap), ReduceMax and ReduceMin
//! also bool.

use std::borrow::Cow;

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::axes::{axes_argument, normalize_axes};
use super::vector_math::{
    exp, fold_lanes, for_each_row, max, max_nan, min_nan, multiversion, sum, sum_map,
};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};
use crate::view::{DataMut, DataRef};

/// A reduction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

macro_rules! reduce_ops {
    ($(($name:literal, $function:ident, $kind:ident)),* $(,)?) => {
        $(
            #[doc = concat!("Builds ", $name, " (see the module documentation).")]
            fn $function(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
                build_reduce(node, inputs, Kind::$kind)
            }
        )*

        /// Adds the Reduce operators.
        pub fn register(registry: &mut Registry) {
            $(registry.add($name, $function as BuildFn);)*
        }
    };
}

reduce_ops!(
    ("ReduceSum", build_reduce_sum, Sum),
    ("ReduceMean", build_reduce_mean, Mean),
    ("ReduceMax", build_reduce_max, Max),
    ("ReduceMin", build_reduce_min, Min),
    ("ReduceProd", build_reduce_prod, Prod),
    ("ReduceL1", build_reduce_l1, L1),
    ("ReduceL2", build_reduce_l2, L2),
    ("ReduceSumSquare", build_reduce_sum_square, SumSquare),
    ("ReduceLogSum", build_reduce_log_sum, LogSum),
    ("ReduceLogSumExp", build_reduce_log_sum_exp, LogSumExp),
);

/// How the data is laid out for a reduction: the input's axes with size-1 axes dropped and
/// neighbours of the same kind merged, as (size, reduced).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    groups: Vec<(usize, bool)>,
}

/// The loop a layout needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pattern {
    /// `outer` contiguous rows of `length` elements, each reduced to one value.
    Rows { length: usize },
    /// `outer` blocks of `length` rows of `inner` elements, reduced row-wise to `inner`.
    Columns { length: usize, inner: usize },
    /// Anything else: permute the reduced axes to the back, then reduce rows.
    General,
}

impl Layout {
    fn new(shape: &[usize], reduced: &[bool]) -> Layout {
        let mut groups: Vec<(usize, bool)> = Vec::new();
        for (&size, &reduce) in shape.iter().zip(reduced) {
            if size == 1 {
                continue;
            }
            match groups.last_mut() {
                Some((last, kind)) if *kind == reduce => *last *= size,
                _ => groups.push((size, reduce)),
            }
        }
        Layout { groups }
    }

    /// The number of input elements reduced into each output element.
    fn length(&self) -> usize {
        self.groups.iter().filter(|group| group.1).map(|group| group.0).product()
    }

    fn pattern(&self) -> Pattern {
        match self.groups.as_slice() {
            [] | [(_, false)] => Pattern::Rows { length: 1 },
            [(length, true)] | [(_, false), (length, true)] => Pattern::Rows { length: *length },
            [(length, true), (inner, false)] | [(_, false), (length, true), (inner, false)] => {
                Pattern::Columns { length: *length, inner: *inner }
            }
            _ => Pattern::General,
        }
    }

    /// The input with the reduced groups moved behind the kept ones (borrowed when they
    /// already are).
    fn reduced_last<'a, T: Copy>(&self, input: &'a [T]) -> Cow<'a, [T]> {
        if let Pattern::Rows { .. } = self.pattern() {
            return Cow::Borrowed(input);
        }
        let mut strides = vec![0; self.groups.len()];
        let mut stride = 1;
        for (at, &(size, _)) in self.groups.iter().enumerate().rev() {
            strides[at] = stride;
            stride *= size;
        }
        let order: Vec<usize> = (0..self.groups.len())
            .filter(|&at| !self.groups[at].1)
            .chain((0..self.groups.len()).filter(|&at| self.groups[at].1))
            .collect();
        let sizes: Vec<usize> = order.iter().map(|&at| self.groups[at].0).collect();
        let steps: Vec<usize> = order.iter().map(|&at| strides[at]).collect();
        let mut permuted = Vec::with_capacity(input.len());
        if input.is_empty() {
            return Cow::Owned(permuted);
        }
        let mut index = vec![0; sizes.len()];
        let mut offset = 0;
        loop {
            permuted.push(input[offset]);
            let mut axis = sizes.len();
            loop {
                if axis == 0 {
                    return Cow::Owned(permuted);
                }
                axis -= 1;
                index[axis] += 1;
                offset += steps[axis];
                if index[axis] < sizes[axis] {
                    break;
                }
                offset -= sizes[axis] * steps[axis];
                index[axis] = 0;
            }
        }
    }
}

multiversion! {
/// Reduces one contiguous row of f32.
fn reduce_row(kind: Kind, row: &[f32]) -> f32 {
    match kind {
        Kind::Sum => sum(row),
        Kind::Mean => sum(row) / row.len() as f32,
        Kind::Max => max(row),
        Kind::Min => fold_lanes(row, f32::INFINITY, min_nan),
        Kind::Prod => fold_lanes(row, 1.0, |product, x| product * x),
        Kind::L1 => sum_map(row, f32::abs),
        Kind::L2 => sum_map(row, |x| x * x).sqrt(),
        Kind::SumSquare => sum_map(row, |x| x * x),
        Kind::LogSum => sum(row).ln(),
        Kind::LogSumExp => {
            let largest = max(row);
            if largest.is_infinite() {
                largest
            } else {
                largest + sum_map(row, |x| exp(x - largest)).ln()
            }
        }
    }
}
}

/// Folds every row of `block` (rows of `out.len()` elements) into `out` element-wise.
#[inline(always)]
fn accumulate(
    block: &[f32],
    out: &mut [f32],
    init: f32,
    map: impl Fn(f32) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) {
    out.fill(init);
    for row in block.chunks_exact(out.len()) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o = combine(*o, map(x));
        }
    }
}

multiversion! {
/// Reduces a block of `length` rows (of `out.len()` f32 elements each) row-wise.
fn reduce_columns(kind: Kind, block: &[f32], length: usize, out: &mut [f32]) {
    let add = |a: f32, b: f32| a + b;
    match kind {
        Kind::Sum => accumulate(block, out, 0.0, |x| x, add),
        Kind::Mean => {
            accumulate(block, out, 0.0, |x| x, add);
            let scale = 1.0 / length as f32;
            out.iter_mut().for_each(|o| *o *= scale);
        }
        Kind::Max => accumulate(block, out, f32::NEG_INFINITY, |x| x, max_nan),
        Kind::Min => accumulate(block, out, f32::INFINITY, |x| x, min_nan),
        Kind::Prod => accumulate(block, out, 1.0, |x| x, |a, b| a * b),
        Kind::L1 => accumulate(block, out, 0.0, f32::abs, add),
        Kind::L2 => {
            accumulate(block, out, 0.0, |x| x * x, add);
            out.iter_mut().for_each(|o| *o = o.sqrt());
        }
        Kind::SumSquare => accumulate(block, out, 0.0, |x| x * x, add),
        Kind::LogSum => {
            accumulate(block, out, 0.0, |x| x, add);
            out.iter_mut().for_each(|o| *o = o.ln());
        }
        Kind::LogSumExp => {
            let mut maxima = vec![0.0; out.len()];
            accumulate(block, &mut maxima, f32::NEG_INFINITY, |x| x, max_nan);
            out.fill(0.0);
            for row in block.chunks_exact(out.len()) {
                for ((o, &x), &m) in out.iter_mut().zip(row).zip(&maxima) {
                    *o += exp(x - if m.is_infinite() { 0.0 } else { m });
                }
            }
            for (o, &m) in out.iter_mut().zip(&maxima) {
                *o = if m.is_infinite() { m } else { m + o.ln() };
            }
        }
    }
}
}

/// Runs an f32 reduction.
fn reduce_f32(kind: Kind, layout: &Layout, input: &[f32], output: &mut [f32], threads: usize) {
    match layout.pattern() {
        Pattern::Columns { length, inner } => {
            for_each_row(threads, input, length * inner, output, inner, |_, block, out| {
                reduce_columns(kind, block, length, out)
            });
        }
        Pattern::Rows { length } => {
            for_each_row(threads, input, length, output, 1, |_, row, out| {
                out[0] = reduce_row(kind, row)
            });
        }
        Pattern::General => {
            let length = layout.length();
            let permuted = layout.reduced_last(input);
            for_each_row(threads, &permuted, length, output, 1, |_, row, out| {
                out[0] = reduce_row(kind, row)
            });
        }
    }
}

/// Folds the reduced elements of each output with `combine` from `init` (any layout).
fn reduce_fold<T: Copy>(
    layout: &Layout,
    input: &[T],
    output: &mut [T],
    init: T,
    combine: impl Fn(T, T) -> T,
) {
    let length = layout.length();
    if length == 0 {
        output.fill(init);
        return;
    }
    let data = layout.reduced_last(input);
    for (out, row) in output.iter_mut().zip(data.chunks_exact(length)) {
        *out = row.iter().fold(init, |accumulator, &x| combine(accumulator, x));
    }
}

macro_rules! integer_reduction {
    ($kind:expr, $layout:expr, $input:expr, $output:expr, $t:ty) => {
        match $kind {
            Kind::Sum => reduce_fold($layout, $input, $output, 0 as $t, <$t>::wrapping_add),
            Kind::Prod => reduce_fold($layout, $input, $output, 1 as $t, <$t>::wrapping_mul),
            Kind::Max => reduce_fold($layout, $input, $output, <$t>::MIN, <$t>::max),
            Kind::Min => reduce_fold($layout, $input, $output, <$t>::MAX, <$t>::min),
            _ => {
                return Err(GraphError::unsupported(format!(
                    "{:?} of integers is not supported",
                    $kind
                )))
            }
        }
    };
}

/// Whether `kind` is supported for elements of `data_type`.
fn supports(kind: Kind, data_type: DataType) -> bool {
    match data_type {
        DataType::F32 => true,
        DataType::I8 | DataType::U8 | DataType::I32 | DataType::I64 => {
            matches!(kind, Kind::Sum | Kind::Prod | Kind::Max | Kind::Min)
        }
        DataType::Bool => matches!(kind, Kind::Max | Kind::Min),
        DataType::F16 | DataType::BF16 => false,
    }
}

/// The kernel of a reduction over `layout`.
fn run(
    kind: Kind,
    layout: &Layout,
    input: DataRef<'_>,
    output: &mut DataMut<'_>,
    threads: usize,
) -> Result<()> {
    match (input, output) {
        (DataRef::F32(x), DataMut::F32(y)) => reduce_f32(kind, layout, x, y, threads),
        (DataRef::I64(x), DataMut::I64(y)) => integer_reduction!(kind, layout, x, y, i64),
        (DataRef::I32(x), DataMut::I32(y)) => integer_reduction!(kind, layout, x, y, i32),
        (DataRef::I8(x), DataMut::I8(y)) => integer_reduction!(kind, layout, x, y, i8),
        (DataRef::U8(x), DataMut::U8(y)) => integer_reduction!(kind, layout, x, y, u8),
        (DataRef::Bool(x), DataMut::Bool(y)) => match kind {
            Kind::Max => reduce_fold(layout, x, y, false, |a, b| a | b),
            Kind::Min => reduce_fold(layout, x, y, true, |a, b| a & b),
            _ => return Err(GraphError::unsupported(format!("{kind:?} of bool is not supported"))),
        },
        (x, y) => return Err(super::typed::type_mismatch(x.data_type(), y.data_type())),
    }
    Ok(())
}

fn build_reduce(node: &Node, inputs: &[Option<InputInfo<'_>>], kind: Kind) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    if !supports(kind, data.data_type) {
        return Err(GraphError::unsupported(format!(
            "input 'data' is {}; {} supports f32{}",
            data.data_type,
            node.op_type,
            match kind {
                Kind::Sum | Kind::Prod => ", i8, u8, i32 and i64",
                Kind::Max | Kind::Min => ", i8, u8, i32, i64 and bool",
                _ => "",
            }
        )));
    }
    let keep_dims = node.attributes.int_or("keepdims", 1)? != 0;
    let noop = node.attributes.int_or("noop_with_empty_axes", 0)? != 0;
    let axes = axes_argument(node, inputs, 1)?.unwrap_or_default();
    let shape = data.shape;
    let mut reduced = vec![axes.is_empty() && !noop; shape.len()];
    for axis in normalize_axes(&axes, shape.len(), "axes")? {
        reduced[axis] = true;
    }
    let output_shape: Vec<usize> = shape
        .iter()
        .zip(&reduced)
        .filter(|&(_, &reduce)| keep_dims || !reduce)
        .map(|(&size, &reduce)| if reduce { 1 } else { size })
        .collect();
    let layout = Layout::new(shape, &reduced);
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let input = crate::op::input(inputs, 0)?;
            run(kind, &layout, input.data, &mut outputs[0].data, context.threads)
        }),
        outputs: vec![OutputInfo::new(data.data_type, output_shape)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_merge_axes_and_pick_a_loop() {
        let layout = |shape: &[usize], reduced: &[bool]| Layout::new(shape, reduced).pattern();
        // Last axis; H×W per channel; channels of NCHW; a batch of one.
        assert_eq!(layout(&[2, 3, 4], &[false, false, true]), Pattern::Rows { length: 4 });
        assert_eq!(
            layout(&[1, 8, 5, 5], &[false, false, true, true]),
            Pattern::Rows { length: 25 }
        );
        assert_eq!(
            layout(&[2, 8, 5, 5], &[false, true, false, false]),
            Pattern::Columns { length: 8, inner: 25 }
        );
        assert_eq!(layout(&[1, 3, 1], &[true, false, true]), Pattern::Rows { length: 1 });
        assert_eq!(layout(&[2, 3, 4], &[true, false, true]), Pattern::General);
    }

    #[test]
    fn permuting_moves_reduced_axes_last() {
        // [2, 3, 2] reducing axes 0 and 2: kept axis 1 first.
        let input: Vec<i32> = (0..12).collect();
        let layout = Layout::new(&[2, 3, 2], &[true, false, true]);
        assert_eq!(
            layout.reduced_last(&input).into_owned(),
            vec![0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]
        );
        let mut sums = [0; 3];
        reduce_fold(&layout, &input, &mut sums, 0, |a, b| a + b);
        assert_eq!(sums, [14, 22, 30]);
    }

    #[test]
    fn rows_and_columns_give_the_same_reductions() {
        let block: Vec<f32> = (0..12).map(|v| (v as f32 * 0.7).cos() * 3.0).collect();
        for kind in [
            Kind::Sum,
            Kind::Mean,
            Kind::Max,
            Kind::Min,
            Kind::Prod,
            Kind::L1,
            Kind::L2,
            Kind::SumSquare,
            Kind::LogSumExp,
        ] {
            let mut columns = [0.0; 4];
            reduce_columns(kind, &block, 3, &mut columns);
            for (column, &value) in columns.iter().enumerate() {
                let row: Vec<f32> = (0..3).map(|r| block[r * 4 + column]).collect();
                let expected = reduce_row(kind, &row);
                assert!(
                    (value - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                    "{kind:?}: {value} vs {expected}"
                );
            }
        }
    }
}

//! Operators that move data without computing on it: Concat and Split here, plus the
//! helpers the whole family shares (typed element access for all eight IR types, axis
//! normalisation, integer lists from constant inputs, parallel chunked copies).
//!
//! The other members live in their own files: Slice, Pad and Tile in `slice_pad.rs` (on the
//! per-axis index maps of `axis_map.rs`), Transpose, DepthToSpace and SpaceToDepth in
//! `transpose.rs`, Gather and GatherElements in `gather.rs`, Resize and Upsample in
//! `resize.rs` (with the interpolation kernels in `resize_kernel.rs`).
//!
//! Kernels are written once, generic over [`Element`], and instantiated for the runtime
//! type with [`with_element_type!`]; nothing is copy-pasted per type.

use half::{bf16, f16};
use rayon::prelude::*;

use dlopt_graph::{DataType, GraphError, Node, Result, Tensor, TensorData};

use super::Registry;
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, RunContext, kernel, required,
};
use crate::view::{DataMut, DataRef, TensorView, TensorViewMut};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("Concat", build_concat as BuildFn);
    registry.add("Split", build_split as BuildFn);
    super::slice_pad::register(registry);
    super::transpose::register(registry);
    super::gather::register(registry);
    super::resize::register(registry);
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

/// An element type of the IR, for kernels written once for all types.
pub(crate) trait Element: Copy + Default + PartialEq + Send + Sync + 'static {
    /// The IR type.
    const TYPE: DataType;
    /// The elements of `data`, if it holds this type.
    fn slice(data: DataRef<'_>) -> Option<&[Self]>;
    /// The elements of `data`, if it holds this type.
    fn slice_mut<'b>(data: &'b mut DataMut<'_>) -> Option<&'b mut [Self]>;
    /// The elements of `data`, if it holds this type.
    fn of_tensor(data: &TensorData) -> Option<&[Self]>;
}

macro_rules! element {
    ($type:ty, $variant:ident) => {
        impl Element for $type {
            const TYPE: DataType = DataType::$variant;
            fn slice(data: DataRef<'_>) -> Option<&[Self]> {
                match data {
                    DataRef::$variant(values) => Some(values),
                    _ => None,
                }
            }
            fn slice_mut<'b>(data: &'b mut DataMut<'_>) -> Option<&'b mut [Self]> {
                match data {
                    DataMut::$variant(values) => Some(values),
                    _ => None,
                }
            }
            fn of_tensor(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(values) => Some(values),
                    _ => None,
                }
            }
        }
    };
}

element!(f32, F32);
element!(f16, F16);
element!(bf16, BF16);
element!(i8, I8);
element!(u8, U8);
element!(i32, I32);
element!(i64, I64);
element!(bool, Bool);

/// Runs `$body` with the type alias `$T` naming the Rust element type of `$data_type`
/// (an expression of type [`DataType`]).
macro_rules! with_element_type {
    ($data_type:expr, $T:ident => $body:expr) => {
        match $data_type {
            dlopt_graph::DataType::F32 => {
                type $T = f32;
                $body
            }
            dlopt_graph::DataType::F16 => {
                type $T = half::f16;
                $body
            }
            dlopt_graph::DataType::BF16 => {
                type $T = half::bf16;
                $body
            }
            dlopt_graph::DataType::I8 => {
                type $T = i8;
                $body
            }
            dlopt_graph::DataType::U8 => {
                type $T = u8;
                $body
            }
            dlopt_graph::DataType::I32 => {
                type $T = i32;
                $body
            }
            dlopt_graph::DataType::I64 => {
                type $T = i64;
                $body
            }
            dlopt_graph::DataType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}
pub(crate) use with_element_type;

/// A kernel saw another element type than it was built for.
fn type_mismatch(expected: DataType, found: DataType) -> GraphError {
    GraphError::invalid(format!("expected {expected} data, got {found}"))
}

/// The typed elements of a run-time input.
pub(crate) fn typed<'a, T: Element>(view: &TensorView<'a>) -> Result<&'a [T]> {
    T::slice(view.data).ok_or_else(|| type_mismatch(T::TYPE, view.data_type()))
}

/// The typed elements of a run-time output.
pub(crate) fn typed_mut<'b, T: Element>(view: &'b mut TensorViewMut<'_>) -> Result<&'b mut [T]> {
    let found = view.data_type();
    T::slice_mut(&mut view.data).ok_or_else(|| type_mismatch(T::TYPE, found))
}

/// Required run-time input `index`, typed.
pub(crate) fn typed_input<'a, T: Element>(
    inputs: &[Option<TensorView<'a>>],
    index: usize,
) -> Result<&'a [T]> {
    typed(crate::op::input(inputs, index)?)
}

/// The single output of a kernel, typed.
pub(crate) fn typed_output<'b, T: Element>(
    outputs: &'b mut [TensorViewMut<'_>],
) -> Result<&'b mut [T]> {
    let output = outputs
        .first_mut()
        .ok_or_else(|| GraphError::invalid("the output is missing at run time"))?;
    typed_mut(output)
}

/// `axis` in `[-rank, rank - 1]` made non-negative; `what` names it in the message (e.g.
/// "attribute 'axis'").
pub(crate) fn normalize_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let signed_rank = rank as i64;
    if axis < -signed_rank || axis >= signed_rank {
        return Err(GraphError::invalid(format!(
            "{what} is {axis}, outside [{}, {}] for a rank-{rank} input",
            -signed_rank,
            signed_rank - 1
        )));
    }
    Ok(if axis < 0 { (axis + signed_rank) as usize } else { axis as usize })
}

/// Normalises a list of axes and rejects duplicates.
pub(crate) fn normalize_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>> {
    let mut seen = vec![false; rank];
    axes.iter()
        .map(|&axis| {
            let axis = normalize_axis(axis, rank, what)?;
            if std::mem::replace(&mut seen[axis], true) {
                return Err(GraphError::invalid(format!("{what} names axis {axis} twice")));
            }
            Ok(axis)
        })
        .collect()
}

/// The elements of an integer tensor (i32 or i64) as i64; `what` names it in the message.
pub(crate) fn integer_values(tensor: &Tensor, what: &str) -> Result<Vec<i64>> {
    match tensor.data_type() {
        DataType::I64 | DataType::I32 => Ok(tensor.to_i64_vec()),
        other => Err(GraphError::invalid(format!("{what} must be an int64 tensor, got {other}"))),
    }
}

/// The product of `dims`, or an error if it overflows.
pub(crate) fn product(dims: &[usize]) -> Result<usize> {
    dlopt_graph::tensor::element_count(dims)
}

/// An empty vector with room for `length` entries, or an error (instead of an abort) when
/// that much memory is not available; `what` names the entries in the message.
pub(crate) fn try_vec<T>(length: usize, what: &str) -> Result<Vec<T>> {
    let mut values = Vec::new();
    values.try_reserve_exact(length).map_err(|_| {
        GraphError::new(
            dlopt_graph::ErrorKind::TooLarge,
            format!("{length} {what} do not fit in memory"),
        )
    })?;
    Ok(values)
}

/// Bytes of output above which copies are split over threads.
const PARALLEL_BYTES: usize = 128 * 1024;
/// Elements each parallel task handles at least.
const TASK_ELEMENTS: usize = 16 * 1024;

/// Whether writing `elements` elements of `T` is worth spreading over the run's threads.
pub(crate) fn worth_parallel<T>(elements: usize, context: &RunContext<'_>) -> bool {
    context.threads > 1 && elements.saturating_mul(std::mem::size_of::<T>()) >= PARALLEL_BYTES
}

/// Calls `work(index, chunk)` for each `chunk_len`-element chunk of `data` (the last may be
/// shorter), spread over rayon's threads when `parallel` (several chunks per task when
/// chunks are small).
pub(crate) fn for_each_chunk<T, F>(data: &mut [T], chunk_len: usize, parallel: bool, work: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Send + Sync,
{
    if chunk_len == 0 || data.is_empty() {
        return;
    }
    if parallel {
        let min_len = TASK_ELEMENTS.div_ceil(chunk_len).max(1);
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(at, chunk)| work(at, chunk));
    } else {
        data.chunks_mut(chunk_len).enumerate().for_each(|(at, chunk)| work(at, chunk));
    }
}

/// Copies `source` into `destination` (same length), in parallel chunks when `parallel`.
pub(crate) fn copy_slice<T: Copy + Send + Sync>(
    destination: &mut [T],
    source: &[T],
    parallel: bool,
) {
    if parallel && destination.len() >= 2 * TASK_ELEMENTS {
        for_each_chunk(destination, TASK_ELEMENTS, true, |at, chunk| {
            let start = at * TASK_ELEMENTS;
            chunk.copy_from_slice(&source[start..start + chunk.len()]);
        });
    } else {
        destination.copy_from_slice(source);
    }
}

// ---------------------------------------------------------------------------------------
// Concat.

/// Concat (opset 1-13): joins its inputs along `axis` (negative counts from the back; opsets
/// before 4 default it to 1). Inputs share type and rank and agree on every other axis;
/// empty inputs are allowed.
fn build_concat(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    if inputs.is_empty() {
        return Err(GraphError::invalid("Concat needs at least one input"));
    }
    let parts: Vec<InputInfo> =
        (0..inputs.len()).map(|at| required(node, inputs, at)).collect::<Result<_>>()?;
    let first = parts[0];
    let rank = first.shape.len();
    if rank == 0 {
        return Err(GraphError::invalid("Concat cannot join scalars (rank 0)"));
    }
    let axis = match node.attributes.int("axis")? {
        Some(axis) => axis,
        None if options.opset < 4 => 1,
        None => return Err(GraphError::invalid("attribute 'axis' is required")),
    };
    let axis = normalize_axis(axis, rank, "attribute 'axis'")?;
    let mut shape = first.shape.to_vec();
    shape[axis] = 0;
    for (at, part) in parts.iter().enumerate() {
        if part.data_type != first.data_type {
            return Err(GraphError::invalid(format!(
                "input {at} is {}, input 0 is {}: Concat needs one type",
                part.data_type, first.data_type
            )));
        }
        let fits = part.shape.len() == rank
            && part
                .shape
                .iter()
                .zip(first.shape)
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !fits {
            return Err(GraphError::shape(format!(
                "input {at} has shape {:?}, which does not fit input 0's {:?} outside axis {axis}",
                part.shape, first.shape
            )));
        }
        shape[axis] = shape[axis].checked_add(part.shape[axis]).ok_or_else(|| {
            GraphError::new(dlopt_graph::ErrorKind::TooLarge, "the joined axis is too long")
        })?;
    }
    product(&shape)?;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let blocks: Vec<usize> = parts.iter().map(|part| part.shape[axis] * inner).collect();
    let data_type = first.data_type;
    Ok(BuiltOp {
        kernel: kernel(
            move |inputs, outputs, context| with_element_type!(data_type, T => concat::<T>(inputs, outputs, context, outer, &blocks)),
        ),
        outputs: vec![OutputInfo::new(data_type, shape)],
    })
}

/// Each output row (one per index of the axes before `axis`) is the inputs' blocks in turn.
fn concat<T: Element>(
    inputs: &[Option<TensorView<'_>>],
    outputs: &mut [TensorViewMut<'_>],
    context: &RunContext<'_>,
    outer: usize,
    blocks: &[usize],
) -> Result<()> {
    let sources: Vec<&[T]> =
        (0..blocks.len()).map(|at| typed_input::<T>(inputs, at)).collect::<Result<_>>()?;
    let output = typed_output::<T>(outputs)?;
    let parallel = worth_parallel::<T>(output.len(), context);
    if outer == 1 {
        let mut at = 0;
        for (source, &block) in sources.iter().zip(blocks) {
            copy_slice(&mut output[at..at + block], source, parallel);
            at += block;
        }
        return Ok(());
    }
    let row: usize = blocks.iter().sum();
    for_each_chunk(output, row, parallel, |r, destination| {
        let mut at = 0;
        for (source, &block) in sources.iter().zip(blocks) {
            destination[at..at + block].copy_from_slice(&source[r * block..(r + 1) * block]);
            at += block;
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Split.

/// Split (opset 1-18): cuts the input along `axis` (default 0) into one piece per output.
/// Piece sizes come from the `split` attribute (before opset 13) or the constant `split`
/// input (13 and later); otherwise the axis is cut into equal pieces, where opset 18's
/// `num_outputs` lets the last piece be smaller (pieces of ceil(size / n)).
fn build_split(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    let rank = input.shape.len();
    let axis = normalize_axis(node.attributes.int_or("axis", 0)?, rank, "attribute 'axis'")?;
    let dim = input.shape[axis];
    let count = node.outputs.len();
    if count == 0 {
        return Err(GraphError::invalid("Split needs at least one output"));
    }
    let from_input = match inputs.get(1).copied().flatten() {
        Some(info) => {
            let tensor = info.constant.ok_or_else(|| {
                GraphError::unsupported(
                    "input 1 ('split') must be known when the plan is built (computed from data at run time is not supported)",
                )
            })?;
            Some(integer_values(tensor, "input 'split'")?)
        }
        None => None,
    };
    let from_attribute = node.attributes.ints("split")?.map(<[i64]>::to_vec);
    let num_outputs = node.attributes.int("num_outputs")?;
    let sizes: Vec<usize> = match from_input.or(from_attribute) {
        Some(split) => {
            if num_outputs.is_some() {
                return Err(GraphError::invalid(
                    "'split' and attribute 'num_outputs' cannot both be given",
                ));
            }
            if split.len() != count {
                return Err(GraphError::invalid(format!(
                    "'split' has {} sizes {split:?} for {count} outputs",
                    split.len()
                )));
            }
            if let Some(negative) = split.iter().find(|&&size| size < 0) {
                return Err(GraphError::invalid(format!("'split' has a negative size {negative}")));
            }
            let total: i128 = split.iter().map(|&size| size as i128).sum();
            if total != dim as i128 {
                return Err(GraphError::shape(format!(
                    "'split' sizes {split:?} add up to {total}, axis {axis} has size {dim}"
                )));
            }
            split.iter().map(|&size| size as usize).collect()
        }
        None => {
            if let Some(n) = num_outputs {
                if n != count as i64 {
                    return Err(GraphError::invalid(format!(
                        "attribute 'num_outputs' is {n}, the node has {count} outputs"
                    )));
                }
            }
            if num_outputs.is_some() || options.opset >= 18 {
                let piece = dim.div_ceil(count);
                (0..count).map(|at| piece.min(dim.saturating_sub(at * piece))).collect()
            } else {
                if dim % count != 0 {
                    return Err(GraphError::shape(format!(
                        "axis {axis} of size {dim} cannot be split into {count} equal pieces"
                    )));
                }
                vec![dim / count; count]
            }
        }
    };
    let outer: usize = input.shape[..axis].iter().product();
    let inner: usize = input.shape[axis + 1..].iter().product();
    let output_infos = sizes
        .iter()
        .map(|&size| {
            let mut shape = input.shape.to_vec();
            shape[axis] = size;
            OutputInfo::new(input.data_type, shape)
        })
        .collect();
    let blocks: Vec<usize> = sizes.iter().map(|&size| size * inner).collect();
    let data_type = input.data_type;
    Ok(BuiltOp {
        kernel: kernel(
            move |inputs, outputs, context| with_element_type!(data_type, T => split::<T>(inputs, outputs, context, outer, &blocks)),
        ),
        outputs: output_infos,
    })
}

/// Output `i` takes block `i` of every input row.
fn split<T: Element>(
    inputs: &[Option<TensorView<'_>>],
    outputs: &mut [TensorViewMut<'_>],
    context: &RunContext<'_>,
    outer: usize,
    blocks: &[usize],
) -> Result<()> {
    let source = typed_input::<T>(inputs, 0)?;
    let row: usize = blocks.iter().sum();
    let mut offset = 0;
    for (output, &block) in outputs.iter_mut().zip(blocks) {
        let destination = typed_mut::<T>(output)?;
        let parallel = worth_parallel::<T>(destination.len(), context);
        if outer == 1 {
            copy_slice(destination, &source[offset..offset + block], parallel);
        } else {
            for_each_chunk(destination, block, parallel, |r, chunk| {
                let start = r * row + offset;
                chunk.copy_from_slice(&source[start..start + block]);
            });
        }
        offset += block;
    }
    Ok(())
}

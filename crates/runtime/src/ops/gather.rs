//! Gather and GatherElements: copies whose source positions come from an index tensor
//! (int64 or int32, negative values counting from the back). Indices are checked at run
//! time; one out of range is an error naming it, never a panic.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::data_movement::{
    Element, for_each_chunk, normalize_axis, product, typed_input, typed_output, with_element_type,
    worth_parallel,
};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};
use crate::view::DataRef;

/// Adds Gather and GatherElements.
pub fn register(registry: &mut Registry) {
    registry.add("Gather", build_gather as BuildFn);
    registry.add("GatherElements", build_gather_elements as BuildFn);
}

/// Index elements: i64 or i32.
trait Index: Copy + Send + Sync {
    /// The index value.
    fn get(self) -> i64;
}

impl Index for i64 {
    fn get(self) -> i64 {
        self
    }
}

impl Index for i32 {
    fn get(self) -> i64 {
        self as i64
    }
}

/// Runs `$body` with `$indices` bound to the typed index slice of `$view`.
macro_rules! with_indices {
    ($view:expr, $indices:ident => $body:expr) => {
        match $view.data {
            DataRef::I64($indices) => $body,
            DataRef::I32($indices) => $body,
            other => Err(GraphError::invalid(format!(
                "indices must be int64 or int32, got {}",
                other.data_type()
            ))),
        }
    };
}

/// Checks that the node's indices input (1) is int64 or int32.
fn index_input<'a>(node: &Node, inputs: &[Option<InputInfo<'a>>]) -> Result<InputInfo<'a>> {
    let indices = required(node, inputs, 1)?;
    if !matches!(indices.data_type, DataType::I64 | DataType::I32) {
        return Err(GraphError::invalid(format!(
            "input 'indices' must be int64 or int32, got {}",
            indices.data_type
        )));
    }
    Ok(indices)
}

/// `index` into an axis of size `size`, made non-negative, or an error naming both.
fn resolve<I: Index>(index: I, size: usize, axis: usize) -> Result<usize> {
    let value = index.get();
    let signed = size as i64;
    if value < -signed || value >= signed {
        return Err(GraphError::invalid(format!(
            "index {value} is outside [{}, {}] for axis {axis} of size {size}",
            -signed,
            signed - 1
        )));
    }
    Ok(if value < 0 { (value + signed) as usize } else { value as usize })
}

/// Checks every index before any is used, so a bad one fails the run with its value.
fn check_all<I: Index>(indices: &[I], size: usize, axis: usize) -> Result<()> {
    indices.iter().try_for_each(|&index| resolve(index, size, axis).map(|_| ()))
}

// ---------------------------------------------------------------------------------------
// Gather.

/// Gather (opset 1-13): picks entries of `data` along `axis` (default 0) by `indices`; the
/// output shape is `data.shape[..axis] + indices.shape + data.shape[axis + 1..]`.
fn build_gather(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let indices = index_input(node, inputs)?;
    let axis =
        normalize_axis(node.attributes.int_or("axis", 0)?, data.shape.len(), "attribute 'axis'")?;
    let shape: Vec<usize> = [&data.shape[..axis], indices.shape, &data.shape[axis + 1..]].concat();
    product(&shape)?;
    let outer: usize = data.shape[..axis].iter().product();
    let size = data.shape[axis];
    let inner: usize = data.shape[axis + 1..].iter().product();
    let data_type = data.data_type;
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let index_view = crate::op::input(inputs, 1)?;
            with_element_type!(data_type, T => {
                let source = typed_input::<T>(inputs, 0)?;
                let output = typed_output::<T>(outputs)?;
                let parallel = worth_parallel::<T>(output.len(), context);
                with_indices!(index_view, indices => {
                    gather(source, indices, output, outer, size, inner, axis, parallel)
                })
            })
        }),
        outputs: vec![OutputInfo::new(data_type, shape)],
    })
}

/// Output block `(o, j)` is source block `(o, indices[j])`, blocks being `inner` long.
#[allow(clippy::too_many_arguments)]
fn gather<T: Element, I: Index>(
    source: &[T],
    indices: &[I],
    output: &mut [T],
    outer: usize,
    size: usize,
    inner: usize,
    axis: usize,
    parallel: bool,
) -> Result<()> {
    check_all(indices, size, axis)?;
    let count = indices.len();
    if outer == 0 || count == 0 {
        return Ok(());
    }
    if inner == 1 {
        for_each_chunk(output, count, parallel, |o, row| {
            let base = o * size;
            for (value, &index) in row.iter_mut().zip(indices) {
                *value = source[base + resolve(index, size, axis).unwrap_or(0)];
            }
        });
    } else {
        for_each_chunk(output, inner, parallel, |block, destination| {
            let (o, j) = (block / count, block % count);
            let from = (o * size + resolve(indices[j], size, axis).unwrap_or(0)) * inner;
            destination.copy_from_slice(&source[from..from + inner]);
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GatherElements.

/// GatherElements (opset 11-13): `output[i][j][k] = data[indices[i][j][k]][j][k]` for axis 0
/// (likewise for other axes). `indices` has the rank of `data` and no larger extent on the
/// other axes; the output has the shape of `indices`.
fn build_gather_elements(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let indices = index_input(node, inputs)?;
    let rank = data.shape.len();
    let axis = normalize_axis(node.attributes.int_or("axis", 0)?, rank, "attribute 'axis'")?;
    let fits = indices.shape.len() == rank
        && (0..rank).all(|d| d == axis || indices.shape[d] <= data.shape[d]);
    if !fits {
        return Err(GraphError::shape(format!(
            "indices of shape {:?} do not fit data of shape {:?} (same rank, no larger outside axis {axis})",
            indices.shape, data.shape
        )));
    }
    let data_shape = data.shape.to_vec();
    let index_shape = indices.shape.to_vec();
    let data_type = data.data_type;
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let index_view = crate::op::input(inputs, 1)?;
            with_element_type!(data_type, T => {
                let source = typed_input::<T>(inputs, 0)?;
                let output = typed_output::<T>(outputs)?;
                let parallel = worth_parallel::<T>(output.len(), context);
                with_indices!(index_view, indices => {
                    gather_elements(source, &data_shape, indices, &index_shape, output, axis, parallel)
                })
            })
        }),
        outputs: vec![OutputInfo::new(data_type, indices.shape.to_vec())],
    })
}

/// Row by row over the last axis: every other coordinate is shared by data and indices.
fn gather_elements<T: Element, I: Index>(
    source: &[T],
    data_shape: &[usize],
    indices: &[I],
    index_shape: &[usize],
    output: &mut [T],
    axis: usize,
    parallel: bool,
) -> Result<()> {
    let size = data_shape[axis];
    check_all(indices, size, axis)?;
    let rank = data_shape.len();
    if rank == 0 || output.is_empty() {
        return Ok(());
    }
    let mut strides = vec![1; rank];
    for d in (0..rank - 1).rev() {
        strides[d] = strides[d + 1] * data_shape[d + 1];
    }
    let row = index_shape[rank - 1];
    let outer_dims = &index_shape[..rank - 1];
    for_each_chunk(output, row, parallel, |row_index, destination| {
        let mut base = 0;
        let mut rest = row_index;
        for d in (0..rank - 1).rev() {
            let coordinate = rest % outer_dims[d];
            rest /= outer_dims[d];
            if d != axis {
                base += coordinate * strides[d];
            }
        }
        let index_row = &indices[row_index * row..(row_index + 1) * row];
        for (j, (value, &index)) in destination.iter_mut().zip(index_row).enumerate() {
            let at = resolve(index, size, axis).unwrap_or(0);
            *value = if axis == rank - 1 {
                source[base + at]
            } else {
                source[base + j + at * strides[axis]]
            };
        }
    });
    Ok(())
}

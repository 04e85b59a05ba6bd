//! Expand: broadcasts a tensor to a shape (numpy rules, in both directions: the result is
//! the broadcast of the input's shape and the target shape), for all eight element types.
//!
//! The copy works block-wise: a run of non-broadcast innermost dimensions is one slice
//! copy, and a broadcast dimension is computed once and then duplicated with `copy_within`.

use dlopt_graph::{GraphError, Node, Result};

use super::Registry;
use super::axes::integer_list;
use super::typed::{check_generated_size, with_same};
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, kernel, required,
};

/// Adds Expand.
pub fn register(registry: &mut Registry) {
    registry.add("Expand", build_expand as BuildFn);
}

/// The multidirectional broadcast of two shapes (right-aligned; equal sizes or 1).
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |shape: &[usize], at: usize| {
        let offset = rank - shape.len();
        if at < offset { 1 } else { shape[at - offset] }
    };
    (0..rank)
        .map(|at| match (dim(a, at), dim(b, at)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(GraphError::shape(format!(
                "shapes {a:?} and {b:?} do not broadcast: dimension {at} is {x} and {y}"
            ))),
        })
        .collect()
}

/// The layout of a broadcast copy: per dimension the output size, whether the input is
/// broadcast along it, the input stride and the output stride. Size-1 output dimensions
/// are dropped and neighbours of the same kind merged.
struct Layout {
    dims: Vec<(usize, bool)>,
    input_strides: Vec<usize>,
    output_strides: Vec<usize>,
}

impl Layout {
    fn new(input: &[usize], output: &[usize]) -> Layout {
        let offset = output.len() - input.len();
        let mut dims: Vec<(usize, bool)> = Vec::new();
        for (at, &size) in output.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let broadcast = at < offset || input[at - offset] == 1;
            match dims.last_mut() {
                Some((last, last_broadcast)) if *last_broadcast == broadcast => *last *= size,
                _ => dims.push((size, broadcast)),
            }
        }
        let mut input_strides = vec![0; dims.len()];
        let mut output_strides = vec![0; dims.len()];
        let (mut input_stride, mut output_stride) = (1, 1);
        for at in (0..dims.len()).rev() {
            let (size, broadcast) = dims[at];
            output_strides[at] = output_stride;
            output_stride *= size;
            if !broadcast {
                input_strides[at] = input_stride;
                input_stride *= size;
            }
        }
        Layout { dims, input_strides, output_strides }
    }

    fn fill<T: Copy>(&self, level: usize, input: &[T], output: &mut [T]) {
        let Some(&(size, broadcast)) = self.dims.get(level) else {
            output[0] = input[0];
            return;
        };
        let last = level + 1 == self.dims.len();
        match (broadcast, last) {
            (false, true) => output[..size].copy_from_slice(&input[..size]),
            (true, true) => output[..size].fill(input[0]),
            (false, false) => {
                let (input_stride, output_stride) =
                    (self.input_strides[level], self.output_strides[level]);
                for at in 0..size {
                    self.fill(
                        level + 1,
                        &input[at * input_stride..],
                        &mut output[at * output_stride..],
                    );
                }
            }
            (true, false) => {
                let block = self.output_strides[level];
                self.fill(level + 1, input, output);
                for at in 1..size {
                    output.copy_within(..block, at * block);
                }
            }
        }
    }
}

/// Writes `input` of shape `input_shape` broadcast to `output_shape` into `output`.
/// `output_shape` must be a broadcast of `input_shape` (see [`broadcast_shapes`]).
pub(crate) fn broadcast_copy<T: Copy>(
    input: &[T],
    input_shape: &[usize],
    output_shape: &[usize],
    output: &mut [T],
) {
    if output.is_empty() {
        return;
    }
    Layout::new(input_shape, output_shape).fill(0, input, output);
}

/// Expand: the input broadcast with the target shape of input 1 (constant when building).
fn build_expand(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let target = integer_list(constant_input(node, inputs, 1)?, "input 'shape'")?;
    let target: Vec<usize> = target
        .iter()
        .map(|&dim| {
            usize::try_from(dim).map_err(|_| {
                GraphError::invalid(format!(
                    "input 'shape' {target:?} has the negative dimension {dim}"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let shape = broadcast_shapes(data.shape, &target)?;
    check_generated_size(&shape, data.data_type)?;
    let input_shape = data.shape.to_vec();
    let output_shape = shape.clone();
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            with_same!(input.data, &mut outputs[0].data, (a, b) => {
                broadcast_copy(a, &input_shape, &output_shape, b)
            })
        }),
        outputs: vec![OutputInfo::new(data.data_type, shape)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_in_both_directions() {
        assert_eq!(broadcast_shapes(&[3, 1], &[2, 1, 6]).unwrap(), vec![2, 3, 6]);
        assert_eq!(broadcast_shapes(&[3, 4], &[1, 1]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2]).unwrap(), vec![2]);
        assert_eq!(broadcast_shapes(&[0, 1], &[1, 5]).unwrap(), vec![0, 5]);
        let error = broadcast_shapes(&[3, 4], &[2, 4]).unwrap_err();
        assert!(error.message.contains("dimension 0 is 3 and 2"), "{}", error.message);
    }

    #[test]
    fn broadcast_copies_repeat_rows_columns_and_scalars() {
        let mut out = [0; 6];
        broadcast_copy(&[1, 2, 3], &[3], &[2, 3], &mut out);
        assert_eq!(out, [1, 2, 3, 1, 2, 3]);
        broadcast_copy(&[1, 2], &[2, 1], &[2, 3], &mut out);
        assert_eq!(out, [1, 1, 1, 2, 2, 2]);
        broadcast_copy(&[7], &[], &[3, 2], &mut out);
        assert_eq!(out, [7; 6]);
        let mut out = [0; 12];
        // [2, 1, 3] -> [2, 2, 3]: the middle dimension repeats each block.
        broadcast_copy(&[1, 2, 3, 4, 5, 6], &[2, 1, 3], &[2, 2, 3], &mut out[..12]);
        assert_eq!(out, [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
        // [1, 2, 1] -> [3, 2, 2].
        broadcast_copy(&[1, 2], &[1, 2, 1], &[3, 2, 2], &mut out);
        assert_eq!(out, [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2]);
    }
}

//! ArgMax and ArgMin: the index (int64) of the largest or smallest element along attribute
//! `axis` (default 0), the first occurrence unless `select_last_index` = 1; `keepdims`
//! (default 1) keeps the axis as size 1. Works on all eight element types (bool: false <
//! true); NaN elements are never selected unless the first element is NaN.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::axes::normalize_axis;
use super::typed::with_ref;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds ArgMax and ArgMin.
pub fn register(registry: &mut Registry) {
    registry.add("ArgMax", build_arg_max as BuildFn);
    registry.add("ArgMin", build_arg_min as BuildFn);
}

/// The index along the axis of the best element for each of `outer × inner` positions.
/// `LARGEST` picks maxima (else minima), `LAST` the last of equal ones (else the first).
fn arg_reduce<T: PartialOrd + Copy, const LARGEST: bool, const LAST: bool>(
    input: &[T],
    length: usize,
    inner: usize,
    output: &mut [i64],
) {
    let better = |x: T, best: T| match (LARGEST, LAST) {
        (true, false) => x > best,
        (true, true) => x >= best,
        (false, false) => x < best,
        (false, true) => x <= best,
    };
    if length == 0 || inner == 0 {
        return;
    }
    for (block, out) in input.chunks_exact(length * inner).zip(output.chunks_exact_mut(inner)) {
        for (column, o) in out.iter_mut().enumerate() {
            let mut best = block[column];
            let mut index = 0;
            for at in 1..length {
                let x = block[at * inner + column];
                if better(x, best) {
                    best = x;
                    index = at;
                }
            }
            *o = index as i64;
        }
    }
}

fn build(node: &Node, inputs: &[Option<InputInfo<'_>>], largest: bool) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let shape = data.shape;
    let axis = normalize_axis(node.attributes.int_or("axis", 0)?, shape.len(), "attribute 'axis'")?;
    let keep_dims = node.attributes.int_or("keepdims", 1)? != 0;
    let last = node.attributes.int_or("select_last_index", 0)? != 0;
    let length = shape[axis];
    if length == 0 {
        return Err(GraphError::shape(format!(
            "attribute 'axis' {axis} has size 0 in {shape:?}: there is no element to select"
        )));
    }
    let inner: usize = shape[axis + 1..].iter().product();
    let mut output_shape = shape.to_vec();
    if keep_dims {
        output_shape[axis] = 1;
    } else {
        output_shape.remove(axis);
    }
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            let output = outputs[0].i64()?;
            with_ref!(input.data, values => match (largest, last) {
                (true, false) => arg_reduce::<_, true, false>(values, length, inner, output),
                (true, true) => arg_reduce::<_, true, true>(values, length, inner, output),
                (false, false) => arg_reduce::<_, false, false>(values, length, inner, output),
                (false, true) => arg_reduce::<_, false, true>(values, length, inner, output),
            });
            Ok(())
        }),
        outputs: vec![OutputInfo::new(DataType::I64, output_shape)],
    })
}

/// ArgMax (see the module documentation).
fn build_arg_max(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build(node, inputs, true)
}

/// ArgMin (see the module documentation).
fn build_arg_min(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build(node, inputs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pick_the_first_or_the_last_index() {
        let values = [1, 3, 3, 0, 0, 2];
        let mut out = [0i64; 2];
        arg_reduce::<i32, true, false>(&values, 3, 1, &mut out);
        assert_eq!(out, [1, 2]);
        arg_reduce::<i32, true, true>(&values, 3, 1, &mut out);
        assert_eq!(out, [2, 2]);
        arg_reduce::<i32, false, false>(&values, 3, 1, &mut out);
        assert_eq!(out, [0, 0]);
        arg_reduce::<i32, false, true>(&values, 3, 1, &mut out);
        assert_eq!(out, [0, 1]);
        // Along the first axis of a 3x2 matrix.
        let mut columns = [0i64; 2];
        arg_reduce::<i32, true, false>(&values, 3, 2, &mut columns);
        assert_eq!(columns, [1, 0]);
    }
}

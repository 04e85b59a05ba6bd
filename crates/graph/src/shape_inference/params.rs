//! Operator parameters that shape inference and constant folding read the same way: axes,
//! slice bounds, integer inputs.

use crate::graph::Node;
use crate::shape_inference::Known;
use crate::shape_inference::elements::Element;

/// `axis` in `[-rank, rank)` as an index, else `None`.
pub(crate) fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let rank = rank as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    (0..rank).contains(&axis).then_some(axis as usize)
}

/// Axes normalized against `rank`, refusing repeats.
pub(crate) fn normalize_axes(axes: &[i64], rank: usize) -> Option<Vec<usize>> {
    let mut normalized = Vec::with_capacity(axes.len());
    for &axis in axes {
        let axis = normalize_axis(axis, rank)?;
        if normalized.contains(&axis) {
            return None;
        }
        normalized.push(axis);
    }
    Some(normalized)
}

/// ONNX Slice on one axis of `length`: the first index and the count, after clamping
/// (negative bounds count from the end; step 0 is invalid).
pub(crate) fn slice_range(length: usize, start: i64, end: i64, step: i64) -> Option<(i64, usize)> {
    if step == 0 {
        return None;
    }
    let length = length as i64;
    let resolve = |at: i64| if at < 0 { at.saturating_add(length) } else { at };
    let (start, end) = (resolve(start), resolve(end));
    let (start, end) = if step > 0 {
        (start.clamp(0, length), end.clamp(0, length))
    } else {
        (start.clamp(0, length - 1), end.clamp(-1, length - 1))
    };
    let span = if step > 0 { end - start } else { start - end };
    let magnitude = step.unsigned_abs() as i64;
    let count = if span <= 0 { 0 } else { (span + magnitude - 1) / magnitude };
    Some((start, count as usize))
}

/// The indices ONNX Slice takes on one axis of `length`.
pub(crate) fn slice_indices(length: usize, start: i64, end: i64, step: i64) -> Option<Vec<usize>> {
    let (first, count) = slice_range(length, start, end, step)?;
    Some((0..count as i64).map(|at| (first + at * step) as usize).collect())
}

/// The integers of an input: its constant data, or its followed elements if all known.
pub(crate) fn int_values(input: Known<'_>) -> Option<Vec<i64>> {
    if let Some(tensor) = input.constant {
        if tensor.data_type().is_float() {
            return None;
        }
        return Some(tensor.to_i64_vec());
    }
    input
        .elements?
        .iter()
        .map(|element| match element {
            Element::Known(value) => Some(*value),
            Element::Symbol(_) => None,
        })
        .collect()
}

/// The `axes` of Squeeze, Unsqueeze or a reduction: the attribute (older opsets) or input
/// `index` (newer ones). `Some(None)`: no axes given; `None`: given but not known.
pub(crate) fn axes(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    index: usize,
) -> Option<Option<Vec<i64>>> {
    if let Ok(Some(axes)) = node.attributes.ints("axes") {
        return Some(Some(axes.to_vec()));
    }
    match inputs.get(index).copied().flatten() {
        None => Some(None),
        Some(input) => int_values(input).map(Some),
    }
}

/// An int list attribute, or `default` if absent (`None` if of another kind).
pub(crate) fn ints_or(node: &Node, name: &str, default: Vec<i64>) -> Option<Vec<i64>> {
    match node.attributes.ints(name) {
        Ok(Some(values)) => Some(values.to_vec()),
        Ok(None) => Some(default),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_like_onnx() {
        assert_eq!(slice_indices(5, 1, 3, 1), Some(vec![1, 2]));
        assert_eq!(slice_indices(5, -2, i64::MAX, 1), Some(vec![3, 4]));
        assert_eq!(slice_indices(5, i64::MAX, i64::MIN, -2), Some(vec![4, 2, 0]));
        assert_eq!(slice_indices(5, 3, 1, 1), Some(vec![]));
        assert_eq!(slice_indices(4, -1, -5, -1), Some(vec![3, 2, 1, 0]));
        assert_eq!(slice_indices(4, 0, 4, 0), None);
        assert_eq!(slice_range(10, 0, 10, 3), Some((0, 4)));
    }

    #[test]
    fn axes_normalize_and_refuse_repeats() {
        assert_eq!(normalize_axis(-1, 4), Some(3));
        assert_eq!(normalize_axis(4, 4), None);
        assert_eq!(normalize_axes(&[0, -4], 4), None);
        assert_eq!(normalize_axes(&[1, -1], 3), Some(vec![1, 2]));
    }
}

//! Axis arguments shared by the shape and normalization operators: negative axes count
//! from the back, lists must not repeat an axis, and an `axes` list comes either from an
//! attribute (older opsets) or from an input that must be constant when the plan is built
//! (newer opsets).

use dlopt_graph::{DataType, GraphError, Node, Result, Tensor};

use crate::op::InputInfo;

/// `axis` in `[-rank, rank - 1]` as an index; `what` names the argument in the error
/// (e.g. `"attribute 'axis'"`).
pub(crate) fn normalize_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let signed_rank = rank as i64;
    if axis < -signed_rank || axis >= signed_rank {
        return Err(GraphError::invalid(format!(
            "{what} is {axis}, outside [{}, {}] for rank {rank}",
            -signed_rank,
            signed_rank - 1
        )));
    }
    Ok(if axis < 0 { (axis + signed_rank) as usize } else { axis as usize })
}

/// Every axis of `axes` normalized (see [`normalize_axis`]), in the given order; an axis
/// named twice is an error.
pub(crate) fn normalize_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>> {
    let mut seen = vec![false; rank];
    let mut normalized = Vec::with_capacity(axes.len());
    for &axis in axes {
        let index = normalize_axis(axis, rank, what)?;
        if seen[index] {
            return Err(GraphError::invalid(format!("{what} names axis {axis} ({index}) twice")));
        }
        seen[index] = true;
        normalized.push(index);
    }
    Ok(normalized)
}

/// The integers of a constant 1-D (or scalar) int64 or int32 tensor; `what` names it.
pub(crate) fn integer_list(tensor: &Tensor, what: &str) -> Result<Vec<i64>> {
    if !matches!(tensor.data_type(), DataType::I64 | DataType::I32) {
        return Err(GraphError::invalid(format!(
            "{what} must be an int64 tensor, got {}",
            tensor.data_type()
        )));
    }
    if tensor.rank() > 1 {
        return Err(GraphError::invalid(format!(
            "{what} must be 1-D, got shape {:?}",
            tensor.shape()
        )));
    }
    Ok(tensor.to_i64_vec())
}

/// The `axes` of a node: the `axes` ints attribute (older opsets) or input `index`, which
/// must then be constant when the plan is built (newer opsets). `None` if neither is given.
pub(crate) fn axes_argument(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    index: usize,
) -> Result<Option<Vec<i64>>> {
    let attribute = node.attributes.ints("axes")?;
    let input = inputs.get(index).copied().flatten();
    match (attribute, input) {
        (Some(_), Some(_)) => Err(GraphError::invalid(
            "axes are given both as attribute 'axes' and as input 'axes'; give one",
        )),
        (Some(axes), None) => Ok(Some(axes.to_vec())),
        (None, Some(info)) => {
            let tensor = info.constant.ok_or_else(|| {
                GraphError::unsupported(
                    "input 'axes' must be known when the plan is built (computed from data at run time is not supported)",
                )
            })?;
            integer_list(tensor, "input 'axes'").map(Some)
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_axes_count_from_the_back() {
        assert_eq!(normalize_axis(-1, 4, "axis").unwrap(), 3);
        assert_eq!(normalize_axis(-4, 4, "axis").unwrap(), 0);
        assert_eq!(normalize_axis(2, 4, "axis").unwrap(), 2);
    }

    #[test]
    fn out_of_range_and_repeated_axes_are_errors() {
        let error = normalize_axis(4, 4, "attribute 'axis'").unwrap_err();
        assert!(
            error.message.contains("attribute 'axis' is 4, outside [-4, 3]"),
            "{}",
            error.message
        );
        assert!(normalize_axis(-5, 4, "axis").is_err());
        assert!(normalize_axis(0, 0, "axis").is_err());
        let error = normalize_axes(&[1, -3], 4, "attribute 'axes'").unwrap_err();
        assert!(error.message.contains("twice"), "{}", error.message);
        assert_eq!(normalize_axes(&[3, 0], 4, "axes").unwrap(), vec![3, 0]);
    }

    #[test]
    fn integer_lists_must_be_integer_vectors() {
        let ints = Tensor::from_i64(vec![2], vec![1, -1]).unwrap();
        assert_eq!(integer_list(&ints, "input 'shape'").unwrap(), vec![1, -1]);
        let floats = Tensor::from_f32(vec![1], vec![1.0]).unwrap();
        let error = integer_list(&floats, "input 'shape'").unwrap_err();
        assert!(
            error.message.contains("input 'shape' must be an int64 tensor"),
            "{}",
            error.message
        );
        let matrix = Tensor::from_i64(vec![1, 1], vec![1]).unwrap();
        assert!(integer_list(&matrix, "input 'shape'").is_err());
    }
}

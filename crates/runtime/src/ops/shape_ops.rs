//! Operators that only rename, reshape or describe data: Identity, Dropout (inference),
//! Shape, Size, Reshape, Flatten, Squeeze and Unsqueeze. Their kernels copy the data (or
//! write what the build already knows); all work on the eight element types of the IR.
//!
//! The rest of the family lives next door and registers from here: Cast and CastLike
//! (`cast.rs`), Expand (`expand.rs`), Constant, ConstantOfShape, Range and EyeLike
//! (`generate.rs`).

use dlopt_graph::{DataType, GraphError, Node, Result, Tensor};

use super::Registry;
use super::axes::{axes_argument, integer_list, normalize_axes};
use super::typed::{constant_kernel, with_same};
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, kernel, required,
};
use crate::view::{DataMut, DataRef};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("Identity", build_identity as BuildFn);
    registry.add("Dropout", build_dropout as BuildFn);
    registry.add("Shape", build_shape as BuildFn);
    registry.add("Size", build_size as BuildFn);
    registry.add("Reshape", build_reshape as BuildFn);
    registry.add("Flatten", build_flatten as BuildFn);
    registry.add("Squeeze", build_squeeze as BuildFn);
    registry.add("Unsqueeze", build_unsqueeze as BuildFn);
    super::cast::register(registry);
    super::expand::register(registry);
    super::generate::register(registry);
}

/// Copies `input` into `output` (same type and length).
pub(crate) fn copy_data(input: &DataRef<'_>, output: &mut DataMut<'_>) -> Result<()> {
    with_same!(*input, output, (a, b) => b.copy_from_slice(a))
}

/// A built node whose kernel copies input 0 to its one output of `data_type` and `shape`
/// (the data is unchanged, only the shape differs).
fn copying(data_type: DataType, shape: Vec<usize>) -> BuiltOp {
    BuiltOp {
        kernel: kernel(|inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            copy_data(&input.data, &mut outputs[0].data)
        }),
        outputs: vec![OutputInfo::new(data_type, shape)],
    }
}

/// Checks that the node names at most `most` outputs.
fn at_most_outputs(node: &Node, most: usize) -> Result<()> {
    if node.outputs.len() > most {
        return Err(GraphError::invalid(format!(
            "the node names {} outputs, the operator has at most {most}",
            node.outputs.len()
        )));
    }
    Ok(())
}

/// Identity: the output is the input.
fn build_identity(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    Ok(copying(input.data_type, input.shape.to_vec()))
}

/// Dropout in inference: the output is the input and the optional mask (bool) is all
/// true. Training mode (input 2 true) is supported only with a ratio of 0, where it is
/// the same; otherwise it is random and refused.
fn build_dropout(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    at_most_outputs(node, 2)?;
    if let Some(training) = inputs.get(2).copied().flatten() {
        let tensor = training.constant.ok_or_else(|| {
            GraphError::unsupported(
                "input 'training_mode' must be known when the plan is built (dlopt runs inference only)",
            )
        })?;
        let training = tensor.data().to_f64_vec().first().is_some_and(|&value| value != 0.0);
        if training {
            let ratio = match inputs.get(1).copied().flatten() {
                None => 0.5,
                Some(info) => match info.constant {
                    Some(tensor) => tensor.data().to_f64_vec().first().copied().unwrap_or(0.5),
                    None => f64::NAN,
                },
            };
            if ratio != 0.0 {
                return Err(GraphError::unsupported(format!(
                    "input 'training_mode' is true with ratio {ratio}: random dropout (training) is not supported"
                )));
            }
        }
    }
    let mut outputs = vec![OutputInfo::new(data.data_type, data.shape.to_vec())];
    if node.outputs.len() == 2 {
        outputs.push(OutputInfo::new(DataType::Bool, data.shape.to_vec()));
    }
    Ok(BuiltOp {
        kernel: kernel(|inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            copy_data(&input.data, &mut outputs[0].data)?;
            if let Some(mask) = outputs.get_mut(1) {
                match &mut mask.data {
                    DataMut::Bool(values) => values.fill(true),
                    other => {
                        return Err(super::typed::type_mismatch(DataType::Bool, other.data_type()));
                    }
                }
            }
            Ok(())
        }),
        outputs,
    })
}

/// Clamps a Shape `start`/`end` attribute to `[0, rank]` (negative counts from the back).
fn clamp_shape_bound(bound: i64, rank: usize) -> usize {
    let rank = rank as i64;
    let bound = if bound < 0 { bound.saturating_add(rank) } else { bound };
    bound.clamp(0, rank) as usize
}

/// Shape: the input's dimensions as a 1-D int64 tensor, sliced by the `start` and `end`
/// attributes (opset 15; clamped to the rank, empty when start > end).
fn build_shape(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let rank = data.shape.len();
    let start = clamp_shape_bound(node.attributes.int_or("start", 0)?, rank);
    let end = match node.attributes.int("end")? {
        Some(end) => clamp_shape_bound(end, rank),
        None => rank,
    };
    let dims: Vec<i64> = data.shape[start..end.max(start)].iter().map(|&dim| dim as i64).collect();
    let tensor = Tensor::from_i64(vec![dims.len()], dims)?;
    Ok(BuiltOp {
        outputs: vec![OutputInfo::new(DataType::I64, tensor.shape().to_vec())],
        kernel: constant_kernel(tensor),
    })
}

/// Size: the input's element count as an int64 scalar.
fn build_size(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let count = dlopt_graph::tensor::element_count(data.shape)?;
    let tensor = Tensor::from_i64(Vec::new(), vec![count as i64])?;
    Ok(BuiltOp {
        outputs: vec![OutputInfo::new(DataType::I64, Vec::new())],
        kernel: constant_kernel(tensor),
    })
}

/// The output shape of Reshape: `target` with 0 copying the input's dimension at the same
/// index (unless `allow_zero`) and at most one -1 inferred from the element count.
pub(crate) fn reshape_target(
    input: &[usize],
    target: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>> {
    let bad = |reason: String| GraphError::invalid(format!("input 'shape' {target:?}: {reason}"));
    let count = dlopt_graph::tensor::element_count(input)?;
    let mut shape = Vec::with_capacity(target.len());
    let mut inferred = None;
    for (at, &dim) in target.iter().enumerate() {
        let size = match dim {
            -1 => {
                if inferred.replace(at).is_some() {
                    return Err(bad("more than one dimension is -1".into()));
                }
                1
            }
            0 if !allow_zero => *input.get(at).ok_or_else(|| {
                bad(format!(
                    "dimension {at} is 0 (copy the input's), but the input {input:?} has rank {}",
                    input.len()
                ))
            })?,
            dim if dim < 0 => {
                return Err(bad(format!("dimension {at} is {dim}; only -1 may be negative")));
            }
            dim => usize::try_from(dim).map_err(|_| bad(format!("dimension {at} is too large")))?,
        };
        shape.push(size);
    }
    if allow_zero && inferred.is_some() && target.contains(&0) {
        return Err(bad("with attribute 'allowzero' = 1, 0 and -1 cannot both appear".into()));
    }
    let known = dlopt_graph::tensor::element_count(&shape)?;
    if let Some(at) = inferred {
        if known == 0 || count % known != 0 {
            return Err(GraphError::shape(format!(
                "input 'shape' {target:?}: cannot infer dimension {at} (-1): the input {input:?} has {count} elements, the other dimensions hold {known}"
            )));
        }
        shape[at] = count / known;
    } else if known != count {
        return Err(GraphError::shape(format!(
            "input 'shape' {target:?} gives {shape:?} ({known} elements), the input {input:?} has {count}"
        )));
    }
    Ok(shape)
}

/// Reshape: the data with the shape of input 1 (constant when building; see
/// [`reshape_target`] for 0, -1 and attribute `allowzero`).
fn build_reshape(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let target = integer_list(constant_input(node, inputs, 1)?, "input 'shape'")?;
    let allow_zero = node.attributes.int_or("allowzero", 0)? != 0;
    Ok(copying(data.data_type, reshape_target(data.shape, &target, allow_zero)?))
}

/// Flatten: a 2-D view, dimensions before attribute `axis` (in `[-rank, rank]`, default
/// 1) multiplied into the rows, the rest into the columns.
fn build_flatten(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let rank = data.shape.len() as i64;
    let axis = node.attributes.int_or("axis", 1)?;
    if axis < -rank || axis > rank {
        return Err(GraphError::invalid(format!(
            "attribute 'axis' is {axis}, outside [{}, {rank}] for rank {rank}",
            -rank
        )));
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    let rows = dlopt_graph::tensor::element_count(&data.shape[..axis])?;
    let columns = dlopt_graph::tensor::element_count(&data.shape[axis..])?;
    Ok(copying(data.data_type, vec![rows, columns]))
}

/// Squeeze: removes the size-1 dimensions named by `axes` (attribute before opset 13,
/// constant input 1 since), or every size-1 dimension when none are named.
fn build_squeeze(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let axes = axes_argument(node, inputs, 1)?.unwrap_or_default();
    let shape: Vec<usize> = if axes.is_empty() {
        data.shape.iter().copied().filter(|&dim| dim != 1).collect()
    } else {
        let axes = normalize_axes(&axes, data.shape.len(), "axes")?;
        if let Some(&axis) = axes.iter().find(|&&axis| data.shape[axis] != 1) {
            return Err(GraphError::shape(format!(
                "axes name axis {axis}, which has size {} (only size-1 dimensions can be squeezed) in {:?}",
                data.shape[axis], data.shape
            )));
        }
        data.shape
            .iter()
            .enumerate()
            .filter(|(at, _)| !axes.contains(at))
            .map(|(_, &dim)| dim)
            .collect()
    };
    Ok(copying(data.data_type, shape))
}

/// Unsqueeze: inserts size-1 dimensions at `axes` of the output (attribute before opset
/// 13, constant input 1 since; negative axes count from the back of the output).
fn build_unsqueeze(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let axes = axes_argument(node, inputs, 1)?
        .ok_or_else(|| GraphError::invalid("axes are required (attribute or input 'axes')"))?;
    let rank = data.shape.len() + axes.len();
    let axes = normalize_axes(&axes, rank, "axes (axes of the output)")?;
    let mut dims = data.shape.iter();
    let shape = (0..rank)
        .map(|at| if axes.contains(&at) { 1 } else { dims.next().copied().unwrap_or(1) })
        .collect();
    Ok(copying(data.data_type, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_targets_copy_zeros_and_infer_one_dimension() {
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_target(&[2, 3, 4], &[4, 0, 2], false).unwrap(), vec![4, 3, 2]);
        assert_eq!(reshape_target(&[0, 3], &[3, 0], true).unwrap(), vec![3, 0]);
        assert_eq!(reshape_target(&[1], &[], false).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn bad_reshape_targets_are_errors() {
        let message = |input: &[usize], target: &[i64], zero| {
            reshape_target(input, target, zero).unwrap_err().message
        };
        assert!(message(&[2, 3], &[-1, -1], false).contains("more than one"));
        assert!(message(&[2, 3], &[5], false).contains("6"));
        assert!(message(&[2, 3], &[4, -1], false).contains("cannot infer"));
        assert!(message(&[2, 3], &[-2, 3], false).contains("only -1"));
        assert!(message(&[6], &[6, 0], false).contains("rank 1"));
        assert!(message(&[0, 3], &[0, -1], true).contains("allowzero"));
        assert!(message(&[0, 3], &[0, -1], false).contains("cannot infer"));
        assert_eq!(reshape_target(&[0, 3], &[-1, 0], false).unwrap(), vec![0, 3]);
    }

    #[test]
    fn shape_bounds_clamp_to_the_rank() {
        assert_eq!(clamp_shape_bound(-1, 3), 2);
        assert_eq!(clamp_shape_bound(-10, 3), 0);
        assert_eq!(clamp_shape_bound(10, 3), 3);
        assert_eq!(clamp_shape_bound(i64::MIN, 3), 0);
    }
}

//! Operators that make data from attributes and shapes: Constant, ConstantOfShape, Range
//! and EyeLike. Their outputs only depend on what is known while building (Range and
//! ConstantOfShape need constant inputs), so the plan computes them once.

use dlopt_graph::{Attribute, DataType, GraphError, Node, Result, Tensor, TensorData};

use super::Registry;
use super::axes::integer_list;
use super::cast::data_type_of_code;
use super::typed::{Convert, check_generated_size, constant_kernel, with_mut, with_same};
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, kernel, required,
};
use crate::view::TensorView;

/// Adds Constant, ConstantOfShape, Range and EyeLike.
pub fn register(registry: &mut Registry) {
    registry.add("Constant", build_constant as BuildFn);
    registry.add("ConstantOfShape", build_constant_of_shape as BuildFn);
    registry.add("Range", build_range as BuildFn);
    registry.add("EyeLike", build_eye_like as BuildFn);
}

/// A node whose one output is `tensor`.
fn constant_op(tensor: Tensor) -> BuiltOp {
    BuiltOp {
        outputs: vec![OutputInfo::new(tensor.data_type(), tensor.shape().to_vec())],
        kernel: constant_kernel(tensor),
    }
}

/// The attributes that can hold a Constant's value.
const CONSTANT_ATTRIBUTES: [&str; 8] = [
    "value",
    "value_float",
    "value_floats",
    "value_int",
    "value_ints",
    "value_string",
    "value_strings",
    "sparse_value",
];

/// The tensor a Constant node's attributes describe.
fn constant_value(node: &Node) -> Result<Tensor> {
    let given: Vec<&str> = CONSTANT_ATTRIBUTES
        .iter()
        .copied()
        .filter(|name| node.attributes.get(name).is_some())
        .collect();
    let [name] = given.as_slice() else {
        return Err(GraphError::invalid(format!(
            "exactly one of the attributes {} is required, got {}",
            CONSTANT_ATTRIBUTES.join(", "),
            if given.is_empty() { "none".to_string() } else { given.join(", ") }
        )));
    };
    let attributes = &node.attributes;
    match (*name, attributes.get(name)) {
        ("value", Some(Attribute::Tensor(tensor))) => Ok(tensor.clone()),
        ("value_float", _) => {
            let value = attributes.float("value_float")?.unwrap_or_default();
            Tensor::scalar(TensorData::F32(vec![value]))
        }
        ("value_floats", _) => {
            let values = attributes.floats("value_floats")?.unwrap_or_default().to_vec();
            Tensor::from_f32(vec![values.len()], values)
        }
        ("value_int", _) => {
            let value = attributes.int("value_int")?.unwrap_or_default();
            Tensor::scalar(TensorData::I64(vec![value]))
        }
        ("value_ints", _) => {
            let values = attributes.ints("value_ints")?.unwrap_or_default().to_vec();
            Tensor::from_i64(vec![values.len()], values)
        }
        ("value", _) => Err(GraphError::invalid("attribute 'value' must be a tensor")),
        (other, _) => Err(GraphError::unsupported(format!(
            "attribute '{other}': {} constants are not supported",
            if other == "sparse_value" { "sparse" } else { "string" }
        ))),
    }
}

/// Constant: the tensor of its one value attribute (`value`, `value_float(s)`,
/// `value_int(s)`; strings and sparse tensors are not supported).
fn build_constant(node: &Node, _: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    Ok(constant_op(constant_value(node)?))
}

/// ConstantOfShape: a tensor of the shape given by input 0 (constant when building)
/// filled with the one element of attribute `value` (default: f32 0).
fn build_constant_of_shape(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let dims = integer_list(constant_input(node, inputs, 0)?, "input 'input'")?;
    let shape: Vec<usize> = dims
        .iter()
        .map(|&dim| {
            usize::try_from(dim).map_err(|_| {
                GraphError::invalid(format!(
                    "input 'input' {dims:?} has the negative dimension {dim}"
                ))
            })
        })
        .collect::<Result<_>>()?;
    let value = match node.attributes.tensor("value")? {
        Some(tensor) if tensor.len() == 1 => tensor.clone(),
        Some(tensor) => {
            return Err(GraphError::invalid(format!(
                "attribute 'value' must hold one element, got shape {:?}",
                tensor.shape()
            )));
        }
        None => Tensor::from_f32(vec![1], vec![0.0])?,
    };
    check_generated_size(&shape, value.data_type())?;
    let data_type = value.data_type();
    Ok(BuiltOp {
        kernel: kernel(move |_, outputs, _| {
            let view = TensorView::of(&value);
            with_same!(view.data, &mut outputs[0].data, (a, b) => b.fill(a[0]))
        }),
        outputs: vec![OutputInfo::new(data_type, shape)],
    })
}

/// One scalar input of Range, as a constant tensor of `data_type`.
fn range_scalar<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
    name: &str,
    data_type: DataType,
) -> Result<&'a Tensor> {
    let tensor = constant_input(node, inputs, index)?;
    if tensor.data_type() != data_type {
        return Err(GraphError::invalid(format!(
            "input '{name}' is {}, input 'start' is {data_type}; they must have the same type",
            tensor.data_type()
        )));
    }
    if tensor.len() != 1 {
        return Err(GraphError::invalid(format!(
            "input '{name}' must be a scalar, got shape {:?}",
            tensor.shape()
        )));
    }
    Ok(tensor)
}

fn fill_float_sequence<T: Convert>(values: &mut [T], start: f64, delta: f64) {
    for (at, value) in values.iter_mut().enumerate() {
        *value = T::from_f64(start + at as f64 * delta);
    }
}

fn fill_integer_sequence<T: Convert>(values: &mut [T], start: i128, delta: i128) {
    for (at, value) in values.iter_mut().enumerate() {
        *value = T::from_i64((start + at as i128 * delta) as i64);
    }
}

/// Range: `start, start + delta, ...` up to `limit` (exclusive); the three scalar inputs
/// must be constant when building. Float types (f32, f16, bf16) are computed in f64,
/// integers exactly.
fn build_range(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data_type = required(node, inputs, 0)?.data_type;
    let start = range_scalar(node, inputs, 0, "start", data_type)?;
    let limit = range_scalar(node, inputs, 1, "limit", data_type)?;
    let delta = range_scalar(node, inputs, 2, "delta", data_type)?;
    let too_long =
        || GraphError::new(dlopt_graph::ErrorKind::TooLarge, "the range has too many elements");
    let data = match data_type {
        DataType::F32 | DataType::F16 | DataType::BF16 => {
            let [start, limit, delta] = [start, limit, delta].map(|t| t.data().to_f64_vec()[0]);
            if delta == 0.0 || !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
                return Err(GraphError::invalid(format!(
                    "start {start}, limit {limit} and delta {delta} must be finite and delta non-zero"
                )));
            }
            let count = ((limit - start) / delta).ceil().max(0.0);
            if count >= usize::MAX as f64 {
                return Err(too_long());
            }
            check_generated_size(&[count as usize], data_type)?;
            let mut data = TensorData::zeros(data_type, count as usize);
            let view = crate::arena::view_of_data(&mut data, &[]);
            with_mut!(view.data, values => fill_float_sequence(values, start, delta));
            data
        }
        DataType::I8 | DataType::U8 | DataType::I32 | DataType::I64 => {
            let [start, limit, delta] = [start, limit, delta].map(|t| t.to_i64_vec()[0] as i128);
            if delta == 0 {
                return Err(GraphError::invalid("input 'delta' is 0"));
            }
            let span = limit - start;
            let count =
                (span / delta + i128::from(span % delta != 0 && (span < 0) == (delta < 0))).max(0);
            let count = usize::try_from(count).map_err(|_| too_long())?;
            check_generated_size(&[count], data_type)?;
            let mut data = TensorData::zeros(data_type, count);
            let view = crate::arena::view_of_data(&mut data, &[]);
            with_mut!(view.data, values => fill_integer_sequence(values, start, delta));
            data
        }
        DataType::Bool => {
            return Err(GraphError::unsupported("input 'start' is bool; Range needs numbers"));
        }
    };
    Ok(constant_op(Tensor::new(vec![data.len()], data)?))
}

fn fill_eye<T: Convert>(values: &mut [T], columns: usize, k: i64) {
    values.fill(T::from_i64(0));
    if columns == 0 {
        return;
    }
    for (row, line) in values.chunks_mut(columns).enumerate() {
        let column = row as i64 + k;
        if (0..columns as i64).contains(&column) {
            line[column as usize] = T::from_i64(1);
        }
    }
}

/// EyeLike: a matrix of input 0's 2-D shape with ones on diagonal `k` (attribute, default
/// 0; positive above the main diagonal), of attribute `dtype`'s type or the input's. The
/// input's data does not matter, so the result is known while building.
fn build_eye_like(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    let &[_, columns] = input.shape else {
        return Err(GraphError::invalid(format!(
            "the input must be 2-D, got shape {:?}",
            input.shape
        )));
    };
    let data_type = match node.attributes.int("dtype")? {
        Some(code) => data_type_of_code(code, "attribute 'dtype'")?,
        None => input.data_type,
    };
    let k = node.attributes.int_or("k", 0)?;
    check_generated_size(input.shape, data_type)?;
    let mut data = TensorData::zeros(data_type, input.shape.iter().product());
    with_mut!(crate::arena::view_of_data(&mut data, &[]).data, values => fill_eye(values, columns, k));
    Ok(constant_op(Tensor::new(input.shape.to_vec(), data)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eye_matrices_put_ones_on_diagonal_k() {
        let mut values = [0i32; 6];
        fill_eye(&mut values, 3, 1);
        assert_eq!(values, [0, 1, 0, 0, 0, 1]);
        fill_eye(&mut values, 3, -1);
        assert_eq!(values, [0, 0, 0, 1, 0, 0]);
        fill_eye(&mut values, 2, 0);
        assert_eq!(values, [1, 0, 0, 1, 0, 0]);
    }
}

//! Plain implementations, for constants, of the operators that move data without
//! computing on it: Gather, Unsqueeze, Squeeze, Concat, Reshape, Slice, Transpose,
//! ConstantOfShape and Range (integers). Every element is selected by index from its
//! source ([`pick`]), so one helper serves all element types.
//!
//! Each returns `None` for what it does not handle or what is invalid (the node then
//! stays, and the runtime reports a problem when it builds the node).

use crate::attribute::Attribute;
use crate::graph::Node;
use crate::shape_inference::params::{normalize_axes, normalize_axis, slice_indices};
use crate::tensor::{Tensor, TensorData, element_count};

/// Results may hold at most this many elements more than their inputs together: folding
/// must not turn a small model into a large one (e.g. a ConstantOfShape of an image size).
pub(crate) const GROWTH_LIMIT: usize = 1 << 16;

/// Whether a result of `count` elements computed from `sources` input elements is small
/// enough to keep as a constant.
pub(crate) fn fits(count: usize, sources: usize) -> bool {
    count <= sources.saturating_add(GROWTH_LIMIT)
}

/// The elements of `data` at `indices`, in that order.
pub(crate) fn pick(data: &TensorData, indices: &[usize]) -> Option<TensorData> {
    macro_rules! pick {
        ($($variant:ident),*) => {
            match data {
                $(TensorData::$variant(values) => {
                    TensorData::$variant(indices.iter().map(|&at| values.get(at).copied()).collect::<Option<_>>()?)
                })*
            }
        };
    }
    Some(pick!(F32, F16, BF16, I8, U8, I32, I64, Bool))
}

/// The data of `parts` one after another (all of one element type).
pub(crate) fn concat_data(parts: &[&TensorData]) -> Option<TensorData> {
    let first = parts.first()?;
    macro_rules! concat {
        ($($variant:ident),*) => {
            match first {
                $(TensorData::$variant(_) => {
                    let mut all = Vec::new();
                    for part in parts {
                        let TensorData::$variant(values) = part else { return None };
                        all.extend_from_slice(values);
                    }
                    TensorData::$variant(all)
                })*
            }
        };
    }
    Some(concat!(F32, F16, BF16, I8, U8, I32, I64, Bool))
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for at in (0..shape.len().saturating_sub(1)).rev() {
        strides[at] = strides[at + 1] * shape[at + 1];
    }
    strides
}

/// For every element of an output of `shape` (row-major), the source index
/// `sum(coordinate[axis] -> source_offsets[axis][coordinate])`.
pub(crate) fn gather_indices(shape: &[usize], source_offsets: &[Vec<usize>]) -> Option<Vec<usize>> {
    let count = element_count(shape).ok()?;
    let mut indices = Vec::with_capacity(count);
    let mut coordinate = vec![0usize; shape.len()];
    for _ in 0..count {
        indices.push(coordinate.iter().zip(source_offsets).map(|(&at, offsets)| offsets[at]).sum());
        for axis in (0..shape.len()).rev() {
            coordinate[axis] += 1;
            if coordinate[axis] < shape[axis] {
                break;
            }
            coordinate[axis] = 0;
        }
    }
    Some(indices)
}

/// The source offsets of a broadcast: along each output axis, the input's stride or 0.
pub(crate) fn broadcast_offsets(input: &[usize], output: &[usize]) -> Vec<Vec<usize>> {
    let skip = output.len() - input.len();
    let input_strides = strides(input);
    output
        .iter()
        .enumerate()
        .map(|(axis, &size)| match axis.checked_sub(skip) {
            Some(at) if input[at] != 1 => (0..size).map(|i| i * input_strides[at]).collect(),
            _ => vec![0; size],
        })
        .collect()
}

/// The axes of Squeeze or Unsqueeze: the attribute, else input 1.
fn axes(node: &Node, inputs: &[Option<&Tensor>]) -> Option<Vec<i64>> {
    match node.attributes.ints("axes").ok()? {
        Some(axes) => Some(axes.to_vec()),
        None => inputs.get(1).copied().flatten().map(Tensor::to_i64_vec),
    }
}

/// Evaluates a data-movement node on constant inputs.
pub(crate) fn evaluate(node: &Node, inputs: &[Option<&Tensor>]) -> Option<Vec<Tensor>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let x = input(0)?;
    let result = match node.op_type.as_str() {
        "Unsqueeze" => {
            let axes = axes(node, inputs)?;
            let rank = x.rank() + axes.len();
            let axes = normalize_axes(&axes, rank)?;
            let mut rest = x.shape().iter();
            let shape =
                (0..rank).map(|at| if axes.contains(&at) { Some(1) } else { rest.next().copied() });
            x.reshaped(shape.collect::<Option<_>>()?).ok()?
        }
        "Squeeze" => {
            let axes = match axes(node, inputs) {
                Some(axes) => normalize_axes(&axes, x.rank())?,
                None => (0..x.rank()).filter(|&at| x.shape()[at] == 1).collect(),
            };
            if axes.iter().any(|&axis| x.shape()[axis] != 1) {
                return None;
            }
            let shape =
                x.shape().iter().enumerate().filter(|(at, _)| !axes.contains(at)).map(|(_, &d)| d);
            x.reshaped(shape.collect()).ok()?
        }
        "Reshape" => reshape(node, x, input(1)?)?,
        "Concat" => concat(node, inputs)?,
        "Gather" => gather(node, x, input(1)?)?,
        "Slice" => slice(x, inputs)?,
        "Transpose" => transpose(node, x)?,
        "ConstantOfShape" => constant_of_shape(node, x)?,
        "Range" => range(x, input(1)?, input(2)?)?,
        _ => return None,
    };
    Some(vec![result])
}

fn reshape(node: &Node, x: &Tensor, target: &Tensor) -> Option<Tensor> {
    let allow_zero = node.attributes.int_or("allowzero", 0).ok()? != 0;
    let target = target.to_i64_vec();
    let mut shape = Vec::with_capacity(target.len());
    let mut inferred = None;
    for (at, &size) in target.iter().enumerate() {
        match size {
            0 if !allow_zero => shape.push(*x.shape().get(at)?),
            -1 if inferred.is_none() => {
                inferred = Some(at);
                shape.push(1);
            }
            size => shape.push(usize::try_from(size).ok()?),
        }
    }
    if let Some(at) = inferred {
        let known = element_count(&shape).ok()?;
        if known == 0 || x.len() % known != 0 {
            return None;
        }
        shape[at] = x.len() / known;
    }
    x.reshaped(shape).ok()
}

fn concat(node: &Node, inputs: &[Option<&Tensor>]) -> Option<Tensor> {
    let parts: Vec<&Tensor> = inputs.iter().copied().collect::<Option<_>>()?;
    let first = parts.first()?;
    let axis = normalize_axis(node.attributes.int_or("axis", 0).ok()?, first.rank())?;
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for part in &parts {
        let same_elsewhere = part.rank() == first.rank()
            && (0..first.rank()).all(|at| at == axis || part.shape()[at] == first.shape()[at]);
        if !same_elsewhere || part.data_type() != first.data_type() {
            return None;
        }
        shape[axis] += part.shape()[axis];
    }
    // Row-major: the outer rows interleave, each part contributing its inner block.
    let outer: usize = first.shape()[..axis].iter().product();
    let inner: usize = first.shape()[axis + 1..].iter().product();
    let mut indices = Vec::with_capacity(element_count(&shape).ok()?);
    let mut offsets = Vec::with_capacity(parts.len());
    let mut offset = 0;
    for part in &parts {
        offsets.push(offset);
        offset += part.len();
    }
    for row in 0..outer {
        for (part, &start) in parts.iter().zip(&offsets) {
            let block = part.shape()[axis] * inner;
            indices.extend((0..block).map(|at| start + row * block + at));
        }
    }
    let all = concat_data(&parts.iter().map(|part| part.data()).collect::<Vec<_>>())?;
    Tensor::new(shape, pick(&all, &indices)?).ok()
}

fn gather(node: &Node, x: &Tensor, indices: &Tensor) -> Option<Tensor> {
    if indices.data_type().is_float() {
        return None;
    }
    let axis = normalize_axis(node.attributes.int_or("axis", 0).ok()?, x.rank())?;
    let size = x.shape()[axis] as i64;
    let positions: Vec<usize> = indices
        .to_i64_vec()
        .into_iter()
        .map(|at| {
            usize::try_from(if at < 0 { at + size } else { at })
                .ok()
                .filter(|&at| (at as i64) < size)
        })
        .collect::<Option<_>>()?;
    let outer: usize = x.shape()[..axis].iter().product();
    let inner: usize = x.shape()[axis + 1..].iter().product();
    if !fits(outer.checked_mul(positions.len())?.checked_mul(inner)?, x.len() + indices.len()) {
        return None;
    }
    let mut picked = Vec::with_capacity(outer * positions.len() * inner);
    for row in 0..outer {
        for &at in &positions {
            let start = (row * x.shape()[axis] + at) * inner;
            picked.extend(start..start + inner);
        }
    }
    let shape = [&x.shape()[..axis], indices.shape(), &x.shape()[axis + 1..]].concat();
    Tensor::new(shape, pick(x.data(), &picked)?).ok()
}

fn slice(x: &Tensor, inputs: &[Option<&Tensor>]) -> Option<Tensor> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let starts = input(1)?.to_i64_vec();
    let ends = input(2)?.to_i64_vec();
    let axes = match input(3) {
        Some(axes) => normalize_axes(&axes.to_i64_vec(), x.rank())?,
        None => (0..starts.len()).collect(),
    };
    let steps = input(4).map_or_else(|| vec![1; starts.len()], Tensor::to_i64_vec);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let x_strides = strides(x.shape());
    let mut offsets: Vec<Vec<usize>> = x
        .shape()
        .iter()
        .zip(&x_strides)
        .map(|(&size, &stride)| (0..size).map(|i| i * stride).collect())
        .collect();
    for (at, &axis) in axes.iter().enumerate() {
        let taken = slice_indices(x.shape()[axis], starts[at], ends[at], steps[at])?;
        offsets[axis] = taken.into_iter().map(|i| i * x_strides[axis]).collect();
    }
    let shape: Vec<usize> = offsets.iter().map(Vec::len).collect();
    Tensor::new(shape.clone(), pick(x.data(), &gather_indices(&shape, &offsets)?)?).ok()
}

fn transpose(node: &Node, x: &Tensor) -> Option<Tensor> {
    let perm: Vec<i64> = match node.attributes.ints("perm").ok()? {
        Some(perm) => perm.to_vec(),
        None => (0..x.rank() as i64).rev().collect(),
    };
    let perm = normalize_axes(&perm, x.rank()).filter(|perm| perm.len() == x.rank())?;
    let x_strides = strides(x.shape());
    let shape: Vec<usize> = perm.iter().map(|&axis| x.shape()[axis]).collect();
    let offsets: Vec<Vec<usize>> = perm
        .iter()
        .map(|&axis| (0..x.shape()[axis]).map(|i| i * x_strides[axis]).collect())
        .collect();
    Tensor::new(shape.clone(), pick(x.data(), &gather_indices(&shape, &offsets)?)?).ok()
}

fn constant_of_shape(node: &Node, shape: &Tensor) -> Option<Tensor> {
    let shape: Vec<usize> =
        shape.to_i64_vec().into_iter().map(|d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    let value = match node.attributes.get("value") {
        Some(Attribute::Tensor(value)) if value.len() == 1 => value.data().clone(),
        Some(_) => return None,
        None => TensorData::F32(vec![0.0]),
    };
    let count = element_count(&shape).ok().filter(|&count| fits(count, 0))?;
    Tensor::new(shape, pick(&value, &vec![0; count])?).ok()
}

/// Range of integers (floats accumulate rounding differently by implementation).
fn range(start: &Tensor, limit: &Tensor, delta: &Tensor) -> Option<Tensor> {
    let data_type = start.data_type();
    if !matches!(data_type, crate::DataType::I64 | crate::DataType::I32)
        || [limit, delta].iter().any(|t| t.data_type() != data_type)
        || [start, limit, delta].iter().any(|t| t.len() != 1)
    {
        return None;
    }
    let (start, limit, delta) =
        (start.to_i64_vec()[0], limit.to_i64_vec()[0], delta.to_i64_vec()[0]);
    if delta == 0 {
        return None;
    }
    let span = limit.checked_sub(start)?;
    let count = if (span > 0) == (delta > 0) && span != 0 {
        (span.unsigned_abs().div_ceil(delta.unsigned_abs())) as usize
    } else {
        0
    };
    if !fits(count, 0) {
        return None;
    }
    let values: Vec<i64> = (0..count as i64).map(|at| start + at * delta).collect();
    Tensor::new(vec![count], TensorData::I64(values)).ok().map(|t| t.cast(data_type))
}

//! Inference for operators that move or regroup data without computing on it: Reshape,
//! Flatten, Transpose, Concat, Squeeze, Unsqueeze, Gather, Slice, Expand, and the shape
//! producers Shape, Size, ConstantOfShape and Range.

use crate::attribute::Attribute;
use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::Node;
use crate::shape::{Dim, SymbolicShape};
use crate::shape_inference::dims::{Symbols, broadcast};
use crate::shape_inference::elements::{Element, of_input};
use crate::shape_inference::params::{axes, int_values, normalize_axes, slice_range};
use crate::shape_inference::rules::axis_attribute;
use crate::shape_inference::{Inferred, Known};

/// Dispatches the layout operators; others give nothing.
pub(crate) fn infer(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
    _opset: i64,
) -> Result<Vec<Inferred>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let shape_of = |index: usize| input(index).and_then(|known| known.shape);
    let first_type = input(0).and_then(|known| known.data_type);
    let same_type = |shape: Option<SymbolicShape>| Ok(vec![Inferred::new(shape, first_type)]);
    match node.op_type.as_str() {
        "Reshape" => same_type(reshape(node, shape_of(0), of_input(input(1)), symbols)?),
        "Flatten" => same_type(flatten(node, shape_of(0), symbols)?),
        "Transpose" => same_type(transpose(node, shape_of(0))?),
        "Concat" => same_type(concat(node, inputs, symbols)?),
        "Squeeze" => same_type(squeeze(node, inputs)),
        "Unsqueeze" => same_type(unsqueeze(node, inputs)),
        "Gather" => same_type(gather(node, shape_of(0), shape_of(1))?),
        "Slice" => same_type(slice(inputs, symbols)),
        "Expand" => {
            let target: Option<Vec<Dim>> =
                of_input(input(1)).and_then(|e| e.iter().map(Element::to_dim).collect());
            let shape = match (shape_of(0), target) {
                (Some(shape), Some(target)) => Some(broadcast(&[shape, &target])?),
                _ => None,
            };
            same_type(shape)
        }
        "Shape" => {
            let shape = shape_of(0).map(|shape| {
                let rank = shape.len() as i64;
                let start = node.attributes.int_or("start", 0).unwrap_or(0);
                let end = node.attributes.int_or("end", rank).unwrap_or(rank);
                let clamp = |at: i64| (if at < 0 { at + rank } else { at }).clamp(0, rank);
                vec![Dim::Fixed((clamp(end) - clamp(start)).max(0) as usize)]
            });
            Ok(vec![Inferred::new(shape, Some(DataType::I64))])
        }
        "Size" => Ok(vec![Inferred::new(Some(Vec::new()), Some(DataType::I64))]),
        "ConstantOfShape" => {
            let data_type = match node.attributes.get("value") {
                Some(Attribute::Tensor(tensor)) => Some(tensor.data_type()),
                Some(_) => None,
                None => Some(DataType::F32),
            };
            let shape = of_input(input(0)).and_then(|e| e.iter().map(Element::to_dim).collect());
            Ok(vec![Inferred::new(shape, data_type)])
        }
        "Range" => {
            let values: Option<Vec<f64>> = (0..3)
                .map(|at| {
                    input(at)?.constant.filter(|t| t.len() == 1).map(|t| t.data().to_f64_vec()[0])
                })
                .collect();
            let length = match values.as_deref() {
                Some(&[start, limit, delta]) if delta != 0.0 => {
                    Dim::Fixed(((limit - start) / delta).ceil().max(0.0) as usize)
                }
                _ => symbols.opaque(format!("{}.length", node.name)),
            };
            same_type(Some(vec![length]))
        }
        _ => Ok(Vec::new()),
    }
}

/// Reshape: 0 copies the input's dimension (unless `allowzero`), -1 is what is left.
fn reshape(
    node: &Node,
    x: Option<&[Dim]>,
    target: Option<Vec<Element>>,
    symbols: &mut Symbols,
) -> Result<Option<SymbolicShape>> {
    let Some(target) = target else { return Ok(None) };
    let allow_zero = node.attributes.int_or("allowzero", 0)? != 0;
    let mut shape = Vec::with_capacity(target.len());
    let mut inferred_at = None;
    for (at, element) in target.iter().enumerate() {
        match element {
            Element::Known(0) if !allow_zero => match x.and_then(|x| x.get(at)) {
                Some(dim) => shape.push(dim.clone()),
                None if x.is_some() => {
                    return Err(GraphError::shape(format!(
                        "the target shape copies dimension {at} (0), but the input {:?} has rank {}",
                        x.unwrap_or_default(),
                        x.map_or(0, <[Dim]>::len)
                    )));
                }
                None => return Ok(None),
            },
            Element::Known(-1) if inferred_at.is_none() => {
                inferred_at = Some(at);
                shape.push(Dim::Fixed(1));
            }
            other => match other.to_dim() {
                Some(dim) => shape.push(dim),
                None => return Ok(None),
            },
        }
    }
    let Some(x) = x else {
        if let Some(at) = inferred_at {
            shape[at] = symbols.opaque(format!("{}.{at}", node.name));
        }
        return Ok(Some(shape));
    };
    let mismatch = |reason: String| {
        GraphError::shape(format!("cannot reshape {x:?} to the target {target:?}: {reason}"))
    };
    match inferred_at {
        Some(at) => {
            let others: Vec<Dim> = shape
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, d)| d.clone())
                .collect();
            shape[at] = symbols.quotient(x, &others).map_err(mismatch)?;
        }
        None => {
            let (from, to) = (crate::shape::fixed_shape(x), crate::shape::fixed_shape(&shape));
            if let (Some(from), Some(to)) = (from, to) {
                let (a, b) = (from.iter().product::<usize>(), to.iter().product::<usize>());
                if a != b {
                    return Err(mismatch(format!("{a} elements against {b}")));
                }
            }
        }
    }
    Ok(Some(shape))
}

/// The product of `dims` as one dimension.
fn product(dims: &[Dim], symbols: &mut Symbols) -> Result<Dim> {
    symbols.quotient(dims, &[]).map_err(GraphError::shape)
}

fn flatten(node: &Node, x: Option<&[Dim]>, symbols: &mut Symbols) -> Result<Option<SymbolicShape>> {
    let Some(x) = x else { return Ok(None) };
    let axis = node.attributes.int_or("axis", 1)?;
    let rank = x.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return Ok(None);
    }
    let (outer, inner) = x.split_at(axis as usize);
    Ok(Some(vec![product(outer, symbols)?, product(inner, symbols)?]))
}

fn transpose(node: &Node, x: Option<&[Dim]>) -> Result<Option<SymbolicShape>> {
    let Some(x) = x else { return Ok(None) };
    let perm: Vec<i64> = match node.attributes.ints("perm")? {
        Some(perm) => perm.to_vec(),
        None => (0..x.len() as i64).rev().collect(),
    };
    let Some(perm) = normalize_axes(&perm, x.len()).filter(|perm| perm.len() == x.len()) else {
        return Ok(None);
    };
    Ok(Some(perm.iter().map(|&axis| x[axis].clone()).collect()))
}

fn concat(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
) -> Result<Option<SymbolicShape>> {
    let shapes: Option<Vec<&[Dim]>> =
        inputs.iter().map(|input| input.and_then(|known| known.shape)).collect();
    let Some(shapes) = shapes.filter(|shapes| !shapes.is_empty()) else { return Ok(None) };
    let rank = shapes[0].len();
    if let Some(other) = shapes.iter().find(|shape| shape.len() != rank) {
        return Err(GraphError::shape(format!(
            "inputs of ranks {rank} ({:?}) and {} ({other:?})",
            shapes[0],
            other.len()
        )));
    }
    let Some(axis) = axis_attribute(node, 0, rank)? else { return Ok(None) };
    let mut shape = shapes[0].to_vec();
    let mut fixed_sum = 0usize;
    let mut symbolic = Vec::new();
    for input in &shapes {
        for (at, dim) in input.iter().enumerate() {
            if at == axis {
                match dim {
                    Dim::Fixed(size) => fixed_sum += size,
                    symbol => symbolic.push(symbol.clone()),
                }
            } else {
                shape[at] = match (&shape[at], dim) {
                    (Dim::Fixed(a), Dim::Fixed(b)) if a != b => {
                        return Err(GraphError::shape(format!(
                            "inputs {:?} and {input:?} differ in dimension {at}, which is not the axis {axis}",
                            shapes[0]
                        )));
                    }
                    (Dim::Symbol(_), Dim::Fixed(size)) => Dim::Fixed(*size),
                    (kept, _) => kept.clone(),
                };
            }
        }
    }
    shape[axis] = match symbolic.as_slice() {
        [] => Dim::Fixed(fixed_sum),
        [only] => match symbols.plus(only, fixed_sum as i64) {
            Some(dim) => dim,
            None => return Ok(None),
        },
        many => {
            let mut terms: Vec<String> = many.iter().map(|dim| format!("{dim:?}")).collect();
            if fixed_sum > 0 {
                terms.push(fixed_sum.to_string());
            }
            symbols.opaque(format!("({})", terms.join("+")))
        }
    };
    Ok(Some(shape))
}

fn squeeze(node: &Node, inputs: &[Option<Known<'_>>]) -> Option<SymbolicShape> {
    let x = inputs.first().copied().flatten()?.shape?;
    match axes(node, inputs, 1)? {
        Some(axes) if !axes.is_empty() => {
            let axes = normalize_axes(&axes, x.len())?;
            Some(
                x.iter()
                    .enumerate()
                    .filter(|(at, _)| !axes.contains(at))
                    .map(|(_, d)| d.clone())
                    .collect(),
            )
        }
        // Without axes every 1 goes; an unknown might be 1.
        _ if x.iter().any(|dim| matches!(dim, Dim::Symbol(_))) => None,
        _ => Some(x.iter().filter(|dim| **dim != Dim::Fixed(1)).cloned().collect()),
    }
}

fn unsqueeze(node: &Node, inputs: &[Option<Known<'_>>]) -> Option<SymbolicShape> {
    let x = inputs.first().copied().flatten()?.shape?;
    let axes = axes(node, inputs, 1)??;
    let rank = x.len() + axes.len();
    let axes = normalize_axes(&axes, rank)?;
    let mut rest = x.iter();
    (0..rank)
        .map(|at| if axes.contains(&at) { Some(Dim::Fixed(1)) } else { rest.next().cloned() })
        .collect()
}

fn gather(
    node: &Node,
    x: Option<&[Dim]>,
    indices: Option<&[Dim]>,
) -> Result<Option<SymbolicShape>> {
    let (Some(x), Some(indices)) = (x, indices) else { return Ok(None) };
    let Some(axis) = axis_attribute(node, 0, x.len())? else { return Ok(None) };
    Ok(Some([&x[..axis], indices, &x[axis + 1..]].concat()))
}

/// Slice (opset 10+: data, starts, ends, axes, steps) with known parameters.
fn slice(inputs: &[Option<Known<'_>>], symbols: &mut Symbols) -> Option<SymbolicShape> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let x = input(0)?.shape?;
    let starts = int_values(input(1)?)?;
    let ends = int_values(input(2)?)?;
    let axes = match input(3) {
        Some(axes) => normalize_axes(&int_values(axes)?, x.len())?,
        None => (0..starts.len()).collect(),
    };
    let steps = match input(4) {
        Some(steps) => int_values(steps)?,
        None => vec![1; starts.len()],
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let mut shape = x.to_vec();
    for (at, &axis) in axes.iter().enumerate() {
        let (start, end, step) = (starts[at], ends[at], steps[at]);
        shape[axis] = match &shape[axis] {
            Dim::Fixed(size) => Dim::Fixed(slice_range(*size, start, end, step)?.1),
            // "From start to the end" of an unknown size: the size less the start.
            symbol if step == 1 && start >= 0 && end >= i32::MAX as i64 => {
                symbols.plus(symbol, -start)?
            }
            symbol => symbols.opaque(format!("slice({symbol:?},{start},{end},{step})")),
        };
    }
    Some(shape)
}

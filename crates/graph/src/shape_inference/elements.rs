//! The values of small integer tensors that describe shapes, element by element, where
//! each element is a known integer or an unknown dimension.
//!
//! Exporters compute reshape targets from `Shape` at run time (`Shape -> Slice -> Concat
//! -> Reshape`). Following those values symbolically lets inference give the Reshape's
//! output a shape in terms of the input's unknowns (`[N, 120, T]`), where the constant
//! target alone would give nothing.

use std::sync::Arc;

use crate::graph::Node;
use crate::shape::Dim;
use crate::shape_inference::Known;
use crate::shape_inference::dims::Symbols;
use crate::shape_inference::params::{int_values, normalize_axis, slice_indices};
use crate::tensor::{Tensor, TensorData};

/// The longest integer tensor followed element by element.
pub(crate) const MAX_ELEMENTS: usize = 64;

/// One element of a shape-like integer tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Element {
    /// A known integer.
    Known(i64),
    /// An unknown dimension.
    Symbol(Arc<str>),
}

impl Element {
    /// The element holding a dimension's size.
    pub(crate) fn of_dim(dim: &Dim) -> Element {
        match dim {
            Dim::Fixed(size) => Element::Known(*size as i64),
            Dim::Symbol(name) => Element::Symbol(name.clone()),
        }
    }

    /// The dimension this element gives, if it is a valid size.
    pub(crate) fn to_dim(&self) -> Option<Dim> {
        match self {
            Element::Known(value) => usize::try_from(*value).ok().map(Dim::Fixed),
            Element::Symbol(name) => Some(Dim::Symbol(name.clone())),
        }
    }

    fn known(&self) -> Option<i64> {
        match self {
            Element::Known(value) => Some(*value),
            Element::Symbol(_) => None,
        }
    }
}

/// The elements of a constant integer tensor of rank 0 or 1, if small.
pub(crate) fn of_constant(tensor: &Tensor) -> Option<Vec<Element>> {
    let integer = matches!(tensor.data(), TensorData::I64(_) | TensorData::I32(_));
    if !integer || tensor.rank() > 1 || tensor.len() > MAX_ELEMENTS {
        return None;
    }
    Some(tensor.to_i64_vec().into_iter().map(Element::Known).collect())
}

/// The elements of an input: its constant data or what was followed so far.
pub(crate) fn of_input(input: Option<Known<'_>>) -> Option<Vec<Element>> {
    let input = input?;
    match (input.elements, input.constant) {
        (Some(elements), _) => Some(elements.to_vec()),
        (None, Some(tensor)) => of_constant(tensor),
        _ => None,
    }
}

/// The elements of `node`'s first output, if it is a shape computation over followed
/// inputs.
pub(crate) fn propagate(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
) -> Option<Vec<Element>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let result = match node.op_type.as_str() {
        "Shape" => {
            let shape = input(0)?.shape?;
            let rank = shape.len() as i64;
            let start = node.attributes.int_or("start", 0).ok()?;
            let end = node.attributes.int_or("end", rank).ok()?;
            let clamp = |at: i64| (if at < 0 { at + rank } else { at }).clamp(0, rank) as usize;
            let (start, end) = (clamp(start), clamp(end));
            shape.get(start..end.max(start))?.iter().map(Element::of_dim).collect()
        }
        "Cast" => {
            let to = node.attributes.int("to").ok()??;
            // Only integer targets keep the values exact.
            if ![6, 7].contains(&to) {
                return None;
            }
            of_input(input(0))?
        }
        "Identity" | "Squeeze" | "Unsqueeze" => of_input(input(0))?,
        "Concat" => {
            let mut all = Vec::new();
            for at in 0..inputs.len() {
                all.extend(of_input(input(at))?);
            }
            all
        }
        "Gather" => {
            let data = of_input(input(0))?;
            if input(0)?.shape.is_some_and(|shape| shape.len() != 1) {
                return None;
            }
            let axis = node.attributes.int_or("axis", 0).ok()?;
            if normalize_axis(axis, 1)? != 0 {
                return None;
            }
            let indices = int_values(input(1)?)?;
            let length = data.len() as i64;
            indices
                .iter()
                .map(|&at| {
                    let at = if at < 0 { at + length } else { at };
                    data.get(usize::try_from(at).ok()?).cloned()
                })
                .collect::<Option<_>>()?
        }
        "Slice" => {
            let data = of_input(input(0))?;
            let starts = int_values(input(1)?)?;
            let ends = int_values(input(2)?)?;
            if let Some(axes) = input(3).map(int_values) {
                let axes = axes?;
                if axes.len() != 1 || normalize_axis(axes[0], 1)? != 0 {
                    return None;
                }
            }
            let steps = match input(4) {
                Some(steps) => int_values(steps)?,
                None => vec![1],
            };
            let ([start], [end], [step]) = (starts.as_slice(), ends.as_slice(), steps.as_slice())
            else {
                return None;
            };
            let indices = slice_indices(data.len(), *start, *end, *step)?;
            indices.into_iter().map(|at| data[at].clone()).collect()
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let (a, b) = (of_input(input(0))?, of_input(input(1))?);
            let length = a.len().max(b.len());
            if (a.len() != length && a.len() != 1) || (b.len() != length && b.len() != 1) {
                return None;
            }
            (0..length)
                .map(|at| {
                    arithmetic(
                        &node.op_type,
                        &a[at.min(a.len() - 1)],
                        &b[at.min(b.len() - 1)],
                        symbols,
                    )
                })
                .collect::<Option<_>>()?
        }
        _ => return None,
    };
    (result.len() <= MAX_ELEMENTS).then_some(result)
}

/// One element of Add, Sub, Mul or Div: known integers exactly (integer division
/// truncates), an unknown with a known non-negative integer as an affine expression.
fn arithmetic(op: &str, a: &Element, b: &Element, symbols: &mut Symbols) -> Option<Element> {
    if let (Some(x), Some(y)) = (a.known(), b.known()) {
        let value = match op {
            "Add" => x.checked_add(y)?,
            "Sub" => x.checked_sub(y)?,
            "Mul" => x.checked_mul(y)?,
            _ => x.checked_div(y)?,
        };
        return Some(Element::Known(value));
    }
    let dim = |element: &Element| element.to_dim();
    let result = match (op, a.known(), b.known()) {
        ("Add", None, Some(k)) => symbols.plus(&dim(a)?, k)?,
        ("Add", Some(k), None) => symbols.plus(&dim(b)?, k)?,
        ("Sub", None, Some(k)) => symbols.plus(&dim(a)?, k.checked_neg()?)?,
        ("Mul", None, Some(k)) if k >= 0 => symbols.scaled(&dim(a)?, k, 0, 1, false)?,
        ("Mul", Some(k), None) if k >= 0 => symbols.scaled(&dim(b)?, k, 0, 1, false)?,
        ("Div", None, Some(k)) if k > 0 => symbols.scaled(&dim(a)?, 1, 0, k, false)?,
        _ => return None,
    };
    Some(Element::of_dim(&result))
}

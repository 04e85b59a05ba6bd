//! Plain implementations, for constants, of Cast, Add, Sub, Mul, Div, Equal and Where,
//! with numpy broadcasting. Arithmetic covers i64, i32 (wrapping, division truncating
//! toward zero, as the runtime computes them) and f32 (IEEE, so results are the runtime's
//! bit for bit); an integer division by zero is left to the runtime, which reports it.

use crate::data_type::DataType;
use crate::graph::Node;
use crate::passes::fold_data::{broadcast_offsets, concat_data, fits, gather_indices, pick};
use crate::tensor::{Tensor, TensorData};

/// The broadcast shape of concrete shapes, if they broadcast.
pub(crate) fn broadcast_shape(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|shape| shape.len()).max().unwrap_or(0);
    let mut result = vec![1; rank];
    for shape in shapes {
        let skip = rank - shape.len();
        for (at, &dim) in shape.iter().enumerate() {
            let slot = &mut result[skip + at];
            if *slot == 1 {
                *slot = dim;
            } else if dim != 1 && dim != *slot {
                return None;
            }
        }
    }
    Some(result)
}

/// For each element of the broadcast result, the index into each input.
fn broadcast_maps(tensors: &[&Tensor]) -> Option<(Vec<usize>, Vec<Vec<usize>>)> {
    let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
    let shape = broadcast_shape(&shapes)?;
    let count: usize = shape.iter().product();
    if !fits(count, tensors.iter().map(|t| t.len()).sum()) {
        return None;
    }
    let maps = shapes
        .iter()
        .map(|input| gather_indices(&shape, &broadcast_offsets(input, &shape)))
        .collect::<Option<_>>()?;
    Some((shape, maps))
}

/// Evaluates an arithmetic, comparison or selection node on constant inputs.
pub(crate) fn evaluate(node: &Node, inputs: &[Option<&Tensor>]) -> Option<Vec<Tensor>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let result = match node.op_type.as_str() {
        "Cast" => {
            let to = DataType::from_onnx_code(node.attributes.int("to").ok()?? as i32)?;
            input(0)?.cast(to)
        }
        op @ ("Add" | "Sub" | "Mul" | "Div") => arithmetic(op, input(0)?, input(1)?)?,
        "Equal" => equal(input(0)?, input(1)?)?,
        "Where" => select(input(0)?, input(1)?, input(2)?)?,
        _ => return None,
    };
    Some(vec![result])
}

fn arithmetic(op: &str, a: &Tensor, b: &Tensor) -> Option<Tensor> {
    if a.data_type() != b.data_type() {
        return None;
    }
    let (shape, maps) = broadcast_maps(&[a, b])?;
    let pairs = maps[0].iter().zip(&maps[1]);
    macro_rules! integer {
        ($variant:ident, $x:expr, $y:expr) => {{
            let mut out = Vec::with_capacity(maps[0].len());
            for (&i, &j) in pairs {
                let (p, q) = ($x[i], $y[j]);
                out.push(match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    "Mul" => p.wrapping_mul(q),
                    _ if q == 0 => return None,
                    _ => p.wrapping_div(q),
                });
            }
            TensorData::$variant(out)
        }};
    }
    let data = match (a.data(), b.data()) {
        (TensorData::I64(x), TensorData::I64(y)) => integer!(I64, x, y),
        (TensorData::I32(x), TensorData::I32(y)) => integer!(I32, x, y),
        (TensorData::F32(x), TensorData::F32(y)) => TensorData::F32(
            pairs
                .map(|(&i, &j)| match op {
                    "Add" => x[i] + y[j],
                    "Sub" => x[i] - y[j],
                    "Mul" => x[i] * y[j],
                    _ => x[i] / y[j],
                })
                .collect(),
        ),
        _ => return None,
    };
    Tensor::new(shape, data).ok()
}

fn equal(a: &Tensor, b: &Tensor) -> Option<Tensor> {
    if a.data_type() != b.data_type() {
        return None;
    }
    let (shape, maps) = broadcast_maps(&[a, b])?;
    let pairs = maps[0].iter().zip(&maps[1]);
    macro_rules! compare {
        ($($variant:ident),*) => {
            match (a.data(), b.data()) {
                $((TensorData::$variant(x), TensorData::$variant(y)) => pairs.map(|(&i, &j)| x[i] == y[j]).collect(),)*
                _ => return None,
            }
        };
    }
    let values: Vec<bool> = compare!(F32, F16, BF16, I8, U8, I32, I64, Bool);
    Tensor::new(shape, TensorData::Bool(values)).ok()
}

/// Where: `condition ? x : y`, picking from `x` and `y` laid end to end.
fn select(condition: &Tensor, x: &Tensor, y: &Tensor) -> Option<Tensor> {
    let TensorData::Bool(flags) = condition.data() else { return None };
    if x.data_type() != y.data_type() {
        return None;
    }
    let (shape, maps) = broadcast_maps(&[condition, x, y])?;
    let indices: Vec<usize> = (0..maps[0].len())
        .map(|at| if flags[maps[0][at]] { maps[1][at] } else { x.len() + maps[2][at] })
        .collect();
    let both = concat_data(&[x.data(), y.data()])?;
    Tensor::new(shape, pick(&both, &indices)?).ok()
}

//! Per-operator inference rules: which family an operator belongs to, and the families of
//! same-shape, broadcasting, reducing and matrix operators. Spatial operators live in
//! `spatial.rs`, data-layout operators in `layout.rs`.

use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::Node;
use crate::shape::{Dim, SymbolicShape};
use crate::shape_inference::dims::{Symbols, broadcast};
use crate::shape_inference::params::{axes, normalize_axes, normalize_axis};
use crate::shape_inference::{Inferred, Known, layout, spatial};

/// Operators whose output 0 has the shape and type of input 0.
const SAME_SHAPE: &[&str] = &[
    "Abs",
    "Acos",
    "Asin",
    "Atan",
    "BatchNormalization",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "CumSum",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MeanVarianceNormalization",
    "Mish",
    "Neg",
    "PRelu",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
];

/// Broadcasting operators whose output has the type of input 0.
const BROADCASTING: &[&str] =
    &["Add", "BitShift", "Div", "Max", "Mean", "Min", "Mod", "Mul", "Pow", "Sub", "Sum"];

/// Broadcasting operators with a boolean output.
const COMPARING: &[&str] =
    &["And", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Or", "Xor"];

/// Reductions (axes and keepdims).
const REDUCING: &[&str] = &[
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
];

/// What inference derives for each output of `node` (fewer entries than outputs: the rest
/// are unknown).
pub(crate) fn infer(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
    opset: i64,
) -> Result<Vec<Inferred>> {
    if !crate::onnx::is_default_domain(&node.domain) {
        return Ok(Vec::new());
    }
    let input = |index: usize| inputs.get(index).copied().flatten();
    let op = node.op_type.as_str();
    let first_type = input(0).and_then(|known| known.data_type);
    let shape_of = |index: usize| input(index).and_then(|known| known.shape).map(<[Dim]>::to_vec);
    let inferred = match op {
        _ if SAME_SHAPE.contains(&op) => {
            let mut outputs = vec![Inferred::new(shape_of(0), first_type)];
            if op == "Dropout" {
                outputs.push(Inferred::new(shape_of(0), Some(DataType::Bool)));
            }
            outputs
        }
        "Not" | "IsNaN" | "IsInf" => vec![Inferred::new(shape_of(0), Some(DataType::Bool))],
        "Cast" => {
            let to =
                node.attributes.int("to")?.and_then(|code| DataType::from_onnx_code(code as i32));
            vec![Inferred::new(shape_of(0), to)]
        }
        "CastLike" => vec![Inferred::new(shape_of(0), input(1).and_then(|known| known.data_type))],
        // The integer type is the zero point's (uint8 without one, or `output_dtype`).
        "QuantizeLinear" => {
            let to = match input(2).and_then(|known| known.data_type) {
                Some(data_type) => Some(data_type),
                None => match node.attributes.int("output_dtype")? {
                    Some(code) if code != 0 => DataType::from_onnx_code(code as i32),
                    _ => Some(DataType::U8),
                },
            };
            vec![Inferred::new(shape_of(0), to)]
        }
        // The float type is the scale's (float32 for dlopt's graphs).
        "DequantizeLinear" => {
            let to = input(1).and_then(|known| known.data_type).or(Some(DataType::F32));
            vec![Inferred::new(shape_of(0), to)]
        }
        _ if BROADCASTING.contains(&op) => {
            vec![Inferred::new(broadcast_inputs(inputs, 0..inputs.len())?, first_type)]
        }
        _ if COMPARING.contains(&op) => {
            vec![Inferred::new(broadcast_inputs(inputs, 0..inputs.len())?, Some(DataType::Bool))]
        }
        "Where" => {
            let data_type = input(1).and_then(|known| known.data_type);
            vec![Inferred::new(broadcast_inputs(inputs, 0..3)?, data_type)]
        }
        _ if REDUCING.contains(&op) => vec![Inferred::new(reduce(node, inputs)?, first_type)],
        "ArgMax" | "ArgMin" => {
            let axis = node.attributes.int_or("axis", 0)?;
            let keep = node.attributes.int_or("keepdims", 1)? != 0;
            let shape = shape_of(0).and_then(|shape| reduced(&shape, Some(&[axis]), keep));
            vec![Inferred::new(shape, Some(DataType::I64))]
        }
        "MatMul" => vec![Inferred::new(matmul(input(0), input(1))?, first_type)],
        "Gemm" => vec![Inferred::new(gemm(node, input(0), input(1))?, first_type)],
        "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "LpPool" | "GlobalAveragePool"
        | "GlobalMaxPool" | "GlobalLpPool" | "Resize" | "Pad" => {
            spatial::infer(node, inputs, symbols)?
        }
        _ => layout::infer(node, inputs, symbols, opset)?,
    };
    Ok(inferred)
}

/// The broadcast shape of the inputs in `range`, if all are known.
fn broadcast_inputs(
    inputs: &[Option<Known<'_>>],
    range: std::ops::Range<usize>,
) -> Result<Option<SymbolicShape>> {
    let mut shapes = Vec::new();
    for at in range {
        match inputs.get(at).copied().flatten().and_then(|known| known.shape) {
            Some(shape) => shapes.push(shape),
            None => return Ok(None),
        }
    }
    if shapes.is_empty() {
        return Ok(None);
    }
    broadcast(&shapes).map(Some)
}

/// `shape` reduced over `axes` (all if `None`), keeping them as 1 or dropping them.
pub(crate) fn reduced(shape: &[Dim], axes: Option<&[i64]>, keep: bool) -> Option<SymbolicShape> {
    let axes = match axes {
        Some(axes) => normalize_axes(axes, shape.len())?,
        None => (0..shape.len()).collect(),
    };
    Some(
        shape
            .iter()
            .enumerate()
            .filter_map(|(at, dim)| match (axes.contains(&at), keep) {
                (false, _) => Some(dim.clone()),
                (true, true) => Some(Dim::Fixed(1)),
                (true, false) => None,
            })
            .collect(),
    )
}

fn reduce(node: &Node, inputs: &[Option<Known<'_>>]) -> Result<Option<SymbolicShape>> {
    let Some(shape) = inputs.first().copied().flatten().and_then(|known| known.shape) else {
        return Ok(None);
    };
    let keep = node.attributes.int_or("keepdims", 1)? != 0;
    let Some(axes) = axes(node, inputs, 1) else { return Ok(None) };
    let no_op = node.attributes.int_or("noop_with_empty_axes", 0)? != 0;
    Ok(match axes {
        Some(axes) if !axes.is_empty() => reduced(shape, Some(&axes), keep),
        _ if no_op => Some(shape.to_vec()),
        _ => reduced(shape, None, keep),
    })
}

/// Two dimensions that must be equal (a contraction): the known one, or the first.
fn contracted(a: &Dim, b: &Dim, what: impl FnOnce() -> String) -> Result<()> {
    match (a, b) {
        (Dim::Fixed(x), Dim::Fixed(y)) if x != y => Err(GraphError::shape(what())),
        _ => Ok(()),
    }
}

fn matmul(a: Option<Known<'_>>, b: Option<Known<'_>>) -> Result<Option<SymbolicShape>> {
    let (Some(a), Some(b)) = (a.and_then(|k| k.shape), b.and_then(|k| k.shape)) else {
        return Ok(None);
    };
    if a.is_empty() || b.is_empty() {
        return Ok(None);
    }
    let a_matrix: Vec<Dim> =
        if a.len() == 1 { vec![Dim::Fixed(1), a[0].clone()] } else { a.to_vec() };
    let b_matrix: Vec<Dim> =
        if b.len() == 1 { vec![b[0].clone(), Dim::Fixed(1)] } else { b.to_vec() };
    let (a_batch, a_rows) = a_matrix.split_at(a_matrix.len() - 2);
    let (b_batch, b_rows) = b_matrix.split_at(b_matrix.len() - 2);
    contracted(&a_rows[1], &b_rows[0], || {
        format!("A {a:?} has {:?} columns but B {b:?} has {:?} rows", a_rows[1], b_rows[0])
    })?;
    let mut shape = broadcast(&[a_batch, b_batch])?;
    if a.len() > 1 {
        shape.push(a_rows[0].clone());
    }
    if b.len() > 1 {
        shape.push(b_rows[1].clone());
    }
    Ok(Some(shape))
}

fn gemm(node: &Node, a: Option<Known<'_>>, b: Option<Known<'_>>) -> Result<Option<SymbolicShape>> {
    let (Some(a), Some(b)) = (a.and_then(|k| k.shape), b.and_then(|k| k.shape)) else {
        return Ok(None);
    };
    let ([a0, a1], [b0, b1]) = (a, b) else { return Ok(None) };
    let trans_a = node.attributes.int_or("transA", 0)? != 0;
    let trans_b = node.attributes.int_or("transB", 0)? != 0;
    let (m, k) = if trans_a { (a1, a0) } else { (a0, a1) };
    let (k_b, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    contracted(k, k_b, || {
        format!("op(A) has {k:?} columns but op(B) has {k_b:?} rows (A {a:?}, B {b:?})")
    })?;
    Ok(Some(vec![m.clone(), n.clone()]))
}

/// The axis attribute of Concat, Gather, Flatten, ... normalized against `rank`.
pub(crate) fn axis_attribute(node: &Node, default: i64, rank: usize) -> Result<Option<usize>> {
    Ok(normalize_axis(node.attributes.int_or("axis", default)?, rank))
}

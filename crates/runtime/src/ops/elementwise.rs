//! Elementwise arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod and the
//! variadic Min, Max, Sum, Mean. Comparisons, logic and Where are in `compare.rs`.
//!
//! Types: f32 everywhere; i32, i64, i8 and u8 for all but Mean (integer arithmetic wraps on
//! overflow, division truncates toward zero, and a zero divisor is an error); f16 for all but
//! Pow, computed in f32 and rounded back (correctly rounded, as f32 holds the exact results'
//! f16 roundings). Both inputs of
//! a binary operator have the same type, except Pow, whose exponent may be f32, i32 or i64
//! whatever the base.

use dlopt_graph::{DataType, GraphError, Node, Result};
use half::f16;

use super::Registry;
use super::broadcast::{
    Broadcast, accumulate, binary, broadcast_into, broadcast_shapes, for_chunks,
};
use super::element::{Element, check_type, input_slice, output_slice, with_type};
use super::unary::unary_kernel;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, Kernel, OutputInfo, kernel, required};

/// Adds this family's operators (and the comparison family's, see `compare.rs`).
pub fn register(registry: &mut Registry) {
    registry.add("Add", build_add as BuildFn);
    registry.add("Sub", build_sub as BuildFn);
    registry.add("Mul", build_mul as BuildFn);
    registry.add("Div", build_div as BuildFn);
    registry.add("Pow", build_pow as BuildFn);
    registry.add("Mod", build_mod as BuildFn);
    registry.add("Min", build_min as BuildFn);
    registry.add("Max", build_max as BuildFn);
    registry.add("Sum", build_sum as BuildFn);
    registry.add("Mean", build_mean as BuildFn);
    super::compare::register(registry);
}

/// The types the arithmetic operators accept.
const NUMERIC: [DataType; 6] =
    [DataType::F32, DataType::I32, DataType::I64, DataType::I8, DataType::U8, DataType::F16];

/// Arithmetic on one element type: wrapping for integers, IEEE for floats.
pub(crate) trait Arith: Element + PartialOrd {
    /// Whether the type is an integer type (division by zero is then an error).
    const INTEGER: bool;
    /// Zero.
    const ZERO: Self;
    /// `a + b`.
    fn add(a: Self, b: Self) -> Self;
    /// `a - b`.
    fn sub(a: Self, b: Self) -> Self;
    /// `a * b`.
    fn mul(a: Self, b: Self) -> Self;
    /// `a / b`, truncating toward zero for integers (a zero integer divisor gives 0; kernels
    /// report it as an error before computing).
    fn div(a: Self, b: Self) -> Self;
    /// The remainder with the sign of the dividend (C `fmod`, Rust `%`).
    fn rem_truncated(a: Self, b: Self) -> Self;
    /// The remainder with the sign of the divisor (Python `%`).
    fn rem_floored(a: Self, b: Self) -> Self;
    /// The smaller value (NaN if either is NaN).
    fn smaller(a: Self, b: Self) -> Self;
    /// The larger value (NaN if either is NaN).
    fn larger(a: Self, b: Self) -> Self;
    /// `count` in this type (Mean's divisor).
    fn from_count(count: usize) -> Self;
    /// `base ^ exponent` with the exponent given as f64 (Pow with a float exponent).
    fn pow_f64(base: Self, exponent: f64) -> Self;
    /// `base ^ exponent` with an integer exponent (Pow with an integer exponent).
    fn pow_i64(base: Self, exponent: i64) -> Self;
}

/// IEEE f32 arithmetic.
impl Arith for f32 {
    const INTEGER: bool = false;
    const ZERO: f32 = 0.0;
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    fn rem_truncated(a: f32, b: f32) -> f32 {
        a % b
    }
    fn rem_floored(a: f32, b: f32) -> f32 {
        let r = a % b;
        if r != 0.0 && (r < 0.0) != (b < 0.0) { r + b } else { r }
    }
    fn smaller(a: f32, b: f32) -> f32 {
        if a.is_nan() || a < b { a } else { b }
    }
    fn larger(a: f32, b: f32) -> f32 {
        if a.is_nan() || a > b { a } else { b }
    }
    fn from_count(count: usize) -> f32 {
        count as f32
    }
    fn pow_f64(base: f32, exponent: f64) -> f32 {
        base.powf(exponent as f32)
    }
    fn pow_i64(base: f32, exponent: i64) -> f32 {
        base.powf(exponent as f32)
    }
}

/// f16 through f32: every operation is exact or correctly rounded in f32, then rounded once.
impl Arith for f16 {
    const INTEGER: bool = false;
    const ZERO: f16 = f16::ZERO;
    fn add(a: f16, b: f16) -> f16 {
        f16::from_f32(a.to_f32() + b.to_f32())
    }
    fn sub(a: f16, b: f16) -> f16 {
        f16::from_f32(a.to_f32() - b.to_f32())
    }
    fn mul(a: f16, b: f16) -> f16 {
        f16::from_f32(a.to_f32() * b.to_f32())
    }
    fn div(a: f16, b: f16) -> f16 {
        f16::from_f32(a.to_f32() / b.to_f32())
    }
    fn rem_truncated(a: f16, b: f16) -> f16 {
        f16::from_f32(a.to_f32() % b.to_f32())
    }
    fn rem_floored(a: f16, b: f16) -> f16 {
        f16::from_f32(<f32 as Arith>::rem_floored(a.to_f32(), b.to_f32()))
    }
    fn smaller(a: f16, b: f16) -> f16 {
        if a.is_nan() || a < b { a } else { b }
    }
    fn larger(a: f16, b: f16) -> f16 {
        if a.is_nan() || a > b { a } else { b }
    }
    fn from_count(count: usize) -> f16 {
        f16::from_f32(count as f32)
    }
    fn pow_f64(base: f16, exponent: f64) -> f16 {
        f16::from_f64(base.to_f64().powf(exponent))
    }
    fn pow_i64(base: f16, exponent: i64) -> f16 {
        f16::from_f64(base.to_f64().powf(exponent as f64))
    }
}

/// Wrapping integer arithmetic for the listed types.
macro_rules! integer_arith {
    ($($type:ty),*) => {$(
        impl Arith for $type {
            const INTEGER: bool = true;
            const ZERO: $type = 0;
            fn add(a: $type, b: $type) -> $type {
                a.wrapping_add(b)
            }
            fn sub(a: $type, b: $type) -> $type {
                a.wrapping_sub(b)
            }
            fn mul(a: $type, b: $type) -> $type {
                a.wrapping_mul(b)
            }
            fn div(a: $type, b: $type) -> $type {
                if b == 0 { 0 } else { a.wrapping_div(b) }
            }
            fn rem_truncated(a: $type, b: $type) -> $type {
                if b == 0 { 0 } else { a.wrapping_rem(b) }
            }
            #[allow(unused_comparisons)]
            fn rem_floored(a: $type, b: $type) -> $type {
                let r = Self::rem_truncated(a, b);
                if r != 0 && (r < 0) != (b < 0) { r.wrapping_add(b) } else { r }
            }
            fn smaller(a: $type, b: $type) -> $type {
                Ord::min(a, b)
            }
            fn larger(a: $type, b: $type) -> $type {
                Ord::max(a, b)
            }
            fn from_count(count: usize) -> $type {
                count as $type
            }
            fn pow_f64(base: $type, exponent: f64) -> $type {
                (base as f64).powf(exponent) as $type
            }
            #[allow(unused_comparisons)]
            fn pow_i64(base: $type, exponent: i64) -> $type {
                if exponent >= 0 {
                    return base.wrapping_pow(exponent.min(u32::MAX as i64) as u32);
                }
                // 1 / base^|exponent|, truncated: only 1 and -1 give non-zero results.
                match base {
                    1 => 1,
                    _ if base < 0 && base.wrapping_add(1) == 0 => if exponent % 2 == 0 { 1 } else { base },
                    _ => 0,
                }
            }
        }
    )*};
}

integer_arith!(i8, u8, i32, i64);

/// Rejects the broadcast attributes of opsets before 7 (`broadcast` with `axis`), whose
/// axis-aligned semantics numpy broadcasting does not cover.
pub(crate) fn reject_legacy_broadcast(node: &Node) -> Result<()> {
    if node.attributes.get("axis").is_some() {
        return Err(GraphError::unsupported(
            "attribute 'axis' (legacy broadcasting of opsets before 7) is not supported",
        ));
    }
    Ok(())
}

/// Inputs 0 and 1 of a binary operator, their broadcast output shape and the broadcast.
pub(crate) fn binary_inputs<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
) -> Result<(InputInfo<'a>, InputInfo<'a>, Vec<usize>, Broadcast)> {
    reject_legacy_broadcast(node)?;
    let a = required(node, inputs, 0)?;
    let b = required(node, inputs, 1)?;
    let shape = broadcast_shapes(&[a.shape, b.shape])?;
    let broadcast = Broadcast::new(&shape, &[a.shape, b.shape])?;
    Ok((a, b, shape, broadcast))
}

/// The common type of inputs A and B, or an error naming both.
pub(crate) fn same_type(a: &InputInfo<'_>, b: &InputInfo<'_>) -> Result<DataType> {
    if a.data_type != b.data_type {
        return Err(GraphError::invalid(format!(
            "inputs A and B must have the same type, got {} and {}",
            a.data_type, b.data_type
        )));
    }
    Ok(a.data_type)
}

/// A kernel computing `f` over inputs 0 and 1 broadcast to output 0.
pub(crate) fn binary_kernel<A: Element, B: Element, O: Element>(
    broadcast: Broadcast,
    f: impl Fn(A, B) -> O + Copy + Send + Sync + 'static,
) -> Box<dyn Kernel> {
    kernel(move |inputs, outputs, context| {
        let a = input_slice::<A>(inputs, 0)?;
        let b = input_slice::<B>(inputs, 1)?;
        binary(&broadcast, a, b, output_slice::<O>(outputs, 0)?, context.threads, f)
    })
}

/// Like [`binary_kernel`], but for integer types fails when input B holds a zero (ONNX
/// leaves integer division by zero undefined; dlopt reports it).
fn divisor_checked_kernel<T: Arith>(
    broadcast: Broadcast,
    f: impl Fn(T, T) -> T + Copy + Send + Sync + 'static,
) -> Box<dyn Kernel> {
    kernel(move |inputs, outputs, context| {
        let a = input_slice::<T>(inputs, 0)?;
        let b = input_slice::<T>(inputs, 1)?;
        let output = output_slice::<T>(outputs, 0)?;
        if T::INTEGER && !output.is_empty() && b.contains(&T::ZERO) {
            return Err(GraphError::invalid(format!(
                "integer division by zero: input B ({}) holds a 0",
                T::TYPE
            )));
        }
        binary(&broadcast, a, b, output, context.threads, f)
    })
}

/// The error for a type that passed the type check but has no kernel (not expected).
fn internal_type_error(data_type: DataType) -> GraphError {
    GraphError::unsupported(format!("type {data_type} is not supported here"))
}

/// The two-input arithmetic operators.
#[derive(Clone, Copy)]
enum Arithmetic {
    Add,
    Sub,
    Mul,
    Div,
}

/// Builds Add, Sub, Mul or Div: same-type inputs, broadcast.
fn build_arithmetic(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    op: Arithmetic,
) -> Result<BuiltOp> {
    let (a, b, shape, broadcast) = binary_inputs(node, inputs)?;
    let data_type = same_type(&a, &b)?;
    check_type(&node.op_type, "inputs", data_type, &NUMERIC)?;
    let kernel = with_type!(data_type, [F32, I32, I64, I8, U8, F16], T => match op {
        Arithmetic::Add => binary_kernel::<T, T, T>(broadcast, T::add),
        Arithmetic::Sub => binary_kernel::<T, T, T>(broadcast, T::sub),
        Arithmetic::Mul => binary_kernel::<T, T, T>(broadcast, T::mul),
        Arithmetic::Div => divisor_checked_kernel::<T>(broadcast, T::div),
    }, return Err(internal_type_error(data_type)));
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(data_type, shape)] })
}

/// Add: `C = A + B`.
fn build_add(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_arithmetic(node, inputs, Arithmetic::Add)
}

/// Sub: `C = A - B`.
fn build_sub(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_arithmetic(node, inputs, Arithmetic::Sub)
}

/// Mul: `C = A * B`.
fn build_mul(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_arithmetic(node, inputs, Arithmetic::Mul)
}

/// Div: `C = A / B` (integers truncate toward zero; an integer zero divisor is an error).
fn build_div(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_arithmetic(node, inputs, Arithmetic::Div)
}

/// Mod: the remainder of `A / B`; attribute `fmod` 0 (default) gives Python's sign of the
/// divisor (integers only, as ONNX requires), 1 gives C's `fmod` (sign of the dividend).
fn build_mod(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let (a, b, shape, broadcast) = binary_inputs(node, inputs)?;
    let data_type = same_type(&a, &b)?;
    check_type("Mod", "inputs", data_type, &NUMERIC)?;
    let fmod = match node.attributes.int_or("fmod", 0)? {
        0 => false,
        1 => true,
        other => {
            return Err(GraphError::invalid(format!(
                "attribute 'fmod' must be 0 or 1, got {other}"
            )));
        }
    };
    if data_type.is_float() && !fmod {
        return Err(GraphError::invalid(format!(
            "attribute 'fmod' must be 1 for floating-point inputs ({data_type}), got 0"
        )));
    }
    let kernel = with_type!(data_type, [F32, I32, I64, I8, U8, F16], T => {
        if fmod {
            divisor_checked_kernel::<T>(broadcast, T::rem_truncated)
        } else {
            divisor_checked_kernel::<T>(broadcast, T::rem_floored)
        }
    }, return Err(internal_type_error(data_type)));
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(data_type, shape)] })
}

/// The exponent types Pow accepts.
const EXPONENT_TYPES: [DataType; 3] = [DataType::F32, DataType::I32, DataType::I64];

/// Pow: `Z = X ^ Y`, output of X's type. X: f32, i32, i64; Y: f32, i32, i64. A constant
/// scalar f32 exponent of 2, 1 or 0.5 (LayerNorm decompositions) becomes `x * x`, a copy or
/// `sqrt(x)`.
fn build_pow(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let (x, y, shape, broadcast) = binary_inputs(node, inputs)?;
    check_type("Pow", "input X", x.data_type, &[DataType::F32, DataType::I32, DataType::I64])?;
    check_type("Pow", "input Y", y.data_type, &EXPONENT_TYPES)?;
    let outputs = vec![OutputInfo::new(x.data_type, shape.clone())];
    if x.data_type == DataType::F32 && shape.as_slice() == x.shape {
        let constant =
            y.constant.filter(|tensor| tensor.len() == 1).map(|tensor| tensor.to_f32_vec()[0]);
        let fast = match constant {
            Some(2.0) => Some(unary_kernel::<f32, f32>(|v| v * v)),
            Some(1.0) => Some(unary_kernel::<f32, f32>(|v| v)),
            Some(0.5) => Some(unary_kernel::<f32, f32>(f32::sqrt)),
            _ => None,
        };
        if let Some(kernel) = fast {
            return Ok(BuiltOp { kernel, outputs });
        }
    }
    let kernel = with_type!(x.data_type, [F32, I32, I64], T => match y.data_type {
        DataType::F32 => binary_kernel::<T, f32, T>(broadcast, |b, e| T::pow_f64(b, e as f64)),
        DataType::I32 => binary_kernel::<T, i32, T>(broadcast, |b, e| T::pow_i64(b, e as i64)),
        DataType::I64 => binary_kernel::<T, i64, T>(broadcast, T::pow_i64),
        other => return Err(internal_type_error(other)),
    }, return Err(internal_type_error(x.data_type)));
    Ok(BuiltOp { kernel, outputs })
}

/// The variadic operators.
#[derive(Clone, Copy, PartialEq)]
enum Variadic {
    Min,
    Max,
    Sum,
    Mean,
}

/// A variadic kernel for `n` inputs with one-operand broadcasts of each onto the output:
/// input 0 is broadcast into the output, the others folded in with `f`; Mean then divides.
fn fold_kernel<T: Arith>(
    broadcasts: Vec<Broadcast>,
    f: impl Fn(T, T) -> T + Copy + Send + Sync + 'static,
    mean: bool,
) -> Box<dyn Kernel> {
    kernel(move |inputs, outputs, context| {
        let output = output_slice::<T>(outputs, 0)?;
        for (at, broadcast) in broadcasts.iter().enumerate() {
            let input = input_slice::<T>(inputs, at)?;
            if at == 0 {
                broadcast_into(broadcast, input, output, context.threads)?;
            } else {
                accumulate(broadcast, input, output, context.threads, f)?;
            }
        }
        if mean {
            let count = T::from_count(broadcasts.len());
            for_chunks(output, context.threads, |part, _| {
                part.iter_mut().for_each(|v| *v = T::div(*v, count))
            });
        }
        Ok(())
    })
}

/// The kernel of a variadic operator folding `shapes` (broadcast to `shape`) with `f`; two
/// inputs of Min, Max or Sum take a single binary pass.
fn variadic_kernel<T: Arith>(
    shape: &[usize],
    shapes: &[&[usize]],
    f: impl Fn(T, T) -> T + Copy + Send + Sync + 'static,
    mean: bool,
) -> Result<Box<dyn Kernel>> {
    if shapes.len() == 2 && !mean {
        return Ok(binary_kernel::<T, T, T>(Broadcast::new(shape, shapes)?, f));
    }
    let broadcasts =
        shapes.iter().map(|s| Broadcast::new(shape, &[s])).collect::<Result<Vec<_>>>()?;
    Ok(fold_kernel::<T>(broadcasts, f, mean))
}

/// Builds Min, Max, Sum or Mean: one or more same-type inputs, all broadcast together.
fn build_variadic(node: &Node, inputs: &[Option<InputInfo<'_>>], op: Variadic) -> Result<BuiltOp> {
    reject_legacy_broadcast(node)?;
    if inputs.is_empty() {
        return Err(GraphError::invalid("at least one input is required"));
    }
    let infos =
        (0..inputs.len()).map(|at| required(node, inputs, at)).collect::<Result<Vec<_>>>()?;
    let data_type = infos[0].data_type;
    if let Some(other) = infos.iter().find(|info| info.data_type != data_type) {
        return Err(GraphError::invalid(format!(
            "all inputs must have the same type, got {data_type} and {}",
            other.data_type
        )));
    }
    let supported: &[DataType] =
        if op == Variadic::Mean { &[DataType::F32, DataType::F16] } else { &NUMERIC };
    check_type(&node.op_type, "inputs", data_type, supported)?;
    let shapes: Vec<&[usize]> = infos.iter().map(|info| info.shape).collect();
    let shape = broadcast_shapes(&shapes)?;
    let kernel = with_type!(data_type, [F32, I32, I64, I8, U8, F16], T => match op {
        Variadic::Min => variadic_kernel::<T>(&shape, &shapes, T::smaller, false)?,
        Variadic::Max => variadic_kernel::<T>(&shape, &shapes, T::larger, false)?,
        Variadic::Sum => variadic_kernel::<T>(&shape, &shapes, T::add, false)?,
        Variadic::Mean => variadic_kernel::<T>(&shape, &shapes, T::add, true)?,
    }, return Err(internal_type_error(data_type)));
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(data_type, shape)] })
}

/// Min: the elementwise smaller of one or more inputs (NaN if any is NaN).
fn build_min(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_variadic(node, inputs, Variadic::Min)
}

/// Max: the elementwise larger of one or more inputs (NaN if any is NaN).
fn build_max(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_variadic(node, inputs, Variadic::Max)
}

/// Sum: the elementwise sum of one or more inputs.
fn build_sum(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_variadic(node, inputs, Variadic::Sum)
}

/// Mean: the elementwise mean of one or more f32 or f16 inputs.
fn build_mean(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_variadic(node, inputs, Variadic::Mean)
}

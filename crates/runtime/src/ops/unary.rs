//! Elementwise math functions of one input: Exp, Log, Sqrt, Erf, Reciprocal, Floor, Ceil,
//! Round (half to even), Neg, Abs and Sign; and the helpers every one-input operator builds
//! on ([`unary_kernel`], [`build_unary_f32`]).
//!
//! Types: f32; Neg, Abs and Sign also i32, i64 and i8 (Neg and Abs wrap at the minimum).
//! Exp uses the vectorisable `math::exp`; the other transcendental functions call Rust's
//! (correctly rounded or nearly so) implementations.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::broadcast::map;
use super::element::{Element, check_type, input_slice, output_slice, with_type};
use super::math;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, Kernel, OutputInfo, kernel, required};

/// Adds this family's operators (called by the activation family's `register`).
pub fn register(registry: &mut Registry) {
    registry.add("Exp", build_exp as BuildFn);
    registry.add("Log", build_log as BuildFn);
    registry.add("Sqrt", build_sqrt as BuildFn);
    registry.add("Erf", build_erf as BuildFn);
    registry.add("Reciprocal", build_reciprocal as BuildFn);
    registry.add("Floor", build_floor as BuildFn);
    registry.add("Ceil", build_ceil as BuildFn);
    registry.add("Round", build_round as BuildFn);
    registry.add("Neg", build_neg as BuildFn);
    registry.add("Abs", build_abs as BuildFn);
    registry.add("Sign", build_sign as BuildFn);
}

/// A kernel computing `output 0 = f(input 0)` elementwise (same length).
pub(crate) fn unary_kernel<I: Element, O: Element>(
    f: impl Fn(I) -> O + Copy + Send + Sync + 'static,
) -> Box<dyn Kernel> {
    kernel(move |inputs, outputs, context| {
        map(input_slice::<I>(inputs, 0)?, output_slice::<O>(outputs, 0)?, context.threads, f)
    })
}

/// Builds an f32 operator computing `f` on each element of input 0 (the output has the
/// input's shape).
pub(crate) fn build_unary_f32(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    f: impl Fn(f32) -> f32 + Copy + Send + Sync + 'static,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    check_type(&node.op_type, "input X", x.data_type, &[DataType::F32])?;
    Ok(BuiltOp {
        kernel: unary_kernel::<f32, f32>(f),
        outputs: vec![OutputInfo::new(DataType::F32, x.shape.to_vec())],
    })
}

/// Signed element types: what Neg, Abs, Sign and Relu need.
pub(crate) trait Signed: Element + PartialOrd {
    /// Zero.
    const ZERO: Self;
    /// `-x` (integers wrap at the minimum).
    fn negate(self) -> Self;
    /// `|x|` (integers wrap at the minimum).
    fn absolute(self) -> Self;
    /// -1, 0 or 1 by the sign of x (NaN stays NaN, zeros keep their sign).
    fn sign(self) -> Self;
}

/// IEEE f32 sign operations.
impl Signed for f32 {
    const ZERO: f32 = 0.0;
    fn negate(self) -> f32 {
        -self
    }
    fn absolute(self) -> f32 {
        self.abs()
    }
    fn sign(self) -> f32 {
        if self > 0.0 {
            1.0
        } else if self < 0.0 {
            -1.0
        } else {
            self
        }
    }
}

/// Implements [`Signed`] for integer types (wrapping).
macro_rules! signed_integer {
    ($($type:ty),*) => {$(
        impl Signed for $type {
            const ZERO: $type = 0;
            fn negate(self) -> $type {
                self.wrapping_neg()
            }
            fn absolute(self) -> $type {
                self.wrapping_abs()
            }
            fn sign(self) -> $type {
                self.signum()
            }
        }
    )*};
}

signed_integer!(i8, i32, i64);

/// The types of the signed operators (Neg, Abs, Sign, Relu).
pub(crate) const SIGNED: [DataType; 4] =
    [DataType::F32, DataType::I32, DataType::I64, DataType::I8];

/// Builds a signed operator applying `f` (chosen per type) to each element.
pub(crate) fn build_signed(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    pick: fn(DataType) -> Option<Box<dyn Kernel>>,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    check_type(&node.op_type, "input X", x.data_type, &SIGNED)?;
    let kernel = pick(x.data_type).ok_or_else(|| {
        GraphError::unsupported(format!("type {} is not supported here", x.data_type))
    })?;
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(x.data_type, x.shape.to_vec())] })
}

/// Exp: `e^x`.
fn build_exp(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, math::exp)
}

/// Log: the natural logarithm (NaN below 0, -inf at 0).
fn build_log(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, f32::ln)
}

/// Sqrt: the square root (NaN below 0).
fn build_sqrt(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, f32::sqrt)
}

/// Erf: the error function (relative error below 1e-6).
fn build_erf(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, math::erf)
}

/// Reciprocal: `1 / x`.
fn build_reciprocal(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, |v| 1.0 / v)
}

/// Floor: the largest integer not above x.
fn build_floor(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, f32::floor)
}

/// Ceil: the smallest integer not below x.
fn build_ceil(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, f32::ceil)
}

/// Round: the nearest integer, halves to even (2.5 -> 2, -1.5 -> -2).
fn build_round(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, f32::round_ties_even)
}

/// Neg: `-x` (f32, i32, i64, i8; integers wrap at the minimum).
fn build_neg(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_signed(
        node,
        inputs,
        |data_type| with_type!(data_type, [F32, I32, I64, I8], T => Some(unary_kernel::<T, T>(T::negate)), None),
    )
}

/// Abs: `|x|` (f32, i32, i64, i8; integers wrap at the minimum).
fn build_abs(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_signed(
        node,
        inputs,
        |data_type| with_type!(data_type, [F32, I32, I64, I8], T => Some(unary_kernel::<T, T>(T::absolute)), None),
    )
}

/// Sign: -1, 0 or 1 by the sign of x (f32, i32, i64, i8).
fn build_sign(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_signed(
        node,
        inputs,
        |data_type| with_type!(data_type, [F32, I32, I64, I8], T => Some(unary_kernel::<T, T>(T::sign)), None),
    )
}

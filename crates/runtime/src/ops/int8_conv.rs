//! `dlopt::QLinearConvF32`: a convolution with float input and output that computes in
//! int8 — the fusion of the QDQ pattern
//! `X → QuantizeLinear(s, zp) → DequantizeLinear(s, zp) → Conv(·, DequantizeLinear(Wq, Ws))`
//! (made by the CPU plugin's int8 pass).
//!
//! # Inputs and attributes
//!
//! | input     | type | shape                  | |
//! |-----------|------|------------------------|-|
//! | `X`       | f32  | `[N, C, (H,) W]`       | run-time data |
//! | `W`       | int8 | `[M, C / group, (kh,) kw]` | constant, symmetric (zero point 0) |
//! | `W_scale` | f32  | `[M]`, `[1]` or `[]`   | constant, per output channel or per tensor |
//! | `B`       | f32  | `[M]`                  | optional constant |
//!
//! Attributes: Conv's (`kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad`,
//! `group`: one group or depthwise), `x_scale` (float, positive) and `x_zero_point` (int,
//! 0..=255) quantizing `X` to uint8, and a fused activation (`dlopt_activation`, see
//! `fused_activation.rs`).
//!
//! # Semantics
//!
//! `Y = act(conv(dq(q(X)), W · W_scale[m]) + B)` with `q(x) = clamp(round_half_even(x /
//! x_scale) + x_zero_point, 0, 255)` (exactly what QuantizeLinear computes) and `dq(q) =
//! x_scale · (q − x_zero_point)`; padding is real 0. The sums are exact in i32 and scaled
//! once (`acc · (x_scale · W_scale[m]) + B[m]` in f32), so the result differs from the
//! float simulation of the QDQ graph only by that simulation's f32 accumulation rounding.
//! (One exception: a NaN input quantizes to 0 here, to the zero point in QuantizeLinear.)
//!
//! The weights are packed once when the plan is built; each run quantizes `X` into the
//! run's scratch memory and calls `dlopt_kernels::int8::conv2d_u8` with an f32 epilogue on
//! the plan's threads.

use dlopt_graph::{DataType, GraphError, Node, Result};
use dlopt_kernels::int8::{InputQuant, PackedInt8Conv, conv2d_u8, quantize_u8};

use super::Registry;
use super::convolution::conv_geometry;
use super::element::{input_slice, output_slice};
use super::fused_activation::fused_activation;
use super::kernel_call::{constant_f32, kernel_error, require_f32};
use super::spatial::output_shape;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, required};

/// The domain of the operator.
pub const DOMAIN: &str = "dlopt";
/// The op type of the operator.
pub const OP_TYPE: &str = "QLinearConvF32";
/// The attribute holding the input's quantization scale.
pub const X_SCALE: &str = "x_scale";
/// The attribute holding the input's uint8 zero point.
pub const X_ZERO_POINT: &str = "x_zero_point";

/// Adds `dlopt::QLinearConvF32`.
pub fn register(registry: &mut Registry) {
    registry.add_in(DOMAIN, OP_TYPE, build as BuildFn);
}

/// The input quantization from the attributes.
fn input_quant(node: &Node) -> Result<InputQuant> {
    let scale = node
        .attributes
        .float(X_SCALE)?
        .ok_or_else(|| GraphError::invalid(format!("attribute '{X_SCALE}' is required")))?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(GraphError::invalid(format!(
            "attribute '{X_SCALE}' is {scale}, it must be positive and finite"
        )));
    }
    let zero_point = node.attributes.int_or(X_ZERO_POINT, 0)?;
    let zero_point = u8::try_from(zero_point).map_err(|_| {
        GraphError::invalid(format!(
            "attribute '{X_ZERO_POINT}' is {zero_point}, it must be a uint8 value (0 to 255)"
        ))
    })?;
    Ok(InputQuant { scale, zero_point })
}

/// Builds the operator (see the module documentation).
fn build(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    require_f32(node, "X", x.data_type)?;
    let w = required(node, inputs, 1)?;
    let (conv, spatial) = conv_geometry(node, x.shape, w.shape)?;
    let weights = constant_input(node, inputs, 1)?;
    let weights = match weights.data() {
        dlopt_graph::TensorData::I8(values) => values.as_slice(),
        _ => {
            return Err(GraphError::unsupported(format!(
                "{OP_TYPE} needs int8 weights 'W', got {}",
                weights.data_type()
            )));
        }
    };
    let scales = constant_f32(node, inputs, 2, "W_scale")?
        .ok_or_else(|| GraphError::invalid("input 2 'W_scale' is required"))?;
    if scales.len() != 1 && scales.len() != conv.out_channels {
        return Err(GraphError::shape(format!(
            "input 'W_scale' holds {} values, expected 1 or {} (one per output channel)",
            scales.len(),
            conv.out_channels
        )));
    }
    let bias_shape = inputs.get(3).copied().flatten().map(|bias| bias.shape);
    if let Some(shape) = bias_shape.filter(|shape| *shape != [conv.out_channels]) {
        return Err(GraphError::shape(format!(
            "input 'B' has shape {shape:?}, expected [{}] (one value per output channel)",
            conv.out_channels
        )));
    }
    let bias = constant_f32(node, inputs, 3, "B")?;
    let quant = input_quant(node)?;
    let activation = fused_activation(node)?;
    let packed = PackedInt8Conv::new(&conv, weights, scales, bias).map_err(kernel_error)?;
    let shape = output_shape(conv.output_shape(), spatial);
    let empty = shape.contains(&0);
    let run = crate::op::kernel(move |inputs, outputs, context| {
        let x = input_slice::<f32>(inputs, 0)?;
        let y = output_slice::<f32>(outputs, 0)?;
        if empty {
            return Ok(());
        }
        let threads = context.threads;
        let q = context.scratch.u8(x.len());
        quantize_u8(x, quant.scale, quant.zero_point, q).map_err(kernel_error)?;
        let output = dlopt_kernels::int8::Int8Output::F32(y);
        conv2d_u8(&conv, q, quant, &packed, activation, output, None, threads).map_err(kernel_error)
    });
    Ok(BuiltOp { kernel: run, outputs: vec![OutputInfo::new(DataType::F32, shape)] })
}

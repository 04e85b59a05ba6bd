//! Activation functions: Relu, LeakyRelu, PRelu, Clip, HardSigmoid, HardSwish, Sigmoid,
//! Tanh, Softplus, Softsign, Elu, Selu, Celu, ThresholdedRelu, Gelu, Mish and Hardmax. The
//! plain math functions (Exp, Log, Neg, ...) are in `unary.rs`.
//!
//! Types: f32; Relu also i32, i64, i8; PRelu also i32, i64; Clip f32, i32, i64, i8, u8.
//! Each kernel picks its per-element function once, so the loops over plain slices
//! vectorise (Sigmoid, Tanh and Mish use the vectorisable `math` functions).

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::broadcast::{Broadcast, check_unidirectional, map};
use super::element::{Element, check_type, input_slice, output_slice, with_type};
use super::elementwise::{Arith, binary_kernel};
use super::math;
use super::unary::{Signed, build_signed, build_unary_f32, unary_kernel};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, Kernel, OutputInfo, kernel, required};
use crate::view::TensorView;

/// Adds this family's operators (and the plain math functions of `unary.rs`).
pub fn register(registry: &mut Registry) {
    registry.add("Relu", build_relu as BuildFn);
    registry.add("LeakyRelu", build_leaky_relu as BuildFn);
    registry.add("PRelu", build_prelu as BuildFn);
    registry.add("Clip", build_clip as BuildFn);
    registry.add("HardSigmoid", build_hard_sigmoid as BuildFn);
    registry.add("HardSwish", build_hard_swish as BuildFn);
    registry.add("Sigmoid", build_sigmoid as BuildFn);
    registry.add("Tanh", build_tanh as BuildFn);
    registry.add("Softplus", build_softplus as BuildFn);
    registry.add("Softsign", build_softsign as BuildFn);
    registry.add("Elu", build_elu as BuildFn);
    registry.add("Selu", build_selu as BuildFn);
    registry.add("Celu", build_celu as BuildFn);
    registry.add("ThresholdedRelu", build_thresholded_relu as BuildFn);
    registry.add("Gelu", build_gelu as BuildFn);
    registry.add("Mish", build_mish as BuildFn);
    registry.add("Hardmax", build_hardmax as BuildFn);
    super::unary::register(registry);
}

/// Relu: `max(x, 0)` (f32, i32, i64, i8; NaN stays NaN).
fn build_relu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_signed(node, inputs, |data_type| {
        with_type!(data_type, [F32, I32, I64, I8], T => {
            Some(unary_kernel::<T, T>(|v: T| if v < <T as Signed>::ZERO { <T as Signed>::ZERO } else { v }))
        }, None)
    })
}

/// LeakyRelu: `x < 0 ? alpha * x : x`, attribute `alpha` (default 0.01).
fn build_leaky_relu(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 0.01)?;
    build_unary_f32(node, inputs, move |v| if v < 0.0 { alpha * v } else { v })
}

/// PRelu's kernel: X and the slope broadcast onto X's shape.
fn prelu_kernel<T: Arith>(broadcast: Broadcast) -> Box<dyn Kernel> {
    binary_kernel::<T, T, T>(
        broadcast,
        |x: T, slope: T| if x < <T as Arith>::ZERO { T::mul(x, slope) } else { x },
    )
}

/// PRelu: `x < 0 ? slope * x : x`, with input `slope` broadcast to X's shape
/// (unidirectionally, e.g. `[C,1,1]` per channel). f32, i32, i64.
fn build_prelu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    let slope = required(node, inputs, 1)?;
    check_type("PRelu", "input X", x.data_type, &[DataType::F32, DataType::I32, DataType::I64])?;
    if slope.data_type != x.data_type {
        return Err(GraphError::invalid(format!(
            "input slope must have X's type {}, got {}",
            x.data_type, slope.data_type
        )));
    }
    check_unidirectional("input slope", slope.shape, x.shape)?;
    let broadcast = Broadcast::new(x.shape, &[x.shape, slope.shape])?;
    let kernel = with_type!(x.data_type, [F32, I32, I64], T => prelu_kernel::<T>(broadcast),
        return Err(GraphError::unsupported(format!("type {} is not supported here", x.data_type))));
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(x.data_type, x.shape.to_vec())] })
}

/// Element types with a lowest and a highest value (Clip's defaults).
trait Bounded: Element + PartialOrd {
    /// The value below every other (f32: -inf).
    const LOWEST: Self;
    /// The value above every other (f32: +inf).
    const HIGHEST: Self;
}

/// Implements [`Bounded`] with the given extremes.
macro_rules! bounded {
    ($($type:ty: $lowest:expr, $highest:expr);*) => {$(
        impl Bounded for $type {
            const LOWEST: $type = $lowest;
            const HIGHEST: $type = $highest;
        }
    )*};
}

bounded!(f32: f32::NEG_INFINITY, f32::INFINITY; i32: i32::MIN, i32::MAX; i64: i64::MIN, i64::MAX;
    i8: i8::MIN, i8::MAX; u8: u8::MIN, u8::MAX);

/// Where one of Clip's bounds comes from.
#[derive(Clone, Copy, Debug)]
enum Bound<T> {
    /// Known when building (attribute, constant input, or absent: the type's extreme).
    Fixed(T),
    /// Input `n`, read when running (a one-element tensor).
    Input(usize),
}

/// Resolving a bound when running.
impl<T: Element> Bound<T> {
    /// The bound's value for this run (a run-time bound must hold one element).
    fn value(self, inputs: &[Option<TensorView<'_>>]) -> Result<T> {
        match self {
            Bound::Fixed(value) => Ok(value),
            Bound::Input(at) => {
                let values = input_slice::<T>(inputs, at)?;
                match values {
                    [value] => Ok(*value),
                    _ => Err(GraphError::shape(format!(
                        "input {} ({}) must hold one value, got {}",
                        at,
                        if at == 1 { "min" } else { "max" },
                        values.len()
                    ))),
                }
            }
        }
    }
}

/// Clip's kernel: bounds resolved once per run, then one select loop.
fn clip_kernel<T: Bounded>(min: Bound<T>, max: Bound<T>) -> Box<dyn Kernel> {
    kernel(move |inputs, outputs, context| {
        let (low, high) = (min.value(inputs)?, max.value(inputs)?);
        // Lower bound first, then upper: if min > max, everything becomes max (ONNX).
        let f = move |v: T| {
            let v = if v < low { low } else { v };
            if v > high { high } else { v }
        };
        map(input_slice::<T>(inputs, 0)?, output_slice::<T>(outputs, 0)?, context.threads, f)
    })
}

/// The bound from optional input `at` (opset 11+): absent gives `default`; constant gives
/// its value; else it is read at run time.
fn clip_bound<T: Bounded>(
    inputs: &[Option<InputInfo<'_>>],
    at: usize,
    name: &str,
    data_type: DataType,
    default: T,
) -> Result<Bound<T>> {
    let Some(info) = inputs.get(at).copied().flatten() else { return Ok(Bound::Fixed(default)) };
    if info.data_type != data_type {
        return Err(GraphError::invalid(format!(
            "input '{name}' must have the input's type {data_type}, got {}",
            info.data_type
        )));
    }
    let count: usize = info.shape.iter().product();
    if count != 1 {
        return Err(GraphError::invalid(format!(
            "input '{name}' must be a scalar, got shape {:?}",
            info.shape
        )));
    }
    match info.constant {
        Some(tensor) => Ok(Bound::Fixed(T::slice(&TensorView::of(tensor).data)?[0])),
        None => Ok(Bound::Input(at)),
    }
}

/// Clip's kernel for opset 11+ from its optional `min`/`max` inputs.
fn build_clip_typed<T: Bounded>(
    inputs: &[Option<InputInfo<'_>>],
    data_type: DataType,
) -> Result<Box<dyn Kernel>> {
    let min = clip_bound(inputs, 1, "min", data_type, T::LOWEST)?;
    let max = clip_bound(inputs, 2, "max", data_type, T::HIGHEST)?;
    Ok(clip_kernel::<T>(min, max))
}

/// Clip: limits x to `[min, max]` (if min > max, every value becomes max). Opsets 6-10 take
/// f32 attributes `min` and `max` (defaults: the lowest and highest f32); opsets 11+ take
/// optional scalar inputs `min` and `max` of x's type (constant, or read when running).
/// f32, i32, i64, i8, u8.
fn build_clip(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    check_type(
        "Clip",
        "input X",
        x.data_type,
        &[DataType::F32, DataType::I32, DataType::I64, DataType::I8, DataType::U8],
    )?;
    let outputs = vec![OutputInfo::new(x.data_type, x.shape.to_vec())];
    let attribute_min = node.attributes.float("min")?;
    let attribute_max = node.attributes.float("max")?;
    if attribute_min.is_some() || attribute_max.is_some() {
        if inputs.iter().skip(1).any(Option::is_some) {
            return Err(GraphError::invalid(
                "bounds are given both as attributes 'min'/'max' (opsets before 11) and as inputs (opset 11+)",
            ));
        }
        check_type("Clip (opsets before 11)", "input X", x.data_type, &[DataType::F32])?;
        let min = Bound::Fixed(attribute_min.unwrap_or(f32::MIN));
        let max = Bound::Fixed(attribute_max.unwrap_or(f32::MAX));
        return Ok(BuiltOp { kernel: clip_kernel::<f32>(min, max), outputs });
    }
    let kernel = with_type!(x.data_type, [F32, I32, I64, I8, U8], T => build_clip_typed::<T>(inputs, x.data_type)?,
        return Err(GraphError::unsupported(format!("type {} is not supported here", x.data_type))));
    Ok(BuiltOp { kernel, outputs })
}

/// HardSigmoid: `max(0, min(1, alpha * x + beta))`, attributes `alpha` (0.2), `beta` (0.5).
fn build_hard_sigmoid(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 0.2)?;
    let beta = node.attributes.float_or("beta", 0.5)?;
    build_unary_f32(node, inputs, move |v| (alpha * v + beta).clamp(0.0, 1.0))
}

/// HardSwish: `x * max(0, min(1, x / 6 + 0.5))`.
fn build_hard_swish(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, |v| v * (v * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0))
}

/// Sigmoid: `1 / (1 + e^-x)`.
fn build_sigmoid(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, math::sigmoid)
}

/// Tanh: the hyperbolic tangent.
fn build_tanh(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, math::tanh)
}

/// `ln(1 + e^x)`, without overflow for large x.
fn softplus(v: f32) -> f32 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

/// Softplus: `ln(1 + e^x)`.
fn build_softplus(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, softplus)
}

/// Softsign: `x / (1 + |x|)`.
fn build_softsign(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, |v| v / (1.0 + v.abs()))
}

/// Elu: `x < 0 ? alpha * (e^x - 1) : x`, attribute `alpha` (1.0).
fn build_elu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 1.0)?;
    build_unary_f32(node, inputs, move |v| if v < 0.0 { alpha * v.exp_m1() } else { v })
}

/// Selu: `gamma * (x > 0 ? x : alpha * (e^x - 1))`, attributes `alpha` (1.67326319...) and
/// `gamma` (1.05070102...).
fn build_selu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 1.673_263_2)?;
    let gamma = node.attributes.float_or("gamma", 1.050_701)?;
    build_unary_f32(node, inputs, move |v| gamma * if v > 0.0 { v } else { alpha * v.exp_m1() })
}

/// Celu: `max(0, x) + min(0, alpha * (e^(x / alpha) - 1))`, attribute `alpha` (1.0, not 0).
fn build_celu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 1.0)?;
    if alpha == 0.0 {
        return Err(GraphError::invalid("attribute 'alpha' must not be 0"));
    }
    build_unary_f32(node, inputs, move |v| v.max(0.0) + (alpha * (v / alpha).exp_m1()).min(0.0))
}

/// ThresholdedRelu: `x > alpha ? x : 0`, attribute `alpha` (1.0).
fn build_thresholded_relu(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let alpha = node.attributes.float_or("alpha", 1.0)?;
    build_unary_f32(node, inputs, move |v| if v > alpha { v } else { 0.0 })
}

/// Gelu (opset 20): attribute `approximate` "none" (default): `x/2 * (1 + erf(x/sqrt 2))`,
/// computed as `x/2 * erfc(-x/sqrt 2)` to stay exact for negative x; "tanh":
/// `x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))`, computed as `x * sigmoid(2 * ...)`.
fn build_gelu(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    match node.attributes.string_or("approximate", "none")? {
        "none" => build_unary_f32(node, inputs, |v| {
            0.5 * v * math::erfc(-v * std::f32::consts::FRAC_1_SQRT_2)
        }),
        "tanh" => {
            const SQRT_2_OVER_PI: f32 = 0.797_884_6;
            // 0.5 * (1 + tanh(z)) = sigmoid(2z), without tanh's cancellation near -1.
            build_unary_f32(node, inputs, |v| {
                v * math::sigmoid(2.0 * SQRT_2_OVER_PI * (v + 0.044_715 * v * v * v))
            })
        }
        other => Err(GraphError::invalid(format!(
            "attribute 'approximate' must be \"none\" or \"tanh\", got \"{other}\""
        ))),
    }
}

/// Mish: `x * tanh(softplus(x))`.
fn build_mish(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_unary_f32(node, inputs, |v| v * math::tanh(softplus(v)))
}

/// Hardmax: 1 at the first maximum along the reduced extent, 0 elsewhere. Opset 13+: along
/// attribute `axis` (default -1); before 13: over the flattened dimensions from `axis`
/// (default 1) on, as ONNX coerced inputs to 2-D then.
fn build_hardmax(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    check_type("Hardmax", "input X", x.data_type, &[DataType::F32])?;
    let rank = x.shape.len() as i64;
    let per_axis = options.opset >= 13;
    let axis = node.attributes.int_or("axis", if per_axis { -1 } else { 1 })?;
    let limit = if per_axis { rank - 1 } else { rank };
    if axis < -rank || axis > limit {
        return Err(GraphError::invalid(format!(
            "attribute 'axis' is {axis}, outside [{}, {limit}] for rank {rank}",
            -rank
        )));
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    let outer: usize = x.shape[..axis].iter().product();
    let (extent, inner): (usize, usize) = if per_axis {
        (x.shape[axis], x.shape[axis + 1..].iter().product())
    } else {
        (x.shape[axis..].iter().product(), 1)
    };
    let kernel = kernel(move |inputs, outputs, _| {
        let input = input_slice::<f32>(inputs, 0)?;
        let output = output_slice::<f32>(outputs, 0)?;
        if input.len() != output.len() || input.len() != outer * extent * inner {
            return Err(GraphError::shape("buffers do not fit the built shapes"));
        }
        output.fill(0.0);
        for o in 0..outer {
            for i in 0..inner {
                let base = o * extent * inner + i;
                let mut best = 0;
                for k in 1..extent {
                    if input[base + k * inner] > input[base + best * inner] {
                        best = k;
                    }
                }
                if extent > 0 {
                    output[base + best * inner] = 1.0;
                }
            }
        }
        Ok(())
    });
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(DataType::F32, x.shape.to_vec())] })
}

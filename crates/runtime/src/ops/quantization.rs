//! Linear quantization: QuantizeLinear and DequantizeLinear (opsets 10 to 21).
//!
//! - QuantizeLinear: `y = saturate(round(x / y_scale) + y_zero_point)`, rounding half to
//!   even, saturating to the range of the output type.
//! - DequantizeLinear: `y = (x - x_zero_point) * x_scale`.
//!
//! Scale and zero point apply per tensor (a scalar or a one-element 1-D tensor), per axis
//! (a 1-D tensor of `x.shape[axis]` elements, attribute `axis`, default 1; opset 13+) or per
//! block (opset 21: attribute `block_size` > 0, scale of `x`'s rank whose `axis` dimension is
//! `ceil(x.shape[axis] / block_size)` and whose other dimensions are `x`'s). The zero point
//! is optional (0; QuantizeLinear then writes uint8, or the type of attribute
//! `output_dtype`, opset 21) and has the scale's shape and the quantized type.
//!
//! Types: quantized values are uint8 or int8 (and int32 as DequantizeLinear's input, for
//! biases); floats are f32, f16 or bf16 (computed in f32: `x / scale` is rounded to f32 before
//! it is rounded to an integer, as ONNX's reference does in f32). The 16-bit integer, int4,
//! int2 and float8 types of later opsets are not element types of the IR; attribute
//! `saturate` (float8 only) is ignored.
//!
//! Scale and zero point are usually constants: they are then converted once when the plan is
//! built; otherwise they are read at each run. Per-tensor f32 ↔ uint8 (the activations of
//! QDQ graphs) runs on the vectorised kernels of `dlopt_kernels::int8`, with the same
//! results as the generic element loop.

use dlopt_graph::{DataType, GraphError, Node, Result};
use dlopt_kernels::int8::{dequantize_u8, quantize_u8};

use super::Registry;
use super::axes::normalize_axis;
use super::element::{Element, check_type, input_slice, output_slice, with_type};
use super::typed::Convert;
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, RunContext, kernel, required,
};
use crate::view::{DataRef, TensorView};

/// Adds QuantizeLinear and DequantizeLinear.
pub fn register(registry: &mut Registry) {
    registry.add("QuantizeLinear", build_quantize as BuildFn);
    registry.add("DequantizeLinear", build_dequantize as BuildFn);
}

/// The float types of `x` (QuantizeLinear), of scales, and of DequantizeLinear's output.
const FLOATS: [DataType; 3] = [DataType::F32, DataType::F16, DataType::BF16];

/// How the scale and zero point elements map onto the elements of `x`, which is seen as
/// `[outer, length, inner]` around the quantization axis.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    /// Product of the dimensions before the axis.
    outer: usize,
    /// The axis dimension.
    length: usize,
    /// Product of the dimensions after the axis.
    inner: usize,
    /// How the parameters are indexed.
    granularity: Granularity,
}

/// Per tensor, per axis or per block.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Granularity {
    /// One scale for every element.
    Tensor,
    /// One scale per index along the axis.
    Axis,
    /// One scale per `block` consecutive indices along the axis (and per outer and inner
    /// position); `blocks` is the scale's axis dimension.
    Block { block: usize, blocks: usize },
}

impl Layout {
    /// The parameter index of the elements of row `row` (`outer * length` rows of `inner`
    /// elements) at position `at` in the row.
    fn parameter(&self, row: usize, at: usize) -> usize {
        match self.granularity {
            Granularity::Tensor => 0,
            Granularity::Axis => row % self.length,
            Granularity::Block { block, blocks } => {
                let (outer, index) = (row / self.length, row % self.length);
                (outer * blocks + index / block) * self.inner + at
            }
        }
    }
}

/// Checks the scale (input 1) and zero point (input 2) against `x` (input 0) and returns how
/// they are laid out (see the module documentation).
fn layout(node: &Node, inputs: &[Option<InputInfo<'_>>], options: &BuildOptions) -> Result<Layout> {
    let x = required(node, inputs, 0)?;
    let scale = required(node, inputs, 1)?;
    if let Some(zero_point) = inputs.get(2).copied().flatten() {
        if zero_point.shape.iter().product::<usize>() != scale.shape.iter().product::<usize>()
            || (zero_point.shape.len() > 1 || scale.shape.len() > 1)
                && zero_point.shape != scale.shape
        {
            return Err(GraphError::invalid(format!(
                "the zero point has shape {:?}, the scale {:?}: they must match",
                zero_point.shape, scale.shape
            ))
            .at_node(node));
        }
    }
    let block_size = node.attributes.int_or("block_size", 0)?;
    let scale_count: usize = scale.shape.iter().product();
    let rank = x.shape.len();
    let whole =
        |granularity| Layout { outer: 1, length: 1, inner: x.shape.iter().product(), granularity };
    if block_size == 0 && scale.shape.len() <= 1 && scale_count == 1 {
        return Ok(whole(Granularity::Tensor));
    }
    if options.opset < 13 {
        return Err(GraphError::invalid(format!(
            "the scale has shape {:?}, but opset {} only has per-tensor (scalar) scales; per-axis scales need opset 13",
            scale.shape, options.opset
        ))
        .at_node(node));
    }
    let axis = normalize_axis(node.attributes.int_or("axis", 1)?, rank, "attribute 'axis'")
        .map_err(|error| error.at_node(node))?;
    let (outer, length, inner) =
        (x.shape[..axis].iter().product(), x.shape[axis], x.shape[axis + 1..].iter().product());
    let granularity = if block_size > 0 {
        let block = block_size as usize;
        let blocks = length.div_ceil(block);
        let mut expected = x.shape.to_vec();
        expected[axis] = blocks;
        if scale.shape != expected.as_slice() {
            return Err(GraphError::invalid(format!(
                "with block_size {block} on axis {axis} of {:?} the scale must have shape {expected:?}, got {:?}",
                x.shape, scale.shape
            ))
            .at_node(node));
        }
        Granularity::Block { block, blocks }
    } else if block_size < 0 {
        return Err(GraphError::invalid(format!(
            "attribute 'block_size' is {block_size}, it must not be negative"
        ))
        .at_node(node));
    } else {
        if scale.shape != [length] {
            return Err(GraphError::invalid(format!(
                "a per-axis scale must be 1-D with x.shape[{axis}] = {length} elements, got shape {:?}",
                scale.shape
            ))
            .at_node(node));
        }
        Granularity::Axis
    };
    Ok(Layout { outer, length, inner, granularity })
}

/// Scales as f32 and zero points as i64 (0 without a zero point), one per parameter.
#[derive(Clone, Debug, Default)]
struct Parameters {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

/// Reads the parameters from typed scale and zero point data.
fn parameters(scale: &DataRef<'_>, zero_point: Option<&DataRef<'_>>) -> Result<Parameters> {
    let scales = match *scale {
        DataRef::F32(values) => values.to_vec(),
        DataRef::F16(values) => values.iter().map(|v| v.to_f32()).collect(),
        DataRef::BF16(values) => values.iter().map(|v| v.to_f32()).collect(),
        other => {
            return Err(GraphError::unsupported(format!(
                "the scale is {}, expected f32, f16 or bf16",
                other.data_type()
            )));
        }
    };
    let zero_points = match zero_point {
        None => vec![0; scales.len()],
        Some(DataRef::U8(values)) => values.iter().map(|&v| v as i64).collect(),
        Some(DataRef::I8(values)) => values.iter().map(|&v| v as i64).collect(),
        Some(DataRef::I32(values)) => values.iter().map(|&v| v as i64).collect(),
        Some(other) => {
            return Err(GraphError::unsupported(format!(
                "the zero point is {}, expected u8, i8 or i32",
                other.data_type()
            )));
        }
    };
    Ok(Parameters { scales, zero_points })
}

/// The parameters if scale and zero point are constant when the plan is built.
fn constant_parameters(inputs: &[Option<InputInfo<'_>>]) -> Result<Option<Parameters>> {
    let scale = inputs.get(1).copied().flatten().and_then(|info| info.constant);
    let zero_point = inputs.get(2).copied().flatten();
    let Some(scale) = scale else { return Ok(None) };
    let zero_point = match zero_point {
        None => None,
        Some(info) => match info.constant {
            Some(tensor) => Some(TensorView::of(tensor).data),
            None => return Ok(None),
        },
    };
    parameters(&TensorView::of(scale).data, zero_point.as_ref()).map(Some)
}

/// The parameters: the constant ones, or read from the run's inputs.
fn run_parameters<'p>(
    known: &'p Option<Parameters>,
    inputs: &[Option<TensorView<'_>>],
    storage: &'p mut Parameters,
) -> Result<&'p Parameters> {
    if let Some(known) = known {
        return Ok(known);
    }
    let scale = crate::op::input(inputs, 1)?;
    let zero_point = inputs.get(2).and_then(Option::as_ref).map(|view| view.data);
    *storage = parameters(&scale.data, zero_point.as_ref())?;
    Ok(storage)
}

/// A quantized element type: its range and conversions.
trait Quantized: Element {
    /// The smallest value.
    const MIN: i64;
    /// The largest value.
    const MAX: i64;
    /// The value of an integer in `MIN..=MAX`.
    fn from_in_range(value: i64) -> Self;
    /// The value as an integer.
    fn widen(self) -> i64;
}

macro_rules! quantized {
    ($($t:ty),*) => {$(
        impl Quantized for $t {
            const MIN: i64 = <$t>::MIN as i64;
            const MAX: i64 = <$t>::MAX as i64;
            fn from_in_range(value: i64) -> Self {
                value as $t
            }
            fn widen(self) -> i64 {
                self as i64
            }
        }
    )*};
}
quantized!(u8, i8, i32);

/// `saturate(round_half_even(x / scale) + zero_point)` for type `Q`; NaN gives the zero
/// point.
fn quantize_one<Q: Quantized>(x: f32, scale: f32, zero_point: i64) -> Q {
    let rounded = (x / scale).round_ties_even();
    let shifted = if rounded.is_nan() { 0.0 } else { rounded as f64 } + zero_point as f64;
    Q::from_in_range((shifted.clamp(Q::MIN as f64, Q::MAX as f64)) as i64)
}

/// Applies `convert(input, scale, zero point)` to every element, row by row (rows of
/// `layout.inner` elements, spread over threads when large).
fn map_rows<I: Copy + Sync, O: Send>(
    layout: &Layout,
    parameters: &Parameters,
    input: &[I],
    output: &mut [O],
    context: &RunContext<'_>,
    convert: impl Fn(I, f32, i64) -> O + Send + Sync,
) {
    let row_length = match layout.granularity {
        // Per tensor: any row length will do; chunks keep the parallel tasks balanced.
        Granularity::Tensor => layout.inner.clamp(1, 16 * 1024),
        _ => layout.inner.max(1),
    };
    let parallel = super::data_movement::worth_parallel::<O>(output.len(), context);
    super::data_movement::for_each_chunk(output, row_length, parallel, |row, chunk| {
        let start = row * row_length;
        for (at, (out, &value)) in chunk.iter_mut().zip(&input[start..]).enumerate() {
            let parameter = layout.parameter(row, at);
            *out = convert(value, parameters.scales[parameter], parameters.zero_points[parameter]);
        }
    });
}

/// Elements per chunk of the per-tensor uint8 fast paths.
const CHUNK: usize = 16 * 1024;

/// QuantizeLinear's most common case, per tensor from f32 to uint8, on the vectorised
/// `dlopt_kernels::int8::quantize_u8` (the same arithmetic as [`quantize_one`]: `x / scale`
/// in f32, rounded half to even, saturated). The kernel maps NaN to 0; this operator maps it
/// to the zero point, so chunks holding NaN are patched. Scales the kernel refuses (not
/// positive and finite) take the generic path.
fn quantize_f32_u8(
    input: &[f32],
    scale: f32,
    zero_point: i64,
    output: &mut [u8],
    context: &RunContext<'_>,
) {
    let parallel = super::data_movement::worth_parallel::<f32>(output.len(), context);
    super::data_movement::for_each_chunk(output, CHUNK, parallel, |at, chunk| {
        let start = at * CHUNK;
        let input = &input[start..start + chunk.len()];
        if quantize_u8(input, scale, zero_point as u8, chunk).is_err() {
            for (out, &value) in chunk.iter_mut().zip(input) {
                *out = quantize_one::<u8>(value, scale, zero_point);
            }
        } else if input.iter().any(|value| value.is_nan()) {
            for (out, _) in chunk.iter_mut().zip(input).filter(|(_, value)| value.is_nan()) {
                *out = zero_point as u8;
            }
        }
    });
}

/// QuantizeLinear: see the module documentation.
fn build_quantize(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    let scale = required(node, inputs, 1)?;
    check_type("QuantizeLinear", "input x", x.data_type, &FLOATS)?;
    check_type("QuantizeLinear", "input y_scale", scale.data_type, &FLOATS)?;
    let zero_point = inputs.get(2).copied().flatten();
    let declared = match node.attributes.int_or("output_dtype", 0)? {
        0 => None,
        code => Some(super::cast::data_type_of_code(code, "attribute 'output_dtype'")?),
    };
    let output_type = match (zero_point.map(|info| info.data_type), declared) {
        (Some(zero), Some(declared)) if zero != declared => {
            return Err(GraphError::invalid(format!(
                "attribute 'output_dtype' is {declared} but the zero point is {zero}"
            ))
            .at_node(node));
        }
        (Some(data_type), _) | (None, Some(data_type)) => data_type,
        (None, None) => DataType::U8,
    };
    check_type("QuantizeLinear", "output y", output_type, &[DataType::U8, DataType::I8])?;
    let layout = layout(node, inputs, options)?;
    let known = constant_parameters(inputs)?;
    let build =
        |kernel| BuiltOp { kernel, outputs: vec![OutputInfo::new(output_type, x.shape.to_vec())] };
    if layout.granularity == Granularity::Tensor
        && x.data_type == DataType::F32
        && output_type == DataType::U8
    {
        return Ok(build(kernel(move |inputs, outputs, context| {
            let mut storage = Parameters::default();
            let parameters = run_parameters(&known, inputs, &mut storage)?;
            let (scale, zero_point) = (parameters.scales[0], parameters.zero_points[0]);
            let input = input_slice::<f32>(inputs, 0)?;
            let output = output_slice::<u8>(outputs, 0)?;
            quantize_f32_u8(input, scale, zero_point, output, context);
            Ok(())
        })));
    }
    Ok(
        with_type!(x.data_type, [F32, F16, BF16], X => with_type!(output_type, [U8, I8], Q => build(kernel(move |inputs, outputs, context| {
        let mut storage = Parameters::default();
        let parameters = run_parameters(&known, inputs, &mut storage)?;
        let input = input_slice::<X>(inputs, 0)?;
        let output = output_slice::<Q>(outputs, 0)?;
        map_rows(&layout, parameters, input, output, context, |value, scale, zero_point| {
            quantize_one::<Q>(Convert::to_f64(value) as f32, scale, zero_point)
        });
        Ok(())
    })), unreachable!("checked above")), unreachable!("checked above")),
    )
}

/// DequantizeLinear: see the module documentation.
fn build_dequantize(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    let scale = required(node, inputs, 1)?;
    let quantized = [DataType::U8, DataType::I8, DataType::I32];
    check_type("DequantizeLinear", "input x", x.data_type, &quantized)?;
    check_type("DequantizeLinear", "input x_scale", scale.data_type, &FLOATS)?;
    if let Some(zero_point) = inputs.get(2).copied().flatten() {
        if zero_point.data_type != x.data_type {
            return Err(GraphError::invalid(format!(
                "the zero point is {} but x is {}: they must have the same type",
                zero_point.data_type, x.data_type
            ))
            .at_node(node));
        }
    }
    let layout = layout(node, inputs, options)?;
    let known = constant_parameters(inputs)?;
    let output_type = scale.data_type;
    let build =
        |kernel| BuiltOp { kernel, outputs: vec![OutputInfo::new(output_type, x.shape.to_vec())] };
    if layout.granularity == Granularity::Tensor
        && x.data_type == DataType::U8
        && output_type == DataType::F32
    {
        return Ok(build(kernel(move |inputs, outputs, context| {
            let mut storage = Parameters::default();
            let parameters = run_parameters(&known, inputs, &mut storage)?;
            let (scale, zero_point) = (parameters.scales[0], parameters.zero_points[0] as u8);
            let input = input_slice::<u8>(inputs, 0)?;
            let output = output_slice::<f32>(outputs, 0)?;
            let parallel = super::data_movement::worth_parallel::<f32>(output.len(), context);
            super::data_movement::for_each_chunk(output, CHUNK, parallel, |at, chunk| {
                let start = at * CHUNK;
                dequantize_u8(&input[start..start + chunk.len()], scale, zero_point, chunk)
                    .expect("lengths match");
            });
            Ok(())
        })));
    }
    Ok(
        with_type!(x.data_type, [U8, I8, I32], Q => with_type!(output_type, [F32, F16, BF16], Y => build(kernel(move |inputs, outputs, context| {
        let mut storage = Parameters::default();
        let parameters = run_parameters(&known, inputs, &mut storage)?;
        let input = input_slice::<Q>(inputs, 0)?;
        let output = output_slice::<Y>(outputs, 0)?;
        map_rows(&layout, parameters, input, output, context, |value, scale, zero_point| {
            Y::from_f64(((value.widen() - zero_point) as f32 * scale) as f64)
        });
        Ok(())
    })), unreachable!("checked above")), unreachable!("checked above")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let q = |x: f32| quantize_one::<u8>(x, 2.0, 128);
        assert_eq!([q(1.0), q(3.0), q(5.0), q(-1.0)], [128, 130, 130, 128]);
        assert_eq!([q(1000.0), q(-1000.0), q(f32::NAN)], [255, 0, 128]);
        let s = |x: f32| quantize_one::<i8>(x, 0.5, 0);
        assert_eq!([s(0.25), s(0.75), s(-0.75), s(100.0), s(-100.0)], [0, 2, -2, 127, -128]);
    }

    #[test]
    fn the_per_tensor_uint8_fast_path_matches_the_element_loop() {
        // Ties at every half step, saturation on both sides, infinities and NaN, across
        // several chunks.
        let mut input: Vec<f32> =
            (0..3 * CHUNK + 77).map(|i| (i as f32 - 40000.0) * 0.0125).collect();
        input.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e30, -1e30]);
        let mut scratch = crate::op::Scratch::default();
        for (scale, zero_point) in [(0.025, 128), (0.1, 0), (0.05, 255), (-1.0, 3)] {
            let mut fast = vec![0; input.len()];
            let context = RunContext { threads: 1, scratch: &mut scratch };
            quantize_f32_u8(&input, scale, zero_point, &mut fast, &context);
            let slow: Vec<u8> =
                input.iter().map(|&x| quantize_one::<u8>(x, scale, zero_point)).collect();
            assert!(fast == slow, "scale {scale}, zero point {zero_point}");
        }
    }

    #[test]
    fn parameters_follow_the_layout() {
        // x [2, 3, 2], axis 1.
        let axis = Layout { outer: 2, length: 3, inner: 2, granularity: Granularity::Axis };
        let rows: Vec<usize> = (0..6).map(|row| axis.parameter(row, 1)).collect();
        assert_eq!(rows, [0, 1, 2, 0, 1, 2]);
        // x [2, 4, 2], axis 1, blocks of 2: scale [2, 2, 2].
        let block = Layout {
            outer: 2,
            length: 4,
            inner: 2,
            granularity: Granularity::Block { block: 2, blocks: 2 },
        };
        assert_eq!(block.parameter(0, 1), 1);
        assert_eq!(block.parameter(3, 0), 2);
        assert_eq!(block.parameter(5, 1), 5);
    }
}

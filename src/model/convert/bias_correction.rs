//! Fast bias correction (as OpenVINO's DefaultQuantization does it): quantizing a layer's
//! input and weights shifts the mean of its output channels a little; the bias absorbs the
//! shift. Each quantized Conv / ConvTranspose / Gemm with a constant bias is measured
//! **in isolation**: the float32 graph gives the layer's float input `x`; the layer runs
//! once with `x` and its float weights and once with `x` fake-quantized with its
//! calibrated range and the weights quantized per channel as the QDQ graph quantizes them,
//! both without the fused activation. The shift of a channel is the difference of the two
//! outputs' means over the samples, so errors of other layers do not leak in (correcting
//! all layers from the fully quantized graph's outputs at once corrects every upstream
//! error again in every layer, and was measured to hurt).
//!
//! Samples: those of the most common input shape first, at most [`SAMPLES`] (each layer is a
//! one-node plan per input shape).

use std::collections::HashMap;

use dlopt_calibration::ChannelMeans;
use dlopt_graph::quantize::{QuantParams, QuantPlan, quantize_per_channel};
use dlopt_graph::{Attributes, DataType, Graph, Node, Tensor, Value, ValueId};
use dlopt_runtime::{BuildOptions, Plan};

use crate::device::{Backend, native_device};
use crate::error::{H_ERR_HAI2_ERROR, HalconError, Result};

use super::super::{ModelState, SampleImage, inference_error};
use super::probe::{Probe, inputs_common_shape_first};

/// The most samples the shifts are measured on.
pub const SAMPLES: usize = 32;

/// The bias shift of each corrected node, by node name.
pub type Shifts = HashMap<String, Vec<f32>>;

/// One layer to correct: the node, its float input, its weights and quantization.
struct Layer {
    node: Node,
    input: ValueId,
    input_params: QuantParams,
    weight: Tensor,
    dequantized_weight: Tensor,
    bias: Tensor,
    plans: HashMap<Vec<usize>, Plan>,
    float_means: Option<ChannelMeans>,
    quantized_means: Option<ChannelMeans>,
}

fn internal(message: String) -> HalconError {
    HalconError::new(H_ERR_HAI2_ERROR, format!("bias correction: {message}"))
}

/// The layers of `plan` to correct.
fn layers(
    graph: &Graph,
    plan: &QuantPlan,
    ranges: &HashMap<ValueId, QuantParams>,
) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for weight in &plan.weights {
        let Some(node) = graph.nodes.iter().find(|node| node.name == weight.node) else { continue };
        if !matches!(node.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm") || weight.input != 1
        {
            continue;
        }
        let (Some(input), Some(bias)) = (node.input(0), node.input(2)) else { continue };
        let (Some(bias), Some(input_params)) = (graph.constant(bias), ranges.get(&input)) else {
            continue;
        };
        let Some(float_weight) = graph.constant(weight.value) else { continue };
        let Some(values) = float_weight.as_f32() else { continue };
        let quantized =
            quantize_per_channel(values, float_weight.shape(), weight.axis, plan.weight_levels)
                .map_err(inference_error)?;
        let dequantized: Vec<f32> = match weight.axis {
            // Per channel along `axis`: channel c of element i is (i / inner_of_axis) % count.
            Some(axis) => {
                let shape = float_weight.shape();
                let after: usize = shape[axis + 1..].iter().product();
                let count = shape[axis];
                quantized
                    .values
                    .iter()
                    .enumerate()
                    .map(|(at, &q)| f32::from(q) * quantized.scales[(at / after) % count])
                    .collect()
            }
            None => quantized.values.iter().map(|&q| f32::from(q) * quantized.scales[0]).collect(),
        };
        let dequantized_weight = Tensor::from_f32(float_weight.shape().to_vec(), dequantized)
            .map_err(inference_error)?;
        let mut node = node.clone();
        node.attributes = without_activation(&node.attributes);
        layers.push(Layer {
            node,
            input,
            input_params: *input_params,
            weight: float_weight.clone(),
            dequantized_weight,
            bias: bias.clone(),
            plans: HashMap::new(),
            float_means: None,
            quantized_means: None,
        });
    }
    Ok(layers)
}

/// `attributes` without dlopt's fused activation.
fn without_activation(attributes: &Attributes) -> Attributes {
    let mut kept = attributes.clone();
    kept.remove("dlopt_activation");
    kept.remove("dlopt_activation_alpha");
    kept.remove("dlopt_activation_beta");
    kept
}

/// A graph of two copies of `layer`'s node: (x, w) -> y_float and (x', w_q) -> y_quantized.
fn layer_graph(layer: &Layer, shape: &[usize]) -> Result<Graph> {
    let mut graph = Graph { name: "bias_correction".into(), opset: 21, ..Graph::default() };
    let dims = dlopt_graph::shape::symbolic(shape);
    let input = |graph: &mut Graph, name: &str| {
        graph.add_value(Value {
            name: name.into(),
            data_type: Some(DataType::F32),
            shape: Some(dims.clone()),
            constant: None,
        })
    };
    let x = input(&mut graph, "x");
    let x_quantized = input(&mut graph, "x_quantized");
    let w = graph.add_constant("w".into(), layer.weight.clone());
    let w_quantized = graph.add_constant("w_quantized".into(), layer.dequantized_weight.clone());
    let b = graph.add_constant("b".into(), layer.bias.clone());
    let output = |graph: &mut Graph, name: &str| {
        graph.add_value(Value { name: name.into(), ..Value::default() })
    };
    let y = output(&mut graph, "y");
    let y_quantized = output(&mut graph, "y_quantized");
    let copy = |name: &str, inputs: [ValueId; 3], out: ValueId| Node {
        name: name.into(),
        op_type: layer.node.op_type.clone(),
        domain: layer.node.domain.clone(),
        inputs: inputs.into_iter().map(Some).collect(),
        outputs: vec![out],
        attributes: layer.node.attributes.clone(),
    };
    graph.nodes = vec![
        copy("float", [x, w, b], y),
        copy("quantized", [x_quantized, w_quantized, b], y_quantized),
    ];
    graph.inputs = vec![x, x_quantized];
    graph.outputs = vec![y, y_quantized];
    graph.check().map_err(inference_error)?;
    Ok(graph)
}

/// Adds an [N, C, ...] (or [N, C]) output to per-channel means.
fn add_means(means: &mut Option<ChannelMeans>, tensor: &Tensor, samples: usize) -> Result<()> {
    let shape = tensor.shape();
    if shape.len() < 2 {
        return Ok(());
    }
    let means = means.get_or_insert_with(|| ChannelMeans::new(shape[1]));
    let values = tensor.to_f32_vec();
    let split = if samples > 0 && values.len() % samples == 0 { samples } else { 1 };
    means.add(&values, split).map_err(|error| internal(error.to_string()))
}

/// The shifts of every correctable layer of `plan` (see the module documentation).
pub fn shifts(
    state: &ModelState,
    plan: &QuantPlan,
    ranges: &HashMap<ValueId, QuantParams>,
    images: &[SampleImage],
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Shifts> {
    let graph = &state.graph;
    let mut layers = layers(graph, plan, ranges)?;
    if layers.is_empty() {
        return Ok(Shifts::new());
    }
    let Backend::Native(native) = &native_device()?.backend else {
        unreachable!("the native device is native")
    };
    let options = BuildOptions { threads: native.threads(), ..BuildOptions::default() };
    let inputs: Vec<ValueId> = layers.iter().map(|layer| layer.input).collect();
    let mut probe = Probe::new(graph, &inputs)?;
    let chosen = inputs_common_shape_first(state, images, SAMPLES)?;
    let total = chosen.len();
    for (done, input) in chosen.into_iter().enumerate() {
        let probed = probe.run(input, 1)?;
        for (layer, x) in layers.iter_mut().zip(&probed.values) {
            let shape = x.shape().to_vec();
            if !layer.plans.contains_key(&shape) {
                let graph = layer_graph(layer, &shape)?;
                let built = Plan::build(&graph, &[shape.clone(), shape.clone()], &options)
                    .map_err(inference_error)?;
                layer.plans.insert(shape.clone(), built);
            }
            let params = layer.input_params;
            let fake: Vec<f32> =
                x.to_f32_vec().into_iter().map(|v| params.fake_quantize(v)).collect();
            let x_quantized = Tensor::from_f32(shape.clone(), fake).map_err(inference_error)?;
            let plan = &layer.plans[&shape];
            let outputs =
                native.run(|| plan.run(&[x.clone(), x_quantized])).map_err(inference_error)?;
            add_means(&mut layer.float_means, &outputs[0], 1)?;
            add_means(&mut layer.quantized_means, &outputs[1], 1)?;
        }
        progress("bias_correction (samples)", done + 1, total);
    }
    let mut shifts = Shifts::new();
    for layer in &layers {
        let (Some(float), Some(quantized)) = (&layer.float_means, &layer.quantized_means) else {
            continue;
        };
        let shift = dlopt_calibration::bias_shift(&float.means(), &quantized.means())
            .map_err(|error| internal(error.to_string()))?;
        if shift.len() == layer.bias.len() {
            shifts.insert(layer.node.name.clone(), shift);
        }
    }
    Ok(shifts)
}

/// Adds `shifts` to the biases of the quantized nodes of `qdq` (made with `plan`); returns
/// the largest shift per corrected node.
pub fn apply(qdq: &mut Graph, plan: &QuantPlan, shifts: &Shifts) -> Result<HashMap<String, f32>> {
    let mut applied = HashMap::new();
    for decision in plan.nodes.iter().filter(|decision| decision.quantized) {
        let Some(shift) = shifts.get(&decision.node) else { continue };
        let Some(node) = qdq.nodes.iter().find(|node| node.name == decision.node) else { continue };
        let Some(bias) = node.input(2) else { continue };
        let Some(tensor) = qdq.constant(bias) else { continue };
        let Some(current) = tensor.as_f32() else { continue };
        if current.len() != shift.len() {
            continue;
        }
        let corrected = dlopt_calibration::corrected_bias(current, shift)
            .map_err(|error| internal(error.to_string()))?;
        let shape = tensor.shape().to_vec();
        qdq.value_mut(bias).constant =
            Some(Tensor::from_f32(shape, corrected).map_err(inference_error)?);
        applied.insert(decision.node.clone(), shift.iter().fold(0.0f32, |m, s| m.max(s.abs())));
    }
    Ok(applied)
}

//! Phase 2 of the recipe: the QDQ graph of a [`QuantPlan`] and per-value ranges.
//!
//! - Each planned activation value `v` gets a QuantizeLinear → DequantizeLinear pair with
//!   its [`QuantParams`] (scalar scale and zero point constants): the node producing `v` now
//!   writes `v_float`, and the DequantizeLinear writes `v` itself, so every reader of `v`
//!   (float nodes and graph outputs too) sees the fake-quantized value, as in an integer
//!   engine that stores `v` as 8-bit. A graph input keeps its name: the pair reads it and
//!   its readers read the DequantizeLinear's output.
//! - Each planned weight becomes an int8 initializer (`<name>_quantized`, symmetric per
//!   channel, see [`quantize_per_channel`]) with `<name>_scale` and an all-zero
//!   `<name>_zero_point`, and a DequantizeLinear (attribute `axis` when per channel) feeding
//!   the node in its place.
//! - Biases (Conv's and ConvTranspose's input 2, Gemm's C) stay float: integer engines want
//!   them as int32 with scale `input scale × weight scale`, which depends on the activation
//!   ranges; a float bias keeps the QDQ graph exact and valid, and ONNX Runtime then runs the
//!   bias addition in float.
//! - When a per-axis DequantizeLinear is used and the graph's opset is below 13, the graph
//!   is raised to opset 13 (see `opset.rs`): opsets 10 to 12 have per-tensor scales only.
//!
//! The result passes [`Graph::check`] and runs in dlopt's runtime in float (fake
//! quantization); exported (with fused activations expanded, see
//! [`export_standard_model`](crate::onnx::export_standard_model)) it is a standard QDQ model.

use std::collections::HashMap;

use crate::attribute::{Attribute, Attributes};
use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::{Graph, Node, Value, ValueId};
use crate::quantize::opset::upgrade_to_opset_13;
use crate::quantize::params::{QuantParams, QuantType, quantize_per_channel};
use crate::quantize::plan::QuantPlan;
use crate::tensor::{Tensor, TensorData};

/// The QDQ graph of `graph` for `plan` (made by [`plan`](super::plan()) for this graph) with
/// `ranges`, the quantization of every activation value in [`QuantPlan::activations`]
/// (see the module documentation).
pub fn apply(
    graph: &Graph,
    plan: &QuantPlan,
    ranges: &HashMap<ValueId, QuantParams>,
) -> Result<Graph> {
    check_plan(graph, plan)?;
    let mut out = graph.clone();
    let producers = graph.producers();
    let mut front = Vec::new();
    let mut after: HashMap<usize, Vec<Node>> = HashMap::new();
    let mut per_axis = false;

    let mut dequantized: HashMap<(ValueId, Option<usize>), ValueId> = HashMap::new();
    for weight in &plan.weights {
        let at = out.nodes.iter().position(|node| node.name == weight.node).expect("checked");
        let id = match dequantized.get(&(weight.value, weight.axis)) {
            Some(&id) => id,
            None => {
                let (node, id) =
                    dequantized_weight(&mut out, weight.value, weight.axis, plan.weight_levels)?;
                per_axis |= weight.axis.is_some();
                front.push(node);
                dequantized.insert((weight.value, weight.axis), id);
                id
            }
        };
        out.nodes[at].inputs[weight.input] = Some(id);
    }

    for activation in &plan.activations {
        let params = ranges.get(&activation.value).ok_or_else(|| {
            GraphError::invalid(format!("no range was given for activation '{}'", activation.name))
        })?;
        let what = format!("activation '{}'", activation.name);
        params.validate(&what)?;
        let v = activation.value;
        let (source, target) = match producers[v.index()] {
            Some(producer) => {
                let name = out.unique_name(&format!("{}_float", activation.name));
                let source = out.add_value(Value { name, constant: None, ..out.value(v).clone() });
                for output in &mut out.nodes[producer].outputs {
                    if *output == v {
                        *output = source;
                    }
                }
                (source, v)
            }
            None => {
                let name = out.unique_name(&format!("{}_dequantized", activation.name));
                let target = out.add_value(Value { name, constant: None, ..out.value(v).clone() });
                for node in &mut out.nodes {
                    for input in node.inputs.iter_mut().flatten() {
                        if *input == v {
                            *input = target;
                        }
                    }
                }
                (v, target)
            }
        };
        let pair = qdq_pair(&mut out, &activation.name, source, target, params);
        match producers[v.index()] {
            Some(producer) => after.entry(producer).or_default().extend(pair),
            None => front.extend(pair),
        }
    }

    let original = std::mem::take(&mut out.nodes);
    out.nodes = front;
    for (at, node) in original.into_iter().enumerate() {
        out.nodes.push(node);
        out.nodes.extend(after.remove(&at).unwrap_or_default());
    }
    if per_axis {
        upgrade_to_opset_13(&mut out)?;
    }
    // The float weights nothing reads any more go away (value ids change).
    out.compact();
    out.check().map_err(|error| error.context("the quantized graph is inconsistent"))?;
    Ok(out)
}

/// Checks that `plan` was made for `graph`: same node names, activations and weights that
/// exist with the planned names.
fn check_plan(graph: &Graph, plan: &QuantPlan) -> Result<()> {
    graph.check()?;
    let same_nodes = plan.nodes.len() == graph.nodes.len()
        && plan.nodes.iter().zip(&graph.nodes).all(|(decision, node)| decision.node == node.name);
    let names_match = |id: ValueId, name: &str| {
        graph.values.get(id.index()).is_some_and(|value| value.name == name)
    };
    if !same_nodes
        || !plan.activations.iter().all(|a| names_match(a.value, &a.name))
        || !plan.weights.iter().all(|w| names_match(w.value, &w.name))
    {
        return Err(GraphError::invalid("the quantization plan was made for another graph"));
    }
    for weight in &plan.weights {
        let node = graph.nodes.iter().find(|node| node.name == weight.node);
        if node.and_then(|node| node.input(weight.input)) != Some(weight.value)
            || graph.constant(weight.value).and_then(Tensor::as_f32).is_none()
        {
            return Err(GraphError::invalid(format!(
                "weight '{}' is not a constant f32 input {} of node '{}'",
                weight.name, weight.input, weight.node
            )));
        }
    }
    Ok(())
}

/// A constant named after `base`.
fn constant(graph: &mut Graph, base: &str, tensor: Tensor) -> ValueId {
    let name = graph.unique_name(base);
    graph.add_constant(name, tensor)
}

/// A node named after `base`.
fn node(
    graph: &Graph,
    base: &str,
    op_type: &str,
    inputs: Vec<ValueId>,
    output: ValueId,
    attributes: Attributes,
) -> Node {
    Node {
        name: graph.unique_name(base),
        op_type: op_type.into(),
        domain: String::new(),
        inputs: inputs.into_iter().map(Some).collect(),
        outputs: vec![output],
        attributes,
    }
}

/// The int8 initializer, scales and zero points of weight `id`, and the DequantizeLinear
/// node producing its float stand-in (returned with the stand-in's id).
fn dequantized_weight(
    graph: &mut Graph,
    id: ValueId,
    axis: Option<usize>,
    levels: i32,
) -> Result<(Node, ValueId)> {
    let weight = graph.constant(id).expect("checked").clone();
    let name = graph.value(id).name.clone();
    let quantized =
        quantize_per_channel(weight.as_f32().expect("checked"), weight.shape(), axis, levels)?;
    let parameter_shape = if axis.is_some() { vec![quantized.scales.len()] } else { Vec::new() };
    let count = quantized.scales.len();
    let values = Tensor::new(weight.shape().to_vec(), TensorData::I8(quantized.values))?;
    let values = constant(graph, &format!("{name}_quantized"), values);
    let scales = Tensor::from_f32(parameter_shape.clone(), quantized.scales)?;
    let scales = constant(graph, &format!("{name}_scale"), scales);
    let zeros = Tensor::new(parameter_shape, TensorData::I8(vec![0; count]))?;
    let zeros = constant(graph, &format!("{name}_zero_point"), zeros);
    let output_name = graph.unique_name(&format!("{name}_dequantized"));
    let output = graph.add_value(Value {
        name: output_name,
        data_type: Some(DataType::F32),
        shape: Some(crate::shape::symbolic(weight.shape())),
        constant: None,
    });
    let mut attributes = Attributes::default();
    if let Some(axis) = axis {
        attributes.set("axis", Attribute::Int(axis as i64));
    }
    let dequantize = node(
        graph,
        &format!("{name}_DequantizeLinear"),
        "DequantizeLinear",
        vec![values, scales, zeros],
        output,
        attributes,
    );
    Ok((dequantize, output))
}

/// The QuantizeLinear → DequantizeLinear pair from `source` to `target` with `params`.
fn qdq_pair(
    graph: &mut Graph,
    name: &str,
    source: ValueId,
    target: ValueId,
    params: &QuantParams,
) -> Vec<Node> {
    let scale = Tensor::from_f32(Vec::new(), vec![params.scale]).expect("a scalar");
    let scale = constant(graph, &format!("{name}_scale"), scale);
    let zero_point = match params.quant_type {
        QuantType::U8 => TensorData::U8(vec![params.zero_point as u8]),
        QuantType::I8 => TensorData::I8(vec![params.zero_point as i8]),
    };
    let zero_point = Tensor::scalar(zero_point).expect("a scalar");
    let zero_point = constant(graph, &format!("{name}_zero_point"), zero_point);
    let quantized_name = graph.unique_name(&format!("{name}_quantized"));
    let quantized = graph.add_value(Value {
        name: quantized_name,
        data_type: Some(params.quant_type.data_type()),
        shape: graph.value(source).shape.clone(),
        constant: None,
    });
    let quantize = node(
        graph,
        &format!("{name}_QuantizeLinear"),
        "QuantizeLinear",
        vec![source, scale, zero_point],
        quantized,
        Attributes::default(),
    );
    let dequantize = node(
        graph,
        &format!("{name}_DequantizeLinear"),
        "DequantizeLinear",
        vec![quantized, scale, zero_point],
        target,
        Attributes::default(),
    );
    vec![quantize, dequantize]
}

//! Phase 1 of the recipe: which nodes of an (optimized) graph run quantized, which
//! activation values therefore need a range, and which weights are quantized.
//!
//! Rules, for default-domain nodes in topological order:
//! - **Compute** nodes run quantized: Conv, ConvTranspose, Gemm and MatMul whose weight
//!   (input 1) is a constant f32 tensor; the weight is quantized per output channel (Conv:
//!   axis 0; ConvTranspose: axis 1, per tensor when `group` > 1; Gemm: axis 1, or 0 with
//!   `transB`; MatMul: the last axis), the bias stays float. A MatMul of two activations
//!   runs quantized with both inputs per tensor. A fused activation (`dlopt_activation`, see
//!   `passes::fuse_activations`) is part of the compute node: its output range is taken
//!   after the activation. Conv / ConvTranspose / Gemm with a computed weight stay float.
//! - **Safe** operators run quantized when one of their float inputs comes from a quantized
//!   node (they move or select values, or add them, which an integer engine does with
//!   requantization): Relu, Clip, MaxPool, Add, Concat, GlobalAveragePool, AveragePool,
//!   Resize (mode `nearest` only), Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Slice,
//!   Split.
//! - **Everything else stays float** with a reason: the numerically delicate operators
//!   (Softmax, Pow, Sqrt, Div, Erf, ReduceMean, LayerNormalization, Exp, Log, Sigmoid on its
//!   own, ...) and any operator not listed above.
//!
//! [`Override::KeepFloat`] keeps any node float; [`Override::ForceInt8`] quantizes any node
//! with float data (its float inputs and outputs get ranges; a compute node's constant
//! weight is quantized as above). Node-name overrides win over op-type ones.
//!
//! The activation values needing a range are the non-constant f32 inputs of every quantized
//! node, each once. Outputs are quantized only where a quantized node reads them: a float
//! reader gets the quantized node's output in float (an integer kernel's float epilogue),
//! not rounded to 8 bits once more.

use std::collections::HashSet;

use crate::data_type::DataType;
use crate::error::Result;
use crate::graph::{Graph, Node, ValueId};
use crate::onnx::is_default_domain;
use crate::quantize::options::{Override, QuantOptions};
use crate::quantize::params::QuantType;

/// Operators that stay quantized between quantized nodes (see the module documentation).
pub const SAFE_OPERATORS: &[&str] = &[
    "Relu",
    "Clip",
    "MaxPool",
    "Add",
    "Concat",
    "GlobalAveragePool",
    "AveragePool",
    "Resize",
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Split",
];

/// Operators kept float by default because quantizing them costs accuracy.
pub const DELICATE_OPERATORS: &[&str] = &[
    "Softmax",
    "LogSoftmax",
    "Pow",
    "Sqrt",
    "Div",
    "Erf",
    "ReduceMean",
    "LayerNormalization",
    "Exp",
    "Log",
    "Sigmoid",
];

/// An activation value that needs a range (scale and zero point) before [`apply`](super::apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationToQuantize {
    /// The value in the planned graph.
    pub value: ValueId,
    /// Its name.
    pub name: String,
}

/// A constant weight to quantize per channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightToQuantize {
    /// The constant value (an initializer).
    pub value: ValueId,
    /// Its name.
    pub name: String,
    /// The node reading it.
    pub node: String,
    /// The node's input index that reads it.
    pub input: usize,
    /// The channel axis; `None` for one scale for the whole tensor.
    pub axis: Option<usize>,
}

/// The decision for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDecision {
    /// The node name.
    pub node: String,
    /// The op type.
    pub op_type: String,
    /// Whether the node runs quantized.
    pub quantized: bool,
    /// Why (e.g. `"numerically delicate (Softmax): kept float"`).
    pub reason: String,
}

/// The result of [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct QuantPlan {
    /// The activation values needing a range, in graph order.
    pub activations: Vec<ActivationToQuantize>,
    /// The weights to quantize.
    pub weights: Vec<WeightToQuantize>,
    /// One decision per node, in graph order.
    pub nodes: Vec<NodeDecision>,
    /// The activation type the options ask for (what calibration should produce).
    pub activation_type: QuantType,
    /// The weight range: `[-weight_levels, weight_levels]`.
    pub weight_levels: i32,
}

impl QuantPlan {
    /// The decision for node `name`.
    pub fn decision(&self, name: &str) -> Option<&NodeDecision> {
        self.nodes.iter().find(|decision| decision.node == name)
    }

    /// How many nodes run quantized.
    pub fn quantized_count(&self) -> usize {
        self.nodes.iter().filter(|decision| decision.quantized).count()
    }
}

/// What the recipe makes of a node before overrides.
enum Class {
    /// A compute node, with its weight (input index and channel axis) if constant.
    Compute(Option<(usize, Option<usize>)>),
    /// A compute node whose weight is computed: float unless forced.
    ComputedWeight,
    /// A safe operator.
    Safe,
    /// Kept float, with the reason.
    Float(String),
}

/// Whether `id` is a non-constant f32 value.
fn is_float_activation(graph: &Graph, id: ValueId) -> bool {
    let value = graph.value(id);
    value.constant.is_none() && value.data_type == Some(DataType::F32)
}

/// The weight of compute node `node`: input 1 if it is a constant f32 tensor, with its
/// channel axis.
fn weight(graph: &Graph, node: &Node) -> Result<Option<(usize, Option<usize>)>> {
    let Some(id) = node.input(1) else { return Ok(None) };
    let Some(tensor) = graph.constant(id).filter(|tensor| tensor.as_f32().is_some()) else {
        return Ok(None);
    };
    let rank = tensor.rank();
    let axis = match node.op_type.as_str() {
        "Conv" => Some(0),
        "ConvTranspose" => (node.attributes.int_or("group", 1)? == 1).then_some(1),
        "Gemm" => Some(if node.attributes.int_or("transB", 0)? != 0 { 0 } else { 1 }),
        _ => (rank >= 2).then(|| rank - 1),
    };
    Ok(Some((1, axis.filter(|&axis| axis < rank))))
}

/// The class of `node` (see the module documentation).
fn classify(graph: &Graph, node: &Node) -> Result<Class> {
    if !is_default_domain(&node.domain) {
        return Ok(Class::Float(format!("operator of domain '{}': kept float", node.domain)));
    }
    let op = node.op_type.as_str();
    match op {
        "Conv" | "ConvTranspose" | "Gemm" | "MatMul" => {
            let weight = weight(graph, node)?;
            let activation_b = node.input(1).is_some_and(|id| is_float_activation(graph, id));
            Ok(match weight {
                Some(weight) => Class::Compute(Some(weight)),
                None if op == "MatMul" && activation_b => Class::Compute(None),
                None => Class::ComputedWeight,
            })
        }
        "Resize" => {
            let mode = node.attributes.string_or("mode", "nearest")?;
            Ok(if mode == "nearest" {
                Class::Safe
            } else {
                Class::Float(format!("Resize mode '{mode}' interpolates: kept float"))
            })
        }
        _ if SAFE_OPERATORS.contains(&op) => Ok(Class::Safe),
        _ if DELICATE_OPERATORS.contains(&op) => {
            Ok(Class::Float(format!("numerically delicate ({op}): kept float")))
        }
        _ => Ok(Class::Float(format!("{op} is not quantized by the recipe: kept float"))),
    }
}

/// Plans the quantization of `graph` (see the module documentation).
pub fn plan(graph: &Graph, options: &QuantOptions) -> Result<QuantPlan> {
    graph.check()?;
    let producers = graph.producers();
    let mut quantized_nodes = vec![false; graph.nodes.len()];
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let mut weights = Vec::new();
    let mut activations = Vec::new();
    let mut listed = HashSet::new();
    for (at, node) in graph.nodes.iter().enumerate() {
        let float_inputs: Vec<ValueId> = node
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&id| is_float_activation(graph, id))
            .collect();
        let from_quantized = float_inputs
            .iter()
            .any(|id| producers[id.index()].is_some_and(|producer| quantized_nodes[producer]));
        let class = classify(graph, node)?;
        let overridden = options.override_for(node);
        let (quantized, reason, weight) = match (overridden, class) {
            (Some((Override::KeepFloat, by)), _) => {
                (false, format!("kept float by option ({by})"), None)
            }
            (_, _) if float_inputs.is_empty() => {
                (false, "no float activation input: nothing to quantize".to_string(), None)
            }
            (Some((Override::ForceInt8, by)), Class::Compute(weight)) => {
                (true, format!("forced to int8 by option ({by})"), weight)
            }
            (Some((Override::ForceInt8, by)), _) => {
                (true, format!("forced to int8 by option ({by})"), None)
            }
            (None, Class::Compute(Some(weight))) => (
                true,
                format!("{} with a constant weight: inputs and weight int8", node.op_type),
                Some(weight),
            ),
            (None, Class::Compute(None)) => {
                (true, "MatMul of two activations: both inputs int8 per tensor".to_string(), None)
            }
            (None, Class::ComputedWeight) => {
                (false, "the weight is computed, not constant: kept float".to_string(), None)
            }
            (None, Class::Safe) if from_quantized => {
                (true, "safe between quantized nodes".to_string(), None)
            }
            (None, Class::Safe) => (
                false,
                "safe, but no input comes from a quantized node: kept float".to_string(),
                None,
            ),
            (None, Class::Float(reason)) => (false, reason, None),
        };
        if quantized {
            quantized_nodes[at] = true;
            if let Some((input, axis)) = weight {
                let id = node.input(input).expect("the weight input exists");
                weights.push(WeightToQuantize {
                    value: id,
                    name: graph.value(id).name.clone(),
                    node: node.name.clone(),
                    input,
                    axis,
                });
            }
            // Only inputs: a quantized node's output is quantized where a quantized node
            // reads it; a float reader (a Mul, a Softmax, a graph output) gets it in float,
            // as an integer kernel with a float epilogue writes it, without an extra
            // rounding to 8 bits.
            for id in float_inputs {
                if listed.insert(id) {
                    activations.push(ActivationToQuantize {
                        value: id,
                        name: graph.value(id).name.clone(),
                    });
                }
            }
        }
        nodes.push(NodeDecision {
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            quantized,
            reason,
        });
    }
    Ok(QuantPlan {
        activations,
        weights,
        nodes,
        activation_type: options.activations.quant_type(),
        weight_levels: options.weight_levels.levels(),
    })
}

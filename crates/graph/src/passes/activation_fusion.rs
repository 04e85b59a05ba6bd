//! Fuses an activation into the Conv, ConvTranspose, Gemm or MatMul producing its input,
//! following the runtime's attribute contract (`dlopt-runtime`, `ops/fused_activation.rs`):
//! the compute node gets `dlopt_activation` (`Relu`, `Clip`, `HardSigmoid`, `HardSwish`,
//! `Sigmoid`, `LeakyRelu`, `Silu` or `Tanh`) and, where the activation takes them,
//! `dlopt_activation_alpha` / `dlopt_activation_beta`; the activation node goes away and
//! its output value becomes the compute node's output (so graph output names stay). The
//! compute node keeps its name.
//!
//! Fused, when the compute output `y` has no other use (nor is a graph output):
//! - `Relu`, `Clip` (constant bounds), `HardSigmoid`, `HardSwish`, `Sigmoid`, `LeakyRelu`,
//!   `Tanh` of `y`;
//! - `y * Sigmoid(y)` as `Silu`;
//! - `y * HardSigmoid(y)` with alpha 1/6 and beta 0.5 as `HardSwish` (PP-LCNet's export);
//! - `y * Clip(y + 3, 0, 6) / 6` as `HardSwish` (Paddle2ONNX's export before opset 14).
//!
//! Only f32 outputs are fused (the runtime's epilogues are f32).

use crate::attribute::Attribute;
use crate::data_type::DataType;
use crate::error::Result;
use crate::graph::{Graph, Node, ValueId};
use crate::onnx::is_default_domain;
use crate::passes::rewrite::{consumers, float_scalar, is_graph_output, remove_nodes};

/// The attribute naming the fused activation.
pub(crate) const ACTIVATION: &str = "dlopt_activation";
/// The attribute holding the activation's first parameter.
pub(crate) const ALPHA: &str = "dlopt_activation_alpha";
/// The attribute holding the activation's second parameter.
pub(crate) const BETA: &str = "dlopt_activation_beta";

/// The compute operators whose kernels apply a fused activation.
const COMPUTE: &[&str] = &["Conv", "ConvTranspose", "Gemm", "MatMul"];

/// An activation to set on a compute node: name, alpha, beta.
#[derive(Clone, Debug, PartialEq)]
struct Fused {
    name: &'static str,
    alpha: Option<f32>,
    beta: Option<f32>,
}

impl Fused {
    fn plain(name: &'static str) -> Fused {
        Fused { name, alpha: None, beta: None }
    }
}

/// Whether `value` is `1/6` up to f32 rounding (exporters write 0.1666667).
fn is_one_sixth(value: f32) -> bool {
    (value as f64 * 6.0 - 1.0).abs() < 1e-6
}

/// The default-domain node `at`, if it is of `op`.
fn node_of<'g>(graph: &'g Graph, at: usize, op: &str) -> Option<&'g Node> {
    let node = &graph.nodes[at];
    (node.op_type == op && is_default_domain(&node.domain) && node.outputs.len() == 1)
        .then_some(node)
}

/// Clip's bounds: inputs 1 and 2 (opset 11+), which must be constant, or the attributes.
fn clip_bounds(graph: &Graph, node: &Node) -> Option<(Option<f32>, Option<f32>)> {
    let bound = |index: usize, attribute: &str| -> Option<Option<f32>> {
        match node.input(index) {
            Some(id) => float_scalar(graph, id).map(Some),
            None => node.attributes.float(attribute).ok(),
        }
    };
    Some((bound(1, "min")?, bound(2, "max")?))
}

/// The activation of single-input activation node `node`, if the contract has it.
fn unary_activation(graph: &Graph, node: &Node) -> Option<Fused> {
    if !is_default_domain(&node.domain) || node.outputs.len() != 1 {
        return None;
    }
    let attributes = &node.attributes;
    Some(match node.op_type.as_str() {
        "Relu" => Fused::plain("Relu"),
        "Sigmoid" => Fused::plain("Sigmoid"),
        "Tanh" => Fused::plain("Tanh"),
        "HardSwish" => Fused::plain("HardSwish"),
        "HardSigmoid" => Fused {
            name: "HardSigmoid",
            alpha: Some(attributes.float_or("alpha", 0.2).ok()?),
            beta: Some(attributes.float_or("beta", 0.5).ok()?),
        },
        "LeakyRelu" => Fused {
            name: "LeakyRelu",
            alpha: Some(attributes.float_or("alpha", 0.01).ok()?),
            beta: None,
        },
        "Clip" => {
            let (min, max) = clip_bounds(graph, node)?;
            Fused { name: "Clip", alpha: min, beta: max }
        }
        _ => return None,
    })
}

/// The other input of binary node `node` when one input is `y`.
fn other_input(node: &Node, y: ValueId) -> Option<ValueId> {
    match (node.input(0)?, node.input(1)?) {
        (a, b) if a == y && b != y => Some(b),
        (a, b) if b == y && a != y => Some(a),
        _ => None,
    }
}

/// A matched pattern: the activation, the nodes it replaces, and the value whose
/// producer the compute node becomes.
struct Match {
    fused: Fused,
    removed: Vec<usize>,
    output: ValueId,
}

/// Matches the patterns of the module documentation on compute output `y`.
fn match_activation(
    graph: &Graph,
    y: ValueId,
    uses: &[Vec<usize>],
    counts: &[usize],
) -> Option<Match> {
    let readers = &uses[y.index()];
    let single = |id: ValueId| -> Option<usize> {
        (counts[id.index()] == 1).then(|| uses[id.index()].first().copied()).flatten()
    };
    match readers.as_slice() {
        [only] => {
            let node = &graph.nodes[*only];
            let fused = unary_activation(graph, node).filter(|_| node.input(0) == Some(y))?;
            Some(Match { fused, removed: vec![*only], output: node.outputs[0] })
        }
        [first, second] => {
            // One reader is the gate, the other the Mul by y.
            for (gate_at, mul_at) in [(*first, *second), (*second, *first)] {
                let gate = &graph.nodes[gate_at];
                if let Some(found) = gated(graph, y, gate_at, mul_at, single) {
                    return Some(found);
                }
                if gate.op_type == "Add" {
                    if let Some(found) = clipped_hard_swish(graph, y, gate_at, mul_at, single) {
                        return Some(found);
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// `y * Sigmoid(y)` (Silu) or `y * HardSigmoid(y)` with alpha 1/6, beta 0.5 (HardSwish).
fn gated(
    graph: &Graph,
    y: ValueId,
    gate_at: usize,
    mul_at: usize,
    single: impl Fn(ValueId) -> Option<usize>,
) -> Option<Match> {
    let gate = &graph.nodes[gate_at];
    let mul = node_of(graph, mul_at, "Mul")?;
    if gate.input(0) != Some(y)
        || single(gate.outputs[0]) != Some(mul_at)
        || other_input(mul, y)? != gate.outputs[0]
    {
        return None;
    }
    let fused = match unary_activation(graph, gate)? {
        Fused { name: "Sigmoid", .. } => Fused::plain("Silu"),
        Fused { name: "HardSigmoid", alpha: Some(alpha), beta: Some(beta) }
            if is_one_sixth(alpha) && beta == 0.5 =>
        {
            Fused::plain("HardSwish")
        }
        _ => return None,
    };
    Some(Match { fused, removed: vec![gate_at, mul_at], output: mul.outputs[0] })
}

/// `y * Clip(y + 3, 0, 6) / 6` (or `* 1/6`) as HardSwish.
fn clipped_hard_swish(
    graph: &Graph,
    y: ValueId,
    add_at: usize,
    mul_at: usize,
    single: impl Fn(ValueId) -> Option<usize>,
) -> Option<Match> {
    let add = node_of(graph, add_at, "Add")?;
    let mul = node_of(graph, mul_at, "Mul")?;
    if float_scalar(graph, other_input(add, y)?)? != 3.0 {
        return None;
    }
    let clip_at = single(add.outputs[0])?;
    let clip = node_of(graph, clip_at, "Clip")?;
    if clip.input(0) != Some(add.outputs[0]) || clip_bounds(graph, clip)? != (Some(0.0), Some(6.0))
    {
        return None;
    }
    if single(clip.outputs[0]) != Some(mul_at) || other_input(mul, y)? != clip.outputs[0] {
        return None;
    }
    let scale_at = single(mul.outputs[0])?;
    let scale = &graph.nodes[scale_at];
    let by_six = match scale.op_type.as_str() {
        "Div" if scale.input(0) == Some(mul.outputs[0]) => {
            float_scalar(graph, scale.input(1)?)? == 6.0
        }
        "Mul" => is_one_sixth(float_scalar(graph, other_input(scale, mul.outputs[0])?)?),
        _ => false,
    };
    if !by_six || !is_default_domain(&scale.domain) || scale.outputs.len() != 1 {
        return None;
    }
    Some(Match {
        fused: Fused::plain("HardSwish"),
        removed: vec![add_at, clip_at, mul_at, scale_at],
        output: scale.outputs[0],
    })
}

/// Whether `node` can take an epilogue.
fn is_compute(graph: &Graph, node: &Node) -> bool {
    COMPUTE.contains(&node.op_type.as_str())
        && is_default_domain(&node.domain)
        && node.outputs.len() == 1
        && node.attributes.get(ACTIVATION).is_none()
        && graph.value(node.outputs[0]).data_type.is_none_or(|data_type| data_type == DataType::F32)
}

/// The pass: see the module documentation.
pub fn fuse_activations(graph: &mut Graph) -> Result<bool> {
    let uses = consumers(graph);
    let counts = graph.use_counts();
    let mut remove = vec![false; graph.nodes.len()];
    let mut changed = false;
    for at in 0..graph.nodes.len() {
        if remove[at] || !is_compute(graph, &graph.nodes[at]) {
            continue;
        }
        let y = graph.nodes[at].outputs[0];
        if is_graph_output(graph, y) {
            continue;
        }
        let Some(found) = match_activation(graph, y, &uses, &counts) else { continue };
        if found.removed.iter().any(|&removed| remove[removed] || removed <= at) {
            continue;
        }
        let node = &mut graph.nodes[at];
        node.attributes.set(ACTIVATION, Attribute::String(found.fused.name.into()));
        if let Some(alpha) = found.fused.alpha {
            node.attributes.set(ALPHA, Attribute::Float(alpha));
        }
        if let Some(beta) = found.fused.beta {
            node.attributes.set(BETA, Attribute::Float(beta));
        }
        node.outputs[0] = found.output;
        for removed in found.removed {
            remove[removed] = true;
        }
        changed = true;
    }
    let removed: Vec<usize> = (0..remove.len()).filter(|&at| remove[at]).collect();
    remove_nodes(graph, &removed);
    Ok(changed)
}

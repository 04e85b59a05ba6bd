//! What the quantization recipe may do: the activation scheme, the weight levels, and
//! per-node and per-operator overrides.

use std::collections::BTreeMap;

use crate::graph::Node;
use crate::quantize::params::QuantType;

/// An override of the recipe's default decision for a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    /// Keep the node in float, even if the recipe would quantize it.
    KeepFloat,
    /// Quantize the node's float inputs and outputs, even if the recipe would keep it float.
    ForceInt8,
}

/// How activations are quantized (weights are always symmetric int8 per channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationScheme {
    /// int8 with zero point 0.
    SymmetricI8,
    /// uint8 with any zero point.
    AsymmetricU8,
}

impl ActivationScheme {
    /// The integer type of the scheme.
    pub fn quant_type(self) -> QuantType {
        match self {
            ActivationScheme::SymmetricI8 => QuantType::I8,
            ActivationScheme::AsymmetricU8 => QuantType::U8,
        }
    }
}

/// The range of quantized weights: `[-levels, levels]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLevels {
    /// `[-127, 127]`: the full symmetric int8 range.
    Full127,
    /// `[-63, 63]`: one bit less, so that u8 × s8 pair sums cannot saturate 16-bit
    /// accumulators (x86 VNNI-less `pmaddubsw`).
    Reduced63,
}

impl WeightLevels {
    /// The largest quantized magnitude.
    pub fn levels(self) -> i32 {
        match self {
            WeightLevels::Full127 => 127,
            WeightLevels::Reduced63 => 63,
        }
    }
}

/// The options of [`plan`](super::plan()).
#[derive(Clone, Debug, PartialEq)]
pub struct QuantOptions {
    /// How activations are quantized (default: asymmetric u8).
    pub activations: ActivationScheme,
    /// The range of quantized weights (default: 127).
    pub weight_levels: WeightLevels,
    /// Overrides by node name; they win over [`QuantOptions::by_op_type`].
    pub by_node_name: BTreeMap<String, Override>,
    /// Overrides by op type (e.g. `"Add"`).
    pub by_op_type: BTreeMap<String, Override>,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            activations: ActivationScheme::AsymmetricU8,
            weight_levels: WeightLevels::Full127,
            by_node_name: BTreeMap::new(),
            by_op_type: BTreeMap::new(),
        }
    }
}

impl QuantOptions {
    /// The override for `node` and where it comes from (`"node name"` or `"op type"`).
    pub fn override_for(&self, node: &Node) -> Option<(Override, &'static str)> {
        if let Some(&by_name) = self.by_node_name.get(&node.name) {
            return Some((by_name, "node name"));
        }
        self.by_op_type.get(&node.op_type).map(|&by_type| (by_type, "op type"))
    }
}

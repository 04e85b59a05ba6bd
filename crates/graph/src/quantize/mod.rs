//! Post-training quantization as a QDQ graph: the recipe decides which nodes of an optimized
//! graph run in int8 ([`plan()`]), a calibration supplies a [`QuantParams`] per activation
//! value the plan lists, and [`apply`] writes the graph with QuantizeLinear /
//! DequantizeLinear pairs on those values and int8 weights with per-channel scales.
//!
//! The QDQ graph runs in dlopt's runtime as a float simulation of the integer computation
//! (fake quantization) and, exported as standard ONNX
//! ([`export_standard_model`](crate::onnx::export_standard_model)), in any ONNX runtime that
//! fuses QDQ patterns into integer kernels.
//!
//! | file | idea |
//! |---|---|
//! | `options.rs` | [`QuantOptions`]: activation scheme, weight levels, overrides |
//! | `params.rs` | the quantization formulas: [`QuantParams`], [`quantize_per_channel`] |
//! | `plan.rs` | phase 1: the node decisions, the values needing ranges, the weights |
//! | `apply.rs` | phase 2: the QDQ graph |
//! | `opset.rs` | raising opset 11/12 graphs to 13 for per-axis DequantizeLinear |

mod apply;
mod opset;
mod options;
mod params;
mod plan;

pub use apply::apply;
pub use opset::{PER_AXIS_OPSET, upgrade_to_opset_13};
pub use options::{ActivationScheme, Override, QuantOptions, WeightLevels};
pub use params::{ChannelQuantized, QuantParams, QuantType, quantize_per_channel};
pub use plan::{
    ActivationToQuantize, DELICATE_OPERATORS, NodeDecision, QuantPlan, SAFE_OPERATORS,
    WeightToQuantize, plan,
};

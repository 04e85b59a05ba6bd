//! The activation a graph pass fused into a compute node (Conv, ConvTranspose, Gemm,
//! MatMul), read from the node's attributes and mapped to [`Activation`], which the
//! kernels apply while the output is still in cache.
//!
//! # Attribute contract
//!
//! A pass that removes an activation node `act(y)` after a compute node sets, on the
//! compute node:
//!
//! | attribute                | kind   | meaning |
//! |--------------------------|--------|---------|
//! | `dlopt_activation`       | string | `Relu`, `Clip`, `HardSigmoid`, `HardSwish`, `Sigmoid`, `LeakyRelu`, `Silu` or `Tanh` |
//! | `dlopt_activation_alpha` | float  | `Clip`: min (default -inf); `HardSigmoid`: alpha (default 0.2); `LeakyRelu`: alpha (default 0.01) |
//! | `dlopt_activation_beta`  | float  | `Clip`: max (default +inf); `HardSigmoid`: beta (default 0.5) |
//!
//! The semantics are ONNX's for the operator of that name (`Silu` is `x * Sigmoid(x)`).
//! Without `dlopt_activation` the node has no epilogue, and then neither parameter may be
//! set. A parameter the activation does not take is an error, so a pass that fuses
//! something it should not is caught when the plan is built rather than computing wrong
//! values.

use dlopt_graph::{GraphError, Node, Result};
use dlopt_kernels::Activation;

/// The attribute naming the fused activation.
pub(crate) const ACTIVATION: &str = "dlopt_activation";
/// The attribute holding the activation's first parameter.
pub(crate) const ALPHA: &str = "dlopt_activation_alpha";
/// The attribute holding the activation's second parameter.
pub(crate) const BETA: &str = "dlopt_activation_beta";

/// The activation fused into `node` (see the module documentation), [`Activation::None`]
/// if there is none; an unknown name is unsupported, a misplaced parameter is invalid.
/// The names `dlopt_activation` may take (what [`fused_activation`] accepts).
pub const FUSED_ACTIVATIONS: &[&str] =
    &["Relu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid", "LeakyRelu", "Silu", "Tanh"];

pub(crate) fn fused_activation(node: &Node) -> Result<Activation> {
    let attributes = &node.attributes;
    let alpha = attributes.float(ALPHA)?;
    let beta = attributes.float(BETA)?;
    let Some(name) = attributes.string(ACTIVATION)? else {
        if alpha.is_some() || beta.is_some() {
            return Err(GraphError::invalid(format!(
                "attributes '{ALPHA}' / '{BETA}' are set but '{ACTIVATION}' is not"
            )));
        }
        return Ok(Activation::None);
    };
    // Which parameters each activation takes, so that extra ones are rejected.
    let (takes_alpha, takes_beta) = match name {
        "Clip" | "HardSigmoid" => (true, true),
        "LeakyRelu" => (true, false),
        _ => (false, false),
    };
    for (taken, value, attribute) in [(takes_alpha, alpha, ALPHA), (takes_beta, beta, BETA)] {
        if !taken && value.is_some() {
            return Err(GraphError::invalid(format!(
                "attribute '{attribute}' is set, but the fused activation '{name}' takes no such parameter"
            )));
        }
    }
    let activation = match name {
        "Relu" => Activation::Relu,
        "Clip" => Activation::Clip {
            min: alpha.unwrap_or(f32::NEG_INFINITY),
            max: beta.unwrap_or(f32::INFINITY),
        },
        "HardSigmoid" => {
            Activation::HardSigmoid { alpha: alpha.unwrap_or(0.2), beta: beta.unwrap_or(0.5) }
        }
        "HardSwish" => Activation::HardSwish,
        "Sigmoid" => Activation::Sigmoid,
        "LeakyRelu" => Activation::LeakyRelu { alpha: alpha.unwrap_or(0.01) },
        "Silu" => Activation::Silu,
        "Tanh" => Activation::Tanh,
        other => {
            return Err(GraphError::unsupported(format!(
                "attribute '{ACTIVATION}' is '{other}', which cannot be fused (supported: Relu, Clip, \
                 HardSigmoid, HardSwish, Sigmoid, LeakyRelu, Silu, Tanh)"
            )));
        }
    };
    Ok(activation)
}

#[cfg(test)]
mod tests {
    use dlopt_graph::{Attribute, ErrorKind};

    use super::*;

    fn node(attributes: &[(&str, Attribute)]) -> Node {
        let mut node = Node { name: "conv".into(), op_type: "Conv".into(), ..Default::default() };
        for (name, value) in attributes {
            node.attributes.set(*name, value.clone());
        }
        node
    }

    fn string(value: &str) -> Attribute {
        Attribute::String(value.into())
    }

    #[test]
    fn no_attribute_means_no_activation() {
        assert_eq!(fused_activation(&node(&[])).unwrap(), Activation::None);
    }

    #[test]
    fn names_and_parameters_map_to_kernel_activations() {
        let clip = node(&[
            (ACTIVATION, string("Clip")),
            (ALPHA, Attribute::Float(0.0)),
            (BETA, Attribute::Float(6.0)),
        ]);
        assert_eq!(fused_activation(&clip).unwrap(), Activation::Clip { min: 0.0, max: 6.0 });
        let open_clip = node(&[(ACTIVATION, string("Clip")), (BETA, Attribute::Float(6.0))]);
        assert_eq!(
            fused_activation(&open_clip).unwrap(),
            Activation::Clip { min: f32::NEG_INFINITY, max: 6.0 }
        );
        let hard = node(&[(ACTIVATION, string("HardSigmoid")), (ALPHA, Attribute::Float(0.1666))]);
        assert_eq!(
            fused_activation(&hard).unwrap(),
            Activation::HardSigmoid { alpha: 0.1666, beta: 0.5 }
        );
        let leaky = node(&[(ACTIVATION, string("LeakyRelu"))]);
        assert_eq!(fused_activation(&leaky).unwrap(), Activation::LeakyRelu { alpha: 0.01 });
        for (name, expected) in [
            ("Relu", Activation::Relu),
            ("HardSwish", Activation::HardSwish),
            ("Sigmoid", Activation::Sigmoid),
            ("Silu", Activation::Silu),
            ("Tanh", Activation::Tanh),
        ] {
            assert_eq!(fused_activation(&node(&[(ACTIVATION, string(name))])).unwrap(), expected);
        }
    }

    #[test]
    fn unknown_names_and_misplaced_parameters_are_errors() {
        let error = fused_activation(&node(&[(ACTIVATION, string("Gelu"))])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(error.message.contains("'dlopt_activation' is 'Gelu'"), "{}", error.message);
        let error = fused_activation(&node(&[
            (ACTIVATION, string("Relu")),
            (ALPHA, Attribute::Float(1.0)),
        ]))
        .unwrap_err();
        assert!(
            error.message.contains("'dlopt_activation_alpha'") && error.message.contains("Relu"),
            "{}",
            error.message
        );
        let error = fused_activation(&node(&[(BETA, Attribute::Float(1.0))])).unwrap_err();
        assert!(error.message.contains("is not"), "{}", error.message);
        let error = fused_activation(&node(&[(ACTIVATION, Attribute::Int(1))])).unwrap_err();
        assert!(error.message.contains("must be a string"), "{}", error.message);
    }
}

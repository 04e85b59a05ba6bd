//! The operators the runtime implements, by family, and the registry that maps a node's
//! (domain, op type) to its build function.
//!
//! Each family file has a `register` function adding its operators; an operator's build
//! function checks the node, infers output shapes and returns its kernel (see `crate::op`).

mod activation;
mod broadcast;
mod convolution;
mod data_movement;
mod elementwise;
mod int8_conv;
mod linear;
mod normalization;
mod pooling;
mod quantization;
mod shape_ops;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::op::BuildFn;

pub use fused_activation::FUSED_ACTIVATIONS;
pub use int8_conv::{
    DOMAIN as INT8_CONV_DOMAIN, OP_TYPE as INT8_CONV_OP_TYPE, X_SCALE as INT8_CONV_X_SCALE,
    X_ZERO_POINT as INT8_CONV_X_ZERO_POINT,
};

/// Operators by (domain, op type); the ONNX domain is stored as `""`.
#[derive(Default)]
pub struct Registry {
    builders: HashMap<(&'static str, &'static str), BuildFn>,
}

impl Registry {
    /// Adds an ONNX operator.
    pub fn add(&mut self, op_type: &'static str, build: BuildFn) {
        self.add_in("", op_type, build);
    }

    /// Adds an operator of another domain (e.g. `"dlopt"` for fused operators).
    pub fn add_in(&mut self, domain: &'static str, op_type: &'static str, build: BuildFn) {
        let previous = self.builders.insert((domain, op_type), build);
        assert!(previous.is_none(), "operator {domain}::{op_type} registered twice");
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        activation::register(&mut registry);
        convolution::register(&mut registry);
        data_movement::register(&mut registry);
        elementwise::register(&mut registry);
        int8_conv::register(&mut registry);
        linear::register(&mut registry);
        normalization::register(&mut registry);
        pooling::register(&mut registry);
        quantization::register(&mut registry);
        shape_ops::register(&mut registry);
        registry
    })
}

/// The build function of an operator, if the runtime supports it.
pub fn builder(domain: &str, op_type: &str) -> Option<BuildFn> {
    let domain = if domain == "ai.onnx" { "" } else { domain };
    registry().builders.get(&(domain, op_type)).copied()
}

/// Every supported operator as (domain, op type), sorted.
pub fn supported_operators() -> Vec<(&'static str, &'static str)> {
    let mut operators: Vec<_> = registry().builders.keys().copied().collect();
    operators.sort();
    operators
}
mod arg_reduce;
mod axes;
mod axis_map;
mod cast;
mod compare;
mod conv_transpose;
mod element;
mod expand;
mod fused_activation;
mod gather;
mod generate;
mod kernel_call;
mod math;
mod pool_nd;
mod reduce;
mod resize;
mod resize_kernel;
#[cfg(test)]
mod resize_tests;
mod slice_pad;
mod softmax;
mod spatial;
mod transpose;
mod typed;
mod unary;
mod vector_math;

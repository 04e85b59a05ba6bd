//! The graph IR to ONNX model bytes.
//!
//! The model imports the graph's opset of the default domain and version 1 of every other
//! domain its nodes use (the IR does not record those versions). Constants become
//! initializers in `raw_data`; graph inputs and outputs carry their element types and
//! symbolic shapes; other node outputs with a known type or shape are listed in `value_info`.
//! [`import_model`](crate::onnx::import_model) of the result reproduces the graph, except
//! that `Constant` nodes come back as constant values and a node in the domain `"ai.onnx"`
//! comes back in `""` (the same domain).

use std::collections::BTreeSet;

use prost::Message;

use crate::error::{GraphError, Result};
use crate::graph::{Graph, Node};
use crate::onnx::attributes::attribute_to_proto;
use crate::onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
};
use crate::onnx::tensors::tensor_to_proto;
use crate::onnx::types::value_info_to_proto;
use crate::onnx::{EXPORT_IR_VERSION, SUPPORTED_OPSETS, is_default_domain};

/// Writes `graph` as the bytes of an ONNX model file. The graph must pass [`Graph::check`],
/// use an opset dlopt supports, name its values, op types and attributes, and list each
/// graph input once.
pub fn export_model(graph: &Graph) -> Result<Vec<u8>> {
    Ok(export_model_proto(graph)?.encode_to_vec())
}

/// Writes `graph` as a standard ONNX model: like [`export_model`], with dlopt's fused
/// activations (`dlopt_activation`) expanded into standard operators first (see
/// [`unfuse_activations`](crate::passes::unfuse_activations)), so that other ONNX runtimes
/// can run it. [`export_model`] keeps them, for dlopt's own files.
pub fn export_standard_model(graph: &Graph) -> Result<Vec<u8>> {
    let mut standard = graph.clone();
    crate::passes::unfuse_activations(&mut standard)?;
    export_model(&standard)
}

/// [`export_model`] without the final encoding.
pub fn export_model_proto(graph: &Graph) -> Result<ModelProto> {
    check_exportable(graph).map_err(|error| error.context("the graph cannot be exported"))?;
    // Intermediate values: produced by a node and not a graph output (outputs are declared
    // in the output list).
    let mut intermediate = vec![false; graph.values.len()];
    for id in graph.nodes.iter().flat_map(|node| &node.outputs) {
        intermediate[id.index()] = true;
    }
    for id in &graph.outputs {
        intermediate[id.index()] = false;
    }
    let proto = GraphProto {
        node: graph.nodes.iter().map(|node| node_to_proto(graph, node)).collect(),
        name: graph.name.clone(),
        initializer: graph
            .values
            .iter()
            .filter_map(|value| {
                value.constant.as_ref().map(|tensor| tensor_to_proto(tensor, &value.name))
            })
            .collect(),
        input: graph.inputs.iter().map(|&id| value_info_to_proto(graph.value(id))).collect(),
        output: graph.outputs.iter().map(|&id| value_info_to_proto(graph.value(id))).collect(),
        value_info: graph
            .values
            .iter()
            .zip(&intermediate)
            .filter(|(value, intermediate)| {
                **intermediate && (value.data_type.is_some() || value.shape.is_some())
            })
            .map(|(value, _)| value_info_to_proto(value))
            .collect(),
        ..GraphProto::default()
    };
    let other_domains: BTreeSet<&str> = graph
        .nodes
        .iter()
        .map(|node| node.domain.as_str())
        .filter(|domain| !is_default_domain(domain))
        .collect();
    let mut opset_import = vec![OperatorSetIdProto { domain: String::new(), version: graph.opset }];
    opset_import.extend(
        other_domains
            .into_iter()
            .map(|domain| OperatorSetIdProto { domain: domain.into(), version: 1 }),
    );
    Ok(ModelProto {
        ir_version: EXPORT_IR_VERSION,
        producer_name: "dlopt".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(proto),
        opset_import,
        metadata_props: graph
            .metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto { key: key.clone(), value: value.clone() })
            .collect(),
        ..ModelProto::default()
    })
}

/// Checks what ONNX needs beyond [`Graph::check`]: a supported opset, names for values,
/// op types and attributes, and each graph input listed once.
fn check_exportable(graph: &Graph) -> Result<()> {
    graph.check()?;
    if !SUPPORTED_OPSETS.contains(&graph.opset) {
        return Err(GraphError::unsupported(format!(
            "its opset {} is outside the supported {} to {}",
            graph.opset,
            SUPPORTED_OPSETS.start(),
            SUPPORTED_OPSETS.end()
        )));
    }
    if let Some(at) = graph.values.iter().position(|value| value.name.is_empty()) {
        return Err(GraphError::invalid(format!("value {at} has no name")));
    }
    for node in &graph.nodes {
        if node.op_type.is_empty() {
            return Err(GraphError::invalid(format!("node '{}' has no op type", node.name)));
        }
        if node.attributes.iter().any(|(name, _)| name.is_empty()) {
            return Err(GraphError::invalid("an attribute has no name").at_node(node));
        }
    }
    let mut listed = vec![false; graph.values.len()];
    for &id in &graph.inputs {
        if std::mem::replace(&mut listed[id.index()], true) {
            let name = &graph.value(id).name;
            return Err(GraphError::invalid(format!("graph input '{name}' is listed twice")));
        }
    }
    Ok(())
}

/// The `NodeProto` of `node`; an omitted optional input is written as `""`.
fn node_to_proto(graph: &Graph, node: &Node) -> NodeProto {
    NodeProto {
        input: node
            .inputs
            .iter()
            .map(|input| input.map_or_else(String::new, |id| graph.value(id).name.clone()))
            .collect(),
        output: node.outputs.iter().map(|&id| graph.value(id).name.clone()).collect(),
        name: node.name.clone(),
        op_type: node.op_type.clone(),
        attribute: node
            .attributes
            .iter()
            .map(|(name, value)| attribute_to_proto(name, value))
            .collect(),
        domain: node.domain.clone(),
        doc_string: String::new(),
    }
}

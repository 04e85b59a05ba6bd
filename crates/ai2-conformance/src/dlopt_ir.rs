//! Between dlopt's graph IR ([`dlopt_graph::Graph`]) and [`GraphSpec`]:
//! - [`graph_spec`]: a model as the host hands it to plugins (every value with its element
//!   type and concrete shape, constants with their little-endian data, nodes with their
//!   attributes, and the same graph as ONNX bytes);
//! - [`onnx_bytes`]: the ONNX form of a kit graph, so that the kit's graphs reach plugins
//!   with both views, as the host's do.

use dlopt_graph::shape::{fixed_shape, symbolic};
use dlopt_graph::{
    Attribute, DataType, Graph, Node, Tensor, TensorData, Value, ValueId, export_model,
};

use crate::graph_view::{AlignedBytes, AttrSpec, GraphSpec, NodeSpec, TensorSpec};

/// The little-endian bytes of a tensor's elements.
fn tensor_bytes(tensor: &Tensor) -> Vec<u8> {
    match tensor.data() {
        TensorData::F32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::F16(values) => values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
        TensorData::BF16(values) => values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
        TensorData::I8(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::U8(values) => values.clone(),
        TensorData::I32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::I64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::Bool(values) => values.iter().map(|&v| u8::from(v)).collect(),
    }
}

fn tensor_spec(name: &str, tensor: &Tensor) -> TensorSpec {
    TensorSpec {
        name: name.to_string(),
        dtype: tensor.data_type().onnx_code(),
        shape: tensor.shape().iter().map(|&dim| dim as i64).collect(),
        data: Some(AlignedBytes::new(&tensor_bytes(tensor))),
    }
}

fn attribute(value: &Attribute) -> AttrSpec {
    match value {
        Attribute::Float(value) => AttrSpec::Real(*value as f64),
        Attribute::Int(value) => AttrSpec::Int(*value),
        Attribute::String(text) => AttrSpec::Str(text.clone()),
        Attribute::Tensor(tensor) => AttrSpec::Tensor(tensor_spec("", tensor)),
        Attribute::Floats(values) => AttrSpec::Reals(values.iter().map(|&v| v as f64).collect()),
        Attribute::Ints(values) => AttrSpec::Ints(values.clone()),
        Attribute::Strings(texts) => AttrSpec::Strs(texts.clone()),
    }
}

/// The host's view of `graph`, whose shapes must all be known and concrete (fix the input
/// dimensions and infer shapes first); `onnx` becomes the graph's ONNX bytes.
pub fn graph_spec(graph: &Graph, onnx: Vec<u8>) -> Result<GraphSpec, String> {
    let mut values = Vec::with_capacity(graph.values.len());
    for value in &graph.values {
        if let Some(tensor) = &value.constant {
            values.push(tensor_spec(&value.name, tensor));
            continue;
        }
        let data_type = value
            .data_type
            .ok_or_else(|| format!("value '{}' has no known element type", value.name))?;
        let shape = value.shape.as_deref().and_then(fixed_shape).ok_or_else(|| {
            format!("value '{}' has no concrete shape after shape inference", value.name)
        })?;
        values.push(TensorSpec {
            name: value.name.clone(),
            dtype: data_type.onnx_code(),
            shape: shape.iter().map(|&dim| dim as i64).collect(),
            data: None,
        });
    }
    let nodes = graph
        .nodes
        .iter()
        .map(|node| NodeSpec {
            name: node.name.clone(),
            op_type: node.op_type.clone(),
            domain: node.domain.clone(),
            inputs: node
                .inputs
                .iter()
                .map(|input| input.map_or(-1, |id| id.index() as i64))
                .collect(),
            outputs: node.outputs.iter().map(|id| id.index() as i64).collect(),
            attributes: node
                .attributes
                .iter()
                .map(|(name, value)| (name.clone(), attribute(value)))
                .collect(),
        })
        .collect();
    Ok(GraphSpec {
        opset: graph.opset,
        values,
        nodes,
        inputs: graph.inputs.iter().map(|id| id.index() as i64).collect(),
        outputs: graph.outputs.iter().map(|id| id.index() as i64).collect(),
        onnx,
    })
}

/// The tensor a [`TensorSpec`] with data holds (float32 and int64 only: what kit graphs use).
fn tensor(spec: &TensorSpec) -> Result<Tensor, String> {
    let shape: Vec<usize> = spec.shape.iter().map(|&dim| dim.max(0) as usize).collect();
    let bytes = spec.data.as_ref().map(AlignedBytes::as_slice).unwrap_or_default();
    let tensor = match DataType::from_onnx_code(spec.dtype) {
        Some(DataType::F32) => Tensor::from_f32(
            shape,
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        ),
        Some(DataType::I64) => Tensor::from_i64(
            shape,
            bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        _ => return Err(format!("constant '{}' has type {}", spec.name, spec.dtype)),
    };
    tensor.map_err(|error| error.message)
}

fn ir_attribute(value: &AttrSpec) -> Result<Attribute, String> {
    Ok(match value {
        AttrSpec::Int(value) => Attribute::Int(*value),
        AttrSpec::Real(value) => Attribute::Float(*value as f32),
        AttrSpec::Str(text) => Attribute::String(text.clone()),
        AttrSpec::Ints(values) => Attribute::Ints(values.clone()),
        AttrSpec::Reals(values) => Attribute::Floats(values.iter().map(|&v| v as f32).collect()),
        AttrSpec::Strs(texts) => Attribute::Strings(texts.clone()),
        AttrSpec::Tensor(spec) => Attribute::Tensor(tensor(spec)?),
    })
}

/// The ONNX model of a kit graph.
pub fn onnx_bytes(spec: &GraphSpec) -> Result<Vec<u8>, String> {
    let id = |at: i64| ValueId(at as u32);
    let mut graph =
        Graph { name: "dlopt_ai2_conformance".into(), opset: spec.opset, ..Graph::default() };
    for value in &spec.values {
        let data_type = DataType::from_onnx_code(value.dtype);
        let shape: Vec<usize> = value.shape.iter().map(|&dim| dim.max(0) as usize).collect();
        let constant = value.data.as_ref().map(|_| tensor(value)).transpose()?;
        graph.values.push(Value {
            name: value.name.clone(),
            data_type,
            shape: Some(symbolic(&shape)),
            constant,
        });
    }
    for node in &spec.nodes {
        let mut ir = Node {
            name: node.name.clone(),
            op_type: node.op_type.clone(),
            domain: node.domain.clone(),
            inputs: node.inputs.iter().map(|&at| (at >= 0).then(|| id(at))).collect(),
            outputs: node.outputs.iter().map(|&at| id(at)).collect(),
            ..Node::default()
        };
        for (name, value) in &node.attributes {
            ir.attributes.set(name.clone(), ir_attribute(value)?);
        }
        graph.nodes.push(ir);
    }
    graph.inputs = spec.inputs.iter().map(|&at| id(at)).collect();
    graph.outputs = spec.outputs.iter().map(|&at| id(at)).collect();
    export_model(&graph).map_err(|error| error.message)
}

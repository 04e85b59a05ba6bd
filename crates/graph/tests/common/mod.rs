//! Shared helpers of the ONNX tests: small models built from the protobuf messages, a
//! deterministic random number generator, and a graph comparison by names.

#![allow(dead_code)] // each test file uses its own subset

use dlopt_graph::onnx::proto::{
    AttributeProto, DimensionValue, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeDimension, TensorShapeProto, TypeProto,
    TypeProtoTensor, TypeProtoValue, ValueInfoProto, attribute_type,
};
use dlopt_graph::{Graph, ValueId};
use prost::Message;

/// ONNX `FLOAT`.
pub const FLOAT: i32 = 1;
/// ONNX `INT64`.
pub const INT64: i32 = 7;

/// A known dimension.
pub fn dim_value(size: i64) -> TensorShapeDimension {
    TensorShapeDimension { value: Some(DimensionValue::DimValue(size)), denotation: String::new() }
}

/// A named dimension.
pub fn dim_param(name: &str) -> TensorShapeDimension {
    TensorShapeDimension {
        value: Some(DimensionValue::DimParam(name.into())),
        denotation: String::new(),
    }
}

/// A dimension with neither size nor name.
pub fn dim_unknown() -> TensorShapeDimension {
    TensorShapeDimension { value: None, denotation: String::new() }
}

/// A tensor value declaration.
pub fn value_info(name: &str, elem_type: i32, dims: Vec<TensorShapeDimension>) -> ValueInfoProto {
    let tensor = TypeProtoTensor { elem_type, shape: Some(TensorShapeProto { dim: dims }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeProtoValue::TensorType(tensor)),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// A node of the default domain.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op_type.into(),
        attribute,
        ..NodeProto::default()
    }
}

/// An INTS attribute.
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// An INT attribute.
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: Some(value),
        ..Default::default()
    }
}

/// A FLOAT attribute.
pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: Some(value),
        ..Default::default()
    }
}

/// A FLOATS attribute.
pub fn attr_floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOATS,
        floats: values.to_vec(),
        ..Default::default()
    }
}

/// A STRING attribute.
pub fn attr_string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A TENSOR attribute.
pub fn attr_tensor(name: &str, tensor: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::TENSOR,
        t: Some(tensor),
        ..Default::default()
    }
}

/// A FLOAT tensor in `raw_data`.
pub fn raw_f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A FLOAT tensor in `float_data`.
pub fn float_data_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// An INT64 tensor in `int64_data`.
pub fn int64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// A model of `graph` importing ONNX opset `opset`.
pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "dlopt-tests".into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        ..Default::default()
    }
}

/// The weights of the Conv in [`conv_relu_model`]: 2 filters of 1x3x3.
pub fn conv_weights() -> Vec<f32> {
    (0..18).map(|i| i as f32 * 0.5 - 4.0).collect()
}

/// `x [N, 1, 5, width] -> Conv(W in raw_data, B in float_data, pads 1) -> Relu -> y`, with
/// metadata. The weight is also listed as a graph input, as older exporters do.
pub fn conv_relu_model() -> ModelProto {
    let graph = GraphProto {
        name: "conv_relu".into(),
        node: vec![
            node(
                "Conv",
                "conv",
                &["x", "W", "B"],
                &["conv_out"],
                vec![
                    attr_ints("kernel_shape", &[3, 3]),
                    attr_ints("pads", &[1, 1, 1, 1]),
                    attr_ints("strides", &[1, 1]),
                ],
            ),
            node("Relu", "relu", &["conv_out"], &["y"], vec![]),
        ],
        initializer: vec![
            raw_f32_tensor("W", &[2, 1, 3, 3], &conv_weights()),
            float_data_tensor("B", &[2], &[0.5, -1.0]),
        ],
        input: vec![
            value_info(
                "x",
                FLOAT,
                vec![dim_param("N"), dim_value(1), dim_value(5), dim_param("width")],
            ),
            value_info("W", FLOAT, vec![dim_value(2), dim_value(1), dim_value(3), dim_value(3)]),
        ],
        output: vec![value_info(
            "y",
            FLOAT,
            vec![dim_param("N"), dim_value(2), dim_value(5), dim_param("width")],
        )],
        value_info: vec![value_info(
            "conv_out",
            FLOAT,
            vec![dim_param("N"), dim_value(2), dim_unknown(), dim_param("width")],
        )],
        ..Default::default()
    };
    let mut model = model(graph, 13);
    model.metadata_props = vec![
        StringStringEntryProto { key: "character".into(), value: "a\nb\nc".into() },
        StringStringEntryProto { key: "author".into(), value: "tests".into() },
    ];
    model
}

/// `x [2] -> Add(x, Constant value tensor) -> Reshape(Constant value_ints) -> Mul(Constant
/// value_float) -> y`, with the nodes in reverse order and two of them unnamed.
pub fn constant_model() -> ModelProto {
    let graph = GraphProto {
        name: "constants".into(),
        node: vec![
            node("Mul", "", &["reshaped", "scale"], &["y"], vec![]),
            node("Reshape", "reshape", &["sum", "shape"], &["reshaped"], vec![]),
            node("Add", "", &["x", "offset"], &["sum"], vec![]),
            node(
                "Constant",
                "c_offset",
                &[],
                &["offset"],
                vec![attr_tensor("value", raw_f32_tensor("", &[2], &[1.0, 2.0]))],
            ),
            node("Constant", "c_shape", &[], &["shape"], vec![attr_ints("value_ints", &[1, 2])]),
            node("Constant", "", &[], &["scale"], vec![attr_float("value_float", 3.0)]),
        ],
        input: vec![value_info("x", FLOAT, vec![dim_value(2)])],
        output: vec![value_info("y", FLOAT, vec![dim_value(1), dim_value(2)])],
        ..Default::default()
    };
    model(graph, 17)
}

/// The protobuf bytes of `model`.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// SplitMix64: a small deterministic generator for reproducible mutations.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

fn names(graph: &Graph, ids: &[ValueId]) -> Vec<String> {
    ids.iter().map(|&id| graph.value(id).name.clone()).collect()
}

/// Asserts that two graphs are the same up to value numbering: names, opset, metadata,
/// inputs, outputs, nodes (in order, with attributes) and every value's type, shape and data.
pub fn assert_same_graph(a: &Graph, b: &Graph) {
    assert_eq!(a.name, b.name);
    assert_eq!(a.opset, b.opset);
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(names(a, &a.inputs), names(b, &b.inputs));
    assert_eq!(names(a, &a.outputs), names(b, &b.outputs));
    assert_eq!(a.nodes.len(), b.nodes.len());
    for (x, y) in a.nodes.iter().zip(&b.nodes) {
        assert_eq!((&x.name, &x.op_type, &x.domain), (&y.name, &y.op_type, &y.domain));
        let input_names = |graph: &Graph, node: &dlopt_graph::Node| -> Vec<Option<String>> {
            node.inputs.iter().map(|input| input.map(|id| graph.value(id).name.clone())).collect()
        };
        assert_eq!(input_names(a, x), input_names(b, y), "inputs of {}", x.name);
        assert_eq!(names(a, &x.outputs), names(b, &y.outputs), "outputs of {}", x.name);
        assert_eq!(x.attributes, y.attributes, "attributes of {}", x.name);
    }
    let by_name = b.names();
    assert_eq!(a.values.len(), b.values.len());
    for value in &a.values {
        let other = b.value(
            *by_name
                .get(value.name.as_str())
                .unwrap_or_else(|| panic!("no value '{}'", value.name)),
        );
        assert_eq!(value.data_type, other.data_type, "type of {}", value.name);
        assert_eq!(value.shape, other.shape, "shape of {}", value.name);
        assert_eq!(value.constant, other.constant, "data of {}", value.name);
    }
}

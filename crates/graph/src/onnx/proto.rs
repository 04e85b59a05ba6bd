//! The ONNX protobuf messages dlopt reads and writes, as `prost` messages.
//!
//! Field numbers and types follow `onnx.proto` (the proto2 definition ONNX ships). Scalars
//! that proto2 marks `optional` and whose presence matters to dlopt are `Option`s (an
//! attribute's `f`, `i`, `s`; a tensor's `raw_data`); the others are plain values whose
//! default means "absent", exactly as proto3 readers see them. Both packed and unpacked
//! encodings of repeated numbers are accepted when decoding, as protobuf requires.
//!
//! Left out (skipped when decoding, as protobuf skips unknown fields): training information,
//! model-local functions, quantization annotations, per-node and per-value metadata,
//! `NodeProto.overload` and the deprecated fields. The non-tensor types of `TypeProto`
//! (sequence, map, optional, sparse tensor, opaque) are kept as their encoded bytes, so the
//! importer can say what it refuses without decoding them.

/// A key/value pair (ONNX `StringStringEntryProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// An operator set a model uses: a domain and its version (ONNX `OperatorSetIdProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// The domain; `""` or `"ai.onnx"` is the default ONNX domain.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The operator set version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A model file: format version, operator sets, producer, graph, metadata (ONNX `ModelProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// The ONNX IR version the file follows.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// The name of the tool that wrote the file.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// The version of the tool that wrote the file.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// The model's domain (reverse DNS name).
    #[prost(string, tag = "4")]
    pub domain: String,
    /// The model's own version.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The computation graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// The operator sets the graph's nodes use.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Named metadata, e.g. the character list of an OCR model.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// A computation graph (ONNX `GraphProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// The nodes (ONNX requires topological order; dlopt sorts them anyway).
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// The graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights), referred to by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Documentation.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// The graph inputs; older exporters also list the initializers here.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types and shapes of intermediate values, where known.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
    /// Constant tensors in sparse form.
    #[prost(message, repeated, tag = "15")]
    pub sparse_initializer: Vec<SparseTensorProto>,
}

/// One operator application (ONNX `NodeProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Input value names; `""` marks an omitted optional input.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names; `""` marks an omitted optional output.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node name (optional in ONNX).
    #[prost(string, tag = "3")]
    pub name: String,
    /// The operator, e.g. `"Conv"`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// The attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The operator's domain; `""` or `"ai.onnx"` is the default ONNX domain.
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// The `AttributeProto.type` codes.
pub mod attribute_type {
    /// No type given (IR version 1 files); the importer infers it from the fields set.
    pub const UNDEFINED: i32 = 0;
    /// `f`.
    pub const FLOAT: i32 = 1;
    /// `i`.
    pub const INT: i32 = 2;
    /// `s`.
    pub const STRING: i32 = 3;
    /// `t`.
    pub const TENSOR: i32 = 4;
    /// `g`.
    pub const GRAPH: i32 = 5;
    /// `floats`.
    pub const FLOATS: i32 = 6;
    /// `ints`.
    pub const INTS: i32 = 7;
    /// `strings`.
    pub const STRINGS: i32 = 8;
    /// `tensors`.
    pub const TENSORS: i32 = 9;
    /// `graphs`.
    pub const GRAPHS: i32 = 10;
    /// `sparse_tensor`.
    pub const SPARSE_TENSOR: i32 = 11;
    /// `sparse_tensors`.
    pub const SPARSE_TENSORS: i32 = 12;
    /// `tp`.
    pub const TYPE_PROTO: i32 = 13;
    /// `type_protos`.
    pub const TYPE_PROTOS: i32 = 14;

    /// The ONNX name of a code, for messages.
    pub fn name(code: i32) -> &'static str {
        match code {
            UNDEFINED => "UNDEFINED",
            FLOAT => "FLOAT",
            INT => "INT",
            STRING => "STRING",
            TENSOR => "TENSOR",
            GRAPH => "GRAPH",
            FLOATS => "FLOATS",
            INTS => "INTS",
            STRINGS => "STRINGS",
            TENSORS => "TENSORS",
            GRAPHS => "GRAPHS",
            SPARSE_TENSOR => "SPARSE_TENSOR",
            SPARSE_TENSORS => "SPARSE_TENSORS",
            TYPE_PROTO => "TYPE_PROTO",
            TYPE_PROTOS => "TYPE_PROTOS",
            _ => "unknown",
        }
    }
}

/// A named attribute of a node (ONNX `AttributeProto`): `type` says which value field is used.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// The attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// A float value.
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// An integer value.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// A string value (bytes; ONNX says UTF-8).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    /// A tensor value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A subgraph (e.g. the branches of `If`).
    #[prost(message, optional, boxed, tag = "6")]
    pub g: Option<Box<GraphProto>>,
    /// Float values.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// Integer values.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// String values.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// Tensor values.
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
    /// Subgraphs.
    #[prost(message, repeated, tag = "11")]
    pub graphs: Vec<GraphProto>,
    /// Documentation.
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// Which value field is used: an [`attribute_type`] code.
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// Inside a function body: the name of the caller's attribute this one refers to.
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// A sparse tensor value.
    #[prost(message, optional, tag = "22")]
    pub sparse_tensor: Option<SparseTensorProto>,
    /// Sparse tensor values.
    #[prost(message, repeated, tag = "23")]
    pub sparse_tensors: Vec<SparseTensorProto>,
}

/// `TensorProto.data_location`: the data is inside the file.
pub const DATA_LOCATION_DEFAULT: i32 = 0;
/// `TensorProto.data_location`: the data is in another file named by `external_data`.
pub const DATA_LOCATION_EXTERNAL: i32 = 1;

/// The part of a large tensor one `TensorProto` holds (ONNX `TensorProto.Segment`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorSegment {
    /// The first element.
    #[prost(int64, tag = "1")]
    pub begin: i64,
    /// One past the last element.
    #[prost(int64, tag = "2")]
    pub end: i64,
}

/// A tensor value (ONNX `TensorProto`): dims, element type and the elements, either
/// little-endian in `raw_data` or in the typed field of the element type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// The shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// The element type: a `TensorProto.DataType` code (see [`crate::DataType::onnx_code`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Set when the tensor is split into segments.
    #[prost(message, optional, tag = "3")]
    pub segment: Option<TensorSegment>,
    /// FLOAT (and COMPLEX64) elements.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16 and BFLOAT16 elements (the 16-bit
    /// floats as their bit patterns).
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// STRING elements.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// INT64 elements.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// The tensor name (an initializer's value name).
    #[prost(string, tag = "8")]
    pub name: String,
    /// The elements as fixed-width little-endian bytes.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    /// DOUBLE (and COMPLEX128) elements.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// UINT32 and UINT64 elements.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
    /// Documentation.
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// Where external data lives: `location`, `offset`, `length`, `checksum`.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// [`DATA_LOCATION_DEFAULT`] or [`DATA_LOCATION_EXTERNAL`].
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// A sparse tensor (ONNX `SparseTensorProto`); dlopt refuses them, by name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SparseTensorProto {
    /// The non-default values (its name is the sparse tensor's name).
    #[prost(message, optional, tag = "1")]
    pub values: Option<TensorProto>,
    /// The indices of the values.
    #[prost(message, optional, tag = "2")]
    pub indices: Option<TensorProto>,
    /// The dense shape.
    #[prost(int64, repeated, tag = "3")]
    pub dims: Vec<i64>,
}

/// A value's name and type (ONNX `ValueInfoProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// The value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The type, if known.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Documentation.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A type (ONNX `TypeProto`): for dlopt, a tensor type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// Which kind of type.
    #[prost(oneof = "TypeProtoValue", tags = "1, 4, 5, 7, 8, 9")]
    pub value: Option<TypeProtoValue>,
    /// A standard denotation such as `IMAGE`.
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// The kinds of [`TypeProto`] (ONNX `TypeProto.value`). Only tensors are decoded; the other
/// kinds keep their encoded message bytes.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TypeProtoValue {
    /// A tensor type.
    #[prost(message, tag = "1")]
    TensorType(TypeProtoTensor),
    /// A sequence type (encoded `TypeProto.Sequence`).
    #[prost(bytes, tag = "4")]
    SequenceType(Vec<u8>),
    /// A map type (encoded `TypeProto.Map`).
    #[prost(bytes, tag = "5")]
    MapType(Vec<u8>),
    /// An opaque type (encoded `TypeProto.Opaque`).
    #[prost(bytes, tag = "7")]
    OpaqueType(Vec<u8>),
    /// A sparse tensor type (encoded `TypeProto.SparseTensor`).
    #[prost(bytes, tag = "8")]
    SparseTensorType(Vec<u8>),
    /// An optional type (encoded `TypeProto.Optional`).
    #[prost(bytes, tag = "9")]
    OptionalType(Vec<u8>),
}

/// A tensor type: element type and shape (ONNX `TypeProto.Tensor`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProtoTensor {
    /// The element type code; 0 (UNDEFINED) if unknown.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// The shape; absent if even the rank is unknown.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// A shape whose dimensions may be unknown or named (ONNX `TensorShapeProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<TensorShapeDimension>,
}

/// One dimension (ONNX `TensorShapeProto.Dimension`): a size, a name, or neither (unknown).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeDimension {
    /// The size or the name.
    #[prost(oneof = "DimensionValue", tags = "1, 2")]
    pub value: Option<DimensionValue>,
    /// A standard denotation such as `DATA_BATCH`.
    #[prost(string, tag = "3")]
    pub denotation: String,
}

/// A dimension's size or name (ONNX `TensorShapeProto.Dimension.value`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum DimensionValue {
    /// A known size.
    #[prost(int64, tag = "1")]
    DimValue(i64),
    /// A named unknown size; equal names mean equal sizes.
    #[prost(string, tag = "2")]
    DimParam(String),
}

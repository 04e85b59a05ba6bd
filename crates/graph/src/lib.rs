//! dlopt's graph IR: tensors, values and nodes with ONNX's operator vocabulary, ONNX import,
//! shape inference and optimization passes. The library crate (`dlopt`) turns its errors
//! into HALCON numbers; the runtime crates execute its graphs.

pub mod attribute;
pub mod data_type;
pub mod error;
pub mod graph;
pub mod onnx;
pub mod passes;
pub mod quantize;
pub mod shape;
pub mod shape_inference;
pub mod tensor;

pub use attribute::{Attribute, Attributes};
pub use data_type::DataType;
pub use error::{ErrorKind, GraphError, Result};
pub use graph::{Graph, Node, Value, ValueId};
pub use onnx::{export_model, import_model};
pub use shape::{Dim, SymbolicShape};
pub use tensor::{Tensor, TensorData};

//! ONNX models: the protobuf messages ([`proto`]), import into the IR ([`import_model`]) and
//! export from it ([`export_model`]).
//!
//! What the importer accepts:
//! - opsets 11 to 21 of the default domain (`""` or `"ai.onnx"`); nodes of other domains
//!   are kept (their domain must be declared in `opset_import`), later stages decide;
//! - initializers and `Constant` nodes (`value`, `value_float(s)`, `value_int(s)`) become
//!   constant values; FLOAT, FLOAT16, BFLOAT16, INT8, UINT8, INT32, INT64 and BOOL tensors,
//!   stored in `raw_data` or in the typed field the ONNX specification names;
//! - graph inputs, outputs and `value_info` with tensor types and symbolic shapes;
//! - attributes of type FLOAT, INT, STRING (UTF-8), TENSOR, FLOATS, INTS and STRINGS.
//!
//! What it refuses, with a message naming the tensor, value, node or attribute: other element
//! types (DOUBLE among them: converting to f32 would change results), tensors with external
//! or segmented data, sparse tensors, subgraph, type and tensor-list attributes, non-tensor
//! graph inputs and outputs, and every malformed or inconsistent file. The importer never
//! panics and never allocates from a size it has not checked against the bytes it was given.

mod attributes;
mod export;
mod import;
mod names;
pub mod proto;
mod tensors;
mod types;

use std::ops::RangeInclusive;

pub use export::{export_model, export_model_proto, export_standard_model};
pub use import::{import_model, import_model_proto};
pub use tensors::{tensor_from_proto, tensor_to_proto};

/// The opset versions of the default ONNX domain that dlopt imports and exports.
pub const SUPPORTED_OPSETS: RangeInclusive<i64> = 11..=21;

/// The largest tensor or shape rank accepted (ONNX sets no limit; real models stay far below).
pub const MAX_RANK: usize = 32;

/// The ONNX IR version [`export_model`] writes.
pub const EXPORT_IR_VERSION: i64 = 8;

/// Whether `domain` names the default ONNX operator domain.
pub fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

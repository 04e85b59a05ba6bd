//! Errors of graph import, validation, shape inference and passes.
//!
//! Every message names what it is about: the node (name and op type), the attribute, the
//! value or the file field, and the reason. The library maps them to HALCON numbers (ONNX
//! reading: `H_ERR_DL_READ_ONNX`, 7801).

use std::fmt;

use crate::graph::Node;

/// What kind of problem a [`GraphError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The model file or graph is malformed (bad protobuf, dangling names, bad attribute).
    InvalidModel,
    /// Valid ONNX that dlopt does not support (an operator, a data type, an attribute value).
    Unsupported,
    /// Shapes that do not fit together.
    ShapeMismatch,
    /// A limit that protects memory (e.g. a tensor larger than the file could hold).
    TooLarge,
}

/// An error with a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// The message, naming node, op type, attribute or value, and the reason.
    pub message: String,
}

/// The result type of the graph crate.
pub type Result<T> = std::result::Result<T, GraphError>;

impl GraphError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> GraphError {
        GraphError { kind, message: message.into() }
    }

    /// A malformed model.
    pub fn invalid(message: impl Into<String>) -> GraphError {
        GraphError::new(ErrorKind::InvalidModel, message)
    }

    /// Something dlopt does not support.
    pub fn unsupported(message: impl Into<String>) -> GraphError {
        GraphError::new(ErrorKind::Unsupported, message)
    }

    /// Shapes that do not fit.
    pub fn shape(message: impl Into<String>) -> GraphError {
        GraphError::new(ErrorKind::ShapeMismatch, message)
    }

    /// Prefixes the message with the node it concerns: `node 'conv1' (Conv): ...`.
    pub fn at_node(self, node: &Node) -> GraphError {
        if self.message.starts_with("node '") {
            return self;
        }
        GraphError { kind: self.kind, message: format!("{}: {}", node.describe(), self.message) }
    }

    /// Prefixes the message with context.
    pub fn context(self, context: impl fmt::Display) -> GraphError {
        GraphError { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GraphError {}

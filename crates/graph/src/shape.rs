//! Shapes with symbolic dimensions: a dimension is a known size or a named unknown
//! (ONNX `dim_param`, e.g. a dynamic batch `N` or width `W`).

use std::fmt;
use std::sync::Arc;

/// One dimension of a shape.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known size.
    Fixed(usize),
    /// An unknown size with a name; equal names mean equal sizes.
    Symbol(Arc<str>),
}

impl Dim {
    /// The size, if known.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(size) => Some(*size),
            Dim::Symbol(_) => None,
        }
    }

    /// A named unknown dimension.
    pub fn symbol(name: &str) -> Dim {
        Dim::Symbol(name.into())
    }
}

impl fmt::Debug for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(size) => write!(f, "{size}"),
            Dim::Symbol(name) => f.write_str(name),
        }
    }
}

/// A shape whose dimensions may be symbolic.
pub type SymbolicShape = Vec<Dim>;

/// The shape as known sizes, if every dimension is known.
pub fn fixed_shape(shape: &[Dim]) -> Option<Vec<usize>> {
    shape.iter().map(Dim::fixed).collect()
}

/// A symbolic shape of known sizes.
pub fn symbolic(shape: &[usize]) -> SymbolicShape {
    shape.iter().map(|&size| Dim::Fixed(size)).collect()
}

/// Formats a shape as `[N, 3, 48, W]`.
pub fn format_shape(shape: &[Dim]) -> String {
    format!("{shape:?}")
}

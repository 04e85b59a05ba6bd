//! Symbolic shape inference: fills in the element type and shape of node outputs from
//! what is known about the graph inputs and constants.
//!
//! Unknown dimensions stay named: an input `[N, 3, H, W]` gives a stride-2 convolution
//! output `[N, 16, H/2, W/2]`, and an upsampling back gives `[N, 16, H, W]` again (see
//! [`dims`] for the arithmetic and the assumption it makes). Shape computations that
//! exporters emit (`Shape -> Slice -> Concat -> Reshape`) are followed element by element
//! ([`elements`]), so reshape targets computed at run time still give shapes.
//!
//! What inference cannot derive stays unknown (`None`): outputs of operators it does not
//! know, shapes that depend on data. It fails only on contradictions, such as an Add of
//! `[2, 3]` and `[4, 3]`, or an inferred shape that disagrees with the one the file
//! declares for the value; the error names the node.
//!
//! Declared shapes (ONNX `value_info`, graph outputs) are merged with inferred ones: a
//! known size wins over an unknown one; of two unknowns the inferred one is kept, so that
//! outputs are expressed in the input's names (the file's names for them are arbitrary).

mod dims;
pub(crate) mod elements;
mod layout;
pub(crate) mod params;
mod rules;
mod spatial;

use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::graph::{Graph, Value};
use crate::shape::{Dim, SymbolicShape, format_shape};
use crate::tensor::Tensor;

use dims::Symbols;
use elements::Element;

/// What inference knows about one node input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known<'a> {
    /// The shape, if known.
    pub(crate) shape: Option<&'a [Dim]>,
    /// The element type, if known.
    pub(crate) data_type: Option<DataType>,
    /// The data, if constant.
    pub(crate) constant: Option<&'a Tensor>,
    /// The elements of a shape-like integer value, if followed.
    pub(crate) elements: Option<&'a [Element]>,
}

/// What inference derived for one node output.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Inferred {
    /// The shape, if derived.
    pub(crate) shape: Option<SymbolicShape>,
    /// The element type, if derived.
    pub(crate) data_type: Option<DataType>,
}

impl Inferred {
    /// An output of `shape` and `data_type`.
    pub(crate) fn new(shape: Option<SymbolicShape>, data_type: Option<DataType>) -> Inferred {
        Inferred { shape, data_type }
    }
}

/// Fills in `data_type` and `shape` of node outputs (see the module documentation).
/// Nodes must be in topological order (as [`Graph::check`] requires); values a node reads
/// before they are produced count as unknown.
pub fn infer_shapes(graph: &mut Graph) -> Result<()> {
    let mut symbols = Symbols::default();
    let mut followed: Vec<Option<Vec<Element>>> = vec![None; graph.values.len()];
    let Graph { nodes, values, opset, .. } = graph;
    for node in nodes.iter() {
        let (inferred, output_elements) = {
            let inputs: Vec<Option<Known>> = node
                .inputs
                .iter()
                .map(|input| {
                    let id = (*input)?;
                    let value = values.get(id.index())?;
                    Some(Known {
                        shape: value.shape.as_deref(),
                        data_type: value.data_type,
                        constant: value.constant.as_ref(),
                        elements: followed.get(id.index()).and_then(|e| e.as_deref()),
                    })
                })
                .collect();
            let inferred = rules::infer(node, &inputs, &mut symbols, *opset)
                .map_err(|error| error.at_node(node))?;
            (inferred, elements::propagate(node, &inputs, &mut symbols))
        };
        for (&id, facts) in node.outputs.iter().zip(inferred) {
            if let Some(value) = values.get_mut(id.index()) {
                merge(value, facts).map_err(|error| error.at_node(node))?;
            }
        }
        if let (Some(first), Some(found)) = (node.outputs.first(), output_elements) {
            if let Some(slot) = followed.get_mut(first.index()) {
                *slot = Some(found);
            }
        }
    }
    Ok(())
}

/// Merges what inference derived into a value (see the module documentation).
fn merge(value: &mut Value, inferred: Inferred) -> Result<()> {
    if value.data_type.is_none() {
        value.data_type = inferred.data_type;
    }
    let Some(shape) = inferred.shape else { return Ok(()) };
    let Some(declared) = &value.shape else {
        value.shape = Some(shape);
        return Ok(());
    };
    let contradiction = || {
        GraphError::shape(format!(
            "output '{}' is declared {} but its inputs give {}",
            value.name,
            format_shape(declared),
            format_shape(&shape)
        ))
    };
    if declared.len() != shape.len() {
        return Err(contradiction());
    }
    let mut merged = Vec::with_capacity(shape.len());
    for (declared_dim, inferred_dim) in declared.iter().zip(&shape) {
        merged.push(match (declared_dim, inferred_dim) {
            (Dim::Fixed(a), Dim::Fixed(b)) if a != b => return Err(contradiction()),
            (Dim::Fixed(size), _) | (_, Dim::Fixed(size)) => Dim::Fixed(*size),
            (Dim::Symbol(_), symbol) => symbol.clone(),
        });
    }
    value.shape = Some(merged);
    Ok(())
}

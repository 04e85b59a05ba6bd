//! `read_dl_model` of an ONNX file: import, optimize, check that the runtime supports every
//! operator, and derive the model parameters.

use dlopt_graph::Graph;

use crate::error::{H_ERR_DL_READ_ONNX, HalconError, Result};

use super::{DlModel, ModelState};

/// Whether `bytes` look like an ONNX model rather than a dlopt model file.
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    !bytes.starts_with(super::file::MAGIC)
}

/// The optimizations dlopt applies on import: the graph passes (identity removal, constant
/// folding, BatchNormalization folding, activation fusion, dead node removal), then shape
/// inference so that every value's shape is known in terms of the inputs' dimensions.
/// Errors: 7801 with the message of the pass or node that failed.
pub fn optimize(graph: &mut Graph) -> Result<()> {
    let read_error =
        |error: dlopt_graph::GraphError| HalconError::new(H_ERR_DL_READ_ONNX, error.message);
    graph.check().map_err(read_error)?;
    dlopt_graph::passes::optimize(graph).map_err(read_error)?;
    dlopt_graph::shape_inference::infer_shapes(graph).map_err(read_error)
}

/// Fails with 7801 naming the first node whose operator the runtime does not support.
pub fn check_supported(graph: &Graph) -> Result<()> {
    for node in &graph.nodes {
        if dlopt_runtime::ops::builder(&node.domain, &node.op_type).is_none() {
            let domain = if node.domain.is_empty() {
                String::new()
            } else {
                format!(" of domain '{}'", node.domain)
            };
            return Err(HalconError::new(
                H_ERR_DL_READ_ONNX,
                format!(
                    "{}: operator {}{domain} is not supported by dlopt",
                    node.describe(),
                    node.op_type
                ),
            ));
        }
    }
    Ok(())
}

/// A model from ONNX bytes. Errors: 7801 with the importer's message (node, op type,
/// reason).
pub fn model_from_onnx(bytes: &[u8]) -> Result<DlModel> {
    let mut graph = dlopt_graph::import_model(bytes)
        .map_err(|error| HalconError::new(H_ERR_DL_READ_ONNX, error.message))?;
    optimize(&mut graph)?;
    check_supported(&graph)?;
    Ok(DlModel::new(ModelState::new(graph)?))
}

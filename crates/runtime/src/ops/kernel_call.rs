//! Glue between operators and the numeric kernels of `dlopt-kernels`: kernel errors as
//! graph errors, and the f32 weights the compute operators pack when a plan is built.

use dlopt_graph::{DataType, GraphError, Node, Result};
use dlopt_kernels::KernelError;

use crate::op::InputInfo;

/// A kernel's error (arguments that do not fit together) as a graph error.
pub(crate) fn kernel_error(error: KernelError) -> GraphError {
    GraphError::shape(error.message)
}

/// The f32 data of input `index` (called `name` in messages), which must be constant when
/// the plan is built because the operator prepares it then (e.g. packs weights). `None`
/// for an absent optional input.
pub(crate) fn constant_f32<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
    name: &str,
) -> Result<Option<&'a [f32]>> {
    let Some(info) = inputs.get(index).copied().flatten() else { return Ok(None) };
    if info.data_type != DataType::F32 {
        return Err(GraphError::unsupported(format!(
            "{} supports input '{name}' of type f32 only, got {}",
            node.op_type, info.data_type
        )));
    }
    let tensor = info.constant.ok_or_else(|| {
        GraphError::unsupported(format!(
            "input '{name}' must be a constant (an initializer) so that it can be prepared when the plan is built; \
             {} with {name} computed at run time is not supported",
            node.op_type
        ))
    })?;
    tensor
        .as_f32()
        .map(Some)
        .ok_or_else(|| GraphError::invalid(format!("input '{name}' is not f32 data")))
}

/// Checks that input `what` of the node is f32.
pub(crate) fn require_f32(node: &Node, what: &str, data_type: DataType) -> Result<()> {
    if data_type == DataType::F32 {
        return Ok(());
    }
    Err(GraphError::unsupported(format!(
        "{} supports input '{what}' of type f32 only, got {data_type}",
        node.op_type
    )))
}

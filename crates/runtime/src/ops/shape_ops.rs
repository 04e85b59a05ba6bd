//! Operators that only rename, reshape or describe data: Identity, Dropout (inference),
//! Shape, Reshape, Flatten, Squeeze, Unsqueeze, Constant, ConstantOfShape, Cast, Expand.

use dlopt_graph::{GraphError, Node, Result};

use super::Registry;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};
use crate::view::{DataMut, DataRef};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("Identity", build_identity as BuildFn);
}

/// Copies `input` into `output` (same type and length).
pub(crate) fn copy_data(input: &DataRef<'_>, output: &mut DataMut<'_>) -> Result<()> {
    match (input, output) {
        (DataRef::F32(a), DataMut::F32(b)) => b.copy_from_slice(a),
        (DataRef::F16(a), DataMut::F16(b)) => b.copy_from_slice(a),
        (DataRef::BF16(a), DataMut::BF16(b)) => b.copy_from_slice(a),
        (DataRef::I8(a), DataMut::I8(b)) => b.copy_from_slice(a),
        (DataRef::U8(a), DataMut::U8(b)) => b.copy_from_slice(a),
        (DataRef::I32(a), DataMut::I32(b)) => b.copy_from_slice(a),
        (DataRef::I64(a), DataMut::I64(b)) => b.copy_from_slice(a),
        (DataRef::Bool(a), DataMut::Bool(b)) => b.copy_from_slice(a),
        (a, b) => {
            return Err(GraphError::invalid(format!(
                "cannot copy {} into {}",
                a.data_type(),
                b.data_type()
            )));
        }
    }
    Ok(())
}

fn build_identity(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    Ok(BuiltOp {
        kernel: kernel(|inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            copy_data(&input.data, &mut outputs[0].data)
        }),
        outputs: vec![OutputInfo::new(input.data_type, input.shape.to_vec())],
    })
}

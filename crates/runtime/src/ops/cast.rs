//! Cast and CastLike: element type conversion between the eight types of the IR, with
//! ONNX's rules (see `typed::Convert`). Other ONNX types (DOUBLE, STRING, the float8
//! and int4 families, ...) are refused by name.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::typed::cast_data;
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds Cast and CastLike.
pub fn register(registry: &mut Registry) {
    registry.add("Cast", build_cast as BuildFn);
    registry.add("CastLike", build_cast_like as BuildFn);
}

/// The IR type of an ONNX type code, or an Unsupported error naming the ONNX type;
/// `what` names the argument (e.g. `"attribute 'to'"`).
pub(crate) fn data_type_of_code(code: i64, what: &str) -> Result<DataType> {
    i32::try_from(code).ok().and_then(DataType::from_onnx_code).ok_or_else(|| {
        let name = i32::try_from(code).map_or("unknown", DataType::onnx_code_name);
        GraphError::unsupported(format!(
            "{what} is {name} ({code}), which dlopt does not support (supported: FLOAT, FLOAT16, BFLOAT16, INT8, UINT8, INT32, INT64, BOOL)"
        ))
    })
}

/// A node converting input 0 to `target`.
fn casting(node: &Node, inputs: &[Option<InputInfo<'_>>], target: DataType) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    Ok(BuiltOp {
        kernel: kernel(|inputs, outputs, _| {
            let input = crate::op::input(inputs, 0)?;
            cast_data(&input.data, &mut outputs[0].data);
            Ok(())
        }),
        outputs: vec![OutputInfo::new(target, input.shape.to_vec())],
    })
}

/// Cast: converts to the type of attribute `to` (attribute `saturate`, opset 19, only
/// concerns float8 types and is ignored).
fn build_cast(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let code = node
        .attributes
        .int("to")?
        .ok_or_else(|| GraphError::invalid("attribute 'to' is required"))?;
    let target = data_type_of_code(code, "attribute 'to'")?;
    casting(node, inputs, target)
}

/// CastLike: converts input 0 to the element type of input 1.
fn build_cast_like(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let like = required(node, inputs, 1)?;
    casting(node, inputs, like.data_type)
}

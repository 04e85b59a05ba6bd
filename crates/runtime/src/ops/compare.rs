//! Comparisons, logic and selection with numpy broadcasting: Equal, Less, Greater,
//! LessOrEqual, GreaterOrEqual (bool outputs), And, Or, Xor, Not (bool), and Where.
//!
//! Types: comparisons take f32, i32, i64, i8 or u8 (Equal also bool), both inputs of one
//! type; Where takes a bool condition and X, Y of any one type.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::broadcast::{Broadcast, broadcast_shapes, map, ternary};
use super::element::{Element, check_type, input_slice, output_slice, with_type};
use super::elementwise::{binary_inputs, binary_kernel, same_type};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds this family's operators (called by the elementwise family's `register`).
pub fn register(registry: &mut Registry) {
    registry.add("Equal", build_equal as BuildFn);
    registry.add("Less", build_less as BuildFn);
    registry.add("Greater", build_greater as BuildFn);
    registry.add("LessOrEqual", build_less_or_equal as BuildFn);
    registry.add("GreaterOrEqual", build_greater_or_equal as BuildFn);
    registry.add("And", build_and as BuildFn);
    registry.add("Or", build_or as BuildFn);
    registry.add("Xor", build_xor as BuildFn);
    registry.add("Not", build_not as BuildFn);
    registry.add("Where", build_where as BuildFn);
}

/// The types the ordering comparisons accept.
const ORDERED: [DataType; 5] =
    [DataType::F32, DataType::I32, DataType::I64, DataType::I8, DataType::U8];

/// The comparison operators.
#[derive(Clone, Copy)]
enum Comparison {
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

/// Builds a comparison: same-type inputs, broadcast, bool output.
fn build_comparison(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    op: Comparison,
) -> Result<BuiltOp> {
    let (a, b, shape, broadcast) = binary_inputs(node, inputs)?;
    let data_type = same_type(&a, &b)?;
    let equal = matches!(op, Comparison::Equal);
    let supported: &[DataType] = if equal {
        &[DataType::F32, DataType::I32, DataType::I64, DataType::I8, DataType::U8, DataType::Bool]
    } else {
        &ORDERED
    };
    check_type(&node.op_type, "inputs", data_type, supported)?;
    let unsupported = || GraphError::unsupported(format!("type {data_type} is not supported here"));
    let kernel = if equal {
        with_type!(data_type, [F32, I32, I64, I8, U8, Bool], T => {
            binary_kernel::<T, T, bool>(broadcast, |a: T, b: T| a == b)
        }, return Err(unsupported()))
    } else {
        with_type!(data_type, [F32, I32, I64, I8, U8], T => match op {
            Comparison::Less => binary_kernel::<T, T, bool>(broadcast, |a, b| a < b),
            Comparison::Greater => binary_kernel::<T, T, bool>(broadcast, |a, b| a > b),
            Comparison::LessOrEqual => binary_kernel::<T, T, bool>(broadcast, |a, b| a <= b),
            Comparison::GreaterOrEqual | Comparison::Equal => binary_kernel::<T, T, bool>(broadcast, |a, b| a >= b),
        }, return Err(unsupported()))
    };
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(DataType::Bool, shape)] })
}

/// Equal: `C = (A == B)`, bool.
fn build_equal(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_comparison(node, inputs, Comparison::Equal)
}

/// Less: `C = (A < B)`, bool.
fn build_less(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_comparison(node, inputs, Comparison::Less)
}

/// Greater: `C = (A > B)`, bool.
fn build_greater(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_comparison(node, inputs, Comparison::Greater)
}

/// LessOrEqual: `C = (A <= B)`, bool.
fn build_less_or_equal(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_comparison(node, inputs, Comparison::LessOrEqual)
}

/// GreaterOrEqual: `C = (A >= B)`, bool.
fn build_greater_or_equal(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    build_comparison(node, inputs, Comparison::GreaterOrEqual)
}

/// Builds a two-input logic operator on bools with `f`.
fn build_logic(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    f: impl Fn(bool, bool) -> bool + Copy + Send + Sync + 'static,
) -> Result<BuiltOp> {
    let (a, b, shape, broadcast) = binary_inputs(node, inputs)?;
    let data_type = same_type(&a, &b)?;
    check_type(&node.op_type, "inputs", data_type, &[DataType::Bool])?;
    Ok(BuiltOp {
        kernel: binary_kernel::<bool, bool, bool>(broadcast, f),
        outputs: vec![OutputInfo::new(DataType::Bool, shape)],
    })
}

/// And: logical `A && B`.
fn build_and(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_logic(node, inputs, |a, b| a & b)
}

/// Or: logical `A || B`.
fn build_or(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_logic(node, inputs, |a, b| a | b)
}

/// Xor: logical `A != B`.
fn build_xor(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    build_logic(node, inputs, |a, b| a ^ b)
}

/// Not: logical negation of a bool tensor.
fn build_not(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    check_type("Not", "input X", x.data_type, &[DataType::Bool])?;
    Ok(BuiltOp {
        kernel: kernel(|inputs, outputs, context| {
            map(
                input_slice::<bool>(inputs, 0)?,
                output_slice::<bool>(outputs, 0)?,
                context.threads,
                |v: bool| !v,
            )
        }),
        outputs: vec![OutputInfo::new(DataType::Bool, x.shape.to_vec())],
    })
}

/// Where's kernel for X and Y of type `T`.
fn where_kernel<T: Element>(broadcast: Broadcast) -> Box<dyn crate::op::Kernel> {
    kernel(move |inputs, outputs, context| {
        let condition = input_slice::<bool>(inputs, 0)?;
        let x = input_slice::<T>(inputs, 1)?;
        let y = input_slice::<T>(inputs, 2)?;
        let output = output_slice::<T>(outputs, 0)?;
        ternary(
            &broadcast,
            condition,
            x,
            y,
            output,
            context.threads,
            |c, x, y| if c { x } else { y },
        )
    })
}

/// Where: `output = condition ? X : Y` elementwise, all three broadcast together; the
/// condition is bool, X and Y of any one type.
fn build_where(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let condition = required(node, inputs, 0)?;
    let x = required(node, inputs, 1)?;
    let y = required(node, inputs, 2)?;
    check_type("Where", "input condition", condition.data_type, &[DataType::Bool])?;
    if x.data_type != y.data_type {
        return Err(GraphError::invalid(format!(
            "inputs X and Y must have the same type, got {} and {}",
            x.data_type, y.data_type
        )));
    }
    let shapes = [condition.shape, x.shape, y.shape];
    let shape = broadcast_shapes(&shapes)?;
    let broadcast = Broadcast::new(&shape, &shapes)?;
    let kernel = with_type!(x.data_type, [F32, F16, BF16, I8, U8, I32, I64, Bool], T => {
        where_kernel::<T>(broadcast)
    }, return Err(GraphError::unsupported(format!("Where does not support type {}", x.data_type))));
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(x.data_type, shape)] })
}

//! Typed access to the elements of tensor views, so that one generic kernel serves every
//! element type an operator supports: the type is picked once when the node is built, and
//! the kernel then works on plain slices.

use half::{bf16, f16};

use dlopt_graph::{DataType, GraphError, Result};

use crate::view::{DataMut, DataRef, TensorView, TensorViewMut};

/// An element type of tensors, with typed access to views of that type.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// The element type.
    const TYPE: DataType;

    /// The elements of `data`, or an error naming the actual type.
    fn slice<'a>(data: &DataRef<'a>) -> Result<&'a [Self]>;

    /// The elements of `data`, writable, or an error naming the actual type.
    fn slice_mut<'b>(data: &'b mut DataMut<'_>) -> Result<&'b mut [Self]>;
}

/// The error for a view of the wrong element type.
fn type_error(expected: DataType, found: DataType) -> GraphError {
    GraphError::unsupported(format!("expected a {expected} tensor, got {found}"))
}

/// Implements [`Element`] for a Rust type and its `DataType` variant.
macro_rules! element {
    ($type:ty, $variant:ident) => {
        impl Element for $type {
            const TYPE: DataType = DataType::$variant;

            fn slice<'a>(data: &DataRef<'a>) -> Result<&'a [Self]> {
                match data {
                    DataRef::$variant(values) => Ok(values),
                    other => Err(type_error(Self::TYPE, other.data_type())),
                }
            }

            fn slice_mut<'b>(data: &'b mut DataMut<'_>) -> Result<&'b mut [Self]> {
                match data {
                    DataMut::$variant(values) => Ok(values),
                    other => Err(type_error(Self::TYPE, other.data_type())),
                }
            }
        }
    };
}

element!(f32, F32);
element!(f16, F16);
element!(bf16, BF16);
element!(i8, I8);
element!(u8, U8);
element!(i32, I32);
element!(i64, I64);
element!(bool, Bool);

/// Evaluates `$body` with the type alias `$T` bound to the Rust type of `$data_type`, for the
/// listed `DataType` variants; any other type evaluates `$otherwise`. This is how build
/// functions pick a monomorphised kernel once per node:
/// `with_type!(data_type, [F32, I64], T => make::<T>(), return Err(...))`.
macro_rules! with_type {
    ($data_type:expr, [$($variant:ident),* $(,)?], $T:ident => $body:expr, $otherwise:expr) => {
        match $data_type {
            $(dlopt_graph::DataType::$variant => {
                #[allow(dead_code)]
                type $T = $crate::ops::element::with_type!(@type $variant);
                $body
            })*
            #[allow(unreachable_patterns)]
            _ => $otherwise,
        }
    };
    (@type F32) => { f32 };
    (@type F16) => { half::f16 };
    (@type BF16) => { half::bf16 };
    (@type I8) => { i8 };
    (@type U8) => { u8 };
    (@type I32) => { i32 };
    (@type I64) => { i64 };
    (@type Bool) => { bool };
}
pub(crate) use with_type;

/// The typed elements of run-time input `index` (which must be present).
pub(crate) fn input_slice<'a, T: Element>(
    inputs: &[Option<TensorView<'a>>],
    index: usize,
) -> Result<&'a [T]> {
    T::slice(&crate::op::input(inputs, index)?.data)
}

/// The typed elements of output `index`.
pub(crate) fn output_slice<'b, T: Element>(
    outputs: &'b mut [TensorViewMut<'_>],
    index: usize,
) -> Result<&'b mut [T]> {
    let output = outputs
        .get_mut(index)
        .ok_or_else(|| GraphError::invalid(format!("output {index} is missing at run time")))?;
    T::slice_mut(&mut output.data)
}

/// Formats a list of types for messages: `f32, i32, i64`.
pub(crate) fn type_list(types: &[DataType]) -> String {
    types.iter().map(|data_type| data_type.name()).collect::<Vec<_>>().join(", ")
}

/// Checks that `data_type` is one of `supported`, for input `what` of operator `op_type`.
pub(crate) fn check_type(
    op_type: &str,
    what: &str,
    data_type: DataType,
    supported: &[DataType],
) -> Result<()> {
    if supported.contains(&data_type) {
        return Ok(());
    }
    Err(GraphError::unsupported(format!(
        "{op_type} does not support {what} of type {data_type} (supported: {})",
        type_list(supported)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_typed_and_mismatches_are_errors() {
        let values = [1.0f32, 2.0];
        let data = DataRef::F32(&values);
        assert_eq!(f32::slice(&data).unwrap(), &[1.0, 2.0]);
        let error = i64::slice(&data).unwrap_err();
        assert!(error.message.contains("expected a i64 tensor, got f32"), "{}", error.message);
        let mut out = [0i32; 2];
        let mut data = DataMut::I32(&mut out);
        i32::slice_mut(&mut data).unwrap()[1] = 7;
        assert!(bool::slice_mut(&mut data).is_err());
        assert_eq!(out, [0, 7]);
    }

    #[test]
    fn with_type_binds_the_rust_type_of_a_data_type() {
        fn size(data_type: DataType) -> usize {
            with_type!(data_type, [F32, I64, Bool, F16], T => std::mem::size_of::<T>(), 0)
        }
        assert_eq!(size(DataType::F32), 4);
        assert_eq!(size(DataType::I64), 8);
        assert_eq!(size(DataType::Bool), 1);
        assert_eq!(size(DataType::F16), 2);
        assert_eq!(size(DataType::I32), 0, "not listed");
    }

    #[test]
    fn type_checks_name_the_type_and_the_alternatives() {
        assert!(check_type("Add", "input A", DataType::F32, &[DataType::F32]).is_ok());
        let error = check_type("Add", "input A", DataType::Bool, &[DataType::F32, DataType::I64])
            .unwrap_err();
        assert_eq!(
            error.message,
            "Add does not support input A of type bool (supported: f32, i64)"
        );
    }
}

//! Element-type plumbing shared by the shape operators: macros that bind the typed
//! slice inside a [`DataRef`] / [`DataMut`] so one generic function serves all eight IR
//! types, the [`Convert`] conversions with ONNX `Cast` semantics, and the kernel of an
//! output known while building.

use half::{bf16, f16};

use dlopt_graph::{DataType, GraphError, Result, Tensor};

use crate::op::Kernel;
use crate::view::{DataMut, DataRef};

/// Evaluates `$body` with `$values` bound to the typed slice of a [`DataRef`].
macro_rules! with_ref {
    ($data:expr, $values:ident => $body:expr) => {
        match $data {
            $crate::view::DataRef::F32($values) => $body,
            $crate::view::DataRef::F16($values) => $body,
            $crate::view::DataRef::BF16($values) => $body,
            $crate::view::DataRef::I8($values) => $body,
            $crate::view::DataRef::U8($values) => $body,
            $crate::view::DataRef::I32($values) => $body,
            $crate::view::DataRef::I64($values) => $body,
            $crate::view::DataRef::Bool($values) => $body,
        }
    };
}
pub(crate) use with_ref;

/// Evaluates `$body` with `$values` bound to the typed slice of a [`DataMut`].
macro_rules! with_mut {
    ($data:expr, $values:ident => $body:expr) => {
        match $data {
            $crate::view::DataMut::F32($values) => $body,
            $crate::view::DataMut::F16($values) => $body,
            $crate::view::DataMut::BF16($values) => $body,
            $crate::view::DataMut::I8($values) => $body,
            $crate::view::DataMut::U8($values) => $body,
            $crate::view::DataMut::I32($values) => $body,
            $crate::view::DataMut::I64($values) => $body,
            $crate::view::DataMut::Bool($values) => $body,
        }
    };
}
pub(crate) use with_mut;

/// Evaluates `$body` (giving `()`) with an input and an output slice of the same element
/// type; the whole expression is a `Result<()>` that fails when the types differ.
macro_rules! with_same {
    ($input:expr, $output:expr, ($a:ident, $b:ident) => $body:expr) => {
        match ($input, $output) {
            ($crate::view::DataRef::F32($a), $crate::view::DataMut::F32($b)) => Ok($body),
            ($crate::view::DataRef::F16($a), $crate::view::DataMut::F16($b)) => Ok($body),
            ($crate::view::DataRef::BF16($a), $crate::view::DataMut::BF16($b)) => Ok($body),
            ($crate::view::DataRef::I8($a), $crate::view::DataMut::I8($b)) => Ok($body),
            ($crate::view::DataRef::U8($a), $crate::view::DataMut::U8($b)) => Ok($body),
            ($crate::view::DataRef::I32($a), $crate::view::DataMut::I32($b)) => Ok($body),
            ($crate::view::DataRef::I64($a), $crate::view::DataMut::I64($b)) => Ok($body),
            ($crate::view::DataRef::Bool($a), $crate::view::DataMut::Bool($b)) => Ok($body),
            (a, b) => Err($crate::ops::typed::type_mismatch(a.data_type(), b.data_type())),
        }
    };
}
pub(crate) use with_same;

/// The error of an output whose type differs from the input's.
pub(crate) fn type_mismatch(input: DataType, output: DataType) -> GraphError {
    GraphError::invalid(format!("the input is {input} but the output is {output}"))
}

/// An element type of the IR with the conversions of ONNX `Cast`.
///
/// Floating-point sources go through `f64` (exact for f32, f16 and bf16), integer and
/// boolean sources through `i64` (exact): float to integer truncates toward zero and
/// saturates (NaN gives 0; ONNX leaves out-of-range values undefined), integer to integer
/// keeps the low bits (two's complement, as ONNX specifies), anything to bool is `!= 0`,
/// and bool is 0 or 1.
pub(crate) trait Convert: Copy + Send + Sync + 'static {
    /// Whether the type is a floating-point type.
    const IS_FLOAT: bool;
    /// The value as f64.
    fn to_f64(self) -> f64;
    /// The value as i64 (floats truncate and saturate).
    fn to_i64(self) -> i64;
    /// The nearest value of this type to a float.
    fn from_f64(value: f64) -> Self;
    /// The value of this type for an integer.
    fn from_i64(value: i64) -> Self;

    /// Converts `value` of any element type to this one.
    fn cast_from<S: Convert>(value: S) -> Self {
        if S::IS_FLOAT { Self::from_f64(value.to_f64()) } else { Self::from_i64(value.to_i64()) }
    }
}

macro_rules! integer_element {
    ($($t:ty),*) => {$(
        impl Convert for $t {
            const IS_FLOAT: bool = false;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            fn from_i64(value: i64) -> Self {
                value as $t
            }
        }
    )*};
}
integer_element!(i8, u8, i32, i64);

impl Convert for f32 {
    const IS_FLOAT: bool = true;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn from_i64(value: i64) -> Self {
        value as f32
    }
}

macro_rules! half_element {
    ($($t:ty),*) => {$(
        impl Convert for $t {
            const IS_FLOAT: bool = true;
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            fn to_i64(self) -> i64 {
                <$t>::to_f64(self) as i64
            }
            fn from_f64(value: f64) -> Self {
                <$t>::from_f64(value)
            }
            fn from_i64(value: i64) -> Self {
                <$t>::from_f64(value as f64)
            }
        }
    )*};
}
half_element!(f16, bf16);

impl Convert for bool {
    const IS_FLOAT: bool = false;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_f64(value: f64) -> Self {
        value != 0.0
    }
    fn from_i64(value: i64) -> Self {
        value != 0
    }
}

/// Converts every element of `input` into `output` (same length).
pub(crate) fn cast_slice<S: Convert, D: Convert>(input: &[S], output: &mut [D]) {
    for (out, &value) in output.iter_mut().zip(input) {
        *out = D::cast_from(value);
    }
}

/// Converts `input` into `output` of any element types (same length), with ONNX `Cast`
/// semantics (see [`Convert`]).
pub(crate) fn cast_data(input: &DataRef<'_>, output: &mut DataMut<'_>) {
    with_ref!(*input, a => with_mut!(output, b => cast_slice(a, b)))
}

/// The most bytes an operator that makes data from a shape or a few values (ConstantOfShape,
/// Range, EyeLike, Expand) may announce: more is certainly a corrupt model, and would
/// exhaust memory.
pub(crate) const MAX_GENERATED_BYTES: usize = 1 << 32;

/// Checks that an output of `shape` and `data_type` stays below [`MAX_GENERATED_BYTES`].
pub(crate) fn check_generated_size(shape: &[usize], data_type: DataType) -> Result<()> {
    let count = dlopt_graph::tensor::element_count(shape)?;
    if count.saturating_mul(data_type.size()) > MAX_GENERATED_BYTES {
        return Err(GraphError::new(
            dlopt_graph::ErrorKind::TooLarge,
            format!("the output {data_type} {shape:?} would exceed {MAX_GENERATED_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The kernel of a node whose one output, `tensor`, is known while building whatever the
/// inputs' data (Shape and Size of a run input, Constant, EyeLike): the plan keeps it as a
/// constant, so what depends on it only (shape arithmetic) folds too.
pub(crate) fn constant_kernel(tensor: Tensor) -> Box<dyn Kernel> {
    Box::new(crate::op::KnownOutputs(vec![tensor]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_onnx_rules() {
        let floats = [-1.7f32, 0.0, 2.9, f32::NAN, 1e20];
        let mut ints = [0i32; 5];
        cast_slice(&floats, &mut ints);
        assert_eq!(ints, [-1, 0, 2, 0, i32::MAX]);
        let mut flags = [false; 5];
        cast_slice(&floats, &mut flags);
        assert_eq!(flags, [true, false, true, true, true]);
        // Integer to integer keeps the low bits: 200 -> -56, -1 -> 255.
        let mut bytes = [0i8; 2];
        cast_slice(&[200i64, -56], &mut bytes);
        assert_eq!(bytes, [-56, -56]);
        let mut unsigned = [0u8; 1];
        cast_slice(&[-1i32], &mut unsigned);
        assert_eq!(unsigned, [255]);
        let mut halves = [f16::ZERO; 2];
        cast_slice(&[true, false], &mut halves);
        assert_eq!(halves, [f16::ONE, f16::ZERO]);
        let mut back = [0f32; 1];
        cast_slice(&[bf16::from_f32(1.5)], &mut back);
        assert_eq!(back, [1.5]);
    }
}

//! Tensors: a shape and typed, shared element data (row-major).

use std::fmt;
use std::sync::Arc;

use half::{bf16, f16};

use crate::data_type::DataType;
use crate::error::{GraphError, Result};

/// Typed element storage.
#[derive(Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 16-bit IEEE floats.
    F16(Vec<f16>),
    /// bfloat16 values.
    BF16(Vec<bf16>),
    /// Signed bytes.
    I8(Vec<i8>),
    /// Unsigned bytes.
    U8(Vec<u8>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Booleans.
    Bool(Vec<bool>),
}

/// Runs `$body` with `$values` bound to the typed vector of `$data`.
#[macro_export]
macro_rules! with_tensor_data {
    ($data:expr, $values:ident => $body:expr) => {
        match $data {
            $crate::tensor::TensorData::F32($values) => $body,
            $crate::tensor::TensorData::F16($values) => $body,
            $crate::tensor::TensorData::BF16($values) => $body,
            $crate::tensor::TensorData::I8($values) => $body,
            $crate::tensor::TensorData::U8($values) => $body,
            $crate::tensor::TensorData::I32($values) => $body,
            $crate::tensor::TensorData::I64($values) => $body,
            $crate::tensor::TensorData::Bool($values) => $body,
        }
    };
}

impl TensorData {
    /// The element type.
    pub fn data_type(&self) -> DataType {
        match self {
            TensorData::F32(_) => DataType::F32,
            TensorData::F16(_) => DataType::F16,
            TensorData::BF16(_) => DataType::BF16,
            TensorData::I8(_) => DataType::I8,
            TensorData::U8(_) => DataType::U8,
            TensorData::I32(_) => DataType::I32,
            TensorData::I64(_) => DataType::I64,
            TensorData::Bool(_) => DataType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        with_tensor_data!(self, values => values.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `count` zero elements of `data_type`.
    pub fn zeros(data_type: DataType, count: usize) -> TensorData {
        match data_type {
            DataType::F32 => TensorData::F32(vec![0.0; count]),
            DataType::F16 => TensorData::F16(vec![f16::ZERO; count]),
            DataType::BF16 => TensorData::BF16(vec![bf16::ZERO; count]),
            DataType::I8 => TensorData::I8(vec![0; count]),
            DataType::U8 => TensorData::U8(vec![0; count]),
            DataType::I32 => TensorData::I32(vec![0; count]),
            DataType::I64 => TensorData::I64(vec![0; count]),
            DataType::Bool => TensorData::Bool(vec![false; count]),
        }
    }

    /// Every element as f64 (exact for all types but i64 beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            TensorData::F32(values) => values.iter().map(|&v| v as f64).collect(),
            TensorData::F16(values) => values.iter().map(|&v| v.to_f64()).collect(),
            TensorData::BF16(values) => values.iter().map(|&v| v.to_f64()).collect(),
            TensorData::I8(values) => values.iter().map(|&v| v as f64).collect(),
            TensorData::U8(values) => values.iter().map(|&v| v as f64).collect(),
            TensorData::I32(values) => values.iter().map(|&v| v as f64).collect(),
            TensorData::I64(values) => values.iter().map(|&v| v as f64).collect(),
            TensorData::Bool(values) => values.iter().map(|&v| v as u8 as f64).collect(),
        }
    }

    /// Every element as i64 (floats truncate toward zero, as ONNX Cast does).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self {
            TensorData::I64(values) => values.clone(),
            TensorData::I32(values) => values.iter().map(|&v| v as i64).collect(),
            TensorData::I8(values) => values.iter().map(|&v| v as i64).collect(),
            TensorData::U8(values) => values.iter().map(|&v| v as i64).collect(),
            TensorData::Bool(values) => values.iter().map(|&v| v as i64).collect(),
            other => other.to_f64_vec().into_iter().map(|v| v as i64).collect(),
        }
    }

    /// Every element converted to `data_type`, with ONNX Cast semantics (float to integer
    /// truncates and saturates as Rust's `as`; to bool: non-zero is true).
    pub fn cast(&self, data_type: DataType) -> TensorData {
        if self.data_type() == data_type {
            return self.clone();
        }
        let integer_source = !self.data_type().is_float();
        let wide = || -> Vec<f64> { self.to_f64_vec() };
        match data_type {
            DataType::F32 => TensorData::F32(wide().into_iter().map(|v| v as f32).collect()),
            DataType::F16 => TensorData::F16(wide().into_iter().map(f16::from_f64).collect()),
            DataType::BF16 => TensorData::BF16(wide().into_iter().map(bf16::from_f64).collect()),
            DataType::Bool => TensorData::Bool(wide().into_iter().map(|v| v != 0.0).collect()),
            integer => {
                let values: Vec<i64> = if integer_source {
                    self.to_i64_vec()
                } else {
                    wide().into_iter().map(|v| v as i64).collect()
                };
                match integer {
                    DataType::I8 => TensorData::I8(values.into_iter().map(|v| v as i8).collect()),
                    DataType::U8 => TensorData::U8(values.into_iter().map(|v| v as u8).collect()),
                    DataType::I32 => {
                        TensorData::I32(values.into_iter().map(|v| v as i32).collect())
                    }
                    _ => TensorData::I64(values),
                }
            }
        }
    }
}

impl fmt::Debug for TensorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_tensor_data!(self, values => {
            if values.len() <= 8 {
                write!(f, "{}{:?}", self.data_type(), values)
            } else {
                write!(f, "{}[{:?}, {:?}, ... {} elements]", self.data_type(), values[0], values[1], values.len())
            }
        })
    }
}

/// A tensor: shape plus data. Cloning shares the data.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<TensorData>,
}

/// The number of elements of `shape`, or an error if it overflows.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |count, &dim| count.checked_mul(dim)).ok_or_else(|| {
        GraphError::new(
            crate::error::ErrorKind::TooLarge,
            format!("shape {shape:?} has too many elements"),
        )
    })
}

impl Tensor {
    /// A tensor of `shape` holding `data`; the element count must match.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let expected = element_count(&shape)?;
        if data.len() != expected {
            return Err(GraphError::shape(format!(
                "shape {shape:?} needs {expected} elements, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data: Arc::new(data) })
    }

    /// A scalar (rank 0).
    pub fn scalar(data: TensorData) -> Result<Tensor> {
        Tensor::new(Vec::new(), data)
    }

    /// A float tensor.
    pub fn from_f32(shape: Vec<usize>, values: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F32(values))
    }

    /// A 64-bit integer tensor.
    pub fn from_i64(shape: Vec<usize>, values: Vec<i64>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::I64(values))
    }

    /// A tensor of zeros.
    pub fn zeros(data_type: DataType, shape: Vec<usize>) -> Result<Tensor> {
        let count = element_count(&shape)?;
        Tensor::new(shape, TensorData::zeros(data_type, count))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The element type.
    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    /// The data.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The data, shared.
    pub fn shared_data(&self) -> &Arc<TensorData> {
        &self.data
    }

    /// The same data with another shape of the same element count.
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Tensor> {
        let expected = element_count(&shape)?;
        if expected != self.len() {
            return Err(GraphError::shape(format!(
                "cannot reshape {:?} ({} elements) to {shape:?}",
                self.shape,
                self.len()
            )));
        }
        Ok(Tensor { shape, data: self.data.clone() })
    }

    /// The f32 elements, if this is an f32 tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &*self.data {
            TensorData::F32(values) => Some(values),
            _ => None,
        }
    }

    /// The i64 elements, if this is an i64 tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &*self.data {
            TensorData::I64(values) => Some(values),
            _ => None,
        }
    }

    /// The elements as i64 (integer tensors; floats truncate).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        self.data.to_i64_vec()
    }

    /// The elements as f32.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &*self.data {
            TensorData::F32(values) => values.clone(),
            other => other.to_f64_vec().into_iter().map(|v| v as f32).collect(),
        }
    }

    /// The tensor converted to `data_type` (ONNX Cast semantics).
    pub fn cast(&self, data_type: DataType) -> Tensor {
        Tensor { shape: self.shape.clone(), data: Arc::new(self.data.cast(data_type)) }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?} {:?}", self.shape, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_count_must_match_the_shape() {
        assert!(Tensor::from_f32(vec![2, 3], vec![0.0; 6]).is_ok());
        assert!(Tensor::from_f32(vec![2, 3], vec![0.0; 5]).is_err());
        assert!(element_count(&[usize::MAX, 2]).is_err());
        assert_eq!(Tensor::scalar(TensorData::I64(vec![4])).unwrap().len(), 1);
    }

    #[test]
    fn cast_follows_onnx_semantics() {
        let t = Tensor::from_f32(vec![3], vec![-1.7, 0.0, 2.9]).unwrap();
        assert_eq!(t.cast(DataType::I64).to_i64_vec(), vec![-1, 0, 2]);
        assert_eq!(*t.cast(DataType::Bool).data(), TensorData::Bool(vec![true, false, true]));
        let i = Tensor::from_i64(vec![2], vec![i64::MAX, -3]).unwrap();
        assert_eq!(i.cast(DataType::I64).to_i64_vec(), vec![i64::MAX, -3]);
    }
}

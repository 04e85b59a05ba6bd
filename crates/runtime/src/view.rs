//! Borrowed tensor views the kernels read and write: a shape and a typed slice.

use half::{bf16, f16};

use dlopt_graph::{DataType, GraphError, Result, Tensor, TensorData};

/// Read-only typed elements.
#[derive(Clone, Copy, Debug)]
pub enum DataRef<'a> {
    /// f32 elements.
    F32(&'a [f32]),
    /// f16 elements.
    F16(&'a [f16]),
    /// bf16 elements.
    BF16(&'a [bf16]),
    /// i8 elements.
    I8(&'a [i8]),
    /// u8 elements.
    U8(&'a [u8]),
    /// i32 elements.
    I32(&'a [i32]),
    /// i64 elements.
    I64(&'a [i64]),
    /// bool elements.
    Bool(&'a [bool]),
}

/// Writable typed elements.
#[derive(Debug)]
pub enum DataMut<'a> {
    /// f32 elements.
    F32(&'a mut [f32]),
    /// f16 elements.
    F16(&'a mut [f16]),
    /// bf16 elements.
    BF16(&'a mut [bf16]),
    /// i8 elements.
    I8(&'a mut [i8]),
    /// u8 elements.
    U8(&'a mut [u8]),
    /// i32 elements.
    I32(&'a mut [i32]),
    /// i64 elements.
    I64(&'a mut [i64]),
    /// bool elements.
    Bool(&'a mut [bool]),
}

impl DataRef<'_> {
    /// The element type.
    pub fn data_type(&self) -> DataType {
        match self {
            DataRef::F32(_) => DataType::F32,
            DataRef::F16(_) => DataType::F16,
            DataRef::BF16(_) => DataType::BF16,
            DataRef::I8(_) => DataType::I8,
            DataRef::U8(_) => DataType::U8,
            DataRef::I32(_) => DataType::I32,
            DataRef::I64(_) => DataType::I64,
            DataRef::Bool(_) => DataType::Bool,
        }
    }
}

impl DataMut<'_> {
    /// The element type.
    pub fn data_type(&self) -> DataType {
        match self {
            DataMut::F32(_) => DataType::F32,
            DataMut::F16(_) => DataType::F16,
            DataMut::BF16(_) => DataType::BF16,
            DataMut::I8(_) => DataType::I8,
            DataMut::U8(_) => DataType::U8,
            DataMut::I32(_) => DataType::I32,
            DataMut::I64(_) => DataType::I64,
            DataMut::Bool(_) => DataType::Bool,
        }
    }
}

/// A read-only tensor view.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// The shape.
    pub shape: &'a [usize],
    /// The elements, row-major.
    pub data: DataRef<'a>,
}

/// A writable tensor view (an op's output).
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    /// The shape.
    pub shape: &'a [usize],
    /// The elements, row-major.
    pub data: DataMut<'a>,
}

fn type_error(expected: DataType, found: DataType) -> GraphError {
    GraphError::unsupported(format!("expected a {expected} tensor, got {found}"))
}

impl<'a> TensorView<'a> {
    /// A view of a whole tensor.
    pub fn of(tensor: &'a Tensor) -> TensorView<'a> {
        let data = match tensor.data() {
            TensorData::F32(values) => DataRef::F32(values),
            TensorData::F16(values) => DataRef::F16(values),
            TensorData::BF16(values) => DataRef::BF16(values),
            TensorData::I8(values) => DataRef::I8(values),
            TensorData::U8(values) => DataRef::U8(values),
            TensorData::I32(values) => DataRef::I32(values),
            TensorData::I64(values) => DataRef::I64(values),
            TensorData::Bool(values) => DataRef::Bool(values),
        };
        TensorView { shape: tensor.shape(), data }
    }

    /// The element type.
    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    /// The f32 elements, or an error naming the actual type.
    pub fn f32(&self) -> Result<&'a [f32]> {
        match self.data {
            DataRef::F32(values) => Ok(values),
            other => Err(type_error(DataType::F32, other.data_type())),
        }
    }

    /// The i64 elements, or an error naming the actual type.
    pub fn i64(&self) -> Result<&'a [i64]> {
        match self.data {
            DataRef::I64(values) => Ok(values),
            other => Err(type_error(DataType::I64, other.data_type())),
        }
    }

    /// An owned copy as a tensor.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let shape = self.shape.to_vec();
        let data = match self.data {
            DataRef::F32(values) => TensorData::F32(values.to_vec()),
            DataRef::F16(values) => TensorData::F16(values.to_vec()),
            DataRef::BF16(values) => TensorData::BF16(values.to_vec()),
            DataRef::I8(values) => TensorData::I8(values.to_vec()),
            DataRef::U8(values) => TensorData::U8(values.to_vec()),
            DataRef::I32(values) => TensorData::I32(values.to_vec()),
            DataRef::I64(values) => TensorData::I64(values.to_vec()),
            DataRef::Bool(values) => TensorData::Bool(values.to_vec()),
        };
        Tensor::new(shape, data)
    }
}

impl<'a> TensorViewMut<'a> {
    /// Copies `source` (same type and element count) into this view.
    pub fn copy_from(&mut self, source: &TensorView<'_>) -> Result<()> {
        macro_rules! copy {
            ($($variant:ident),*) => {
                match (&mut self.data, &source.data) {
                    $( (DataMut::$variant(to), DataRef::$variant(from)) if to.len() == from.len() => to.copy_from_slice(from), )*
                    (to, from) => {
                        return Err(GraphError::invalid(format!(
                            "cannot copy a {} tensor of shape {:?} into a {} tensor of shape {:?}",
                            from.data_type(),
                            source.shape,
                            to.data_type(),
                            self.shape
                        )));
                    }
                }
            };
        }
        copy!(F32, F16, BF16, I8, U8, I32, I64, Bool);
        Ok(())
    }

    /// The element type.
    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    /// The f32 elements, or an error naming the actual type.
    pub fn f32(&mut self) -> Result<&mut [f32]> {
        match &mut self.data {
            DataMut::F32(values) => Ok(values),
            other => Err(type_error(DataType::F32, other.data_type())),
        }
    }

    /// The i64 elements, or an error naming the actual type.
    pub fn i64(&mut self) -> Result<&mut [i64]> {
        match &mut self.data {
            DataMut::I64(values) => Ok(values),
            other => Err(type_error(DataType::I64, other.data_type())),
        }
    }
}

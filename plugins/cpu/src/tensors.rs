//! Graph inputs and outputs as the host sees them ([`IoDesc`]: name, element type, concrete
//! shape) and the conversion of their bytes (row-major, little-endian) to and from tensors.

use dlopt_ai2::sdk::{PluginError, PluginResult, TensorRef};
use dlopt_graph::{DataType, Tensor, TensorData};
use half::{bf16, f16};

/// A graph input or output: name, element type and concrete shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoDesc {
    /// The value's name.
    pub name: String,
    /// The element type.
    pub data_type: DataType,
    /// The concrete shape.
    pub shape: Vec<usize>,
}

impl IoDesc {
    /// The description of a host value (its dtype must be one the runtime knows).
    pub fn from_ref(value: &TensorRef<'_>) -> PluginResult<IoDesc> {
        let data_type = DataType::from_onnx_code(value.dtype).ok_or_else(|| {
            PluginError::unsupported(format!(
                "'{}' has the element type {} ({}), which dlopt_cpu does not support",
                value.name,
                value.dtype,
                DataType::onnx_code_name(value.dtype)
            ))
        })?;
        Ok(IoDesc { name: value.name.to_string(), data_type, shape: value.dims() })
    }

    /// The number of bytes of the tensor (`None` on overflow).
    pub fn byte_size(&self) -> Option<usize> {
        self.shape.iter().try_fold(self.data_type.size(), |size, &dim| size.checked_mul(dim))
    }

    /// `f32 [1, 3, 48, 192]`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {:?}", self.data_type, self.shape)
    }
}

/// A tensor of `desc`'s type and shape from `bytes` (which must have exactly its size).
pub fn tensor_from_bytes(desc: &IoDesc, bytes: &[u8], what: &str) -> PluginResult<Tensor> {
    let expected = desc
        .byte_size()
        .ok_or_else(|| PluginError::invalid_argument(format!("{what} is too large")))?;
    if bytes.len() != expected {
        return Err(PluginError::invalid_argument(format!(
            "{what} ('{}', {}) needs {expected} bytes, the buffer has {}",
            desc.name,
            desc.describe(),
            bytes.len()
        )));
    }
    macro_rules! words {
        ($n:literal, $convert:expr) => {
            bytes
                .chunks_exact($n)
                .map(|chunk| $convert(chunk.try_into().expect("chunk size")))
                .collect()
        };
    }
    let data = match desc.data_type {
        DataType::F32 => TensorData::F32(words!(4, f32::from_le_bytes)),
        DataType::F16 => TensorData::F16(words!(2, |b| f16::from_bits(u16::from_le_bytes(b)))),
        DataType::BF16 => TensorData::BF16(words!(2, |b| bf16::from_bits(u16::from_le_bytes(b)))),
        DataType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
        DataType::U8 => TensorData::U8(bytes.to_vec()),
        DataType::I32 => TensorData::I32(words!(4, i32::from_le_bytes)),
        DataType::I64 => TensorData::I64(words!(8, i64::from_le_bytes)),
        DataType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
    };
    Tensor::new(desc.shape.clone(), data).map_err(|error| PluginError::internal(error.message))
}

/// Writes `tensor` into `target`, which must have exactly its size.
pub fn tensor_to_bytes(tensor: &Tensor, target: &mut [u8]) -> PluginResult<()> {
    let expected = tensor.len() * tensor.data_type().size();
    if target.len() != expected {
        return Err(PluginError::internal(format!("{expected} bytes for {} bytes", target.len())));
    }
    macro_rules! put {
        ($values:expr, $n:literal, $convert:expr) => {
            for (chunk, value) in target.chunks_exact_mut($n).zip($values.iter()) {
                chunk.copy_from_slice(&$convert(*value));
            }
        };
    }
    match tensor.data() {
        TensorData::F32(values) => put!(values, 4, f32::to_le_bytes),
        TensorData::F16(values) => put!(values, 2, |v: f16| v.to_bits().to_le_bytes()),
        TensorData::BF16(values) => put!(values, 2, |v: bf16| v.to_bits().to_le_bytes()),
        TensorData::I8(values) => put!(values, 1, |v: i8| v.to_le_bytes()),
        TensorData::U8(values) => target.copy_from_slice(values),
        TensorData::I32(values) => put!(values, 4, i32::to_le_bytes),
        TensorData::I64(values) => put!(values, 8, i64::to_le_bytes),
        TensorData::Bool(values) => put!(values, 1, |v: bool| [u8::from(v)]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_for_every_type() {
        for data_type in DataType::ALL {
            let desc = IoDesc { name: "x".into(), data_type, shape: vec![2, 2] };
            let bytes: Vec<u8> = (0..desc.byte_size().unwrap() as u8).map(|b| b % 2).collect();
            let tensor = tensor_from_bytes(&desc, &bytes, "input 0").unwrap();
            assert_eq!(tensor.data_type(), data_type);
            let mut back = vec![0xAA; bytes.len()];
            tensor_to_bytes(&tensor, &mut back).unwrap();
            assert_eq!(back, bytes, "{data_type}");
        }
    }

    #[test]
    fn wrong_sizes_are_named() {
        let desc = IoDesc { name: "x".into(), data_type: DataType::F32, shape: vec![3] };
        let error = tensor_from_bytes(&desc, &[0; 8], "input 0").unwrap_err();
        assert_eq!(error.message, "input 0 ('x', f32 [3]) needs 12 bytes, the buffer has 8");
    }
}

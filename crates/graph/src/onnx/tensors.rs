//! Tensor data: ONNX `TensorProto` to [`Tensor`] and back.
//!
//! Reading checks everything before allocating: the rank, every dimension, the element count
//! (overflow) and that the bytes or typed values present hold exactly that many elements, so
//! the allocation is never larger than data already in memory.

use half::{bf16, f16};

use crate::data_type::DataType;
use crate::error::{ErrorKind, GraphError, Result};
use crate::onnx::MAX_RANK;
use crate::onnx::proto::{DATA_LOCATION_DEFAULT, DATA_LOCATION_EXTERNAL, TensorProto};
use crate::tensor::{Tensor, TensorData, element_count};

/// The supported element type of an ONNX `TensorProto.DataType` code: Unsupported for valid
/// ONNX types dlopt does not hold (DOUBLE, STRING, ...) and for codes it does not know,
/// InvalidModel for UNDEFINED.
pub(crate) fn data_type_from_code(code: i32) -> Result<DataType> {
    if let Some(data_type) = DataType::from_onnx_code(code) {
        return Ok(data_type);
    }
    if code == 0 {
        return Err(GraphError::invalid("the element type is UNDEFINED (0)"));
    }
    let supported: Vec<&str> = DataType::ALL
        .iter()
        .map(|data_type| DataType::onnx_code_name(data_type.onnx_code()))
        .collect();
    Err(GraphError::unsupported(format!(
        "element type {} ({code}) is not supported; dlopt supports {}",
        DataType::onnx_code_name(code),
        supported.join(", ")
    )))
}

/// Tensor dimensions as sizes: at most [`MAX_RANK`] of them, none negative.
pub(crate) fn dims_from_proto(dims: &[i64]) -> Result<Vec<usize>> {
    if dims.len() > MAX_RANK {
        return Err(GraphError::invalid(format!(
            "rank {} exceeds the limit of {MAX_RANK}",
            dims.len()
        )));
    }
    dims.iter()
        .map(|&dim| {
            if dim < 0 {
                return Err(GraphError::invalid(format!(
                    "dimension {dim} in dims {dims:?} is negative"
                )));
            }
            usize::try_from(dim).map_err(|_| {
                GraphError::new(
                    ErrorKind::TooLarge,
                    format!("dimension {dim} does not fit this machine's address space"),
                )
            })
        })
        .collect()
}

/// Where a tensor's elements are stored.
enum Elements<'a> {
    Raw(&'a [u8]),
    Float(&'a [f32]),
    Int32(&'a [i32]),
    Int64(&'a [i64]),
    Absent,
}

/// The typed field ONNX stores elements of `data_type` in (when `raw_data` is not used).
fn typed_field_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::F32 => "float_data",
        DataType::I64 => "int64_data",
        _ => "int32_data",
    }
}

/// Finds the one field holding the elements and checks it suits `data_type`.
fn locate_elements(proto: &TensorProto, data_type: DataType) -> Result<Elements<'_>> {
    let raw = proto.raw_data.as_deref().filter(|raw| !raw.is_empty());
    let filled: Vec<&str> = [
        ("raw_data", raw.is_some()),
        ("float_data", !proto.float_data.is_empty()),
        ("int32_data", !proto.int32_data.is_empty()),
        ("int64_data", !proto.int64_data.is_empty()),
        ("double_data", !proto.double_data.is_empty()),
        ("uint64_data", !proto.uint64_data.is_empty()),
        ("string_data", !proto.string_data.is_empty()),
    ]
    .into_iter()
    .filter_map(|(field, is_filled)| is_filled.then_some(field))
    .collect();
    let expected = typed_field_name(data_type);
    match filled.as_slice() {
        [] => Ok(Elements::Absent),
        ["raw_data"] => Ok(Elements::Raw(raw.unwrap_or_default())),
        [field] if *field == expected => Ok(match data_type {
            DataType::F32 => Elements::Float(&proto.float_data),
            DataType::I64 => Elements::Int64(&proto.int64_data),
            _ => Elements::Int32(&proto.int32_data),
        }),
        [field] => Err(GraphError::invalid(format!(
            "a {} tensor stores its elements in {field}; ONNX puts them in raw_data or {expected}",
            DataType::onnx_code_name(data_type.onnx_code())
        ))),
        fields => Err(GraphError::invalid(format!(
            "the elements are stored in several fields ({}); ONNX allows one",
            fields.join(", ")
        ))),
    }
}

/// Checks that `available` stored items match `count` declared ones: fewer is TooLarge (the
/// dims claim more than the file holds), more is InvalidModel.
fn check_stored_count(
    available: usize,
    count: usize,
    unit: &str,
    field: &str,
    shape: &[usize],
) -> Result<()> {
    if available < count {
        return Err(GraphError::new(
            ErrorKind::TooLarge,
            format!("dims {shape:?} need {count} {unit}, but {field} holds only {available}"),
        ));
    }
    if available > count {
        return Err(GraphError::invalid(format!(
            "{field} holds {available} {unit}, but dims {shape:?} need {count}"
        )));
    }
    Ok(())
}

/// The elements of `data_type` from little-endian bytes (length already checked).
fn from_raw(raw: &[u8], data_type: DataType) -> TensorData {
    fn words<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        // `chunks_exact` yields slices of exactly N bytes, so the conversion cannot fail.
        raw.chunks_exact(N).map(|chunk| <[u8; N]>::try_from(chunk).unwrap_or([0; N]))
    }
    match data_type {
        DataType::F32 => TensorData::F32(words::<4>(raw).map(f32::from_le_bytes).collect()),
        DataType::F16 => TensorData::F16(
            words::<2>(raw).map(|w| f16::from_bits(u16::from_le_bytes(w))).collect(),
        ),
        DataType::BF16 => TensorData::BF16(
            words::<2>(raw).map(|w| bf16::from_bits(u16::from_le_bytes(w))).collect(),
        ),
        DataType::I8 => TensorData::I8(raw.iter().map(|&byte| byte as i8).collect()),
        DataType::U8 => TensorData::U8(raw.to_vec()),
        DataType::I32 => TensorData::I32(words::<4>(raw).map(i32::from_le_bytes).collect()),
        DataType::I64 => TensorData::I64(words::<8>(raw).map(i64::from_le_bytes).collect()),
        DataType::Bool => TensorData::Bool(raw.iter().map(|&byte| byte != 0).collect()),
    }
}

/// The elements of a type ONNX stores in `int32_data` (each value range-checked).
fn from_int32_data(values: &[i32], data_type: DataType) -> Result<TensorData> {
    fn convert<T>(
        values: &[i32],
        data_type: DataType,
        cast: impl Fn(i32) -> Option<T>,
    ) -> Result<Vec<T>> {
        values
            .iter()
            .map(|&value| {
                cast(value).ok_or_else(|| {
                    GraphError::invalid(format!(
                        "int32_data value {value} is out of range for {}",
                        DataType::onnx_code_name(data_type.onnx_code())
                    ))
                })
            })
            .collect()
    }
    // 16-bit floats are stored as their bit patterns; accept them zero- or sign-extended.
    let bits = |value: i32| {
        u16::try_from(value).ok().or_else(|| i16::try_from(value).ok().map(|v| v as u16))
    };
    Ok(match data_type {
        DataType::I32 => TensorData::I32(values.to_vec()),
        DataType::I8 => TensorData::I8(convert(values, data_type, |v| i8::try_from(v).ok())?),
        DataType::U8 => TensorData::U8(convert(values, data_type, |v| u8::try_from(v).ok())?),
        DataType::Bool => TensorData::Bool(values.iter().map(|&value| value != 0).collect()),
        DataType::F16 => {
            TensorData::F16(convert(values, data_type, |v| bits(v).map(f16::from_bits))?)
        }
        DataType::BF16 => {
            TensorData::BF16(convert(values, data_type, |v| bits(v).map(bf16::from_bits))?)
        }
        DataType::F32 | DataType::I64 => {
            return Err(GraphError::invalid(format!(
                "{data_type} elements are not stored in int32_data"
            )));
        }
    })
}

/// Decodes a tensor. Errors do not name it; the caller adds that (`initializer 'w': ...`).
pub fn tensor_from_proto(proto: &TensorProto) -> Result<Tensor> {
    if proto.data_location == DATA_LOCATION_EXTERNAL || !proto.external_data.is_empty() {
        let location = proto
            .external_data
            .iter()
            .find(|entry| entry.key == "location")
            .map_or("(no location given)", |entry| entry.value.as_str());
        return Err(GraphError::unsupported(format!(
            "the data is stored outside the model, in '{location}'; dlopt reads only models \
             that hold their data (save the model without external data)"
        )));
    }
    if proto.data_location != DATA_LOCATION_DEFAULT {
        return Err(GraphError::invalid(format!("unknown data_location {}", proto.data_location)));
    }
    if proto.segment.is_some() {
        return Err(GraphError::unsupported("segmented tensors are not supported"));
    }
    let data_type = data_type_from_code(proto.data_type)?;
    let shape = dims_from_proto(&proto.dims)?;
    let count = element_count(&shape)?;
    let data = match locate_elements(proto, data_type)? {
        Elements::Raw(raw) => {
            let byte_count = count.checked_mul(data_type.size()).ok_or_else(|| {
                GraphError::new(
                    ErrorKind::TooLarge,
                    format!("dims {shape:?} describe more bytes than fit in memory"),
                )
            })?;
            check_stored_count(raw.len(), byte_count, "bytes", "raw_data", &shape)?;
            from_raw(raw, data_type)
        }
        Elements::Float(values) => {
            check_stored_count(values.len(), count, "elements", "float_data", &shape)?;
            TensorData::F32(values.to_vec())
        }
        Elements::Int64(values) => {
            check_stored_count(values.len(), count, "elements", "int64_data", &shape)?;
            TensorData::I64(values.to_vec())
        }
        Elements::Int32(values) => {
            check_stored_count(values.len(), count, "elements", "int32_data", &shape)?;
            from_int32_data(values, data_type)?
        }
        Elements::Absent => {
            check_stored_count(0, count, "elements", "the tensor", &shape)?;
            TensorData::zeros(data_type, 0)
        }
    };
    Tensor::new(shape, data)
}

/// The elements as fixed-width little-endian bytes (bools as 0 and 1).
fn raw_bytes(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::F32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::F16(values) => values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
        TensorData::BF16(values) => values.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
        TensorData::I8(values) => values.iter().map(|&v| v as u8).collect(),
        TensorData::U8(values) => values.clone(),
        TensorData::I32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::I64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorData::Bool(values) => values.iter().map(|&v| u8::from(v)).collect(),
    }
}

/// A `TensorProto` named `name` holding `tensor` in `raw_data`.
pub fn tensor_to_proto(tensor: &Tensor, name: &str) -> TensorProto {
    TensorProto {
        // A dimension larger than i64::MAX cannot exist in memory; saturate rather than wrap.
        dims: tensor.shape().iter().map(|&dim| i64::try_from(dim).unwrap_or(i64::MAX)).collect(),
        data_type: tensor.data_type().onnx_code(),
        name: name.to_string(),
        raw_data: Some(raw_bytes(tensor.data())),
        ..TensorProto::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(data_type: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            data_type: data_type.onnx_code(),
            dims: dims.to_vec(),
            ..TensorProto::default()
        }
    }

    #[test]
    fn every_type_survives_raw_data_both_ways() {
        let tensors = [
            Tensor::from_f32(vec![2], vec![1.5, -0.0]).unwrap(),
            Tensor::new(vec![2], TensorData::F16(vec![f16::from_f32(0.5), f16::NEG_INFINITY]))
                .unwrap(),
            Tensor::new(vec![1], TensorData::BF16(vec![bf16::from_f32(-3.0)])).unwrap(),
            Tensor::new(vec![3], TensorData::I8(vec![-128, 0, 127])).unwrap(),
            Tensor::new(vec![2], TensorData::U8(vec![0, 255])).unwrap(),
            Tensor::new(vec![2], TensorData::I32(vec![i32::MIN, 7])).unwrap(),
            Tensor::from_i64(vec![2, 1], vec![i64::MAX, -1]).unwrap(),
            Tensor::new(vec![2], TensorData::Bool(vec![true, false])).unwrap(),
            Tensor::scalar(TensorData::I64(vec![42])).unwrap(),
            Tensor::from_f32(vec![0, 3], vec![]).unwrap(),
        ];
        for tensor in tensors {
            let encoded = tensor_to_proto(&tensor, "t");
            assert_eq!(tensor_from_proto(&encoded).unwrap(), tensor, "{tensor:?}");
        }
    }

    #[test]
    fn raw_data_is_little_endian() {
        let mut encoded = proto(DataType::I32, &[1]);
        encoded.raw_data = Some(vec![0x01, 0x02, 0x00, 0x00]);
        assert_eq!(tensor_from_proto(&encoded).unwrap().to_i64_vec(), vec![0x0201]);
    }

    #[test]
    fn int32_data_carries_small_types_with_range_checks() {
        let mut encoded = proto(DataType::F16, &[2]);
        encoded.int32_data = vec![0x3C00, -17408]; // 1.0, and -1.0 (0xBC00) sign-extended
        let tensor = tensor_from_proto(&encoded).unwrap();
        assert_eq!(tensor.to_f32_vec(), vec![1.0, -1.0]);

        let mut encoded = proto(DataType::U8, &[2]);
        encoded.int32_data = vec![255, 256];
        let error = tensor_from_proto(&encoded).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidModel);
        assert_eq!(error.message, "int32_data value 256 is out of range for UINT8");

        let mut encoded = proto(DataType::Bool, &[3]);
        encoded.int32_data = vec![0, 1, 1];
        assert_eq!(
            *tensor_from_proto(&encoded).unwrap().data(),
            TensorData::Bool(vec![false, true, true])
        );
    }

    #[test]
    fn counts_must_match_exactly() {
        let mut short = proto(DataType::F32, &[3]);
        short.float_data = vec![1.0, 2.0];
        assert_eq!(tensor_from_proto(&short).unwrap_err().kind, ErrorKind::TooLarge);
        let mut long = proto(DataType::F32, &[1]);
        long.raw_data = Some(vec![0; 8]);
        assert_eq!(tensor_from_proto(&long).unwrap_err().kind, ErrorKind::InvalidModel);
        let empty = proto(DataType::I64, &[2]);
        assert_eq!(tensor_from_proto(&empty).unwrap_err().kind, ErrorKind::TooLarge);
        let overflowing = proto(DataType::F32, &[i64::MAX, i64::MAX]);
        assert_eq!(tensor_from_proto(&overflowing).unwrap_err().kind, ErrorKind::TooLarge);
    }

    #[test]
    fn misplaced_and_doubled_elements_are_refused() {
        let mut misplaced = proto(DataType::F32, &[1]);
        misplaced.int64_data = vec![1];
        let error = tensor_from_proto(&misplaced).unwrap_err();
        assert!(
            error.message.contains("FLOAT tensor stores its elements in int64_data"),
            "{error}"
        );
        let mut doubled = proto(DataType::F32, &[1]);
        doubled.float_data = vec![1.0];
        doubled.raw_data = Some(vec![0; 4]);
        let error = tensor_from_proto(&doubled).unwrap_err();
        assert!(error.message.contains("raw_data, float_data"), "{error}");
    }

    #[test]
    fn unsupported_types_are_named() {
        let mut double = TensorProto { data_type: 11, dims: vec![1], ..TensorProto::default() };
        double.double_data = vec![1.0];
        let error = tensor_from_proto(&double).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(error.message.starts_with("element type DOUBLE (11) is not supported"), "{error}");
        assert_eq!(data_type_from_code(0).unwrap_err().kind, ErrorKind::InvalidModel);
        assert_eq!(data_type_from_code(-5).unwrap_err().kind, ErrorKind::Unsupported);
    }

    #[test]
    fn bad_dims_are_refused() {
        assert_eq!(dims_from_proto(&[2, -1]).unwrap_err().kind, ErrorKind::InvalidModel);
        assert_eq!(dims_from_proto(&[1; MAX_RANK + 1]).unwrap_err().kind, ErrorKind::InvalidModel);
        assert_eq!(dims_from_proto(&[1; MAX_RANK]).unwrap(), vec![1; MAX_RANK]);
    }
}

//! Element types of tensors, with their ONNX codes.

use std::fmt;

/// The element types dlopt's IR holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 32-bit float (ONNX `FLOAT`, 1).
    F32,
    /// 16-bit IEEE float (ONNX `FLOAT16`, 10).
    F16,
    /// bfloat16 (ONNX `BFLOAT16`, 16).
    BF16,
    /// Signed 8-bit integer (ONNX `INT8`, 3).
    I8,
    /// Unsigned 8-bit integer (ONNX `UINT8`, 2).
    U8,
    /// Signed 32-bit integer (ONNX `INT32`, 6).
    I32,
    /// Signed 64-bit integer (ONNX `INT64`, 7).
    I64,
    /// Boolean (ONNX `BOOL`, 9).
    Bool,
}

impl DataType {
    /// Every supported type.
    pub const ALL: [DataType; 8] = [
        DataType::F32,
        DataType::F16,
        DataType::BF16,
        DataType::I8,
        DataType::U8,
        DataType::I32,
        DataType::I64,
        DataType::Bool,
    ];

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DataType::F32 => 1,
            DataType::U8 => 2,
            DataType::I8 => 3,
            DataType::I32 => 6,
            DataType::I64 => 7,
            DataType::Bool => 9,
            DataType::F16 => 10,
            DataType::BF16 => 16,
        }
    }

    /// The type of an ONNX code, if supported.
    pub fn from_onnx_code(code: i32) -> Option<DataType> {
        DataType::ALL.into_iter().find(|data_type| data_type.onnx_code() == code)
    }

    /// The ONNX name of an ONNX code, for messages (also for unsupported codes).
    pub fn onnx_code_name(code: i32) -> &'static str {
        match code {
            0 => "UNDEFINED",
            1 => "FLOAT",
            2 => "UINT8",
            3 => "INT8",
            4 => "UINT16",
            5 => "INT16",
            6 => "INT32",
            7 => "INT64",
            8 => "STRING",
            9 => "BOOL",
            10 => "FLOAT16",
            11 => "DOUBLE",
            12 => "UINT32",
            13 => "UINT64",
            14 => "COMPLEX64",
            15 => "COMPLEX128",
            16 => "BFLOAT16",
            17..=23 => "FLOAT8/INT4 family",
            _ => "unknown",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DataType::I8 | DataType::U8 | DataType::Bool => 1,
            DataType::F16 | DataType::BF16 => 2,
            DataType::F32 | DataType::I32 => 4,
            DataType::I64 => 8,
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DataType::F32 | DataType::F16 | DataType::BF16)
    }

    /// A short lowercase name: `f32`, `i64`, ...
    pub fn name(self) -> &'static str {
        match self {
            DataType::F32 => "f32",
            DataType::F16 => "f16",
            DataType::BF16 => "bf16",
            DataType::I8 => "i8",
            DataType::U8 => "u8",
            DataType::I32 => "i32",
            DataType::I64 => "i64",
            DataType::Bool => "bool",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

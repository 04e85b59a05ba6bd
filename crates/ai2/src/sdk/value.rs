//! [`Value`]: the small typed value of the ABI (parameters, options, attributes, device
//! properties) as an owned Rust enum, read from a borrowed `DlAi2Value`.

use std::ffi::CStr;

use crate::abi::{
    DLOPT_AI2_VALUE_INT, DLOPT_AI2_VALUE_LIST, DLOPT_AI2_VALUE_MAP, DLOPT_AI2_VALUE_NONE,
    DLOPT_AI2_VALUE_REAL, DLOPT_AI2_VALUE_STRING, DLOPT_AI2_VALUE_TENSOR, DlAi2TensorDesc,
    DlAi2Value,
};
use crate::sdk::error::{PluginError, PluginResult};

/// How deeply lists and maps may nest in a value read from the host (a guard against
/// cyclic or hostile structures; real options nest two or three levels).
pub const MAX_VALUE_DEPTH: usize = 64;

/// An owned tensor: a node attribute, or a value description with its constant data.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TensorValue {
    /// The tensor's name (may be empty for attributes).
    pub name: String,
    /// A `DLOPT_AI2_DTYPE_*` code.
    pub dtype: i32,
    /// The dimensions.
    pub shape: Vec<i64>,
    /// The elements (row-major, little-endian), if known.
    pub data: Option<Vec<u8>>,
}

/// A value crossing the ABI. Maps keep their order (a list of key, value pairs).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (`DLOPT_AI2_VALUE_NONE`).
    None,
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A UTF-8 string.
    String(String),
    /// A list of values.
    List(Vec<Value>),
    /// A map: keys and values in order.
    Map(Vec<(String, Value)>),
    /// A tensor (node attributes only; sinks cannot carry tensors).
    Tensor(TensorValue),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>, V: Into<Value>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Value {
        Value::Map(entries.into_iter().map(|(key, value)| (key.into(), value.into())).collect())
    }

    /// A list of strings.
    pub fn strings<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::List(
            items.into_iter().map(|item| Value::String(item.as_ref().to_string())).collect(),
        )
    }

    /// An empty map.
    pub fn empty_map() -> Value {
        Value::Map(Vec::new())
    }

    /// The integer, if this is an `Int`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The number, if this is an `Int` or a `Real`.
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Value::Int(value) => Some(*value as f64),
            Value::Real(value) => Some(*value),
            _ => None,
        }
    }

    /// The text, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(value) => Some(value),
            _ => None,
        }
    }

    /// The items, if this is a `List`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a `Map`.
    pub fn as_map(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The tensor, if this is a `Tensor`.
    pub fn as_tensor(&self) -> Option<&TensorValue> {
        match self {
            Value::Tensor(tensor) => Some(tensor),
            _ => None,
        }
    }

    /// The value of `key`, if this is a map holding it (the first entry if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }

    /// The kind's name, for messages: `"int"`, `"real"`, `"string"`, ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::None => "none",
            Value::Int(_) => "int",
            Value::Real(_) => "real",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Tensor(_) => "tensor",
        }
    }

    /// Copies a value the host passed in. Errors (`INVALID_ARGUMENT`) name where in the value
    /// the problem is: a NULL pointer where items, keys or a string are needed, text that is
    /// not UTF-8, an unknown kind, nesting deeper than [`MAX_VALUE_DEPTH`].
    ///
    /// # Safety
    /// `value` must be NULL (an error) or point to a `DlAi2Value` that is valid as the ABI
    /// describes (counts match the arrays), for the duration of the call.
    pub unsafe fn from_raw(value: *const DlAi2Value) -> PluginResult<Value> {
        // SAFETY: forwarded from the caller.
        unsafe { read_value(value, "value", 0) }
    }
}

/// Reads `value` (at `path`, for messages) at nesting `depth`.
unsafe fn read_value(value: *const DlAi2Value, path: &str, depth: usize) -> PluginResult<Value> {
    if depth > MAX_VALUE_DEPTH {
        return Err(PluginError::invalid_argument(format!(
            "{path}: nested deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    // SAFETY: the caller guarantees a valid or NULL pointer.
    let Some(raw) = (unsafe { value.as_ref() }) else {
        return Err(PluginError::invalid_argument(format!("{path} is NULL")));
    };
    Ok(match raw.kind {
        DLOPT_AI2_VALUE_NONE => Value::None,
        DLOPT_AI2_VALUE_INT => Value::Int(raw.integer),
        DLOPT_AI2_VALUE_REAL => Value::Real(raw.real),
        // SAFETY: a STRING value's `string` is NULL or NUL-terminated (ABI).
        DLOPT_AI2_VALUE_STRING => {
            Value::String(unsafe { read_str(raw.string, &format!("{path}.string")) }?.to_string())
        }
        DLOPT_AI2_VALUE_LIST => {
            // SAFETY: `items` holds `count` values (ABI).
            let items = unsafe { slice_of(raw.items, raw.count, &format!("{path}.items")) }?;
            let mut list = Vec::with_capacity(items.len());
            for (at, item) in items.iter().enumerate() {
                // SAFETY: an element of a valid array.
                list.push(unsafe { read_value(item, &format!("{path}[{at}]"), depth + 1) }?);
            }
            Value::List(list)
        }
        DLOPT_AI2_VALUE_MAP => {
            // SAFETY: `items` and `keys` hold `count` entries (ABI).
            let items = unsafe { slice_of(raw.items, raw.count, &format!("{path}.items")) }?;
            let keys = unsafe { slice_of(raw.keys, raw.count, &format!("{path}.keys")) }?;
            let mut map = Vec::with_capacity(items.len());
            for (at, (item, &key)) in items.iter().zip(keys).enumerate() {
                // SAFETY: keys are NULL or NUL-terminated (ABI).
                let key = unsafe { read_str(key, &format!("{path}.keys[{at}]")) }?;
                // SAFETY: an element of a valid array.
                let item = unsafe { read_value(item, &format!("{path}['{key}']"), depth + 1) }?;
                map.push((key.to_string(), item));
            }
            Value::Map(map)
        }
        DLOPT_AI2_VALUE_TENSOR => {
            // SAFETY: `tensor` is NULL or a valid description (ABI).
            Value::Tensor(unsafe { read_tensor(raw.tensor, &format!("{path}.tensor")) }?)
        }
        other => {
            return Err(PluginError::invalid_argument(format!(
                "{path} has the unknown kind {other}"
            )));
        }
    })
}

/// Copies a tensor description (name may be NULL for attributes: read as empty).
///
/// # Safety
/// `tensor` must be NULL (an error) or valid as the ABI describes.
pub(crate) unsafe fn read_tensor(
    tensor: *const DlAi2TensorDesc,
    path: &str,
) -> PluginResult<TensorValue> {
    // SAFETY: the caller guarantees a valid or NULL pointer.
    let Some(raw) = (unsafe { tensor.as_ref() }) else {
        return Err(PluginError::invalid_argument(format!("{path} is NULL")));
    };
    let name = if raw.name.is_null() {
        String::new()
    } else {
        // SAFETY: non-NULL names are NUL-terminated (ABI).
        unsafe { read_str(raw.name, &format!("{path}.name")) }?.to_string()
    };
    // SAFETY: `shape` holds `rank` dimensions and `data` `byte_size` bytes (ABI).
    let shape = unsafe { slice_of(raw.shape, raw.rank, &format!("{path}.shape")) }?.to_vec();
    let data = if raw.data.is_null() {
        None
    } else {
        Some(
            unsafe { slice_of(raw.data.cast::<u8>(), raw.byte_size, &format!("{path}.data")) }?
                .to_vec(),
        )
    };
    Ok(TensorValue { name, dtype: raw.dtype, shape, data })
}

/// A UTF-8 string from a C string.
///
/// # Safety
/// `text` must be NULL (an error) or NUL-terminated and valid for `'a`.
pub(crate) unsafe fn read_str<'a>(
    text: *const std::ffi::c_char,
    path: &str,
) -> PluginResult<&'a str> {
    if text.is_null() {
        return Err(PluginError::invalid_argument(format!("{path} is NULL")));
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| PluginError::invalid_argument(format!("{path} is not UTF-8")))
}

/// A slice from a C array: empty when `count` is 0 (the pointer may then be NULL), an error
/// when the pointer is NULL for a non-zero count.
///
/// # Safety
/// A non-NULL `items` must point to `count` valid elements that live for `'a`.
pub(crate) unsafe fn slice_of<'a, T>(
    items: *const T,
    count: usize,
    path: &str,
) -> PluginResult<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if items.is_null() {
        return Err(PluginError::invalid_argument(format!(
            "{path} is NULL but {count} elements are announced"
        )));
    }
    // SAFETY: the caller guarantees `count` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(items, count) })
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(value)
    }
}

impl From<i32> for Value {
    fn from(value: i32) -> Value {
        Value::Int(value.into())
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Value {
        Value::Int(value.into())
    }
}

impl From<usize> for Value {
    fn from(value: usize) -> Value {
        Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Int(value.into())
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Real(value)
    }
}

impl From<f32> for Value {
    fn from(value: f32) -> Value {
        Value::Real(value.into())
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::String(value.to_string())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::String(value)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<TensorValue> for Value {
    fn from(tensor: TensorValue) -> Value {
        Value::Tensor(tensor)
    }
}

//! Host sinks: writing a [`Value`] into a `DlAi2ValueSink` and bytes into a `DlAi2ByteSink`
//! (plugin side), and sinks that collect what is written back into a `Value` or bytes (for
//! hosts, conformance tests and the SDK's own tests).

use std::ffi::{CStr, CString, c_char, c_void};
use std::mem::{offset_of, size_of};

use crate::abi::{DlAi2ByteSink, DlAi2ValueSink};
use crate::sdk::error::{PluginError, PluginResult};
use crate::sdk::value::Value;

/// Whether a struct of `struct_size` bytes (as its writer was compiled) holds the field at
/// `offset` of `size` bytes: the ABI's rule for appended fields.
pub fn has_field(struct_size: usize, offset: usize, size: usize) -> bool {
    offset.checked_add(size).is_some_and(|end| end <= struct_size)
}

/// The callbacks of a value sink, each checked present and non-NULL.
struct ValueWriter {
    context: *mut c_void,
    write_int: unsafe extern "C" fn(*mut c_void, i64),
    write_real: unsafe extern "C" fn(*mut c_void, f64),
    write_string: unsafe extern "C" fn(*mut c_void, *const c_char),
    begin_list: unsafe extern "C" fn(*mut c_void),
    end_list: unsafe extern "C" fn(*mut c_void),
    begin_map: unsafe extern "C" fn(*mut c_void),
    write_key: unsafe extern "C" fn(*mut c_void, *const c_char),
    end_map: unsafe extern "C" fn(*mut c_void),
}

macro_rules! callback {
    ($sink:expr, $field:ident) => {{
        let present = has_field(
            $sink.struct_size,
            offset_of!(DlAi2ValueSink, $field),
            size_of::<Option<unsafe extern "C" fn()>>(),
        );
        match (present, $sink.$field) {
            (true, Some(function)) => function,
            _ => {
                return Err(PluginError::invalid_argument(concat!(
                    "sink->",
                    stringify!($field),
                    " is NULL or beyond sink->struct_size"
                )));
            }
        }
    }};
}

impl ValueWriter {
    fn new(sink: &DlAi2ValueSink) -> PluginResult<ValueWriter> {
        Ok(ValueWriter {
            context: sink.context,
            write_int: callback!(sink, write_int),
            write_real: callback!(sink, write_real),
            write_string: callback!(sink, write_string),
            begin_list: callback!(sink, begin_list),
            end_list: callback!(sink, end_list),
            begin_map: callback!(sink, begin_map),
            write_key: callback!(sink, write_key),
            end_map: callback!(sink, end_map),
        })
    }

    /// Writes a value checked by [`check_writable`].
    unsafe fn write(&self, value: &Value) {
        // SAFETY (all calls): the host's callbacks with its context, on the receiving
        // thread, before the plugin function returns (ABI); strings are NUL-terminated.
        unsafe {
            match value {
                Value::Int(integer) => (self.write_int)(self.context, *integer),
                Value::Real(real) => (self.write_real)(self.context, *real),
                Value::String(text) => {
                    let text = CString::new(text.as_str()).unwrap_or_default();
                    (self.write_string)(self.context, text.as_ptr());
                }
                Value::List(items) => {
                    (self.begin_list)(self.context);
                    for item in items {
                        self.write(item);
                    }
                    (self.end_list)(self.context);
                }
                Value::Map(entries) => {
                    (self.begin_map)(self.context);
                    for (key, item) in entries {
                        let key = CString::new(key.as_str()).unwrap_or_default();
                        (self.write_key)(self.context, key.as_ptr());
                        self.write(item);
                    }
                    (self.end_map)(self.context);
                }
                Value::None | Value::Tensor(_) => {}
            }
        }
    }
}

/// Checks that a sink can carry `value`: no `None` or `Tensor` (sinks have no callbacks for
/// them) and no NUL inside strings or keys. `path` names the value in messages.
pub fn check_writable(value: &Value, path: &str) -> PluginResult<()> {
    match value {
        Value::None | Value::Tensor(_) => Err(PluginError::internal(format!(
            "{path} is a {}, which a value sink cannot carry",
            value.kind_name()
        ))),
        Value::String(text) if text.contains('\0') => {
            Err(PluginError::internal(format!("{path} contains a NUL character")))
        }
        Value::List(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(at, item)| check_writable(item, &format!("{path}[{at}]"))),
        Value::Map(entries) => entries.iter().try_for_each(|(key, item)| {
            if key.contains('\0') {
                return Err(PluginError::internal(format!("a key of {path} contains a NUL")));
            }
            check_writable(item, &format!("{path}['{key}']"))
        }),
        _ => Ok(()),
    }
}

/// Writes `value` into a host's value sink: checks the sink (non-NULL, every callback
/// present) and the value ([`check_writable`]) first, so a failed write writes nothing.
///
/// # Safety
/// `sink` must be NULL (an error) or point to a valid `DlAi2ValueSink`, and this must run on
/// the thread that received it, before the plugin function returns.
pub unsafe fn write_value(sink: *const DlAi2ValueSink, value: &Value) -> PluginResult<()> {
    // SAFETY: the caller guarantees a valid or NULL pointer.
    let sink =
        unsafe { sink.as_ref() }.ok_or_else(|| PluginError::invalid_argument("sink is NULL"))?;
    let writer = ValueWriter::new(sink)?;
    check_writable(value, "the value")?;
    // SAFETY: checked sink and value; forwarded thread requirement.
    unsafe { writer.write(value) };
    Ok(())
}

/// Appends `bytes` to a host's byte sink. A non-zero answer from the host becomes
/// `OUT_OF_MEMORY`.
///
/// # Safety
/// `sink` must be NULL (an error) or point to a valid `DlAi2ByteSink`.
pub unsafe fn write_bytes(sink: *const DlAi2ByteSink, bytes: &[u8]) -> PluginResult<()> {
    // SAFETY: the caller guarantees a valid or NULL pointer.
    let sink =
        unsafe { sink.as_ref() }.ok_or_else(|| PluginError::invalid_argument("sink is NULL"))?;
    let present = has_field(
        sink.struct_size,
        offset_of!(DlAi2ByteSink, write),
        size_of::<Option<unsafe extern "C" fn()>>(),
    );
    let write = match (present, sink.write) {
        (true, Some(write)) => write,
        _ => {
            return Err(PluginError::invalid_argument(
                "sink->write is NULL or beyond sink->struct_size",
            ));
        }
    };
    // SAFETY: the host's callback with its context; `bytes` is valid for the call.
    let status = unsafe { write(sink.context, bytes.as_ptr(), bytes.len()) };
    if status != 0 {
        return Err(PluginError::out_of_memory(format!(
            "the host could not take {} bytes (its sink returned {status})",
            bytes.len()
        )));
    }
    Ok(())
}

/// A value sink that builds a [`Value`] from what a plugin writes (host side). Misuse by the
/// plugin (an `end_list` without `begin_list`, a map item without a key, two top-level
/// values) is recorded and reported by [`ValueCollector::finish`].
#[derive(Default)]
pub struct ValueCollector {
    /// Open lists and maps, innermost last; a map remembers the key written last.
    stack: Vec<Open>,
    result: Option<Value>,
    problem: Option<String>,
}

enum Open {
    List(Vec<Value>),
    Map(Vec<(String, Value)>, Option<String>),
}

impl ValueCollector {
    /// An empty collector.
    pub fn new() -> ValueCollector {
        ValueCollector::default()
    }

    /// The sink to pass to a plugin; valid while `self` is neither moved nor dropped.
    pub fn sink(&mut self) -> DlAi2ValueSink {
        DlAi2ValueSink {
            struct_size: size_of::<DlAi2ValueSink>(),
            context: (self as *mut ValueCollector).cast(),
            write_int: Some(collect_int),
            write_real: Some(collect_real),
            write_string: Some(collect_string),
            begin_list: Some(collect_begin_list),
            end_list: Some(collect_end_list),
            begin_map: Some(collect_begin_map),
            write_key: Some(collect_key),
            end_map: Some(collect_end_map),
        }
    }

    /// The value written, or what the plugin did wrong.
    pub fn finish(self) -> Result<Value, String> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        if !self.stack.is_empty() {
            return Err(format!("{} list(s) or map(s) were not ended", self.stack.len()));
        }
        self.result.ok_or_else(|| "no value was written".to_string())
    }

    fn fail(&mut self, problem: &str) {
        self.problem.get_or_insert_with(|| problem.to_string());
    }

    fn push(&mut self, value: Value) {
        match self.stack.last_mut() {
            None if self.result.is_none() => self.result = Some(value),
            None => self.fail("more than one value was written"),
            Some(Open::List(items)) => items.push(value),
            Some(Open::Map(entries, key)) => match key.take() {
                Some(key) => entries.push((key, value)),
                None => self.fail("a map item was written without a key"),
            },
        }
    }

    /// # Safety
    /// `context` must be the pointer [`ValueCollector::sink`] put into the sink.
    unsafe fn from_context<'a>(context: *mut c_void) -> &'a mut ValueCollector {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *context.cast::<ValueCollector>() }
    }
}

unsafe fn text_of(text: *const c_char) -> Option<String> {
    // SAFETY: the plugin passes NUL-terminated strings (ABI); NULL is checked.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned())
}

unsafe extern "C" fn collect_int(context: *mut c_void, value: i64) {
    unsafe { ValueCollector::from_context(context) }.push(Value::Int(value));
}

unsafe extern "C" fn collect_real(context: *mut c_void, value: f64) {
    unsafe { ValueCollector::from_context(context) }.push(Value::Real(value));
}

unsafe extern "C" fn collect_string(context: *mut c_void, value: *const c_char) {
    let collector = unsafe { ValueCollector::from_context(context) };
    match unsafe { text_of(value) } {
        Some(text) => collector.push(Value::String(text)),
        None => collector.fail("write_string was called with NULL"),
    }
}

unsafe extern "C" fn collect_begin_list(context: *mut c_void) {
    unsafe { ValueCollector::from_context(context) }.stack.push(Open::List(Vec::new()));
}

unsafe extern "C" fn collect_end_list(context: *mut c_void) {
    let collector = unsafe { ValueCollector::from_context(context) };
    match collector.stack.pop() {
        Some(Open::List(items)) => collector.push(Value::List(items)),
        other => {
            collector.stack.extend(other);
            collector.fail("end_list does not close a list");
        }
    }
}

unsafe extern "C" fn collect_begin_map(context: *mut c_void) {
    unsafe { ValueCollector::from_context(context) }.stack.push(Open::Map(Vec::new(), None));
}

unsafe extern "C" fn collect_key(context: *mut c_void, key: *const c_char) {
    let collector = unsafe { ValueCollector::from_context(context) };
    let key = unsafe { text_of(key) };
    match (collector.stack.last_mut(), key) {
        (Some(Open::Map(_, slot @ None)), Some(key)) => *slot = Some(key),
        (Some(Open::Map(..)), None) => collector.fail("write_key was called with NULL"),
        (Some(Open::Map(..)), Some(_)) => collector.fail("two keys were written for one item"),
        _ => collector.fail("write_key was called outside a map"),
    }
}

unsafe extern "C" fn collect_end_map(context: *mut c_void) {
    let collector = unsafe { ValueCollector::from_context(context) };
    match collector.stack.pop() {
        Some(Open::Map(entries, None)) => collector.push(Value::Map(entries)),
        Some(Open::Map(_, Some(key))) => collector.fail(&format!("key '{key}' has no value")),
        other => {
            collector.stack.extend(other);
            collector.fail("end_map does not close a map");
        }
    }
}

/// A byte sink that collects what a plugin writes (host side), optionally refusing writes
/// beyond a limit (to test the plugin's `OUT_OF_MEMORY` path).
#[derive(Default)]
pub struct ByteCollector {
    /// The bytes written so far.
    pub bytes: Vec<u8>,
    /// Refuse (return 1 from `write`) when the total would exceed this.
    pub limit: Option<usize>,
}

impl ByteCollector {
    /// An empty collector without a limit.
    pub fn new() -> ByteCollector {
        ByteCollector::default()
    }

    /// The sink to pass to a plugin; valid while `self` is neither moved nor dropped.
    pub fn sink(&mut self) -> DlAi2ByteSink {
        DlAi2ByteSink {
            struct_size: size_of::<DlAi2ByteSink>(),
            context: (self as *mut ByteCollector).cast(),
            write: Some(collect_bytes),
        }
    }
}

unsafe extern "C" fn collect_bytes(context: *mut c_void, data: *const u8, size: usize) -> i32 {
    // SAFETY: the context `ByteCollector::sink` set; `data` holds `size` bytes (ABI).
    let collector = unsafe { &mut *context.cast::<ByteCollector>() };
    if collector.limit.is_some_and(|limit| collector.bytes.len().saturating_add(size) > limit) {
        return 1;
    }
    if size > 0 {
        if data.is_null() {
            return 1;
        }
        collector.bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(data, size) });
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &Value) -> Value {
        let mut collector = ValueCollector::new();
        let sink = collector.sink();
        unsafe { write_value(&sink, value) }.unwrap();
        collector.finish().unwrap()
    }

    #[test]
    fn nested_values_round_trip_through_a_sink() {
        let value = Value::map([
            ("name", Value::from("cpu")),
            ("count", Value::Int(-3)),
            ("scale", Value::Real(0.25)),
            (
                "list",
                Value::List(vec![Value::Int(1), Value::strings(["a", "b"]), Value::empty_map()]),
            ),
            ("nested", Value::map([("deep", Value::List(Vec::new()))])),
        ]);
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn values_a_sink_cannot_carry_write_nothing() {
        for value in [
            Value::None,
            Value::List(vec![Value::Int(1), Value::Tensor(Default::default())]),
            Value::from("a\0b"),
            Value::map([("k\0", 1)]),
        ] {
            let mut collector = ValueCollector::new();
            let sink = collector.sink();
            let error = unsafe { write_value(&sink, &value) }.unwrap_err();
            assert_eq!(error.code, crate::sdk::ErrorCode::Internal, "{value:?}");
            assert_eq!(collector.finish().unwrap_err(), "no value was written");
        }
    }

    #[test]
    fn sinks_without_callbacks_are_refused() {
        let mut collector = ValueCollector::new();
        let mut sink = collector.sink();
        sink.end_map = None;
        let error = unsafe { write_value(&sink, &Value::Int(1)) }.unwrap_err();
        assert!(error.message.contains("end_map"), "{error}");
        sink = collector.sink();
        sink.struct_size = offset_of!(DlAi2ValueSink, write_key);
        let error = unsafe { write_value(&sink, &Value::Int(1)) }.unwrap_err();
        assert!(error.message.contains("write_key"), "{error}");
        let error = unsafe { write_value(std::ptr::null(), &Value::Int(1)) }.unwrap_err();
        assert_eq!(error.message, "sink is NULL");
    }

    #[test]
    fn byte_sinks_collect_and_report_refusals() {
        let mut collector = ByteCollector { limit: Some(4), ..Default::default() };
        let sink = collector.sink();
        unsafe { write_bytes(&sink, b"abc") }.unwrap();
        let error = unsafe { write_bytes(&sink, b"de") }.unwrap_err();
        assert_eq!(error.code, crate::sdk::ErrorCode::OutOfMemory);
        assert_eq!(collector.bytes, b"abc");
    }

    #[test]
    fn collectors_report_misuse() {
        let mut collector = ValueCollector::new();
        let sink = collector.sink();
        unsafe {
            (sink.begin_map.unwrap())(sink.context);
            (sink.write_int.unwrap())(sink.context, 1);
            (sink.end_map.unwrap())(sink.context);
        }
        assert_eq!(collector.finish().unwrap_err(), "a map item was written without a key");
    }
}

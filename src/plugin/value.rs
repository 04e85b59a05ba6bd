//! Values crossing the plugin boundary.
//!
//! - Out of a plugin: the plugin writes one value into a [`DlAi2ValueSink`] the host
//!   implements ([`read_value`]); the host builds a [`PluginValue`] tree and rejects a
//!   malformed sequence of calls (an `end_list` without `begin_list`, a map item without a
//!   key, two values, an unfinished list, ...) with 4320.
//! - Into a plugin: [`CArena`] lays out `DlAi2Value`s (and the strings, arrays and tensor
//!   descriptions they point to) that stay valid while the arena lives.
//! - To and from HALCON: [`PluginValue::to_tuple`] (maps become new dict handles) and
//!   [`tuple_to_value`] (one element a scalar, several a list, a dict handle a map).

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use dlopt_ai2::abi::{
    DLOPT_AI2_VALUE_INT, DLOPT_AI2_VALUE_LIST, DLOPT_AI2_VALUE_MAP, DLOPT_AI2_VALUE_NONE,
    DLOPT_AI2_VALUE_REAL, DLOPT_AI2_VALUE_STRING, DLOPT_AI2_VALUE_TENSOR, DlAi2TensorDesc,
    DlAi2Value, DlAi2ValueSink,
};

use crate::dict::{Dict, DictKey, DictValue, KeyRef};
use crate::error::{H_ERR_HAI2_ERROR, H_ERR_HAI2_INVALID_PARAM, HalconError, Result};
use crate::handle::HandleRef;
use crate::tuple::{Element, Tuple};

/// A value a plugin returned.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginValue {
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A string.
    String(String),
    /// A list.
    List(Vec<PluginValue>),
    /// A map, in the order the plugin wrote it.
    Map(Vec<(String, PluginValue)>),
}

/// The deepest nesting of lists and maps accepted from a plugin.
const MAX_DEPTH: usize = 32;
/// The most scalars, keys and containers accepted in one value.
const MAX_ITEMS: usize = 1 << 20;

enum Frame {
    List(Vec<PluginValue>),
    Map { entries: Vec<(String, PluginValue)>, key: Option<String> },
}

/// The state behind a sink: a stack of open containers and the first protocol error.
#[derive(Default)]
struct SinkBuilder {
    root: Option<PluginValue>,
    stack: Vec<Frame>,
    items: usize,
    error: Option<String>,
}

impl SinkBuilder {
    fn fail(&mut self, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(message.into());
        }
    }

    fn count(&mut self) -> bool {
        self.items += 1;
        if self.items > MAX_ITEMS {
            self.fail(format!("the value has more than {MAX_ITEMS} items"));
        }
        self.error.is_none()
    }

    /// Places a finished value: in the open container, or as the root.
    fn place(&mut self, value: PluginValue) {
        match self.stack.last_mut() {
            Some(Frame::List(items)) => items.push(value),
            Some(Frame::Map { entries, key }) => match key.take() {
                Some(key) => entries.push((key, value)),
                None => self.fail("a map item was written without write_key before it"),
            },
            None if self.root.is_some() => self.fail("more than one value was written"),
            None => self.root = Some(value),
        }
    }

    fn scalar(&mut self, value: PluginValue) {
        if self.count() {
            self.place(value);
        }
    }

    fn begin(&mut self, frame: Frame) {
        if !self.count() {
            return;
        }
        if self.stack.is_empty() && self.root.is_some() {
            return self.fail("more than one value was written");
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return self.fail("a map item was written without write_key before it");
        }
        if self.stack.len() >= MAX_DEPTH {
            return self.fail(format!("lists and maps are nested deeper than {MAX_DEPTH}"));
        }
        self.stack.push(frame);
    }

    fn end_list(&mut self) {
        match self.stack.pop() {
            Some(Frame::List(items)) => self.place(PluginValue::List(items)),
            Some(other) => {
                self.stack.push(other);
                self.fail("end_list was called while a map was open");
            }
            None => self.fail("end_list was called without begin_list"),
        }
    }

    fn end_map(&mut self) {
        match self.stack.pop() {
            Some(Frame::Map { entries, key: None }) => self.place(PluginValue::Map(entries)),
            Some(Frame::Map { key: Some(key), .. }) => {
                self.fail(format!("end_map was called after key '{key}' without its value"))
            }
            Some(other) => {
                self.stack.push(other);
                self.fail("end_map was called while a list was open");
            }
            None => self.fail("end_map was called without begin_map"),
        }
    }

    fn key(&mut self, key: String) {
        if !self.count() {
            return;
        }
        match self.stack.last_mut() {
            Some(Frame::Map { key: slot @ None, .. }) => *slot = Some(key),
            Some(Frame::Map { key: Some(previous), .. }) => {
                let message =
                    format!("write_key '{key}' followed key '{previous}' without a value");
                self.fail(message)
            }
            _ => self.fail(format!("write_key '{key}' was called outside a map")),
        }
    }

    fn finish(self) -> std::result::Result<PluginValue, String> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.stack.is_empty() {
            return Err(format!("{} list(s) or map(s) were never ended", self.stack.len()));
        }
        self.root.ok_or_else(|| "no value was written".to_string())
    }
}

/// Runs `action` on the builder behind `context`, ignoring calls after the first error.
///
/// # Safety
/// `context` must be the `SinkBuilder` of a live [`read_value`] call.
unsafe fn with_builder(context: *mut c_void, action: impl FnOnce(&mut SinkBuilder)) {
    if context.is_null() {
        return;
    }
    let builder = unsafe { &mut *(context as *mut SinkBuilder) };
    if builder.error.is_some() {
        return;
    }
    if catch_unwind(AssertUnwindSafe(|| action(builder))).is_err() {
        builder.fail("the host failed while reading the value");
    }
}

unsafe fn text_of(text: *const c_char, what: &str) -> std::result::Result<String, String> {
    if text.is_null() {
        return Err(format!("{what} was NULL"));
    }
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map(str::to_owned)
        .map_err(|_| format!("{what} is not UTF-8"))
}

unsafe extern "C" fn sink_write_int(context: *mut c_void, value: i64) {
    unsafe { with_builder(context, |b| b.scalar(PluginValue::Int(value))) }
}
unsafe extern "C" fn sink_write_real(context: *mut c_void, value: f64) {
    unsafe { with_builder(context, |b| b.scalar(PluginValue::Real(value))) }
}
unsafe extern "C" fn sink_write_string(context: *mut c_void, value: *const c_char) {
    unsafe {
        with_builder(context, |b| match text_of(value, "a string written") {
            Ok(text) => b.scalar(PluginValue::String(text)),
            Err(error) => b.fail(error),
        })
    }
}
unsafe extern "C" fn sink_begin_list(context: *mut c_void) {
    unsafe { with_builder(context, |b| b.begin(Frame::List(Vec::new()))) }
}
unsafe extern "C" fn sink_end_list(context: *mut c_void) {
    unsafe { with_builder(context, SinkBuilder::end_list) }
}
unsafe extern "C" fn sink_begin_map(context: *mut c_void) {
    unsafe { with_builder(context, |b| b.begin(Frame::Map { entries: Vec::new(), key: None })) }
}
unsafe extern "C" fn sink_write_key(context: *mut c_void, key: *const c_char) {
    unsafe {
        with_builder(context, |b| match text_of(key, "a map key") {
            Ok(key) => b.key(key),
            Err(error) => b.fail(error),
        })
    }
}
unsafe extern "C" fn sink_end_map(context: *mut c_void) {
    unsafe { with_builder(context, SinkBuilder::end_map) }
}

/// Calls `write` with a sink and returns the value written into it. `write` returns what
/// the plugin call returned (its error, mapped by the caller), and a malformed sequence of
/// sink calls gives 4320 naming `plugin` and `what` was asked for.
pub fn read_value<E>(
    plugin: &str,
    what: &str,
    write: impl FnOnce(*const DlAi2ValueSink) -> std::result::Result<(), E>,
) -> std::result::Result<Result<PluginValue>, E> {
    let mut builder = SinkBuilder::default();
    let sink = DlAi2ValueSink {
        struct_size: size_of::<DlAi2ValueSink>(),
        context: &mut builder as *mut SinkBuilder as *mut c_void,
        write_int: Some(sink_write_int),
        write_real: Some(sink_write_real),
        write_string: Some(sink_write_string),
        begin_list: Some(sink_begin_list),
        end_list: Some(sink_end_list),
        begin_map: Some(sink_begin_map),
        write_key: Some(sink_write_key),
        end_map: Some(sink_end_map),
    };
    write(&sink)?;
    Ok(builder.finish().map_err(|reason| {
        HalconError::new(
            H_ERR_HAI2_ERROR,
            format!("{plugin}: malformed value for {what}: {reason}"),
        )
    }))
}

impl PluginValue {
    /// A short name of the kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginValue::Int(_) => "integer",
            PluginValue::Real(_) => "real",
            PluginValue::String(_) => "string",
            PluginValue::List(_) => "list",
            PluginValue::Map(_) => "map",
        }
    }

    fn push_elements(&self, out: &mut Vec<Element>) -> Result<()> {
        match self {
            PluginValue::Int(value) => out.push(Element::Integer(*value)),
            PluginValue::Real(value) => out.push(Element::Real(*value)),
            PluginValue::String(text) => out.push(Element::string(text)?),
            // HALCON tuples do not nest: a list inside a list is flattened.
            PluginValue::List(items) => {
                for item in items {
                    item.push_elements(out)?;
                }
            }
            PluginValue::Map(entries) => {
                out.push(Element::handle(HandleRef::new(Self::dict(entries)?)?))
            }
        }
        Ok(())
    }

    /// A new dict holding `entries`, each key mapping to its value's tuple.
    pub fn dict(entries: &[(String, PluginValue)]) -> Result<Dict> {
        let dict = Dict::new();
        for (key, value) in entries {
            dict.set_tuple(KeyRef::String(key), value.to_tuple()?);
        }
        Ok(dict)
    }

    /// The value as a HALCON tuple: a scalar is one element, a list its elements (nested
    /// lists flattened), a map one new dict handle.
    pub fn to_tuple(&self) -> Result<Tuple> {
        let mut elements = Vec::new();
        self.push_elements(&mut elements)?;
        Ok(Tuple::from_elements(elements))
    }
}

/// Owns what a tree of `DlAi2Value`s points to: strings, arrays and tensor descriptions.
/// Pointers it hands out stay valid while it lives (every allocation is boxed, so moving
/// the arena moves no data).
#[derive(Default)]
pub struct CArena {
    strings: Vec<CString>,
    integers: Vec<Box<[i64]>>,
    values: Vec<Box<[DlAi2Value]>>,
    pointers: Vec<Box<[*const c_char]>>,
    // Boxed: values point to the descriptions, which must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    tensors: Vec<Box<DlAi2TensorDesc>>,
}

/// A `DlAi2Value` with every field zero / NULL.
pub fn empty_value(kind: u32) -> DlAi2Value {
    DlAi2Value {
        kind,
        integer: 0,
        real: 0.0,
        string: std::ptr::null(),
        count: 0,
        items: std::ptr::null(),
        keys: std::ptr::null(),
        tensor: std::ptr::null(),
    }
}

impl CArena {
    /// A NUL-terminated copy of `text`; 4321 if it contains a NUL.
    pub fn string(&mut self, text: &str) -> Result<*const c_char> {
        let copy = CString::new(text).map_err(|_| {
            HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!("the text '{}' contains a NUL character", text.escape_debug()),
            )
        })?;
        let pointer = copy.as_ptr();
        self.strings.push(copy);
        Ok(pointer)
    }

    /// A stable copy of `values`.
    pub fn integers(&mut self, values: Vec<i64>) -> *const i64 {
        let boxed = values.into_boxed_slice();
        let pointer = boxed.as_ptr();
        self.integers.push(boxed);
        pointer
    }

    /// A stable copy of `values`.
    pub fn values(&mut self, values: Vec<DlAi2Value>) -> *const DlAi2Value {
        let boxed = values.into_boxed_slice();
        let pointer = boxed.as_ptr();
        self.values.push(boxed);
        pointer
    }

    /// A stable array of string pointers.
    pub fn string_pointers(&mut self, pointers: Vec<*const c_char>) -> *const *const c_char {
        let boxed = pointers.into_boxed_slice();
        let pointer = boxed.as_ptr();
        self.pointers.push(boxed);
        pointer
    }

    /// A stable tensor description.
    pub fn tensor(&mut self, tensor: DlAi2TensorDesc) -> *const DlAi2TensorDesc {
        let boxed = Box::new(tensor);
        let pointer = &*boxed as *const DlAi2TensorDesc;
        self.tensors.push(boxed);
        pointer
    }

    /// A scalar string value.
    pub fn string_value(&mut self, text: &str) -> Result<DlAi2Value> {
        Ok(DlAi2Value { string: self.string(text)?, ..empty_value(DLOPT_AI2_VALUE_STRING) })
    }

    /// A list of `items`.
    pub fn list_value(&mut self, items: Vec<DlAi2Value>) -> DlAi2Value {
        let count = items.len();
        let items = if count == 0 { std::ptr::null() } else { self.values(items) };
        DlAi2Value { count, items, ..empty_value(DLOPT_AI2_VALUE_LIST) }
    }

    /// A map of `entries`.
    pub fn map_value(&mut self, entries: Vec<(String, DlAi2Value)>) -> Result<DlAi2Value> {
        let count = entries.len();
        if count == 0 {
            return Ok(empty_value(DLOPT_AI2_VALUE_MAP));
        }
        let mut keys = Vec::with_capacity(count);
        let mut items = Vec::with_capacity(count);
        for (key, item) in entries {
            keys.push(self.string(&key)?);
            items.push(item);
        }
        let keys = self.string_pointers(keys);
        let items = self.values(items);
        Ok(DlAi2Value { count, items, keys, ..empty_value(DLOPT_AI2_VALUE_MAP) })
    }

    /// A tensor value (the description must outlive nothing but the arena).
    pub fn tensor_value(&mut self, tensor: DlAi2TensorDesc) -> DlAi2Value {
        DlAi2Value { tensor: self.tensor(tensor), ..empty_value(DLOPT_AI2_VALUE_TENSOR) }
    }

    fn element_value(&mut self, element: &Element, depth: usize) -> Result<DlAi2Value> {
        Ok(match element {
            Element::Integer(value) => {
                DlAi2Value { integer: *value, ..empty_value(DLOPT_AI2_VALUE_INT) }
            }
            Element::Real(value) => {
                DlAi2Value { real: *value, ..empty_value(DLOPT_AI2_VALUE_REAL) }
            }
            Element::String(text) => self.string_value(text.as_str())?,
            Element::Handle(handle) => {
                let dict = handle.as_ref()?.object::<Dict>()?.snapshot();
                self.dict_value(&dict, depth + 1)?
            }
            Element::Undefined => empty_value(DLOPT_AI2_VALUE_NONE),
        })
    }

    fn dict_value(&mut self, entries: &[(DictKey, DictValue)], depth: usize) -> Result<DlAi2Value> {
        if depth > MAX_DEPTH {
            return Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!("dicts are nested deeper than {MAX_DEPTH}"),
            ));
        }
        let mut converted = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let key = match key {
                DictKey::String(text) => text.to_string(),
                DictKey::Integer(number) => number.to_string(),
            };
            let DictValue::Tuple(tuple) = value else {
                return Err(HalconError::new(
                    H_ERR_HAI2_INVALID_PARAM,
                    format!("dict key '{key}' holds an iconic object, which a plugin cannot take"),
                ));
            };
            converted.push((key, self.tuple_value_at(tuple, depth)?));
        }
        self.map_value(converted)
    }

    fn tuple_value_at(&mut self, tuple: &Tuple, depth: usize) -> Result<DlAi2Value> {
        match tuple.elements() {
            [single] => self.element_value(single, depth),
            elements => {
                let items = elements
                    .iter()
                    .map(|element| self.element_value(element, depth))
                    .collect::<Result<Vec<_>>>()?;
                Ok(self.list_value(items))
            }
        }
    }
}

/// A HALCON tuple as a plugin value: one element is a scalar, any other count a list; a
/// dict handle is a map (its keys as strings, nested dicts as maps). Errors (4321): a
/// handle that is not a dict, an image in a dict, a string with a NUL.
pub fn tuple_to_value(arena: &mut CArena, tuple: &Tuple) -> Result<DlAi2Value> {
    arena.tuple_value_at(tuple, 0).map_err(|error| {
        if error.code == H_ERR_HAI2_INVALID_PARAM {
            error
        } else {
            HalconError::new(H_ERR_HAI2_INVALID_PARAM, error.message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Call = Box<dyn Fn(&DlAi2ValueSink)>;

    fn run(calls: Vec<Call>) -> Result<PluginValue> {
        read_value::<()>("test", "'key'", |sink| {
            let sink = unsafe { &*sink };
            for call in &calls {
                call(sink);
            }
            Ok(())
        })
        .unwrap()
    }

    fn int(value: i64) -> Call {
        Box::new(move |s| unsafe { s.write_int.unwrap()(s.context, value) })
    }
    fn string(text: &'static CStr) -> Call {
        Box::new(move |s| unsafe { s.write_string.unwrap()(s.context, text.as_ptr()) })
    }
    fn key(text: &'static CStr) -> Call {
        Box::new(move |s| unsafe { s.write_key.unwrap()(s.context, text.as_ptr()) })
    }
    fn begin_list() -> Call {
        Box::new(|s| unsafe { s.begin_list.unwrap()(s.context) })
    }
    fn end_list() -> Call {
        Box::new(|s| unsafe { s.end_list.unwrap()(s.context) })
    }
    fn begin_map() -> Call {
        Box::new(|s| unsafe { s.begin_map.unwrap()(s.context) })
    }
    fn end_map() -> Call {
        Box::new(|s| unsafe { s.end_map.unwrap()(s.context) })
    }

    #[test]
    fn well_formed_sequences_build_trees() {
        let value = run(vec![
            begin_map(),
            key(c"threads"),
            int(4),
            key(c"precisions"),
            begin_list(),
            string(c"float32"),
            string(c"float16"),
            end_list(),
            end_map(),
        ])
        .unwrap();
        assert_eq!(
            value,
            PluginValue::Map(vec![
                ("threads".into(), PluginValue::Int(4)),
                (
                    "precisions".into(),
                    PluginValue::List(vec![
                        PluginValue::String("float32".into()),
                        PluginValue::String("float16".into())
                    ])
                ),
            ])
        );
        assert_eq!(run(vec![begin_list(), end_list()]).unwrap(), PluginValue::List(vec![]));
    }

    #[test]
    fn malformed_sequences_are_4320_with_the_reason() {
        let cases: Vec<(Vec<Call>, &str)> = vec![
            (vec![], "no value"),
            (vec![int(1), int(2)], "more than one value"),
            (vec![end_list()], "without begin_list"),
            (vec![begin_list(), int(1)], "never ended"),
            (vec![begin_map(), int(1), end_map()], "without write_key"),
            (vec![key(c"k")], "outside a map"),
            (vec![begin_map(), key(c"a"), key(c"b")], "without a value"),
            (vec![begin_map(), key(c"a"), end_map()], "without its value"),
            (vec![begin_list(), end_map()], "while a list was open"),
            (vec![begin_map(), end_list()], "while a map was open"),
            (
                vec![Box::new(|s| unsafe { s.write_string.unwrap()(s.context, std::ptr::null()) })],
                "NULL",
            ),
        ];
        for (calls, reason) in cases {
            let error = run(calls).unwrap_err();
            assert_eq!(error.code, 4320);
            assert!(error.message.contains(reason), "{} lacks {reason}", error.message);
            assert!(error.message.starts_with("test: malformed value for 'key'"));
        }
        let deep: Vec<Call> = (0..=MAX_DEPTH).map(|_| begin_list()).collect();
        assert!(run(deep).unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn values_become_tuples_and_tuples_values() {
        let value = PluginValue::List(vec![
            PluginValue::Int(1),
            PluginValue::List(vec![PluginValue::Real(2.5)]),
            PluginValue::String("x".into()),
        ]);
        let tuple = value.to_tuple().unwrap();
        assert_eq!(
            tuple.to_string(),
            Tuple::from_elements(vec![
                Element::Integer(1),
                Element::Real(2.5),
                Element::string("x").unwrap()
            ])
            .to_string()
        );

        let mut arena = CArena::default();
        let single = tuple_to_value(&mut arena, &Tuple::from_integers([7])).unwrap();
        assert_eq!((single.kind, single.integer), (DLOPT_AI2_VALUE_INT, 7));
        let list = tuple_to_value(&mut arena, &Tuple::from_strings(["a", "b"]).unwrap()).unwrap();
        assert_eq!((list.kind, list.count), (DLOPT_AI2_VALUE_LIST, 2));
        let second = unsafe { &*list.items.add(1) };
        assert_eq!(unsafe { CStr::from_ptr(second.string) }, c"b");

        let dict = Dict::new();
        dict.set_tuple(KeyRef::String("n"), Tuple::from_integers([3]));
        let handle = HandleRef::new(dict).unwrap();
        let map = tuple_to_value(&mut arena, &Tuple::single(Element::handle(handle))).unwrap();
        assert_eq!((map.kind, map.count), (DLOPT_AI2_VALUE_MAP, 1));
        assert_eq!(unsafe { CStr::from_ptr(*map.keys) }, c"n");
        assert_eq!(unsafe { (*map.items).integer }, 3);
    }
}

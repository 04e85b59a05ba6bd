//! Dicts as JSON (`'json'` file type, `dict_to_json`, `json_to_dict`), with HALCON's mapping:
//!
//! - a dict is an object; integer keys are written as decimal strings (JSON keys are
//!   strings, so they read back as string keys);
//! - a one-element tuple is a scalar, any other tuple an array; integers and reals keep
//!   their type (reals are always written with a fraction or exponent);
//! - a dict handle is a nested object; other handles and images cannot be written
//!   (`H_ERR_HANDLE_NOSER`, 2455), unless the content policy substitutes (the entry is
//!   omitted, an array element becomes `null`);
//! - reading: `true` / `false` / `null` become `'json_value_true'` (1) /
//!   `'json_value_false'` (0) / `'json_value_null'` (`'HNULL'`); arrays become dicts with
//!   keys 0, 1, ... (`'convert_json_arrays_to'` = `'dict'`, HALCON's default) or tuples
//!   (`'tuple'`, dlopt's round-trip mode; arrays holding arrays or images still become
//!   dicts).
//!
//! dlopt extension: with `'json_image_encoding'` = `'base64'` an image is written as
//! `{"__dlopt_image__": {"type", "width", "height", "channels": [base64, ...]}}`; such an
//! object is always read back as an image.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value};

use crate::error::{H_ERR_DICT_TUPLE_TYPE, H_ERR_FTS1, H_ERR_HANDLE_NOSER, HalconError, Result};
use crate::handle::{HandleKind, HandleRef};
use crate::image::{ChannelBuffer, Image, ImageSize, PixelType};
use crate::tuple::{Element, Tuple, TupleString};

use super::super::copy::UnserializablePolicy;
use super::super::nesting::{NestingPath, check_depth};
use super::super::{Dict, DictKey, DictValue};

const IMAGE_MARKER: &str = "__dlopt_image__";

/// How JSON arrays are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArrayConversion {
    /// A dict with integer keys 0, 1, ... (HALCON's default).
    #[default]
    Dict,
    /// A tuple where possible.
    Tuple,
}

/// Options for reading JSON.
#[derive(Clone, Debug)]
pub struct JsonReadOptions {
    /// The value of JSON `true`.
    pub value_true: Tuple,
    /// The value of JSON `false`.
    pub value_false: Tuple,
    /// The value of JSON `null`.
    pub value_null: Tuple,
    /// How arrays are read.
    pub arrays: ArrayConversion,
}

impl Default for JsonReadOptions {
    fn default() -> Self {
        JsonReadOptions {
            value_true: Tuple::from_integers([1]),
            value_false: Tuple::from_integers([0]),
            value_null: Tuple::from_strings(["HNULL"]).expect("no NUL"),
            arrays: ArrayConversion::Dict,
        }
    }
}

/// Options for writing JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonWriteOptions {
    /// What to do with content JSON cannot hold.
    pub policy: UnserializablePolicy,
    /// Write images as base64 objects (dlopt extension) instead of refusing them.
    pub images_as_base64: bool,
    /// Indent for humans (files) or not (`dict_to_json`).
    pub pretty: bool,
}

/// Writes the dict behind `dict` as JSON text.
pub fn encode(dict: &HandleRef, options: JsonWriteOptions) -> Result<String> {
    let mut path = NestingPath::default();
    let value = Encoder { path: &mut path, options }.dict(dict)?;
    let text = if options.pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    };
    text.map_err(|error| {
        HalconError::new(H_ERR_HANDLE_NOSER, format!("cannot write JSON: {error}"))
    })
}

struct Encoder<'a> {
    path: &'a mut NestingPath,
    options: JsonWriteOptions,
}

impl Encoder<'_> {
    fn dict(&mut self, handle: &HandleRef) -> Result<Value> {
        let dict = handle.object_arc::<Dict>()?;
        self.path.enter(handle.number())?;
        let written = self.entries(&dict);
        self.path.leave();
        written
    }

    fn entries(&mut self, dict: &Dict) -> Result<Value> {
        let mut object = Map::new();
        for (key, value) in dict.snapshot() {
            let name = match &key {
                DictKey::Integer(value) => value.to_string(),
                DictKey::String(text) => text.to_string(),
            };
            let written = match &value {
                DictValue::Tuple(tuple) => self.tuple(tuple),
                DictValue::Object(image) => self.image(image),
            };
            match written {
                Ok(json) => {
                    object.insert(name, json);
                }
                Err(error) if self.substitutes(&error) => {}
                Err(error) => return Err(error.context(format_args!("key {key}"))),
            }
        }
        Ok(Value::Object(object))
    }

    fn substitutes(&self, error: &HalconError) -> bool {
        self.options.policy == UnserializablePolicy::Substitute
            && error.code != crate::error::H_ERR_HANDLE_CYCLES
            && error.code != crate::error::H_ERR_DICT_NESTED_TOO_DEEP
    }

    fn tuple(&mut self, tuple: &Tuple) -> Result<Value> {
        if tuple.len() == 1 {
            return self.element(&tuple.elements()[0]);
        }
        let mut items = Vec::with_capacity(tuple.len());
        for element in tuple.elements() {
            match self.element(element) {
                Ok(json) => items.push(json),
                Err(error) if self.substitutes(&error) => items.push(Value::Null),
                Err(error) => return Err(error),
            }
        }
        Ok(Value::Array(items))
    }

    fn element(&mut self, element: &Element) -> Result<Value> {
        match element {
            Element::Integer(value) => Ok(Value::from(*value)),
            Element::Real(value) => Number::from_f64(*value).map(Value::Number).ok_or_else(|| {
                HalconError::new(
                    H_ERR_DICT_TUPLE_TYPE,
                    format!("the real {value} cannot be written to JSON"),
                )
            }),
            Element::String(text) => Ok(Value::from(text.as_str())),
            Element::Undefined => Ok(Value::Null),
            Element::Handle(value) => {
                let handle = value.as_ref()?;
                match handle.kind() {
                    HandleKind::Dict => self.dict(handle),
                    other => Err(HalconError::new(
                        H_ERR_HANDLE_NOSER,
                        format!("a '{}' handle cannot be written to JSON", other.semantic_type()),
                    )),
                }
            }
        }
    }

    fn image(&mut self, handle: &HandleRef) -> Result<Value> {
        if !self.options.images_as_base64 {
            return Err(HalconError::new(
                H_ERR_HANDLE_NOSER,
                "an image cannot be written to JSON (set 'json_image_encoding' to 'base64' to embed it)",
            ));
        }
        let image = handle.object::<Image>()?;
        let channels = image
            .channels()
            .iter()
            .map(|channel| Value::from(BASE64.encode(channel.bytes())))
            .collect();
        let mut fields = Map::new();
        fields.insert("type".into(), Value::from(image.pixel_type().name()));
        fields.insert("width".into(), Value::from(image.size().width as u64));
        fields.insert("height".into(), Value::from(image.size().height as u64));
        fields.insert("channels".into(), Value::Array(channels));
        let mut marker = Map::new();
        marker.insert(IMAGE_MARKER.into(), Value::Object(fields));
        Ok(Value::Object(marker))
    }
}

fn invalid(message: impl Into<String>) -> HalconError {
    HalconError::new(H_ERR_FTS1, message.into())
}

/// The UTF-8 byte order mark some editors put at the start of text files.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Reads JSON text whose top level is an object (a leading byte order mark is skipped).
pub fn decode(text: &[u8], options: &JsonReadOptions) -> Result<Dict> {
    let text = text.strip_prefix(BYTE_ORDER_MARK).unwrap_or(text);
    let value: Value =
        serde_json::from_slice(text).map_err(|error| invalid(format!("invalid JSON: {error}")))?;
    match value {
        Value::Object(object) => Decoder { options }.object(object, 1),
        other => {
            Err(invalid(format!("the JSON top level is {}, expected an object", kind_name(&other))))
        }
    }
}

/// Whether `bytes` look like JSON text (after an optional byte order mark and white space,
/// an object or an array begins).
pub fn looks_like_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes);
    matches!(bytes.iter().find(|byte| !byte.is_ascii_whitespace()), Some(b'{' | b'['))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Decoder<'a> {
    options: &'a JsonReadOptions,
}

impl Decoder<'_> {
    fn object(&self, object: Map<String, Value>, depth: usize) -> Result<Dict> {
        check_depth(depth)?;
        let mut entries = Vec::with_capacity(object.len());
        for (name, value) in object {
            let key = DictKey::String(name.as_str().into());
            if name.contains('\0') {
                return Err(invalid("a JSON key contains a NUL character"));
            }
            entries.push((key, self.value(value, depth)?));
        }
        Ok(Dict::from_entries(entries))
    }

    fn value(&self, value: Value, depth: usize) -> Result<DictValue> {
        if let Some(image) = self.image(&value)? {
            return Ok(DictValue::Object(HandleRef::new(image)?));
        }
        Ok(DictValue::Tuple(match value {
            Value::Array(items) => self.array(items, depth)?,
            scalar_or_object => {
                let mut tuple = Tuple::new();
                self.push_element(&mut tuple, scalar_or_object, depth)?;
                tuple
            }
        }))
    }

    fn array(&self, items: Vec<Value>, depth: usize) -> Result<Tuple> {
        let as_tuple = self.options.arrays == ArrayConversion::Tuple
            && items.iter().all(|item| !item.is_array() && !is_image(item));
        if as_tuple {
            let mut tuple = Tuple::new();
            for item in items {
                self.push_element(&mut tuple, item, depth)?;
            }
            return Ok(tuple);
        }
        check_depth(depth + 1)?;
        let mut entries = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            entries.push((DictKey::Integer(index as i64), self.value(item, depth + 1)?));
        }
        Ok(Tuple::single(Element::handle(HandleRef::new(Dict::from_entries(entries))?)))
    }

    fn push_element(&self, tuple: &mut Tuple, value: Value, depth: usize) -> Result<()> {
        let configured = |tuple: &mut Tuple, value: &Tuple| {
            for element in value.elements() {
                tuple.push(element.clone());
            }
        };
        match value {
            Value::Null => configured(tuple, &self.options.value_null),
            Value::Bool(true) => configured(tuple, &self.options.value_true),
            Value::Bool(false) => configured(tuple, &self.options.value_false),
            Value::Number(number) => tuple.push(match number.as_i64() {
                Some(integer) => Element::Integer(integer),
                None => Element::Real(number.as_f64().unwrap_or(f64::NAN)),
            }),
            Value::String(text) => tuple.push(Element::String(
                TupleString::new(&text)
                    .map_err(|_| invalid("a JSON string contains a NUL character"))?,
            )),
            Value::Object(object) => {
                tuple.push(Element::handle(HandleRef::new(self.object(object, depth + 1)?)?))
            }
            Value::Array(items) => {
                let nested = self.array(items, depth)?;
                for element in nested.into_elements() {
                    tuple.push(element);
                }
            }
        }
        Ok(())
    }

    fn image(&self, value: &Value) -> Result<Option<Image>> {
        let Some(fields) = image_fields(value) else { return Ok(None) };
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let number = |name: &str| fields.get(name).and_then(Value::as_i64);
        let bad = |what: &str| invalid(format!("embedded image: {what}"));
        let pixel_type = text("type")
            .and_then(PixelType::from_name)
            .ok_or_else(|| bad("missing or unknown 'type'"))?;
        let size = ImageSize::new(number("width").unwrap_or(0), number("height").unwrap_or(0))
            .map_err(|_| bad("missing or invalid 'width' / 'height'"))?;
        let length = Image::channel_length(pixel_type, size);
        let channels = fields
            .get("channels")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing 'channels'"))?
            .iter()
            .map(|channel| {
                let encoded =
                    channel.as_str().ok_or_else(|| bad("a channel is not a base64 string"))?;
                // Refuse before decoding if the text cannot hold exactly one channel.
                if encoded.len() / 4 * 3 > length + 3 {
                    return Err(bad("a channel has more bytes than width x height pixels"));
                }
                let bytes =
                    BASE64.decode(encoded).map_err(|_| bad("a channel is not valid base64"))?;
                if bytes.len() != length {
                    return Err(bad("a channel's byte count does not match width x height pixels"));
                }
                ChannelBuffer::copy_of(&bytes)
            })
            .collect::<Result<Vec<_>>>()?;
        if channels.is_empty() {
            return Err(bad("'channels' is empty"));
        }
        Image::from_channels(pixel_type, size, channels).map(Some)
    }
}

fn image_fields(value: &Value) -> Option<&Map<String, Value>> {
    match value {
        Value::Object(object) if object.len() == 1 => object.get(IMAGE_MARKER)?.as_object(),
        _ => None,
    }
}

fn is_image(value: &Value) -> bool {
    image_fields(value).is_some()
}

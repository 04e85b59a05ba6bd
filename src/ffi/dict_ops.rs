//! The dict operators: `create_dict`, `set_dict_tuple`, `get_dict_tuple`, ...
//!
//! Dict operators may be called from any thread. Two threads may read one dict at once;
//! changes to one dict are serialized by the dict's own lock (last writer wins), and never
//! corrupt memory.

use super::boundary::{input, operator, output, output_object, write_tuple};
use super::image_ops::image_from_object;
use super::types::{Hobject, Htuple};
use crate::dict::files::{self, DictFileType};
use crate::dict::{self, CopyOptions, Dict, KeyRef, UnserializablePolicy};
use crate::error::{Herror, Result};
use crate::file;
use crate::handle::HandleRef;
use crate::tuple::params::{gen_param_pairs, parse_bool_value};
use crate::tuple::{Element, Tuple};

fn new_dict_tuple(dict: Dict) -> Result<Tuple> {
    Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
}

/// Creates an empty dict; `*DictHandle` receives a tuple holding its handle (the dict lives
/// while a tuple or dict refers to it, or until `clear_handle`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_dict(dict_handle: *mut Htuple) -> Herror {
    operator("create_dict", || {
        let out = unsafe { output(dict_handle, 1, "DictHandle") }?;
        write_tuple(out, new_dict_tuple(Dict::new())?);
        Ok(())
    })
}

/// Stores a copy of `Tuple` under `Key` (one string or integer; `'1'` and `1` are different
/// keys), replacing what was there. Handles in `Tuple` are shared, not copied. An empty
/// tuple is a valid value.
///
/// Errors: `DictHandle` not one dict handle (1401 / 1201 / 2404 / 2450 / 2453 / 2454), `Key`
/// not one string or integer (1402 / 1202).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_dict_tuple(dict_handle: Htuple, key: Htuple, tuple: Htuple) -> Herror {
    operator("set_dict_tuple", || {
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let key_param = unsafe { input(key, 2, "Key") }?;
        let key = KeyRef::single(&key_param)?;
        let value = unsafe { input(tuple, 3, "Tuple") }?.tuple.clone();
        dict.set_tuple(key, value);
        Ok(())
    })
}

/// `*Tuple` receives a copy of the tuple stored under `Key`.
///
/// Errors: missing key `H_ERR_DICT_KEY` (2894); the key holds an object
/// `H_ERR_WT_CTRL_EXPECTED` (2460); handle and key errors as for `set_dict_tuple`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_dict_tuple(
    dict_handle: Htuple,
    key: Htuple,
    tuple: *mut Htuple,
) -> Herror {
    operator("get_dict_tuple", || {
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let key_param = unsafe { input(key, 2, "Key") }?;
        let key = KeyRef::single(&key_param)?;
        let out = unsafe { output(tuple, 3, "Tuple") }?;
        let value = dict.get_tuple(key)?;
        write_tuple(out, value);
        Ok(())
    })
}

/// Sets elements of the tuple under `Key`: `Value` (one value, or one per index) goes to
/// the 0-based positions in `Index`. A missing key, or a key holding an object, gets a new
/// tuple; an index past the end extends the tuple, filling the gap with 0.
///
/// Errors: negative or huge index `H_ERR_DICT_INVALID_INDEX` (2897); `Value` count neither 1
/// nor that of `Index` `H_ERR_DICT_TUPLE_LENGTH` (2895); `Index` not integers (1203).
/// On error nothing changes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_dict_tuple_at(
    dict_handle: Htuple,
    key: Htuple,
    index: Htuple,
    value: Htuple,
) -> Herror {
    operator("set_dict_tuple_at", || {
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let key_param = unsafe { input(key, 2, "Key") }?;
        let key = KeyRef::single(&key_param)?;
        let index = unsafe { input(index, 3, "Index") }?;
        let indices = index
            .tuple
            .elements()
            .iter()
            .map(|element| match element {
                Element::Integer(value) => Ok(*value),
                other => Err(index.wrong_type(format_args!(
                    "expected integer indices, got {} {other}",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let values = unsafe { input(value, 4, "Value") }?;
        dict.set_tuple_at(key, &indices, values.tuple.elements())
    })
}

/// Stores the iconic object `Object` under `Key`, replacing what was there. The dict shares
/// the object's pixels (writing through `get_image_pointer1` shows in both).
///
/// Errors: `Object` NULL (2453), cleared (2454), not an image (2404); key and dict errors
/// as for `set_dict_tuple`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_dict_object(
    object: Hobject,
    dict_handle: Htuple,
    key: Htuple,
) -> Herror {
    operator("set_dict_object", || {
        let image = image_from_object(object, "Object")?;
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let key_param = unsafe { input(key, 2, "Key") }?;
        let key = KeyRef::single(&key_param)?;
        dict.set_object(key, image);
        Ok(())
    })
}

/// `*Object` receives the object stored under `Key`. The caller owns that reference and
/// releases it with `clear_obj`.
///
/// Errors: missing key (2894); the key holds a tuple `H_ERR_WT_ICONIC_EXPECTED` (2461);
/// `Object` NULL (`H_ERR_WION1`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_dict_object(
    object: *mut Hobject,
    dict_handle: Htuple,
    key: Htuple,
) -> Herror {
    operator("get_dict_object", || {
        let out = unsafe { output_object(object, 1, "Object") }?;
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let key_param = unsafe { input(key, 2, "Key") }?;
        let key = KeyRef::single(&key_param)?;
        let found = dict.get_object(key)?;
        found.add_c_reference()?;
        *out = found.number();
        Ok(())
    })
}

/// Removes every key in `Key` (one or more). Present keys are removed even if some are
/// missing; a missing key is then reported (2894).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn remove_dict_key(dict_handle: Htuple, key: Htuple) -> Herror {
    operator("remove_dict_key", || {
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let keys_param = unsafe { input(key, 2, "Key") }?;
        let keys = keys_param
            .tuple
            .elements()
            .iter()
            .map(|element| KeyRef::from_element(&keys_param, element))
            .collect::<Result<Vec<_>>>()?;
        dict.remove_keys(&keys)
    })
}

/// Queries a dict. `GenParamName` is one of:
/// - `'keys'`: all keys in insertion order (strings and integers); `Key` must be empty;
/// - `'key_exists'`: one 1/0 per key in `Key`;
/// - `'key_data_type'`: one `'tuple'`, `'object'` or (missing key) `'none'` per key.
///
/// Errors: unknown name (1302), a non-empty `Key` for `'keys'` (1303).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_dict_param(
    dict_handle: Htuple,
    gen_param_name: Htuple,
    key: Htuple,
    gen_param_value: *mut Htuple,
) -> Herror {
    operator("get_dict_param", || {
        let dict = unsafe { input(dict_handle, 1, "DictHandle") }?.object::<Dict>()?;
        let name_param = unsafe { input(gen_param_name, 2, "GenParamName") }?;
        let name = name_param.string()?;
        let keys_param = unsafe { input(key, 3, "Key") }?;
        let out = unsafe { output(gen_param_value, 4, "GenParamValue") }?;
        let keys = || -> Result<Vec<KeyRef<'_>>> {
            keys_param
                .tuple
                .elements()
                .iter()
                .map(|element| KeyRef::from_element(&keys_param, element))
                .collect()
        };
        let value = match name {
            "keys" => {
                if !keys_param.tuple.is_empty() {
                    return Err(keys_param.wrong_value(format_args!(
                        "must be empty for 'keys', got {}",
                        keys_param.tuple
                    )));
                }
                Tuple::from_elements(dict.keys().iter().map(|key| key.to_element()).collect())
            }
            "key_exists" => Tuple::from_elements(
                keys()?
                    .into_iter()
                    .map(|key| Element::Integer(dict.contains_key(key) as i64))
                    .collect(),
            ),
            "key_data_type" => {
                Tuple::from_strings(keys()?.into_iter().map(|key| dict.key_data_type(key)))?
            }
            other => {
                return Err(name_param.wrong_value(format_args!(
                    "unknown parameter '{other}' (known: 'keys', 'key_exists', 'key_data_type')"
                )));
            }
        };
        write_tuple(out, value);
        Ok(())
    })
}

/// `*CopiedDictHandle` receives a copy of the dict. As in HALCON the copy is deep: nested
/// dicts and images are copied too (device handles are shared). Generic parameters:
/// - `'raise_error_if_content_not_serializable'`: `'true'` (default) fails on a handle that
///   cannot be copied (cleared, or a model); `'false'` / `'low_level'` put a NULL handle in
///   its place (a cleared image under a key is left out);
/// - `'deep_copy'` (dlopt): `'false'` makes a shallow copy that shares nested handles.
///
/// Errors: a dict that contains itself `H_ERR_HANDLE_CYCLES` (2456); nesting deeper than 64
/// `H_ERR_DICT_NESTED_TOO_DEEP` (2899).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn copy_dict(
    dict_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
    copied_dict_handle: *mut Htuple,
) -> Herror {
    operator("copy_dict", || {
        let handle = unsafe { input(dict_handle, 1, "DictHandle") }?.handle_of::<Dict>()?.clone();
        let names = unsafe { input(gen_param_name, 2, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        let out = unsafe { output(copied_dict_handle, 4, "CopiedDictHandle") }?;
        let mut options = CopyOptions::default();
        for (name, value) in gen_param_pairs(&names, &values)? {
            match name {
                "raise_error_if_content_not_serializable" => {
                    let text = values.element_as_string(value)?;
                    options.policy = UnserializablePolicy::from_value(text).ok_or_else(|| {
                        values.wrong_value(format_args!(
                            "'{text}' is not 'true', 'false' or 'low_level'"
                        ))
                    })?;
                }
                "deep_copy" => options.deep = parse_bool_value(&values, value)?,
                other => {
                    return Err(names.wrong_value(format_args!(
                        "unknown parameter '{other}' (known: 'raise_error_if_content_not_serializable', 'deep_copy')"
                    )));
                }
            }
        }
        let copy = dict::copy_dict(&handle, options)?;
        write_tuple(out, new_dict_tuple(copy)?);
        Ok(())
    })
}

/// Reads a dict file written by `write_dict` (binary) or any JSON file whose top level is
/// an object; the format is recognised from the content. If `FileName` does not exist,
/// `FileName.hdict` and `FileName.json` are tried. Generic parameters (JSON only):
/// `'json_value_true'` (default 1), `'json_value_false'` (0), `'json_value_null'`
/// (`'HNULL'`), `'convert_json_arrays_to'`: `'dict'` (default: keys 0, 1, ...) or `'tuple'`.
///
/// Errors: file not found `H_ERR_FNF` (5200), unreadable `H_ERR_CNOF` (5215), not a dict
/// file or unsupported version `H_ERR_WFV` (2403), truncated or corrupt `H_ERR_FTS1` (5220),
/// too deeply nested (2899), too large for memory `H_ERR_MEM` (6001). The message names the
/// file and the problem.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read_dict(
    file_name: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
    dict_handle: *mut Htuple,
) -> Herror {
    operator("read_dict", || {
        let path = file::checked_path(unsafe { input(file_name, 1, "FileName") }?.string()?)?;
        let names = unsafe { input(gen_param_name, 2, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        let out = unsafe { output(dict_handle, 4, "DictHandle") }?;
        let options = files::read_options(&names, &values)?;
        let dict = files::read_dict(&path, &options)?;
        write_tuple(out, new_dict_tuple(dict)?);
        Ok(())
    })
}

/// Writes the dict, and everything nested in it, to `FileName`, atomically (a crash never
/// leaves a torn file; the old file stays until the new one is complete). The format is
/// `'file_type'` (`'hdict'`: dlopt's binary format, or `'json'`), else `.json` files are
/// JSON and all others binary. Generic parameters:
/// - `'file_type'`: `'hdict'` or `'json'`;
/// - `'raise_error_if_content_not_serializable'`: `'true'` (default) fails on content the
///   format cannot hold (handles other than dicts; images in JSON; cleared handles);
///   `'false'` / `'low_level'` write a NULL handle (binary) or omit the entry (JSON; and
///   cleared images in either format);
/// - `'json_image_encoding'` (dlopt): `'base64'` embeds images in JSON.
///
/// Errors: cannot write `H_ERR_EDWF` (5212); content `H_ERR_HANDLE_NOSER` (2455); a NaN or
/// infinite real in JSON `H_ERR_DICT_TUPLE_TYPE` (2896); cycles (2456).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write_dict(
    dict_handle: Htuple,
    file_name: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
) -> Herror {
    operator("write_dict", || {
        let handle = unsafe { input(dict_handle, 1, "DictHandle") }?.handle_of::<Dict>()?.clone();
        let path = file::checked_path(unsafe { input(file_name, 2, "FileName") }?.string()?)?;
        let names = unsafe { input(gen_param_name, 3, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 4, "GenParamValue") }?;
        let options = files::write_options(&names, &values)?;
        files::write_dict(&handle, &path, &options)
    })
}

/// `*JsonString` receives each dict of `DictHandle` as compact JSON text, one string per
/// dict. Generic parameters as for `write_dict` (`'file_type'` may only be `'json'`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dict_to_json(
    dict_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
    json_string: *mut Htuple,
) -> Herror {
    operator("dict_to_json", || {
        let dicts = unsafe { input(dict_handle, 1, "DictHandle") }?;
        let names = unsafe { input(gen_param_name, 2, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        let out = unsafe { output(json_string, 4, "JsonString") }?;
        let options = files::write_options(&names, &values)?;
        if options.file_type == Some(DictFileType::Binary) {
            return Err(values.wrong_value("'file_type' can only be 'json' here"));
        }
        let texts = dicts
            .tuple
            .elements()
            .iter()
            .map(|element| {
                let handle = dicts.element_as_handle(element)?;
                handle.object::<Dict>().map_err(|error| error.context("DictHandle"))?;
                files::json::encode(
                    handle,
                    files::JsonWriteOptions {
                        policy: options.policy,
                        images_as_base64: options.images_as_base64,
                        pretty: false,
                    },
                )
            })
            .collect::<Result<Vec<_>>>()?;
        write_tuple(out, Tuple::from_strings(texts)?);
        Ok(())
    })
}

/// `*DictHandle` receives one dict per JSON text in `JsonString` (each must be an object).
/// Generic parameters as for `read_dict`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn json_to_dict(
    json_string: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
    dict_handle: *mut Htuple,
) -> Herror {
    operator("json_to_dict", || {
        let texts = unsafe { input(json_string, 1, "JsonString") }?;
        let names = unsafe { input(gen_param_name, 2, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        let out = unsafe { output(dict_handle, 4, "DictHandle") }?;
        let options = files::read_options(&names, &values)?;
        let dicts = texts
            .strings()?
            .into_iter()
            .map(|text| {
                let dict = files::json::decode(text.as_bytes(), &options)?;
                Ok(Element::handle(HandleRef::new(dict)?))
            })
            .collect::<Result<Vec<_>>>()?;
        write_tuple(out, Tuple::from_elements(dicts));
        Ok(())
    })
}

//! `read_dict` / `write_dict`: dicts in files, as dlopt's binary format (`'hdict'`) or JSON.
//!
//! Writing picks the format from `'file_type'`, else from the file ending (`.json` is JSON),
//! else binary. Reading recognises the format from the content. Files are written
//! atomically; a missing file name is retried with `.hdict` and `.json` appended, as HALCON
//! does.

pub mod binary;
pub mod json;

use std::path::{Path, PathBuf};

use crate::error::{H_ERR_WFV, HalconError, Result};
use crate::file;
use crate::handle::HandleRef;
use crate::tuple::params::{Param, gen_param_pairs};
use crate::tuple::{Element, Tuple};

use super::Dict;
use super::copy::UnserializablePolicy;
pub use json::{ArrayConversion, JsonReadOptions, JsonWriteOptions};

/// The file formats of dicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictFileType {
    /// dlopt's binary format (`'hdict'`, the default).
    Binary,
    /// JSON (`'json'`).
    Json,
}

/// The options of `write_dict`.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// The format; `None`: from the file ending.
    pub file_type: Option<DictFileType>,
    /// What to do with content the format cannot hold.
    pub policy: UnserializablePolicy,
    /// JSON only: embed images as base64 (dlopt extension).
    pub images_as_base64: bool,
}

/// Parses `write_dict`'s generic parameters (`names` and `values` are its parameters 3, 4).
pub fn write_options(names: &Param<'_>, values: &Param<'_>) -> Result<WriteOptions> {
    let mut options = WriteOptions {
        file_type: None,
        policy: UnserializablePolicy::Raise,
        images_as_base64: false,
    };
    for (name, value) in gen_param_pairs(names, values)? {
        let text = values.element_as_string(value)?;
        let refused =
            || values.wrong_value(format_args!("{text:?} is not a valid value for '{name}'"));
        match name {
            "file_type" => {
                options.file_type = Some(match text {
                    "hdict" => DictFileType::Binary,
                    "json" => DictFileType::Json,
                    _ => return Err(refused()),
                })
            }
            "raise_error_if_content_not_serializable" => {
                options.policy = UnserializablePolicy::from_value(text).ok_or_else(refused)?
            }
            "json_image_encoding" => {
                options.images_as_base64 = match text {
                    "none" => false,
                    "base64" => true,
                    _ => return Err(refused()),
                }
            }
            other => {
                return Err(names.wrong_value(format_args!(
                    "unknown parameter '{other}' (known: 'file_type', \
                     'raise_error_if_content_not_serializable', 'json_image_encoding')"
                )));
            }
        }
    }
    Ok(options)
}

/// Parses `read_dict`'s (and `json_to_dict`'s) generic parameters.
pub fn read_options(names: &Param<'_>, values: &Param<'_>) -> Result<JsonReadOptions> {
    let mut options = JsonReadOptions::default();
    for (name, value) in gen_param_pairs(names, values)? {
        let single = |value: &Element| Tuple::single(value.clone());
        match name {
            "json_value_true" => options.value_true = single(value),
            "json_value_false" => options.value_false = single(value),
            "json_value_null" => options.value_null = single(value),
            "convert_json_arrays_to" => {
                options.arrays = match values.element_as_string(value)? {
                    "dict" => ArrayConversion::Dict,
                    "tuple" => ArrayConversion::Tuple,
                    other => {
                        return Err(values.wrong_value(format_args!(
                            "'{other}' is not a valid value for 'convert_json_arrays_to' ('dict' or 'tuple')"
                        )));
                    }
                }
            }
            other => {
                return Err(names.wrong_value(format_args!(
                    "unknown parameter '{other}' (known: 'json_value_true', 'json_value_false', \
                     'json_value_null', 'convert_json_arrays_to')"
                )));
            }
        }
    }
    Ok(options)
}

fn file_type_of(path: &Path, options: &WriteOptions) -> DictFileType {
    options.file_type.unwrap_or_else(|| {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("json") => DictFileType::Json,
            _ => DictFileType::Binary,
        }
    })
}

/// Writes the dict behind `dict` to `path`.
pub fn write_dict(dict: &HandleRef, path: &Path, options: &WriteOptions) -> Result<()> {
    let bytes = match file_type_of(path, options) {
        DictFileType::Binary => binary::encode(dict, options.policy)?,
        DictFileType::Json => json::encode(
            dict,
            JsonWriteOptions {
                policy: options.policy,
                images_as_base64: options.images_as_base64,
                pretty: true,
            },
        )?
        .into_bytes(),
    };
    file::write_atomically(path, &bytes)
}

/// Reads a dict file of either format.
pub fn read_dict(path: &Path, options: &JsonReadOptions) -> Result<Dict> {
    let bytes = read_with_default_extensions(path)?;
    let decoded = if binary::looks_binary(&bytes) {
        binary::decode(&bytes)
    } else if json::looks_like_json(&bytes) {
        json::decode(&bytes, options)
    } else {
        Err(HalconError::new(
            H_ERR_WFV,
            "not a dict file (neither dlopt's binary format nor a JSON object)",
        ))
    };
    decoded.map_err(|error| error.context(format_args!("'{}'", path.display())))
}

fn read_with_default_extensions(path: &Path) -> Result<Vec<u8>> {
    let first = file::read_whole(path);
    if let Err(error) = &first {
        if error.code == crate::error::H_ERR_FNF {
            for extension in ["hdict", "json"] {
                let mut name = path.as_os_str().to_owned();
                name.push(".");
                name.push(extension);
                let candidate = PathBuf::from(name);
                if candidate.is_file() {
                    return file::read_whole(&candidate);
                }
            }
        }
    }
    first
}

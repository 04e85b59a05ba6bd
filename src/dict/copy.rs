//! `copy_dict`: deep copies (HALCON's behaviour) and, as a dlopt extension, shallow copies.
//!
//! A deep copy copies nested dicts and images; device handles are shared (a device is the
//! hardware, not data). Handles that cannot be copied (cleared, or of a kind without a copy)
//! fail with their error, or, with `'raise_error_if_content_not_serializable'` = `'false'`,
//! become NULL handles in the copy (an image that cannot be copied is left out).

use crate::error::{
    H_ERR_HANDLE_CLEARED, H_ERR_HANDLE_CYCLES, H_ERR_HANDLE_NOSER, HalconError, Result,
};
use crate::handle::{HandleKind, HandleRef};
use crate::image::Image;
use crate::tuple::{Element, HandleValue, Tuple};

use super::nesting::NestingPath;
use super::{Dict, DictValue};

/// What to do with content that cannot be copied or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnserializablePolicy {
    /// Fail with the content's error (HALCON's default, `'true'`).
    #[default]
    Raise,
    /// Put a NULL handle in its place and go on (`'false'` and `'low_level'`).
    Substitute,
}

impl UnserializablePolicy {
    /// Parses a value of `'raise_error_if_content_not_serializable'`.
    pub fn from_value(value: &str) -> Option<UnserializablePolicy> {
        match value {
            "true" => Some(UnserializablePolicy::Raise),
            "false" | "low_level" => Some(UnserializablePolicy::Substitute),
            _ => None,
        }
    }
}

/// Options of `copy_dict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Copy nested dicts and images (HALCON), or share them (dlopt's `'deep_copy'` =
    /// `'false'`).
    pub deep: bool,
    /// What to do with handles that cannot be copied.
    pub policy: UnserializablePolicy,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { deep: true, policy: UnserializablePolicy::Raise }
    }
}

/// Copies `dict` as `options` say.
pub fn copy_dict(dict: &HandleRef, options: CopyOptions) -> Result<Dict> {
    let source = dict.object_arc::<Dict>()?;
    if !options.deep {
        return Ok(Dict::from_entries(source.snapshot()));
    }
    let mut path = NestingPath::default();
    path.enter(dict.number())?;
    deep_copy_entries(&source, &mut path, options)
}

fn deep_copy_entries(source: &Dict, path: &mut NestingPath, options: CopyOptions) -> Result<Dict> {
    let mut entries = Vec::new();
    for (key, value) in source.snapshot() {
        let copied = match value {
            DictValue::Tuple(tuple) => {
                let elements = tuple
                    .into_elements()
                    .into_iter()
                    .map(|element| deep_copy_element(element, path, options))
                    .collect::<Result<Vec<_>>>()
                    .map_err(|error| error.context(format_args!("key {key}")))?;
                DictValue::Tuple(Tuple::from_elements(elements))
            }
            DictValue::Object(image) => match copy_image(&image) {
                Ok(copy) => DictValue::Object(copy),
                // An object cannot be replaced by a NULL handle: the entry is left out.
                Err(_) if options.policy == UnserializablePolicy::Substitute => continue,
                Err(error) => return Err(error.context(format_args!("key {key}"))),
            },
        };
        entries.push((key, copied));
    }
    Ok(Dict::from_entries(entries))
}

fn deep_copy_element(
    element: Element,
    path: &mut NestingPath,
    options: CopyOptions,
) -> Result<Element> {
    let Element::Handle(value) = element else { return Ok(element) };
    match copy_handle(&value, path, options) {
        Ok(copy) => Ok(copy),
        // A cycle is a structural error, never papered over.
        Err(error)
            if options.policy == UnserializablePolicy::Substitute
                && error.code != H_ERR_HANDLE_CYCLES =>
        {
            Ok(Element::Handle(HandleValue::Invalid { number: 0, code: error.code }))
        }
        Err(error) => Err(error),
    }
}

fn copy_handle(
    value: &HandleValue,
    path: &mut NestingPath,
    options: CopyOptions,
) -> Result<Element> {
    let handle = value.as_ref()?;
    match handle.kind() {
        HandleKind::Dict => {
            let nested = handle.object_arc::<Dict>()?;
            path.enter(handle.number())?;
            let copy = deep_copy_entries(&nested, path, options);
            path.leave();
            Ok(Element::handle(HandleRef::new(copy?)?))
        }
        HandleKind::Image => copy_image(handle).map(Element::handle),
        HandleKind::DlDevice => {
            if handle.is_cleared() {
                return Err(HalconError::new(
                    H_ERR_HANDLE_CLEARED,
                    format!("dl_device handle {:#x} was cleared", handle.number()),
                ));
            }
            Ok(Element::handle(handle.clone()))
        }
        other => Err(HalconError::new(
            H_ERR_HANDLE_NOSER,
            format!("a '{}' handle cannot be copied", other.semantic_type()),
        )),
    }
}

fn copy_image(image: &HandleRef) -> Result<HandleRef> {
    let copy = image.object::<Image>()?.deep_copy()?;
    HandleRef::new(copy)
}

//! Operators on handles in general: `clear_handle` and the handle tests of tuples.

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::error::{H_ERR_WHDL, HalconError, Herror};
use crate::tuple::{Element, HandleValue, Tuple};

/// Clears (destroys at once) every handle in `Handle`, whatever still refers to it. Later
/// use of any of them, through any tuple or dict, reports `H_ERR_HANDLE_CLEARED` (2454).
///
/// Clearing a handle that is already cleared, or the NULL handle, does nothing. Every
/// element must be a handle (`H_ERR_WIPT1` otherwise); a number that was never a handle
/// gives `H_ERR_WHDL` (2450). All elements are checked before any is cleared.
///
/// Thread safety: may race with other threads using the handles; they then either complete
/// their operation on the object or report 2454.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clear_handle(handle: Htuple) -> Herror {
    operator("clear_handle", || {
        let handles = unsafe { input(handle, 1, "Handle") }?;
        let mut live = Vec::with_capacity(handles.tuple.len());
        for element in handles.tuple.elements() {
            match element {
                Element::Handle(HandleValue::Live(handle)) => live.push(handle),
                Element::Handle(HandleValue::Invalid { number, code }) if *code == H_ERR_WHDL => {
                    return Err(HalconError::new(
                        H_ERR_WHDL,
                        format!("Handle: {number:#x} is not a handle issued by dlopt"),
                    ));
                }
                Element::Handle(HandleValue::Invalid { .. }) => {}
                other => {
                    return Err(handles.wrong_type(format_args!(
                        "expected handles, got {} {other}",
                        other.type_name()
                    )));
                }
            }
        }
        for handle in live {
            handle.clear();
        }
        Ok(())
    })
}

fn per_element(
    name: &'static str,
    input_tuple: Htuple,
    result: *mut Htuple,
    test: impl Fn(&Element) -> Element,
) -> Herror {
    operator(name, || {
        let tuple = unsafe { input(input_tuple, 1, "T") }?;
        let out = unsafe { output(result, 2, "Result") }?;
        let results = tuple.tuple.elements().iter().map(test).collect();
        write_tuple(out, Tuple::from_elements(results));
        Ok(())
    })
}

fn flag(value: bool) -> Element {
    Element::Integer(value as i64)
}

/// `IsHandle` receives 1 if every element of `T` is a handle (also for an empty tuple),
/// else 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tuple_is_handle(t: Htuple, is_handle: *mut Htuple) -> Herror {
    operator("tuple_is_handle", || {
        let tuple = unsafe { input(t, 1, "T") }?;
        let out = unsafe { output(is_handle, 2, "IsHandle") }?;
        let all =
            tuple.tuple.elements().iter().all(|element| matches!(element, Element::Handle(_)));
        write_tuple(out, Tuple::single(flag(all)));
        Ok(())
    })
}

/// `IsHandle` receives one 1/0 per element of `T`: whether it is a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tuple_is_handle_elem(t: Htuple, is_handle: *mut Htuple) -> Herror {
    per_element("tuple_is_handle_elem", t, is_handle, |element| {
        flag(matches!(element, Element::Handle(_)))
    })
}

/// `IsValid` receives one 1/0 per element of `Handle`: 1 for a handle to a live object,
/// 0 for a cleared or unknown handle and for non-handle elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tuple_is_valid_handle(handle: Htuple, is_valid: *mut Htuple) -> Herror {
    per_element("tuple_is_valid_handle", handle, is_valid, |element| {
        flag(matches!(element, Element::Handle(value) if value.is_valid()))
    })
}

fn semantic_type_of(tuple: &Tuple) -> &'static str {
    let elements = tuple.elements();
    let Some(first) = elements.first() else { return "any" };
    if elements.iter().all(|element| matches!(element, Element::Handle(_))) {
        let first_type = first.semantic_type();
        let uniform = elements.iter().all(|element| element.semantic_type() == first_type);
        return if uniform { first_type } else { "handle" };
    }
    if elements.iter().all(|element| element.type_code() == first.type_code()) {
        first.semantic_type()
    } else {
        "any"
    }
}

/// `SemType` receives the semantic type of the whole tuple: for handles of one type their
/// type (`'dict'`, `'image'`, `'dl_model'`, `'dl_device'`), `'handle'` for handles of
/// different types or invalid handles, `'integer'` / `'real'` / `'string'` for uniform
/// plain values, `'any'` for mixed or empty tuples.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tuple_sem_type(t: Htuple, sem_type: *mut Htuple) -> Herror {
    operator("tuple_sem_type", || {
        let tuple = unsafe { input(t, 1, "T") }?;
        let out = unsafe { output(sem_type, 2, "SemType") }?;
        write_tuple(out, Tuple::single(Element::string(semantic_type_of(tuple.tuple))?));
        Ok(())
    })
}

/// `SemTypes` receives one semantic type per element (`'handle'` for a cleared or invalid
/// handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tuple_sem_type_elem(t: Htuple, sem_types: *mut Htuple) -> Herror {
    per_element("tuple_sem_type_elem", t, sem_types, |element| {
        Element::string(element.semantic_type()).unwrap_or_default()
    })
}

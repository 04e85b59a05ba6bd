//! The tuple functions of HALCON/C: create, set, get, copy, resize, destroy.
//!
//! Unlike HALCON/C's macros, every function returns an `Herror` and reads values through
//! out-parameters, so a bad index or type is reported, never undefined behaviour.

use std::ffi::{CStr, c_char, c_int};

use super::boundary::{operator, output, tuple_data, tuple_data_mut, write_tuple};
use super::types::{Hhandle, Hlong, Htuple};
use crate::error::{H_ERR_CPAR_WTYP, HalconError, Herror, Result};
use crate::tuple::{Element, HandleValue, Tuple, TupleString};

/// The longest tuple `create_tuple` / `resize_tuple` make (2^27 elements).
pub const MAX_TUPLE_LENGTH: Hlong = 1 << 27;

fn checked_length(length: Hlong, position: u32) -> Result<usize> {
    if !(0..=MAX_TUPLE_LENGTH).contains(&length) {
        return Err(HalconError::wrong_value(
            position,
            format!("length {length} is out of range (allowed: 0 to {MAX_TUPLE_LENGTH})"),
        ));
    }
    Ok(length as usize)
}

/// Reads a C string argument: NULL and invalid UTF-8 are wrong-value errors.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string.
pub(crate) unsafe fn c_string(
    text: *const c_char,
    position: u32,
    name: &str,
) -> Result<TupleString> {
    if text.is_null() {
        return Err(HalconError::wrong_value(
            position,
            format!("{name}: the string pointer is NULL"),
        ));
    }
    let text = unsafe { CStr::from_ptr(text) };
    TupleString::from_c_str(text).map_err(|error| {
        HalconError::wrong_value(
            position,
            format!("{name}: the string is not valid UTF-8 ({error})"),
        )
    })
}

fn create_with(tuple: *mut Htuple, make: impl FnOnce() -> Result<Element>) -> Result<()> {
    let out = unsafe { output(tuple, 1, "Tuple") }?;
    let element = make()?;
    write_tuple(out, Tuple::single(element));
    Ok(())
}

/// Creates a tuple of `length` undefined elements; fill them with `set_*` before passing
/// the tuple to an operator.
///
/// `*tuple` receives new storage (release it with `destroy_tuple`). Errors: `tuple` NULL,
/// `length` negative or above 2^27 (`H_ERR_WIPV2`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_tuple(tuple: *mut Htuple, length: Hlong) -> Herror {
    operator("create_tuple", || {
        let out = unsafe { output(tuple, 1, "Tuple") }?;
        let created = Tuple::with_undefined(checked_length(length, 2)?)?;
        write_tuple(out, created);
        Ok(())
    })
}

/// Creates a tuple holding one integer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_tuple_i(tuple: *mut Htuple, value: Hlong) -> Herror {
    operator("create_tuple_i", || create_with(tuple, || Ok(Element::Integer(value))))
}

/// Creates a tuple holding one real.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_tuple_d(tuple: *mut Htuple, value: f64) -> Herror {
    operator("create_tuple_d", || create_with(tuple, || Ok(Element::Real(value))))
}

/// Creates a tuple holding a copy of one UTF-8 string. Errors: `value` NULL or not UTF-8
/// (`H_ERR_WIPV2`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_tuple_s(tuple: *mut Htuple, value: *const c_char) -> Herror {
    operator("create_tuple_s", || {
        create_with(tuple, || Ok(Element::String(unsafe { c_string(value, 2, "value") }?)))
    })
}

/// Creates a tuple holding one handle. The tuple holds a reference: the object lives at
/// least as long as the tuple (or until `clear_handle`). A number that does not refer to a
/// live object (0, cleared, unknown) is stored as is; operators given it report 2453, 2454
/// or 2450.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn create_tuple_h(tuple: *mut Htuple, value: Hhandle) -> Herror {
    operator("create_tuple_h", || {
        create_with(tuple, || Ok(Element::Handle(HandleValue::from_number(value))))
    })
}

fn set_with(tuple: Htuple, index: Hlong, element: impl FnOnce() -> Result<Element>) -> Result<()> {
    let data = unsafe { tuple_data_mut(tuple, 1, "Tuple") }?;
    data.tuple.element(index)?;
    let old = data.tuple.replace(index, element()?)?;
    drop(old);
    Ok(())
}

/// Sets element `index` (0-based, must exist) to an integer. Errors: tuple without storage
/// (`H_ERR_WIPV1`), index out of range (`H_ERR_CTPL_WIDX`, 2402).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_i(tuple: Htuple, value: Hlong, index: Hlong) -> Herror {
    operator("set_i", || set_with(tuple, index, || Ok(Element::Integer(value))))
}

/// Sets element `index` to a real.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_d(tuple: Htuple, value: f64, index: Hlong) -> Herror {
    operator("set_d", || set_with(tuple, index, || Ok(Element::Real(value))))
}

/// Sets element `index` to a copy of a UTF-8 string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_s(tuple: Htuple, value: *const c_char, index: Hlong) -> Herror {
    operator("set_s", || {
        set_with(tuple, index, || Ok(Element::String(unsafe { c_string(value, 2, "value") }?)))
    })
}

/// Sets element `index` to a handle (the tuple then holds a reference, see
/// `create_tuple_h`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_h(tuple: Htuple, value: Hhandle, index: Hlong) -> Herror {
    operator("set_h", || {
        set_with(tuple, index, || Ok(Element::Handle(HandleValue::from_number(value))))
    })
}

fn get_with<T>(
    tuple: Htuple,
    index: Hlong,
    value: *mut T,
    value_name: &'static str,
    expected: &str,
    read: impl FnOnce(&Element) -> Option<T>,
) -> Result<()> {
    let data = unsafe { tuple_data(tuple, 1, "Tuple") }?;
    let out = unsafe { output(value, 3, value_name) }?;
    let element = data.tuple.element(index)?;
    let read = read(element).ok_or_else(|| {
        HalconError::new(
            H_ERR_CPAR_WTYP,
            format!("element {index} is {} {element}, not {expected}", element.type_name()),
        )
    })?;
    *out = read;
    Ok(())
}

/// Reads element `index` as an integer into `*value`. Errors: index out of range (2402),
/// the element is not an integer (`H_ERR_CPAR_WTYP`, 2401), `value` NULL (`H_ERR_WIPV3`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_i(tuple: Htuple, index: Hlong, value: *mut Hlong) -> Herror {
    operator("get_i", || {
        get_with(tuple, index, value, "value", "an integer", |element| match element {
            Element::Integer(value) => Some(*value),
            _ => None,
        })
    })
}

/// Reads element `index` as a real into `*value`; an integer element is converted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_d(tuple: Htuple, index: Hlong, value: *mut f64) -> Herror {
    operator("get_d", || {
        get_with(tuple, index, value, "value", "a real", |element| match element {
            Element::Real(value) => Some(*value),
            Element::Integer(value) => Some(*value as f64),
            _ => None,
        })
    })
}

/// Reads element `index` as a string: `*value` points to the tuple's own NUL-terminated
/// UTF-8 text, valid until that element is changed or the tuple is destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_s(tuple: Htuple, index: Hlong, value: *mut *const c_char) -> Herror {
    operator("get_s", || {
        get_with(tuple, index, value, "value", "a string", |element| match element {
            Element::String(text) => Some(text.as_c_str().as_ptr()),
            _ => None,
        })
    })
}

/// Reads element `index` as a handle number. The number is borrowed: the object lives while
/// some tuple or dict refers to it (and until `clear_handle`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_h(tuple: Htuple, index: Hlong, value: *mut Hhandle) -> Herror {
    operator("get_h", || {
        get_with(tuple, index, value, "value", "a handle", |element| match element {
            Element::Handle(handle) => Some(handle.number()),
            _ => None,
        })
    })
}

/// Writes the type of element `index` to `*element_type`: `LONG_PAR`, `DOUBLE_PAR`, `STRING_PAR`,
/// `HANDLE_PAR` or `UNDEF_PAR` (not set yet).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_type(tuple: Htuple, index: Hlong, element_type: *mut c_int) -> Herror {
    operator("get_type", || {
        get_with(tuple, index, element_type, "element_type", "", |element| {
            Some(element.type_code())
        })
    })
}

/// Writes the number of elements to `*length`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn length_tuple(tuple: Htuple, length: *mut Hlong) -> Herror {
    operator("length_tuple", || {
        let data = unsafe { tuple_data(tuple, 1, "Tuple") }?;
        let out = unsafe { output(length, 2, "length") }?;
        *out = data.tuple.len() as Hlong;
        Ok(())
    })
}

/// Copies a tuple into new storage in `*output_tuple`. Strings are copied; handles are
/// shared (the copy holds its own references).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn copy_tuple(input: Htuple, output_tuple: *mut Htuple) -> Herror {
    operator("copy_tuple", || {
        let data = unsafe { tuple_data(input, 1, "Tuple") }?;
        let out = unsafe { output(output_tuple, 2, "output_tuple") }?;
        let copy = data.tuple.clone();
        write_tuple(out, copy);
        Ok(())
    })
}

/// Changes the length of `*tuple`: new elements are undefined, removed elements are
/// released. Errors: `tuple` NULL or without storage, `length` negative or above 2^27.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resize_tuple(tuple: *mut Htuple, length: Hlong) -> Herror {
    operator("resize_tuple", || {
        let tuple = unsafe { output(tuple, 1, "Tuple") }?;
        let data = unsafe { tuple_data_mut(*tuple, 1, "Tuple") }?;
        let removed = data.tuple.resize(checked_length(length, 2)?)?;
        drop(removed);
        Ok(())
    })
}

/// Releases the tuple's storage and the references it holds (which may destroy objects).
/// A tuple without storage (NULL) is accepted and ignored. The `Htuple` value, and every
/// copy of it, must not be used afterwards (re-initialize it with `HTUPLE_INITIALIZER`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn destroy_tuple(tuple: Htuple) -> Herror {
    operator("destroy_tuple", || {
        if !tuple.data.is_null() {
            drop(unsafe { Box::from_raw(tuple.data) });
        }
        Ok(())
    })
}

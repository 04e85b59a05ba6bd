//! The boundary every exported function goes through: catch panics, check pointers (naming
//! the parameter), run a closure returning `Result`, map the error to its number and record
//! it as the thread's last error. Outputs are written only by the closure's last step, after
//! everything that can fail.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{H_ERR_DL_INTERNAL, H_MSG_TRUE, HalconError, Herror, Result, last_error};
use crate::tuple::params::Param;
use crate::tuple::{Element, Tuple};

use super::types::{Htuple, HtupleData};

/// Runs the body of the operator `name` and returns its `Herror`.
pub(crate) fn operator(name: &'static str, body: impl FnOnce() -> Result<()>) -> Herror {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return H_MSG_TRUE,
        Ok(Err(error)) => error,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            HalconError::new(
                H_ERR_DL_INTERNAL,
                format!("internal error in {name}: {reason} (please report this)"),
            )
        }
    };
    last_error::record(name, &error);
    error.code
}

/// Reads input tuple parameter `position` named `name`.
///
/// A tuple that was never created or was destroyed (`data` NULL) is a wrong-value error; a
/// tuple with undefined elements (created by `create_tuple` and not filled) is a wrong-type
/// error naming the element.
///
/// # Safety
/// `tuple.data` must be NULL or point to a live tuple for the duration of the call.
pub(crate) unsafe fn input<'a>(
    tuple: Htuple,
    position: u32,
    name: &'static str,
) -> Result<Param<'a>> {
    let data = unsafe { tuple_data(tuple, position, name) }?;
    let param = Param::new(&data.tuple, position, name);
    if let Some(at) =
        data.tuple.elements().iter().position(|element| matches!(element, Element::Undefined))
    {
        return Err(param.wrong_type(format_args!(
            "element {at} is undefined (created by create_tuple but never set)"
        )));
    }
    Ok(param)
}

/// The tuple behind an `Htuple`, or a wrong-value error naming the parameter if it is NULL.
///
/// # Safety
/// As for [`input`].
pub(crate) unsafe fn tuple_data<'a>(
    tuple: Htuple,
    position: u32,
    name: &'static str,
) -> Result<&'a HtupleData> {
    unsafe { tuple.data.as_ref() }.ok_or_else(|| {
        HalconError::wrong_value(
            position,
            format!("{name}: the Htuple holds no tuple (never created, or already destroyed)"),
        )
    })
}

/// The mutable tuple behind an `Htuple`.
///
/// # Safety
/// As for [`input`], and no other thread may use the tuple during the call.
pub(crate) unsafe fn tuple_data_mut<'a>(
    tuple: Htuple,
    position: u32,
    name: &'static str,
) -> Result<&'a mut HtupleData> {
    unsafe { tuple.data.as_mut() }.ok_or_else(|| {
        HalconError::wrong_value(
            position,
            format!("{name}: the Htuple holds no tuple (never created, or already destroyed)"),
        )
    })
}

/// Checks an output pointer of control parameter `position` named `name`.
///
/// # Safety
/// `pointer` must be NULL or valid for writes.
pub(crate) unsafe fn output<'a, T>(
    pointer: *mut T,
    position: u32,
    name: &'static str,
) -> Result<&'a mut T> {
    unsafe { pointer.as_mut() }.ok_or_else(|| {
        HalconError::wrong_value(
            position,
            format!("{name}: the output pointer is NULL (pass the address of a variable)"),
        )
    })
}

/// Checks an output pointer of iconic parameter `position` named `name`.
///
/// # Safety
/// As for [`output`].
pub(crate) unsafe fn output_object<'a, T>(
    pointer: *mut T,
    position: u32,
    name: &'static str,
) -> Result<&'a mut T> {
    unsafe { pointer.as_mut() }.ok_or_else(|| {
        HalconError::wrong_object_count(
            position,
            format!("{name}: the output object pointer is NULL (pass the address of an Hobject)"),
        )
    })
}

/// Hands a new tuple to C through an output parameter.
pub(crate) fn write_tuple(out: &mut Htuple, tuple: Tuple) {
    out.data = Box::into_raw(Box::new(HtupleData { tuple }));
}

//! Error texts and the calling thread's last error.

use std::ffi::c_char;

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::error::{H_MSG_TRUE, Herror, error_text, halcon_error_c_text, last_error};
use crate::tuple::{Element, Tuple};

/// The largest error number `get_error_text` accepts (HALCON's range is 1 to 36000).
const MAX_ERROR_CODE: i64 = 36000;

/// `*ErrorMessage` receives the text of the error number `ErrorCode` (1 to 36000); numbers
/// HALCON does not define get a generic text. Errors: not an integer (1201), out of range
/// (1301).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_error_text(error_code: Htuple, error_message: *mut Htuple) -> Herror {
    operator("get_error_text", || {
        let code_param = unsafe { input(error_code, 1, "ErrorCode") }?;
        let code = code_param.integer()?;
        if !(1..=MAX_ERROR_CODE).contains(&code) {
            return Err(
                code_param.wrong_value(format_args!("{code} is outside 1 to {MAX_ERROR_CODE}"))
            );
        }
        let out = unsafe { output(error_message, 2, "ErrorMessage") }?;
        write_tuple(out, Tuple::single(Element::string(error_text(code as Herror))?));
        Ok(())
    })
}

/// Returns the calling thread's last error: `*OperatorName` (e.g. `'get_dict_tuple'`),
/// `*ErrorCode` (the number the operator returned) and `*ErrorMessage` (what went wrong,
/// naming the parameter and the value). A successful call does not reset it. If no
/// operator has failed on this thread: `''`, 2 (`H_MSG_TRUE`) and `''`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_extended_error_info(
    operator_name: *mut Htuple,
    error_code: *mut Htuple,
    error_message: *mut Htuple,
) -> Herror {
    // Read the last error before this call's own failure could replace it.
    let last = last_error::last();
    operator("get_extended_error_info", || {
        let name_out = unsafe { output(operator_name, 1, "OperatorName") }?;
        let code_out = unsafe { output(error_code, 2, "ErrorCode") }?;
        let message_out = unsafe { output(error_message, 3, "ErrorMessage") }?;
        let (name, code, message) = match &last {
            Some(last) => (last.operator, last.code, last.message.to_str().unwrap_or_default()),
            None => ("", H_MSG_TRUE, ""),
        };
        write_tuple(name_out, Tuple::single(Element::string(name)?));
        write_tuple(code_out, Tuple::from_integers([code as i64]));
        write_tuple(message_out, Tuple::single(Element::string(message)?));
        Ok(())
    })
}

/// The text of an error number as a static C string (never NULL; a generic text for
/// numbers HALCON does not define). A dlopt convenience for C callers: no tuple to destroy.
#[unsafe(no_mangle)]
pub extern "C" fn dlopt_error_text(code: Herror) -> *const c_char {
    halcon_error_c_text(code).unwrap_or(c"Unknown error number").as_ptr()
}

/// The calling thread's last error message (as `get_extended_error_info` reports it), or
/// `""` if none. The pointer stays valid until the next operator call on this thread that
/// fails. A dlopt convenience for C callers.
#[unsafe(no_mangle)]
pub extern "C" fn dlopt_last_error_message() -> *const c_char {
    last_error::with_last_message(|last| match last {
        Some(last) => last.message.as_ptr(),
        None => c"".as_ptr(),
    })
}

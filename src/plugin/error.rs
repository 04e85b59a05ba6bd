//! Plugin errors to HALCON errors.
//!
//! A plugin call returns NULL or a `DlAi2Error` the plugin allocated. The host copies its
//! code and message, frees it through the plugin's `error_destroy`, and maps the code:
//!
//! | plugin code | HALCON number |
//! |---|---|
//! | `INVALID_ARGUMENT`, `UNKNOWN_PARAMETER`, `INVALID_PARAMETER_VALUE` | 4321 `H_ERR_HAI2_INVALID_PARAM` |
//! | `UNSUPPORTED` | 4320 `H_ERR_HAI2_ERROR`; 7960 `H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION` where a precision was asked for |
//! | `OUT_OF_MEMORY` | 6001 `H_ERR_MEM` |
//! | `CANCELLED` | 22 `H_ERR_CANCEL` |
//! | `INCOMPATIBLE_ARTIFACT` | 4320, the message says "incompatible compiled artifact" |
//! | `INTERNAL`, `DEVICE`, any other code | 4320 |
//!
//! The message is `<plugin name>: <plugin message>`.

use std::ffi::{CStr, c_char};
use std::mem::offset_of;

use dlopt_ai2::abi::{
    DLOPT_AI2_ERROR_CANCELLED, DLOPT_AI2_ERROR_DEVICE, DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
    DLOPT_AI2_ERROR_INTERNAL, DLOPT_AI2_ERROR_INVALID_ARGUMENT,
    DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE, DLOPT_AI2_ERROR_OUT_OF_MEMORY,
    DLOPT_AI2_ERROR_UNKNOWN_PARAMETER, DLOPT_AI2_ERROR_UNSUPPORTED, DlAi2Error,
};

use crate::error::{
    H_ERR_CANCEL, H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION, H_ERR_HAI2_ERROR,
    H_ERR_HAI2_INVALID_PARAM, H_ERR_MEM, HalconError, Herror,
};

/// What the failed call was about, where that changes the HALCON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorContext {
    /// Anything else.
    General,
    /// The call asked for a precision (compile, check_support): `UNSUPPORTED` means the
    /// device does not run that precision (7960).
    Precision,
}

/// The longest plugin message kept (in bytes; longer ones are cut at a character boundary).
const MAX_MESSAGE: usize = 4096;

/// A plugin error code, as copied from a `DlAi2Error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// The `DLOPT_AI2_ERROR_*` code.
    pub code: i32,
    /// The plugin's message.
    pub message: String,
}

/// The name of a `DLOPT_AI2_ERROR_*` code, for messages.
pub fn code_name(code: i32) -> &'static str {
    match code {
        DLOPT_AI2_ERROR_INVALID_ARGUMENT => "INVALID_ARGUMENT",
        DLOPT_AI2_ERROR_UNSUPPORTED => "UNSUPPORTED",
        DLOPT_AI2_ERROR_OUT_OF_MEMORY => "OUT_OF_MEMORY",
        DLOPT_AI2_ERROR_INTERNAL => "INTERNAL",
        DLOPT_AI2_ERROR_CANCELLED => "CANCELLED",
        DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT => "INCOMPATIBLE_ARTIFACT",
        DLOPT_AI2_ERROR_DEVICE => "DEVICE",
        DLOPT_AI2_ERROR_UNKNOWN_PARAMETER => "UNKNOWN_PARAMETER",
        DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE => "INVALID_PARAMETER_VALUE",
        _ => "unknown code",
    }
}

/// The HALCON number of plugin error `code` in `context` (see the module table).
pub fn halcon_code(code: i32, context: ErrorContext) -> Herror {
    match code {
        DLOPT_AI2_ERROR_INVALID_ARGUMENT
        | DLOPT_AI2_ERROR_UNKNOWN_PARAMETER
        | DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE => H_ERR_HAI2_INVALID_PARAM,
        DLOPT_AI2_ERROR_UNSUPPORTED if context == ErrorContext::Precision => {
            H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION
        }
        DLOPT_AI2_ERROR_OUT_OF_MEMORY => H_ERR_MEM,
        DLOPT_AI2_ERROR_CANCELLED => H_ERR_CANCEL,
        _ => H_ERR_HAI2_ERROR,
    }
}

impl PluginError {
    /// The HALCON error: the mapped number and `<plugin>: <message>`.
    pub fn to_halcon(&self, plugin: &str, context: ErrorContext) -> HalconError {
        let message = match self.code {
            DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT => {
                format!("{plugin}: incompatible compiled artifact: {}", self.message)
            }
            code if !(1..=9).contains(&code) => {
                format!("{plugin}: {} (unknown error code {code})", self.message)
            }
            _ => format!("{plugin}: {}", self.message),
        };
        HalconError::new(halcon_code(self.code, context), message)
    }
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Copies and frees a plugin error. NULL (success) gives `None`.
///
/// An error whose `struct_size` does not cover `code` and `message` counts as `INTERNAL`;
/// a NULL message as "(no message)"; text that is not UTF-8 is repaired.
///
/// # Safety
/// `error` is NULL or an error the plugin allocated and has not freed; `destroy` is the
/// plugin's `error_destroy` (or `None` if the table has none: the error then leaks).
pub unsafe fn take(
    error: *mut DlAi2Error,
    destroy: Option<unsafe extern "C" fn(*mut DlAi2Error)>,
) -> Option<PluginError> {
    if error.is_null() {
        return None;
    }
    let size = unsafe { (&raw const (*error).struct_size).read() };
    let needed = offset_of!(DlAi2Error, message) + size_of::<*const c_char>();
    let copied = if size < needed {
        PluginError {
            code: DLOPT_AI2_ERROR_INTERNAL,
            message: format!(
                "the plugin returned a malformed error (struct_size {size}, expected at least {needed})"
            ),
        }
    } else {
        let code = unsafe { (&raw const (*error).code).read() };
        let message = unsafe { (&raw const (*error).message).read() };
        let message = if message.is_null() {
            "(no message)".to_string()
        } else {
            cut(unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned())
        };
        PluginError { code, message }
    };
    if let Some(destroy) = destroy {
        unsafe { destroy(error) };
    }
    Some(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn codes_map_to_halcon_numbers() {
        let general = ErrorContext::General;
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_INVALID_ARGUMENT, general), 4321);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_UNKNOWN_PARAMETER, general), 4321);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE, general), 4321);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_UNSUPPORTED, general), 4320);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_UNSUPPORTED, ErrorContext::Precision), 7960);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_OUT_OF_MEMORY, general), 6001);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_CANCELLED, general), 22);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT, general), 4320);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_INTERNAL, general), 4320);
        assert_eq!(halcon_code(DLOPT_AI2_ERROR_DEVICE, general), 4320);
        assert_eq!(halcon_code(12345, general), 4320);
    }

    #[test]
    fn messages_name_the_plugin_and_say_incompatible() {
        let error = PluginError {
            code: DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
            message: "bad magic".into(),
        };
        let halcon = error.to_halcon("vendor_x", ErrorContext::General);
        assert_eq!(halcon.code, 4320);
        assert_eq!(halcon.message, "vendor_x: incompatible compiled artifact: bad magic");
        let error = PluginError { code: 77, message: "odd".into() };
        assert!(
            error.to_halcon("p", ErrorContext::General).message.contains("unknown error code 77")
        );
    }

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count_destroy(_error: *mut DlAi2Error) {
        DESTROYED.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn errors_are_copied_and_freed_and_malformed_ones_are_internal() {
        let mut error = DlAi2Error {
            struct_size: size_of::<DlAi2Error>(),
            code: DLOPT_AI2_ERROR_OUT_OF_MEMORY,
            message: c"no room".as_ptr(),
        };
        let before = DESTROYED.load(Ordering::SeqCst);
        let copied = unsafe { take(&mut error, Some(count_destroy)) }.unwrap();
        assert_eq!(copied, PluginError { code: 3, message: "no room".into() });
        assert_eq!(DESTROYED.load(Ordering::SeqCst), before + 1);

        error.struct_size = 4;
        let copied = unsafe { take(&mut error, Some(count_destroy)) }.unwrap();
        assert_eq!(copied.code, DLOPT_AI2_ERROR_INTERNAL);
        assert!(copied.message.contains("malformed"));

        error.struct_size = size_of::<DlAi2Error>();
        error.message = std::ptr::null();
        assert_eq!(unsafe { take(&mut error, None) }.unwrap().message, "(no message)");
        assert!(unsafe { take(std::ptr::null_mut(), Some(count_destroy)) }.is_none());
    }
}

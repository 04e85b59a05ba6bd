//! Errors a plugin reports: [`PluginError`] on the Rust side, `DlAi2Error` objects across the
//! boundary (allocated here, freed by the host through the table's `error_destroy`).

use std::ffi::CString;
use std::fmt;

use crate::abi::{
    DLOPT_AI2_ERROR_CANCELLED, DLOPT_AI2_ERROR_DEVICE, DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
    DLOPT_AI2_ERROR_INTERNAL, DLOPT_AI2_ERROR_INVALID_ARGUMENT,
    DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE, DLOPT_AI2_ERROR_OUT_OF_MEMORY,
    DLOPT_AI2_ERROR_UNKNOWN_PARAMETER, DLOPT_AI2_ERROR_UNSUPPORTED, DlAi2Error,
};

/// The stable error codes of the ABI (`DLOPT_AI2_ERROR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument is NULL, out of range or inconsistent.
    InvalidArgument,
    /// The plugin does not support this (operator, precision, shape, attribute).
    Unsupported,
    /// Not enough memory (host or device).
    OutOfMemory,
    /// A bug or an unexpected state inside the plugin.
    Internal,
    /// The host's cancellation callback asked to stop.
    Cancelled,
    /// A serialized artifact is corrupt, or made by another plugin, version or device.
    IncompatibleArtifact,
    /// The device failed (lost, busy, driver error).
    Device,
    /// A parameter or property name the plugin does not know.
    UnknownParameter,
    /// A known parameter with a value the plugin refuses.
    InvalidParameterValue,
}

impl ErrorCode {
    /// Every code, in the order of their numbers.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::InvalidArgument,
        ErrorCode::Unsupported,
        ErrorCode::OutOfMemory,
        ErrorCode::Internal,
        ErrorCode::Cancelled,
        ErrorCode::IncompatibleArtifact,
        ErrorCode::Device,
        ErrorCode::UnknownParameter,
        ErrorCode::InvalidParameterValue,
    ];

    /// The `DLOPT_AI2_ERROR_*` number.
    pub fn raw(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument => DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            ErrorCode::Unsupported => DLOPT_AI2_ERROR_UNSUPPORTED,
            ErrorCode::OutOfMemory => DLOPT_AI2_ERROR_OUT_OF_MEMORY,
            ErrorCode::Internal => DLOPT_AI2_ERROR_INTERNAL,
            ErrorCode::Cancelled => DLOPT_AI2_ERROR_CANCELLED,
            ErrorCode::IncompatibleArtifact => DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
            ErrorCode::Device => DLOPT_AI2_ERROR_DEVICE,
            ErrorCode::UnknownParameter => DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
            ErrorCode::InvalidParameterValue => DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE,
        }
    }

    /// The code of a `DLOPT_AI2_ERROR_*` number, if it is one.
    pub fn from_raw(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|known| known.raw() == code)
    }

    /// A short name, e.g. `"invalid argument"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::OutOfMemory => "out of memory",
            ErrorCode::Internal => "internal error",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::IncompatibleArtifact => "incompatible artifact",
            ErrorCode::Device => "device error",
            ErrorCode::UnknownParameter => "unknown parameter",
            ErrorCode::InvalidParameterValue => "invalid parameter value",
        }
    }
}

/// An error a plugin returns: a stable code and a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// What kind of error (crosses the ABI as its number).
    pub code: ErrorCode,
    /// What went wrong, naming the thing concerned (parameter, node, field).
    pub message: String,
}

/// The result type of plugin functions.
pub type PluginResult<T> = std::result::Result<T, PluginError>;

impl PluginError {
    /// An error of `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> PluginError {
        PluginError { code, message: message.into() }
    }

    /// `DLOPT_AI2_ERROR_INVALID_ARGUMENT`.
    pub fn invalid_argument(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::InvalidArgument, message)
    }

    /// `DLOPT_AI2_ERROR_UNSUPPORTED`.
    pub fn unsupported(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::Unsupported, message)
    }

    /// `DLOPT_AI2_ERROR_OUT_OF_MEMORY`.
    pub fn out_of_memory(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::OutOfMemory, message)
    }

    /// `DLOPT_AI2_ERROR_INTERNAL`.
    pub fn internal(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::Internal, message)
    }

    /// `DLOPT_AI2_ERROR_CANCELLED`.
    pub fn cancelled(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::Cancelled, message)
    }

    /// `DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT`.
    pub fn incompatible_artifact(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::IncompatibleArtifact, message)
    }

    /// `DLOPT_AI2_ERROR_DEVICE`.
    pub fn device(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::Device, message)
    }

    /// `DLOPT_AI2_ERROR_UNKNOWN_PARAMETER`.
    pub fn unknown_parameter(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::UnknownParameter, message)
    }

    /// `DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE`.
    pub fn invalid_parameter_value(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorCode::InvalidParameterValue, message)
    }

    /// The same error with `context` before its message: `"context: message"`.
    pub fn context(self, context: impl fmt::Display) -> PluginError {
        PluginError { code: self.code, message: format!("{context}: {}", self.message) }
    }

    /// Moves the error into a `DlAi2Error` the host frees with [`destroy_raw_error`] (the
    /// table's `error_destroy`). A NUL inside the message becomes U+FFFD.
    pub fn into_raw(self) -> *mut DlAi2Error {
        let text = if self.message.contains('\0') {
            self.message.replace('\0', "\u{FFFD}")
        } else {
            self.message
        };
        let message = CString::new(text).unwrap_or_default();
        let mut boxed = Box::new(RawError {
            raw: DlAi2Error {
                struct_size: std::mem::size_of::<DlAi2Error>(),
                code: self.code.raw(),
                message: std::ptr::null(),
            },
            message,
        });
        boxed.raw.message = boxed.message.as_ptr();
        Box::into_raw(boxed).cast::<DlAi2Error>()
    }

    /// Reads an error object (code and message) without freeing it, e.g. one a plugin
    /// returned to a host or a test. Unknown codes read as [`ErrorCode::Internal`] with the
    /// number in the message.
    ///
    /// # Safety
    /// `error` must be NULL or point to a valid `DlAi2Error` whose message is NULL or a
    /// NUL-terminated string.
    pub unsafe fn from_raw(error: *const DlAi2Error) -> Option<PluginError> {
        // SAFETY: the caller guarantees `error` is NULL or valid.
        let error = unsafe { error.as_ref() }?;
        let message = if error.message.is_null() {
            String::new()
        } else {
            // SAFETY: the caller guarantees a NUL-terminated message.
            unsafe { std::ffi::CStr::from_ptr(error.message) }.to_string_lossy().into_owned()
        };
        Some(match ErrorCode::from_raw(error.code) {
            Some(code) => PluginError::new(code, message),
            None => PluginError::internal(format!("error code {}: {message}", error.code)),
        })
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

impl std::error::Error for PluginError {}

/// A `DlAi2Error` with the storage of its message; `raw` comes first so a pointer to the
/// whole is a pointer to the `DlAi2Error`.
#[repr(C)]
struct RawError {
    raw: DlAi2Error,
    message: CString,
}

/// Frees an error made by [`PluginError::into_raw`]. Accepts NULL.
///
/// # Safety
/// `error` must be NULL or come from [`PluginError::into_raw`] and not be freed yet.
pub unsafe fn destroy_raw_error(error: *mut DlAi2Error) {
    if !error.is_null() {
        // SAFETY: made by `into_raw` from a `Box<RawError>` (the caller guarantees it).
        drop(unsafe { Box::from_raw(error.cast::<RawError>()) });
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_numbers() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_raw(code.raw()), Some(code));
        }
        assert_eq!(ErrorCode::from_raw(0), None);
        assert_eq!(ErrorCode::from_raw(10), None);
    }

    #[test]
    fn raw_errors_carry_code_and_message_and_free() {
        let raw = PluginError::unknown_parameter("'foo' is not a parameter").into_raw();
        let read = unsafe { PluginError::from_raw(raw) }.unwrap();
        assert_eq!(read.code, ErrorCode::UnknownParameter);
        assert_eq!(read.message, "'foo' is not a parameter");
        assert_eq!(unsafe { (*raw).struct_size }, std::mem::size_of::<DlAi2Error>());
        unsafe { destroy_raw_error(raw) };
        unsafe { destroy_raw_error(std::ptr::null_mut()) };
    }

    #[test]
    fn interior_nul_does_not_lose_the_message() {
        let raw = PluginError::internal("before\0after").into_raw();
        let read = unsafe { PluginError::from_raw(raw) }.unwrap();
        assert_eq!(read.message, "before\u{FFFD}after");
        unsafe { destroy_raw_error(raw) };
    }

    #[test]
    fn context_prefixes_the_message() {
        let error = PluginError::unsupported("no Foo").context("node 'n'");
        assert_eq!(error.message, "node 'n': no Foo");
        assert_eq!(error.code, ErrorCode::Unsupported);
    }
}

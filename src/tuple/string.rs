//! The string type of tuple elements: UTF-8 and NUL-terminated, so C gets a `const char*`
//! into it without copying.

use std::ffi::{CStr, CString};
use std::fmt;

use crate::error::{H_ERR_WIPV1, HalconError, Result};

/// A UTF-8 string with a trailing NUL and no interior NUL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TupleString(CString);

impl TupleString {
    /// Copies Rust text; fails if it contains a NUL character (C could not read past it).
    pub fn new(text: &str) -> Result<TupleString> {
        CString::new(text).map(TupleString).map_err(|_| {
            HalconError::new(H_ERR_WIPV1, format!("string {text:?} contains a NUL character"))
        })
    }

    /// Copies a C string; fails if it is not valid UTF-8.
    pub fn from_c_str(text: &CStr) -> std::result::Result<TupleString, std::str::Utf8Error> {
        text.to_str()?;
        Ok(TupleString(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Both constructors check UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.0.as_bytes()) }
    }

    /// The NUL-terminated bytes for C.
    pub fn as_c_str(&self) -> &CStr {
        &self.0
    }
}

impl fmt::Debug for TupleString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

//! The one error type of the calibration crate: arguments that do not fit together or
//! statistics that cannot answer the question asked.
//!
//! Every function checks lengths, shapes and options before it computes anything, so a
//! wrong call is an `Err`, never a panic.

use std::fmt;

/// A calibration call that cannot be answered: a buffer whose length does not match its
/// shape, an option out of its range, a range asked of an observer that saw no finite
/// value, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalibrationError {
    /// What is wrong, naming the argument and the values involved.
    pub message: String,
}

/// The result type of the calibration crate.
pub type Result<T> = std::result::Result<T, CalibrationError>;

impl CalibrationError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> CalibrationError {
        CalibrationError { message: message.into() }
    }
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CalibrationError {}

/// `Err` unless `cond`; the message is built only on failure.
pub(crate) fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<()> {
    if cond { Ok(()) } else { Err(CalibrationError::new(message())) }
}

/// The product of `dims`, or `Err` naming `what` on overflow.
pub(crate) fn element_count(what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| CalibrationError::new(format!("{what}: shape {dims:?} overflows usize")))
}

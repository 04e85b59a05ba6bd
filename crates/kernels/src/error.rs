//! The one error type of the kernels: arguments that do not fit together.
//!
//! Kernels check every size and buffer length before touching memory, so a wrong call
//! is an `Err`, never a panic or an out-of-bounds access. The runtime normally checks
//! shapes earlier (shape inference); these checks are the last line of defence.

use std::fmt;

/// Arguments that do not fit together: a buffer too short, a zero stride, channels not
/// divisible by the group count, an output size that would be empty, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    /// What is wrong, naming the argument and the sizes involved.
    pub message: String,
}

/// The result type of the kernels.
pub type Result<T> = std::result::Result<T, KernelError>;

impl KernelError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> KernelError {
        KernelError { message: message.into() }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KernelError {}

/// `Err` unless `cond`; the message is built only on failure.
pub(crate) fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<()> {
    if cond { Ok(()) } else { Err(KernelError::new(message())) }
}

/// `Err` unless the slice `name` holds at least `needed` elements.
pub(crate) fn ensure_len(name: &str, len: usize, needed: usize) -> Result<()> {
    ensure(len >= needed, || format!("{name} holds {len} elements, {needed} needed"))
}

/// The product of `factors`, or `Err` naming `what` on overflow.
pub(crate) fn checked_product(what: &str, factors: &[usize]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| KernelError::new(format!("{what}: size overflows usize")))
}

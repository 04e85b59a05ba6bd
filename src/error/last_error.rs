//! The calling thread's last error, as `get_extended_error_info` reports it.
//!
//! Each thread keeps the operator name, number and message of the last operator call that
//! failed on it. A successful call leaves it unchanged, as in HALCON.

use std::cell::RefCell;
use std::ffi::CString;

use super::{HalconError, Herror};

/// The last failure of an operator on one thread.
#[derive(Clone, Debug)]
pub struct LastError {
    /// The HALCON name of the operator that failed, e.g. `"get_dict_tuple"`.
    pub operator: &'static str,
    /// Its error number.
    pub code: Herror,
    /// Its message, NUL-terminated for C readers.
    pub message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Records `error` as the calling thread's last error, raised by `operator`.
pub fn record(operator: &'static str, error: &HalconError) {
    let message = CString::new(error.message.replace('\0', "\\0")).unwrap_or_default();
    let entry = LastError { operator, code: error.code, message };
    // A thread that is being torn down has no last error to keep.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(entry));
}

/// The calling thread's last error, if an operator failed on it.
pub fn last() -> Option<LastError> {
    LAST_ERROR.try_with(|slot| slot.borrow().clone()).ok().flatten()
}

/// Runs `read` on the last error's message without copying it; `None` if there is none.
pub fn with_last_message<R>(read: impl FnOnce(Option<&LastError>) -> R) -> R {
    let mut read = Some(read);
    let result = LAST_ERROR.try_with(|slot| (read.take().unwrap())(slot.borrow().as_ref()));
    match result {
        Ok(value) => value,
        Err(_) => (read.take().unwrap())(None),
    }
}

//! The host's log: what plugins report through their log callbacks, and what the host says
//! about loading them, printed to stderr at or above the level set by the environment
//! variable `DLOPT_LOG`: `none` (or `off`), `error`, `warning` (the default), `info`,
//! `debug`.
//!
//! The callbacks given to plugins never unwind into them and never block: a line is
//! formatted and written to stderr, and a failed write is ignored.

use std::ffi::{CStr, c_char, c_void};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use dlopt_ai2::abi::{
    DLOPT_AI2_LOG_DEBUG, DLOPT_AI2_LOG_ERROR, DLOPT_AI2_LOG_INFO, DLOPT_AI2_LOG_WARNING,
};

/// Log level: errors.
pub(crate) const ERROR: i32 = DLOPT_AI2_LOG_ERROR;
/// Log level: warnings.
pub(crate) const WARNING: i32 = DLOPT_AI2_LOG_WARNING;
/// Log level: information.
pub(crate) const INFO: i32 = DLOPT_AI2_LOG_INFO;
/// Log level: details for debugging.
pub(crate) const DEBUG: i32 = DLOPT_AI2_LOG_DEBUG;

/// The most detailed level printed, from `DLOPT_LOG` (read once).
pub fn threshold() -> i32 {
    static THRESHOLD: OnceLock<i32> = OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        std::env::var("DLOPT_LOG").map_or(WARNING, |text| level_from_name(&text).unwrap_or(WARNING))
    })
}

/// The level named `text` (`none`/`off` give 0: nothing is printed).
pub fn level_from_name(text: &str) -> Option<i32> {
    match text.trim().to_ascii_lowercase().as_str() {
        "none" | "off" | "0" => Some(0),
        "error" | "1" => Some(ERROR),
        "warning" | "warn" | "2" => Some(WARNING),
        "info" | "3" => Some(INFO),
        "debug" | "4" => Some(DEBUG),
        _ => None,
    }
}

fn level_name(level: i32) -> &'static str {
    match level {
        i32::MIN..=ERROR => "error",
        WARNING => "warning",
        INFO => "info",
        _ => "debug",
    }
}

/// Prints `message` from `source` (a plugin's name or file) if `level` passes the threshold.
pub fn log(level: i32, source: &str, message: &str) {
    if level > threshold() {
        return;
    }
    // One write per line, so lines of several threads do not interleave.
    let line = format!("dlopt [{}] {source}: {message}\n", level_name(level));
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// What a plugin's log callbacks receive as their context: the name lines are attributed to.
/// Lives as long as the callbacks that point to it (leaked for the plugin's `DlAi2Host`,
/// on the stack of the call for per-call callbacks).
pub struct LogSource {
    /// The plugin's name (or file, before the name is known).
    pub name: String,
}

/// The `log` callback handed to plugins: `context` is a [`LogSource`].
///
/// # Safety
/// `context` must point to a live `LogSource`; `message` is NULL or a NUL-terminated string.
pub unsafe extern "C" fn log_callback(context: *mut c_void, level: i32, message: *const c_char) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if message.is_null() || context.is_null() || level > threshold() {
            return;
        }
        let source = unsafe { &*(context as *const LogSource) };
        let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
        log(level, &source.name, &text);
    }));
}

/// The `progress` callback handed to plugins: logged at debug level.
///
/// # Safety
/// As for [`log_callback`]; `stage` is NULL or a NUL-terminated string.
pub unsafe extern "C" fn progress_callback(
    context: *mut c_void,
    stage: *const c_char,
    done: u64,
    total: u64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if context.is_null() || DEBUG > threshold() {
            return;
        }
        let source = unsafe { &*(context as *const LogSource) };
        let stage = if stage.is_null() {
            "(unnamed stage)".into()
        } else {
            unsafe { CStr::from_ptr(stage) }.to_string_lossy()
        };
        log(DEBUG, &source.name, &format!("{stage}: {done} of {total}"));
    }));
}

/// The `is_cancelled` callback handed to plugins: dlopt's operators have no cancellation
/// yet, so it always answers 0 (go on).
///
/// # Safety
/// Any arguments.
pub unsafe extern "C" fn never_cancelled(_context: *mut c_void) -> i32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_parse_and_unknown_names_are_refused() {
        assert_eq!(level_from_name("none"), Some(0));
        assert_eq!(level_from_name(" Warning "), Some(WARNING));
        assert_eq!(level_from_name("debug"), Some(DEBUG));
        assert_eq!(level_from_name("verbose"), None);
        assert_eq!(level_name(ERROR), "error");
        assert_eq!(level_name(17), "debug");
    }
}

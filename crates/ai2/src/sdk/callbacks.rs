//! The host's callbacks (log, progress, cancellation) as a safe [`Callbacks`] handle, and
//! [`HostInfo`], what a plugin learns when it is initialized.

use std::ffi::{CString, c_void};
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};

use crate::abi::{
    DLOPT_AI2_LOG_DEBUG, DLOPT_AI2_LOG_ERROR, DLOPT_AI2_LOG_INFO, DLOPT_AI2_LOG_WARNING,
    DlAi2Callbacks, DlAi2Host,
};
use crate::sdk::error::{PluginError, PluginResult};
use crate::sdk::sink::has_field;
use crate::sdk::value::read_str;

/// The level of a log line (`DLOPT_AI2_LOG_*`), most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Errors.
    Error,
    /// Warnings.
    Warning,
    /// Information.
    Info,
    /// Details for debugging.
    Debug,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 4] =
        [LogLevel::Error, LogLevel::Warning, LogLevel::Info, LogLevel::Debug];

    /// The `DLOPT_AI2_LOG_*` number.
    pub fn raw(self) -> i32 {
        match self {
            LogLevel::Error => DLOPT_AI2_LOG_ERROR,
            LogLevel::Warning => DLOPT_AI2_LOG_WARNING,
            LogLevel::Info => DLOPT_AI2_LOG_INFO,
            LogLevel::Debug => DLOPT_AI2_LOG_DEBUG,
        }
    }

    /// The lowercase name: `"error"`, `"warning"`, `"info"`, `"debug"`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// The level called `name` (see [`LogLevel::name`]).
    pub fn from_name(name: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|level| level.name() == name)
    }
}

type LogFn = unsafe extern "C" fn(*mut c_void, i32, *const std::ffi::c_char);
type ProgressFn = unsafe extern "C" fn(*mut c_void, *const std::ffi::c_char, u64, u64);
type CancelledFn = unsafe extern "C" fn(*mut c_void) -> i32;

/// The host's callbacks for a call (`'a` is the call) or for the plugin's life (`'static`).
/// Callbacks the host left NULL, or that lie beyond its `struct_size`, do nothing. May be
/// used from any thread of the plugin while `'a` lasts (ABI).
#[derive(Clone, Copy)]
pub struct Callbacks<'a> {
    context: *mut c_void,
    log: Option<LogFn>,
    progress: Option<ProgressFn>,
    is_cancelled: Option<CancelledFn>,
    _call: PhantomData<&'a DlAi2Callbacks>,
}

// SAFETY: the ABI allows calling the callbacks from any thread of the plugin while they are
// valid; the lifetime bounds that.
unsafe impl Send for Callbacks<'_> {}
// SAFETY: as above.
unsafe impl Sync for Callbacks<'_> {}

impl std::fmt::Debug for Callbacks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("log", &self.log.is_some())
            .field("progress", &self.progress.is_some())
            .field("is_cancelled", &self.is_cancelled.is_some())
            .finish()
    }
}

impl Default for Callbacks<'_> {
    fn default() -> Self {
        Callbacks::none()
    }
}

impl<'a> Callbacks<'a> {
    /// No callbacks: logging and progress do nothing, nothing is ever cancelled.
    pub fn none() -> Callbacks<'a> {
        Callbacks {
            context: std::ptr::null_mut(),
            log: None,
            progress: None,
            is_cancelled: None,
            _call: PhantomData,
        }
    }

    /// Wraps the host's callbacks (NULL gives [`Callbacks::none`]).
    ///
    /// # Safety
    /// `callbacks` must be NULL or valid for `'a`, with callbacks callable from any thread
    /// for `'a` (ABI).
    pub unsafe fn from_raw(callbacks: *const DlAi2Callbacks) -> Callbacks<'a> {
        // SAFETY: guaranteed by the caller.
        let Some(raw) = (unsafe { callbacks.as_ref() }) else {
            return Callbacks::none();
        };
        let size = size_of::<Option<LogFn>>();
        let present = |offset: usize| has_field(raw.struct_size, offset, size);
        Callbacks {
            context: raw.context,
            log: raw.log.filter(|_| present(offset_of!(DlAi2Callbacks, log))),
            progress: raw.progress.filter(|_| present(offset_of!(DlAi2Callbacks, progress))),
            is_cancelled: raw
                .is_cancelled
                .filter(|_| present(offset_of!(DlAi2Callbacks, is_cancelled))),
            _call: PhantomData,
        }
    }

    /// Sends a log line (a NUL in `message` becomes U+FFFD).
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = self.log {
            let message = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
            // SAFETY: the host's callback with its context, valid for 'a.
            unsafe { log(self.context, level.raw(), message.as_ptr()) };
        }
    }

    /// Reports progress of `stage`: `done` of `total` units.
    pub fn progress(&self, stage: &str, done: u64, total: u64) {
        if let Some(progress) = self.progress {
            let stage = CString::new(stage.replace('\0', "\u{FFFD}")).unwrap_or_default();
            // SAFETY: the host's callback with its context, valid for 'a.
            unsafe { progress(self.context, stage.as_ptr(), done, total) };
        }
    }

    /// Whether the host asked to stop.
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: the host's callback with its context, valid for 'a.
        self.is_cancelled.is_some_and(|cancelled| unsafe { cancelled(self.context) } != 0)
    }

    /// `Err(CANCELLED)` naming `stage` if the host asked to stop, else `Ok`.
    pub fn check_cancelled(&self, stage: &str) -> PluginResult<()> {
        if self.is_cancelled() {
            return Err(PluginError::cancelled(format!("cancelled by the host during {stage}")));
        }
        Ok(())
    }
}

/// What the host tells a plugin at initialization.
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// The host's name, e.g. `"dlopt"`.
    pub name: String,
    /// The host's version, e.g. `"0.1.0"`.
    pub version: String,
    /// Callbacks for the plugin's whole life (the ABI uses only `log` here).
    pub callbacks: Callbacks<'static>,
}

impl HostInfo {
    /// Reads the host's description.
    ///
    /// # Safety
    /// `host` must be NULL (an error) or valid as the ABI describes, until the process ends.
    pub unsafe fn from_raw(host: *const DlAi2Host) -> PluginResult<HostInfo> {
        // SAFETY: guaranteed by the caller.
        let raw = unsafe { host.as_ref() }
            .ok_or_else(|| PluginError::invalid_argument("host is NULL"))?;
        let required = offset_of!(DlAi2Host, host_version) + size_of::<*const u8>();
        if raw.struct_size < required {
            return Err(PluginError::invalid_argument(format!(
                "host->struct_size is {}, ABI 1.0 needs at least {required}",
                raw.struct_size
            )));
        }
        // SAFETY: NUL-terminated strings and callbacks valid until the process ends (ABI).
        let name = unsafe { read_str(raw.host_name, "host->host_name") }?.to_string();
        let version = unsafe { read_str(raw.host_version, "host->host_version") }?.to_string();
        let callbacks_present =
            has_field(raw.struct_size, offset_of!(DlAi2Host, callbacks), size_of::<*const u8>());
        let callbacks = if callbacks_present {
            unsafe { Callbacks::from_raw(raw.callbacks) }
        } else {
            Callbacks::none()
        };
        Ok(HostInfo { name, version, callbacks })
    }
}

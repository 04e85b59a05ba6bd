//! The host side of AI² plugins: shared libraries that bring devices, loaded at run time
//! through the versioned C ABI of `include/dlopt_ai2.h` (crate `dlopt-ai2`).
//!
//! - [`discovery`]: where plugins are looked for (`DLOPT_AI2_PLUGIN_PATH`, then
//!   `dlopt-plugins/` beside the library; never the current directory).
//! - [`loader`]: dlopen, the two entry symbols, negotiation, the function table,
//!   `initialize`, `device_count`; a plugin failing any step is skipped and its reason kept.
//! - [`registry`]: every candidate's outcome, loaded once, lazily (on the first device query
//!   or `get_system('ai2_plugins')`), thread-safely; plugins are never unloaded.
//! - [`error`]: plugin errors to HALCON numbers; [`value`]: values across the boundary;
//!   [`graph`]: the graph a plugin compiles; [`compiled`]: compiled models and their cache;
//!   [`artifact`]: compiled models to bytes and back (`serialize` / `deserialize`);
//!   [`device`]: the device parameters of plugin devices.
//!
//! Locking: no lock of the host is held while a plugin function runs, with one deliberate
//! exception: a compiled model whose device does not report `"execute_concurrently"` = 1
//! has a mutex of its own that serialises its `execute` calls, as the ABI requires.

pub mod artifact;
pub mod compiled;
pub mod device;
pub mod discovery;
pub mod error;
pub mod graph;
pub mod loader;
pub mod log;
pub mod value;

use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use dlopt_ai2::abi::{
    DlAi2Buffer, DlAi2ByteSink, DlAi2CompileArgs, DlAi2Compiled, DlAi2Error, DlAi2Graph,
    DlAi2Plugin, DlAi2Value, DlAi2ValueSink,
};

use crate::error::{HalconError, Result};
use crate::tuple::Tuple;

use error::{ErrorContext, PluginError};
use value::{CArena, PluginValue};

/// The function pointers of a plugin's table that the host calls, checked non-NULL at load.
#[derive(Clone, Copy)]
pub(crate) struct Functions {
    pub(crate) error_destroy: unsafe extern "C" fn(*mut DlAi2Error),
    pub(crate) device_property: unsafe extern "C" fn(
        *mut DlAi2Plugin,
        usize,
        *const c_char,
        *const DlAi2ValueSink,
    ) -> *mut DlAi2Error,
    pub(crate) set_device_param: unsafe extern "C" fn(
        *mut DlAi2Plugin,
        usize,
        *const c_char,
        *const DlAi2Value,
    ) -> *mut DlAi2Error,
    pub(crate) check_support: unsafe extern "C" fn(
        *mut DlAi2Plugin,
        usize,
        *const DlAi2Graph,
        *const c_char,
        *mut std::ffi::c_void,
        Option<unsafe extern "C" fn(*mut std::ffi::c_void, usize, *const c_char)>,
    ) -> *mut DlAi2Error,
    pub(crate) compile: unsafe extern "C" fn(
        *mut DlAi2Plugin,
        *const DlAi2CompileArgs,
        *mut *mut DlAi2Compiled,
    ) -> *mut DlAi2Error,
    pub(crate) compiled_destroy: unsafe extern "C" fn(*mut DlAi2Compiled),
    pub(crate) execute: unsafe extern "C" fn(
        *mut DlAi2Compiled,
        *const DlAi2Buffer,
        usize,
        *const DlAi2Buffer,
        usize,
    ) -> *mut DlAi2Error,
    /// Optional in the table (NULL, or beyond a short table's `struct_size`): a plugin
    /// without it cannot store compiled models in files.
    pub(crate) serialize:
        Option<unsafe extern "C" fn(*mut DlAi2Compiled, *const DlAi2ByteSink) -> *mut DlAi2Error>,
    /// Optional, as `serialize`.
    pub(crate) deserialize: Option<
        unsafe extern "C" fn(
            *mut DlAi2Plugin,
            usize,
            *const u8,
            usize,
            *mut *mut DlAi2Compiled,
        ) -> *mut DlAi2Error,
    >,
}

/// A plugin that loaded and initialized: its identity, instance and functions. Lives for
/// the process (its library is never unloaded).
pub struct LoadedPlugin {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// `DlAi2Api::plugin_name`.
    pub name: String,
    /// `DlAi2Api::plugin_version`.
    pub version: String,
    /// `DlAi2Api::interface_name`: its devices' `'ai_accelerator_interface'`.
    pub interface: String,
    /// The negotiated ABI version (major, minor).
    pub abi_version: (u32, u32),
    /// The number of devices it offers.
    pub device_count: usize,
    pub(crate) instance: *mut DlAi2Plugin,
    pub(crate) functions: Functions,
}

// SAFETY: the ABI makes the functions the host calls on a plugin instance thread safe
// (device_property, set_device_param, check_support, compile); the instance pointer is
// never freed (plugins live for the process).
unsafe impl Send for LoadedPlugin {}
unsafe impl Sync for LoadedPlugin {}

impl LoadedPlugin {
    /// Copies and frees `error` (NULL: `None`).
    ///
    /// # Safety
    /// `error` is NULL or an error this plugin returned and nobody freed.
    pub(crate) unsafe fn take_error(&self, error: *mut DlAi2Error) -> Option<PluginError> {
        unsafe { error::take(error, Some(self.functions.error_destroy)) }
    }

    /// `Ok` for NULL, the mapped HALCON error otherwise.
    ///
    /// # Safety
    /// As for [`Self::take_error`].
    pub(crate) unsafe fn check(&self, error: *mut DlAi2Error, context: ErrorContext) -> Result<()> {
        match unsafe { self.take_error(error) } {
            None => Ok(()),
            Some(error) => Err(error.to_halcon(&self.name, context)),
        }
    }

    /// Device property `key` of device `device`. The outer error is the plugin's own (so
    /// callers can tell `UNKNOWN_PARAMETER` apart); the inner one a malformed value (4320).
    pub fn property(
        &self,
        device: usize,
        key: &str,
    ) -> std::result::Result<Result<PluginValue>, PluginError> {
        let mut arena = CArena::default();
        let key_pointer = match arena.string(key) {
            Ok(pointer) => pointer,
            Err(error) => return Ok(Err(error)),
        };
        value::read_value(&self.name, &format!("device property '{key}'"), |sink| {
            let error = unsafe {
                (self.functions.device_property)(self.instance, device, key_pointer, sink)
            };
            match unsafe { self.take_error(error) } {
                None => Ok(()),
                Some(error) => Err(error),
            }
        })
    }

    /// Device property `key` with plugin errors mapped to HALCON numbers.
    pub fn property_value(&self, device: usize, key: &str) -> Result<PluginValue> {
        self.property(device, key)
            .map_err(|error| error.to_halcon(&self.name, ErrorContext::General))?
    }

    /// Sets device parameter `key` of device `device` to `value` (converted to a plugin
    /// value). Errors: 4321 for a value that cannot cross, the plugin's mapped error
    /// (4321 for an unknown name or a refused value) otherwise.
    pub fn set_device_param(&self, device: usize, key: &str, value: &Tuple) -> Result<()> {
        let mut arena = CArena::default();
        let key_pointer = arena.string(key)?;
        let value = value::tuple_to_value(&mut arena, value)
            .map_err(|error| error.context(format!("GenParamValue for '{key}'")))?;
        let error = unsafe {
            (self.functions.set_device_param)(self.instance, device, key_pointer, &value)
        };
        unsafe { self.check(error, ErrorContext::General) }
    }
}

/// What happened to one plugin file.
pub struct PluginRecord {
    /// The file.
    pub path: PathBuf,
    /// `plugin_name`, once the function table was read.
    pub name: Option<String>,
    /// `interface_name`, once the function table was read.
    pub interface: Option<String>,
    /// `plugin_version`, once the function table was read.
    pub version: Option<String>,
    /// The ABI version the plugin answered in negotiation, `"major.minor"`.
    pub abi_version: Option<String>,
    /// The plugin, or why it was skipped (8600 dlopen, 8602 missing symbol, 8603 ABI
    /// mismatch or incomplete table, 4320 initialize / device enumeration failed).
    pub outcome: std::result::Result<Arc<LoadedPlugin>, HalconError>,
}

impl PluginRecord {
    /// The file name without directory and `.so`, e.g. `libvendor_npu`.
    pub fn file_stem(&self) -> String {
        self.path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Whether `name` designates this plugin: its interface name, its file stem, or the
    /// stem without a leading `lib`.
    pub fn answers_to(&self, name: &str) -> bool {
        let stem = self.file_stem();
        self.interface.as_deref() == Some(name)
            || stem == name
            || stem.strip_prefix("lib") == Some(name)
    }
}

/// Every plugin candidate of the process, in load order.
pub struct Registry {
    /// The directories searched, in order.
    pub directories: Vec<PathBuf>,
    /// One record per candidate file.
    pub records: Vec<PluginRecord>,
}

impl Registry {
    /// The plugins that loaded, in order.
    pub fn loaded(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.records.iter().filter_map(|record| record.outcome.as_ref().ok())
    }

    /// The first failed plugin that answers to `name` (see [`PluginRecord::answers_to`]).
    pub fn failed(&self, name: &str) -> Option<&PluginRecord> {
        self.records.iter().find(|record| record.outcome.is_err() && record.answers_to(name))
    }
}

/// The registry: searched and loaded on first use, then fixed for the process.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let directories = discovery::search_directories();
        let records = loader::load_all(&directories);
        Registry { directories, records }
    })
}

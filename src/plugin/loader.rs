//! Loading one plugin file, step by step; a plugin failing a step is skipped with a
//! HALCON number and a reason:
//!
//! | step | failure |
//! |---|---|
//! | `dlopen` (`RTLD_NOW`, so unresolved symbols fail here, not later) | 8600 `H_ERR_DLOPEN` |
//! | `dlsym` of `dlopt_ai2_negotiate` and `dlopt_ai2_api` | 8602 `H_ERR_DLLOOKUP` |
//! | negotiation: refused, another major version, a newer minor than offered | 8603 `H_ERR_COMPONENT_NOT_INSTALLED` |
//! | the table: NULL, `struct_size` too small, wrong `abi_major`, NULL names or functions | 8603 |
//! | a second plugin with the same interface name | 8603 |
//! | `initialize`, then `device_count` | 4320 `H_ERR_HAI2_ERROR` with the plugin's message |
//!
//! Libraries are never unloaded, not even after a failure (a plugin's code may have
//! started threads or registered thread-locals by then).

use std::ffi::{CStr, c_char, c_void};
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dlopt_ai2::abi::{
    API_SYMBOL, DLOPT_AI2_ABI_MAJOR, DLOPT_AI2_ABI_MINOR, DlAi2Api, DlAi2ApiFn, DlAi2Callbacks,
    DlAi2Host, DlAi2NegotiateFn, DlAi2Plugin, NEGOTIATE_SYMBOL,
};
use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

use crate::error::{
    H_ERR_COMPONENT_NOT_INSTALLED, H_ERR_DLLOOKUP, H_ERR_DLOPEN, H_ERR_HAI2_ERROR, HalconError,
};

use super::log::{self, LogSource};
use super::{Functions, LoadedPlugin, PluginRecord, discovery};

/// More devices than any plugin can sensibly offer: a larger count is a broken plugin.
const MAX_DEVICES: usize = 4096;

/// The longest name or version string read from a table.
const MAX_NAME: usize = 256;

/// Loads every candidate of `directories`, in order (a file reached twice, e.g. through a
/// link, is loaded once). Logs each outcome.
pub fn load_all(directories: &[PathBuf]) -> Vec<PluginRecord> {
    let mut records: Vec<PluginRecord> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for directory in directories {
        for path in discovery::candidates(directory) {
            let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.contains(&identity) {
                continue;
            }
            seen.push(identity);
            let mut record = load(&path);
            let duplicate = record.outcome.as_ref().ok().and_then(|plugin| {
                records
                    .iter()
                    .filter_map(|earlier| earlier.outcome.as_ref().ok())
                    .find(|earlier| earlier.interface == plugin.interface)
                    .map(|earlier| {
                        failure(
                            H_ERR_COMPONENT_NOT_INSTALLED,
                            format!(
                                "interface '{}' is already provided by {}; this copy is ignored",
                                plugin.interface,
                                earlier.path.display()
                            ),
                        )
                    })
            });
            if let Some(error) = duplicate {
                record.outcome = Err(error);
            }
            match &record.outcome {
                Ok(plugin) => log::log(
                    log::INFO,
                    &plugin.name,
                    &format!(
                        "loaded {} (version {}, ABI {}.{}, {} device(s))",
                        path.display(),
                        plugin.version,
                        plugin.abi_version.0,
                        plugin.abi_version.1,
                        plugin.device_count
                    ),
                ),
                Err(error) => log::log(
                    log::WARNING,
                    "plugin loader",
                    &format!(
                        "skipped {}: {} (error {})",
                        path.display(),
                        error.message,
                        error.code
                    ),
                ),
            }
            records.push(record);
        }
    }
    records
}

fn failure(code: i32, message: String) -> HalconError {
    HalconError::new(code, message)
}

/// Reads a name from the table: non-NULL, UTF-8, at most [`MAX_NAME`] bytes.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
unsafe fn table_text(text: *const c_char, field: &str) -> Result<String, HalconError> {
    if text.is_null() {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("the function table's {field} is NULL"),
        ));
    }
    let text = unsafe { CStr::from_ptr(text) }.to_str().map_err(|_| {
        failure(H_ERR_COMPONENT_NOT_INSTALLED, format!("the function table's {field} is not UTF-8"))
    })?;
    if text.is_empty() || text.len() > MAX_NAME {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("the function table's {field} is empty or longer than {MAX_NAME} bytes"),
        ));
    }
    Ok(text.to_string())
}

/// Reads field `$field` of the table `$api` (a raw pointer) without making a reference to a
/// struct that may be smaller than ours (the caller checked `struct_size` covers it).
macro_rules! field {
    ($api:expr, $field:ident) => {
        unsafe { (&raw const (*$api).$field).read() }
    };
}

/// Loads one file (see the module documentation for the steps).
pub fn load(path: &Path) -> PluginRecord {
    let mut record = PluginRecord {
        path: path.to_path_buf(),
        name: None,
        interface: None,
        version: None,
        abi_version: None,
        outcome: Err(failure(H_ERR_DLOPEN, String::new())),
    };
    record.outcome = load_steps(path, &mut record).map(Arc::new);
    record
}

fn load_steps(path: &Path, record: &mut PluginRecord) -> Result<LoadedPlugin, HalconError> {
    // SAFETY: loading runs the library's initializers: trusting the plugin directories is
    // the contract of plugin loading.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|error| {
        failure(H_ERR_DLOPEN, format!("cannot load {}: {error}", path.display()))
    })?;
    let symbol = |name: &str| -> Result<*mut c_void, HalconError> {
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        // SAFETY: the symbol is only read as an address here.
        unsafe { library.get::<*mut c_void>(&bytes) }.map(|symbol| *symbol).map_err(|error| {
            failure(
                H_ERR_DLLOOKUP,
                format!(
                    "{} does not export '{name}' ({error}): it is not an AI² plugin",
                    path.display()
                ),
            )
        })
    };
    let symbols =
        symbol(NEGOTIATE_SYMBOL).and_then(|negotiate| Ok((negotiate, symbol(API_SYMBOL)?)));
    // Never unloaded, whatever happens next.
    keep(KEPT_LIBRARIES.lock(), library);
    let (negotiate_address, api_address) = symbols?;
    if negotiate_address.is_null() || api_address.is_null() {
        return Err(failure(H_ERR_DLLOOKUP, "an entry symbol resolves to NULL".to_string()));
    }
    // SAFETY: the entry symbols' signatures are frozen by the ABI.
    let negotiate: DlAi2NegotiateFn = unsafe { std::mem::transmute(negotiate_address) };
    let api_entry: DlAi2ApiFn = unsafe { std::mem::transmute(api_address) };

    let (mut major, mut minor) = (0u32, 0u32);
    let refused =
        unsafe { negotiate(DLOPT_AI2_ABI_MAJOR, DLOPT_AI2_ABI_MINOR, &mut major, &mut minor) };
    if refused != 0 {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!(
                "the plugin refused AI² ABI {DLOPT_AI2_ABI_MAJOR}.{DLOPT_AI2_ABI_MINOR} (negotiation returned {refused})"
            ),
        ));
    }
    record.abi_version = Some(format!("{major}.{minor}"));
    if major != DLOPT_AI2_ABI_MAJOR || minor > DLOPT_AI2_ABI_MINOR {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!(
                "the plugin answered AI² ABI {major}.{minor}; this dlopt speaks {DLOPT_AI2_ABI_MAJOR}.{DLOPT_AI2_ABI_MINOR} (same major, minor at most ours)"
            ),
        ));
    }
    let api = unsafe { api_entry(major) };
    read_table(api, major, record)
}

fn read_table(
    api: *const DlAi2Api,
    major: u32,
    record: &mut PluginRecord,
) -> Result<LoadedPlugin, HalconError> {
    if api.is_null() {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("dlopt_ai2_api({major}) returned NULL"),
        ));
    }
    // The host needs every field up to `execute`; `serialize` and `deserialize` are optional
    // (read below when the table is long enough): without them, converted models are
    // written without compiled artifacts.
    let needed = offset_of!(DlAi2Api, execute) + size_of::<usize>();
    let size = field!(api, struct_size);
    if size < needed {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("the function table is {size} bytes; ABI 1.0 needs at least {needed}"),
        ));
    }
    let table_major = field!(api, abi_major);
    if table_major != major {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("the function table says ABI major {table_major}, negotiation said {major}"),
        ));
    }
    let (name, interface, version) =
        (field!(api, plugin_name), field!(api, interface_name), field!(api, plugin_version));
    let name = unsafe { table_text(name, "plugin_name") }?;
    record.name = Some(name.clone());
    let interface = unsafe { table_text(interface, "interface_name") }?;
    record.interface = Some(interface.clone());
    let version = unsafe { table_text(version, "plugin_version") }?;
    record.version = Some(version.clone());
    if interface == "none" {
        return Err(failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            "interface name 'none' is reserved for the native runtime".to_string(),
        ));
    }

    let missing = |function: &str| {
        failure(
            H_ERR_COMPONENT_NOT_INSTALLED,
            format!("the function table lacks '{function}' (NULL)"),
        )
    };
    macro_rules! required {
        ($field:ident) => {
            field!(api, $field).ok_or_else(|| missing(stringify!($field)))?
        };
    }
    let functions = Functions {
        error_destroy: required!(error_destroy),
        device_property: required!(device_property),
        set_device_param: required!(set_device_param),
        check_support: required!(check_support),
        compile: required!(compile),
        compiled_destroy: required!(compiled_destroy),
        execute: required!(execute),
        serialize: if size >= offset_of!(DlAi2Api, serialize) + size_of::<usize>() {
            field!(api, serialize)
        } else {
            None
        },
        deserialize: if size >= offset_of!(DlAi2Api, deserialize) + size_of::<usize>() {
            field!(api, deserialize)
        } else {
            None
        },
    };
    let initialize = required!(initialize);
    let device_count = required!(device_count);

    let host = host_for(&name);
    let mut instance: *mut DlAi2Plugin = std::ptr::null_mut();
    let error = unsafe { initialize(host, &mut instance) };
    if let Some(error) = unsafe { super::error::take(error, Some(functions.error_destroy)) } {
        return Err(failure(
            H_ERR_HAI2_ERROR,
            format!(
                "{name}: initialize failed: {} ({})",
                error.message,
                super::error::code_name(error.code)
            ),
        ));
    }
    if instance.is_null() {
        return Err(failure(
            H_ERR_HAI2_ERROR,
            format!("{name}: initialize returned no plugin instance and no error"),
        ));
    }
    let mut count = 0usize;
    let error = unsafe { device_count(instance, &mut count) };
    if let Some(error) = unsafe { super::error::take(error, Some(functions.error_destroy)) } {
        return Err(failure(
            H_ERR_HAI2_ERROR,
            format!(
                "{name}: device_count failed: {} ({})",
                error.message,
                super::error::code_name(error.code)
            ),
        ));
    }
    if count > MAX_DEVICES {
        return Err(failure(
            H_ERR_HAI2_ERROR,
            format!(
                "{name}: device_count reported {count} devices (at most {MAX_DEVICES} are accepted)"
            ),
        ));
    }
    Ok(LoadedPlugin {
        path: record.path.clone(),
        name,
        version,
        interface,
        abi_version: (major, field!(api, abi_minor).min(DLOPT_AI2_ABI_MINOR)),
        device_count: count,
        instance,
        functions,
    })
}

/// What a plugin's `DlAi2Host` points to, kept together (and alive) for the process.
struct HostBlock {
    source: LogSource,
    callbacks: DlAi2Callbacks,
    host: DlAi2Host,
}

// SAFETY: the block is only read after it is built (by plugins, from any thread).
unsafe impl Send for HostBlock {}

/// Plugin libraries and hosts: kept reachable (not merely leaked) so leak checkers see
/// that they live on on purpose.
static KEPT_LIBRARIES: Mutex<Vec<Library>> = Mutex::new(Vec::new());
// Boxed: plugins hold pointers into the blocks, which must not move when the Vec grows.
#[allow(clippy::vec_box)]
static KEPT_HOSTS: Mutex<Vec<Box<HostBlock>>> = Mutex::new(Vec::new());

fn keep<T>(kept: std::sync::LockResult<std::sync::MutexGuard<'_, Vec<T>>>, item: T) {
    kept.unwrap_or_else(std::sync::PoisonError::into_inner).push(item);
}

/// The `DlAi2Host` a plugin keeps for its whole life, with a log callback that attributes
/// lines to `name`.
fn host_for(name: &str) -> *const DlAi2Host {
    static HOST_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    let version = CStr::from_bytes_with_nul(HOST_VERSION.as_bytes()).unwrap_or(c"0");
    let mut block = Box::new(HostBlock {
        source: LogSource { name: name.to_string() },
        callbacks: DlAi2Callbacks {
            struct_size: size_of::<DlAi2Callbacks>(),
            context: std::ptr::null_mut(),
            log: Some(log::log_callback),
            progress: Some(log::progress_callback),
            is_cancelled: Some(log::never_cancelled),
        },
        host: DlAi2Host {
            struct_size: size_of::<DlAi2Host>(),
            host_name: c"dlopt".as_ptr(),
            host_version: version.as_ptr(),
            callbacks: std::ptr::null(),
        },
    });
    block.callbacks.context = &block.source as *const LogSource as *mut c_void;
    block.host.callbacks = &block.callbacks;
    let host = &block.host as *const DlAi2Host;
    keep(KEPT_HOSTS.lock(), block);
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_library_is_8600_and_a_missing_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("libgarbage.so");
        std::fs::write(&garbage, b"not an ELF file").unwrap();
        let record = load(&garbage);
        let error = record.outcome.as_ref().err().unwrap();
        assert_eq!(error.code, H_ERR_DLOPEN);
        assert!(error.message.contains("libgarbage.so"), "{}", error.message);
        assert!(record.name.is_none());
        assert!(record.answers_to("garbage") && record.answers_to("libgarbage"));
    }

    #[test]
    fn a_library_without_the_entry_symbols_is_8602() {
        // libc is a shared library that certainly is no plugin.
        let libc_path = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
            .into_iter()
            .map(Path::new)
            .find(|path| path.exists());
        let Some(path) = libc_path else { return };
        let error = load(path).outcome.err().unwrap();
        assert_eq!(error.code, H_ERR_DLLOOKUP);
        assert!(error.message.contains("dlopt_ai2_negotiate"), "{}", error.message);
    }
}

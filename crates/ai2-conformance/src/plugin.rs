//! Loading a plugin and calling it: the two entry symbols, the function table, the plugin
//! instance, compiled models. Every error object the plugin returns is read, checked for
//! well-formedness and freed here ([`Session::result`]).
//!
//! Plugins are never unloaded (ABI rule 12): the library handle is leaked on purpose.

use std::ffi::{CString, c_char, c_void};
use std::path::Path;
use std::ptr;
use std::sync::{Mutex, OnceLock};

use dlopt_ai2::abi::{
    API_SYMBOL, DlAi2Api, DlAi2ApiFn, DlAi2Buffer, DlAi2Callbacks, DlAi2CompileArgs, DlAi2Compiled,
    DlAi2Error, DlAi2Host, DlAi2NegotiateFn, DlAi2Plugin, NEGOTIATE_SYMBOL,
};

use crate::graph_view::{GraphView, ValueView};
use crate::sinks::{ByteSink, PropValue, SupportReport, ValueSink, c_text, record_unsupported};

/// The two entry points of a loaded plugin library.
#[derive(Clone, Copy)]
pub struct Entry {
    /// `dlopt_ai2_negotiate`.
    pub negotiate: DlAi2NegotiateFn,
    /// `dlopt_ai2_api`.
    pub api: DlAi2ApiFn,
}

/// Loads the library at `path` (never unloaded) and finds both entry symbols.
pub fn load(path: &Path) -> Result<Entry, String> {
    // SAFETY: loading runs the library's initializers; that is what loading a plugin means.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|error| format!("cannot load {}: {error}", path.display()))?;
    let symbol = |name: &str| format!("{name}\0").into_bytes();
    // SAFETY: the symbols have the ABI's frozen signatures (that is what is being checked;
    // a plugin exporting them with other signatures is beyond saving).
    let entry = unsafe {
        let negotiate = library
            .get::<DlAi2NegotiateFn>(&symbol(NEGOTIATE_SYMBOL))
            .map_err(|error| format!("symbol {NEGOTIATE_SYMBOL} is missing: {error}"))?;
        let api = library
            .get::<DlAi2ApiFn>(&symbol(API_SYMBOL))
            .map_err(|error| format!("symbol {API_SYMBOL} is missing: {error}"))?;
        Entry { negotiate: *negotiate, api: *api }
    };
    std::mem::forget(library);
    Ok(entry)
}

/// The name of a `DLOPT_AI2_ERROR_*` code.
pub fn code_name(code: i32) -> &'static str {
    match code {
        1 => "INVALID_ARGUMENT",
        2 => "UNSUPPORTED",
        3 => "OUT_OF_MEMORY",
        4 => "INTERNAL",
        5 => "CANCELLED",
        6 => "INCOMPATIBLE_ARTIFACT",
        7 => "DEVICE",
        8 => "UNKNOWN_PARAMETER",
        9 => "INVALID_PARAMETER_VALUE",
        _ => "an unknown code",
    }
}

/// An error a plugin returned (already freed through `error_destroy`).
#[derive(Clone, Debug)]
pub struct PluginError {
    /// The code.
    pub code: i32,
    /// The message (empty if it was unreadable).
    pub message: String,
    /// How the error object breaks the ABI, if it does.
    pub malformed: Option<String>,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", code_name(self.code), self.code, self.message)?;
        if let Some(problem) = &self.malformed {
            write!(f, " [malformed error object: {problem}]")?;
        }
        Ok(())
    }
}

/// What a plugin call gave: success, or a plugin error.
pub type PluginResult<T> = Result<T, PluginError>;

/// Expects `result` to be an error with `code` (and a well-formed error object).
pub fn expect_code<T>(result: PluginResult<T>, code: i32, call: &str) -> Result<String, String> {
    match result {
        Ok(_) => Err(format!("{call} succeeded; expected {}", code_name(code))),
        Err(error) if error.malformed.is_some() => Err(format!("{call}: {error}")),
        Err(error) if error.code == code => Ok(error.message),
        Err(error) => Err(format!("{call}: got {error}; expected {}", code_name(code))),
    }
}

/// Expects success, turning an error into a failure message.
pub fn expect_ok<T>(result: PluginResult<T>, call: &str) -> Result<T, String> {
    result.map_err(|error| format!("{call} failed: {error}"))
}

/// What the plugin sent through the log callback given to initialize.
#[derive(Default)]
pub struct HostLog {
    /// Level and text of each line.
    pub lines: Vec<(i32, String)>,
    /// Misuse: bad levels, NULL or non-UTF-8 text.
    pub problems: Vec<String>,
}

/// The host log of this process.
pub fn host_log() -> &'static Mutex<HostLog> {
    static LOG: OnceLock<Mutex<HostLog>> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(HostLog::default()))
}

unsafe extern "C" fn host_log_line(_context: *mut c_void, level: i32, message: *const c_char) {
    // SAFETY: the plugin passes a NUL-terminated message (NULL is caught).
    let text = unsafe { c_text(message, "the host log's message") };
    let mut log = host_log().lock().unwrap_or_else(|error| error.into_inner());
    if !(1..=4).contains(&level) {
        log.problems.push(format!("host log level {level} is not a DLOPT_AI2_LOG_* level"));
    }
    match text {
        Ok(text) => log.lines.push((level, text)),
        Err(problem) => log.problems.push(problem),
    }
}

/// A `DlAi2Host` with room behind it (for checking that plugins accept larger structs).
#[repr(C)]
struct ExtendedHost {
    host: DlAi2Host,
    appended: [usize; 4],
}

/// The host description given to initialize: valid for the rest of the process (leaked).
fn host(extended: bool) -> *const DlAi2Host {
    let callbacks: &'static DlAi2Callbacks = Box::leak(Box::new(DlAi2Callbacks {
        struct_size: size_of::<DlAi2Callbacks>(),
        context: ptr::null_mut(),
        log: Some(host_log_line),
        progress: None,
        is_cancelled: None,
    }));
    let name: &'static CString = Box::leak(Box::new(c"dlopt-ai2-conformance".to_owned()));
    let version: &'static CString =
        Box::leak(Box::new(CString::new(env!("CARGO_PKG_VERSION")).unwrap_or_default()));
    let host: &'static ExtendedHost = Box::leak(Box::new(ExtendedHost {
        host: DlAi2Host {
            struct_size: if extended { size_of::<ExtendedHost>() } else { size_of::<DlAi2Host>() },
            host_name: name.as_ptr(),
            host_version: version.as_ptr(),
            callbacks,
        },
        appended: [0; 4],
    }));
    &host.host
}

/// A function table: the plugin's static `DlAi2Api`, every function present.
#[derive(Clone, Copy)]
pub struct Api {
    /// The table.
    pub table: &'static DlAi2Api,
}

impl Api {
    /// Reads and frees an error the plugin returned (NULL: success). `error` must be what a
    /// function of this table returned.
    pub(crate) fn result(&self, error: *mut DlAi2Error) -> PluginResult<()> {
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: a non-NULL result is an error object the plugin allocated; it stays valid
        // until error_destroy.
        let (code, message, malformed) = unsafe {
            let object = &*error;
            let mut problems = Vec::new();
            if object.struct_size < size_of::<DlAi2Error>() {
                problems.push(format!("struct_size {} is below ABI 1.0's", object.struct_size));
            }
            if !(1..=9).contains(&object.code) {
                problems.push(format!("code {} is not a DLOPT_AI2_ERROR_* code", object.code));
            }
            let message = match c_text(object.message, "the message") {
                Ok(text) if text.trim().is_empty() => {
                    problems.push("the message is empty".into());
                    text
                }
                Ok(text) => text,
                Err(problem) => {
                    problems.push(problem);
                    String::new()
                }
            };
            (object.code, message, (!problems.is_empty()).then(|| problems.join("; ")))
        };
        if let Some(destroy) = self.table.error_destroy {
            // SAFETY: the error came from this plugin and is freed once.
            unsafe { destroy(error) };
        }
        Err(PluginError { code, message, malformed })
    }
}

/// The standard start of every check group: load, negotiate 1.0, get the table,
/// initialize, count devices.
pub struct Session {
    /// The entry points.
    pub entry: Entry,
    /// The table.
    pub api: Api,
    /// The plugin instance.
    pub plugin: *mut DlAi2Plugin,
    /// The number of devices.
    pub device_count: usize,
}

// SAFETY: the ABI documents the instance's functions (device_count, device_property,
// set_device_param, check_support, compile, deserialize) as thread safe.
unsafe impl Send for Session {}
// SAFETY: as above.
unsafe impl Sync for Session {}

/// A function pointer of the table, which [`Api::get`] checked to be present.
macro_rules! function {
    ($api:expr, $name:ident) => {
        $api.table.$name.expect(concat!(stringify!($name), " is NULL"))
    };
}
pub(crate) use function;

impl Session {
    /// Loads and initializes the plugin at `path`. With `extended_host`, the `DlAi2Host`
    /// given to initialize is larger than ABI 1.0's.
    pub fn open(path: &Path, extended_host: bool) -> Result<Session, String> {
        let entry = load(path)?;
        let (mut major, mut minor) = (0u32, 0u32);
        // SAFETY: the frozen signature; both out-pointers are valid.
        let refused = unsafe { (entry.negotiate)(1, 0, &mut major, &mut minor) };
        if refused != 0 || major != 1 {
            return Err(format!(
                "negotiation of ABI 1.0 failed (returned {refused}, {major}.{minor})"
            ));
        }
        // SAFETY: the frozen signature.
        let table = unsafe { (entry.api)(1) };
        if table.is_null() {
            return Err("dlopt_ai2_api(1) returned NULL".into());
        }
        // SAFETY: a non-NULL table is static (valid for the process).
        let table: &'static DlAi2Api = unsafe { &*table };
        let missing = missing_functions(table);
        if !missing.is_empty() {
            return Err(format!("the table lacks {}", missing.join(", ")));
        }
        let api = Api { table };
        let mut plugin = ptr::null_mut();
        // SAFETY: the host description lives for the rest of the process.
        let result =
            api.result(unsafe { function!(api, initialize)(host(extended_host), &mut plugin) });
        expect_ok(result, "initialize")?;
        if plugin.is_null() {
            return Err("initialize succeeded but gave a NULL plugin".into());
        }
        let mut count = 0usize;
        // SAFETY: a valid instance and out-pointer.
        let result = api.result(unsafe { function!(api, device_count)(plugin, &mut count) });
        expect_ok(result, "device_count")?;
        Ok(Session { entry, api, plugin, device_count: count })
    }

    /// Reads and frees an error (see [`Api::result`]).
    pub(crate) fn result(&self, error: *mut DlAi2Error) -> PluginResult<()> {
        self.api.result(error)
    }

    /// Device property `key` through a strict sink: the value, or a plugin error, or (as
    /// `Ok(Err)`) how the plugin misused the sink.
    pub fn property(&self, device: usize, key: &str) -> PluginResult<Result<PropValue, String>> {
        self.property_with(device, key, false)
    }

    /// [`Session::property`] with a sink whose struct is larger than ABI 1.0's if `extended`.
    pub fn property_with(
        &self,
        device: usize,
        key: &str,
        extended: bool,
    ) -> PluginResult<Result<PropValue, String>> {
        let sink = ValueSink::new(extended);
        let key = CString::new(key).unwrap_or_default();
        // SAFETY: valid instance, key and sink, all alive for the call.
        let error = unsafe {
            function!(self.api, device_property)(self.plugin, device, key.as_ptr(), sink.as_ptr())
        };
        self.result(error)?;
        Ok(sink.finish())
    }

    /// Sets a device parameter.
    pub fn set_param(&self, device: usize, key: &str, value: &PropValue) -> PluginResult<()> {
        let key = CString::new(key).unwrap_or_default();
        let value = ValueView::new(value);
        // SAFETY: valid instance, key and value, all alive for the call.
        self.result(unsafe {
            function!(self.api, set_device_param)(self.plugin, device, key.as_ptr(), value.as_ptr())
        })
    }

    /// check_support: the nodes reported unsupported, or protocol problems as `Ok(Err)`.
    pub fn check_support(
        &self,
        device: usize,
        graph: &GraphView,
        precision: &str,
    ) -> PluginResult<Result<Vec<(usize, String)>, String>> {
        let report = Mutex::new(SupportReport::default());
        let precision = CString::new(precision).unwrap_or_default();
        // SAFETY: valid instance, graph, precision and report, all alive for the call.
        let error = unsafe {
            function!(self.api, check_support)(
                self.plugin,
                device,
                graph.as_ptr(),
                precision.as_ptr(),
                &report as *const Mutex<SupportReport> as *mut c_void,
                Some(record_unsupported),
            )
        };
        self.result(error)?;
        let report = report.into_inner().unwrap_or_else(|error| error.into_inner());
        Ok(if report.problems.is_empty() {
            Ok(report.unsupported)
        } else {
            Err(report.problems.join("; "))
        })
    }

    /// Compiles `graph` for `device` at `precision` with an empty options map.
    pub fn compile(
        &self,
        device: usize,
        graph: &GraphView,
        precision: &str,
        callbacks: Option<*const DlAi2Callbacks>,
    ) -> PluginResult<Compiled> {
        let options = ValueView::new(&PropValue::Map(Vec::new()));
        let precision = CString::new(precision).unwrap_or_default();
        let args = CompileArgs::new(device, graph, &precision, &options, callbacks, false);
        self.compile_raw(args.as_ptr())
    }

    /// Calls compile with prepared arguments (which must stay valid for the call).
    pub(crate) fn compile_raw(&self, args: *const DlAi2CompileArgs) -> PluginResult<Compiled> {
        let mut compiled = ptr::null_mut();
        // SAFETY: valid instance and out-pointer; `args` is the caller's.
        self.result(unsafe { function!(self.api, compile)(self.plugin, args, &mut compiled) })?;
        Ok(Compiled { api: self.api, raw: compiled })
    }

    /// Loads an artifact for `device`.
    pub fn deserialize(&self, device: usize, bytes: &[u8]) -> PluginResult<Compiled> {
        let mut compiled = ptr::null_mut();
        // SAFETY: valid instance, bytes and out-pointer.
        self.result(unsafe {
            function!(self.api, deserialize)(
                self.plugin,
                device,
                bytes.as_ptr(),
                bytes.len(),
                &mut compiled,
            )
        })?;
        Ok(Compiled { api: self.api, raw: compiled })
    }
}

/// The names of the table's NULL function pointers.
pub fn missing_functions(table: &DlAi2Api) -> Vec<&'static str> {
    let present = [
        ("error_destroy", table.error_destroy.is_some()),
        ("initialize", table.initialize.is_some()),
        ("device_count", table.device_count.is_some()),
        ("device_property", table.device_property.is_some()),
        ("set_device_param", table.set_device_param.is_some()),
        ("check_support", table.check_support.is_some()),
        ("compile", table.compile.is_some()),
        ("compiled_destroy", table.compiled_destroy.is_some()),
        ("execute", table.execute.is_some()),
        ("serialize", table.serialize.is_some()),
        ("deserialize", table.deserialize.is_some()),
    ];
    present.iter().filter(|(_, present)| !present).map(|(name, _)| *name).collect()
}

/// `DlAi2CompileArgs` with room behind it (for checking that plugins accept larger structs).
#[repr(C)]
struct ExtendedArgs {
    args: DlAi2CompileArgs,
    appended: [usize; 4],
}

/// Compile arguments; the borrowed graph, precision and options must outlive it.
pub struct CompileArgs {
    raw: Box<ExtendedArgs>,
}

impl CompileArgs {
    /// Arguments for compiling `graph`; with `extended`, `struct_size` is larger than ABI
    /// 1.0's.
    pub fn new(
        device: usize,
        graph: &GraphView,
        precision: &CString,
        options: &ValueView,
        callbacks: Option<*const DlAi2Callbacks>,
        extended: bool,
    ) -> CompileArgs {
        CompileArgs {
            raw: Box::new(ExtendedArgs {
                args: DlAi2CompileArgs {
                    struct_size: if extended {
                        size_of::<ExtendedArgs>()
                    } else {
                        size_of::<DlAi2CompileArgs>()
                    },
                    device,
                    graph: graph.as_ptr(),
                    precision: precision.as_ptr(),
                    options: options.as_ptr(),
                    callbacks: callbacks.unwrap_or(ptr::null()),
                },
                appended: [0; 4],
            }),
        }
    }

    /// The arguments, to change a field for an error-path check.
    pub fn args_mut(&mut self) -> &mut DlAi2CompileArgs {
        &mut self.raw.args
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2CompileArgs {
        &self.raw.args
    }
}

/// A compiled model, destroyed on drop.
pub struct Compiled {
    api: Api,
    /// The plugin's object (NULL if the plugin returned success without one).
    pub raw: *mut DlAi2Compiled,
}

// SAFETY: execute may run on several threads only where the plugin reports
// 'execute_concurrently' = 1; the checks serialize calls otherwise. serialize and destroy
// are called from one thread at a time.
unsafe impl Send for Compiled {}
// SAFETY: as above.
unsafe impl Sync for Compiled {}

impl Drop for Compiled {
    fn drop(&mut self) {
        // SAFETY: the object came from this plugin and is destroyed once.
        unsafe { function!(self.api, compiled_destroy)(self.raw) };
    }
}

impl Compiled {
    /// Runs the model on float32 `inputs`; `output_lens` are the element counts of the
    /// outputs, which are filled with NaN first so that unwritten elements show.
    pub fn execute(
        &self,
        inputs: &[Vec<f32>],
        output_lens: &[usize],
    ) -> PluginResult<Vec<Vec<f32>>> {
        let input_buffers: Vec<DlAi2Buffer> = inputs
            .iter()
            .map(|input| DlAi2Buffer {
                data: input.as_ptr() as *mut c_void,
                byte_size: input.len() * 4,
            })
            .collect();
        let mut outputs: Vec<Vec<f32>> =
            output_lens.iter().map(|&len| vec![f32::NAN; len]).collect();
        let output_buffers: Vec<DlAi2Buffer> = outputs
            .iter_mut()
            .map(|output| DlAi2Buffer {
                data: output.as_mut_ptr() as *mut c_void,
                byte_size: output.len() * 4,
            })
            .collect();
        self.execute_raw(&input_buffers, &output_buffers)?;
        Ok(outputs)
    }

    /// Calls execute with prepared buffers.
    pub fn execute_raw(&self, inputs: &[DlAi2Buffer], outputs: &[DlAi2Buffer]) -> PluginResult<()> {
        let pointer = |buffers: &[DlAi2Buffer]| {
            if buffers.is_empty() { ptr::null() } else { buffers.as_ptr() }
        };
        // SAFETY: the buffers point to memory of the sizes they state, alive for the call.
        self.api.result(unsafe {
            function!(self.api, execute)(
                self.raw,
                pointer(inputs),
                inputs.len(),
                pointer(outputs),
                outputs.len(),
            )
        })
    }

    /// Serializes into a fresh sink: the bytes and the number of `write` calls.
    pub fn serialize(&self) -> Result<(Vec<u8>, usize), String> {
        let sink = ByteSink::new(None);
        let result = self.serialize_into(&sink);
        expect_ok(result, "serialize")?;
        sink.finish().map_err(|problem| format!("serialize misused the byte sink: {problem}"))
    }

    /// Serializes into `sink`.
    pub fn serialize_into(&self, sink: &ByteSink) -> PluginResult<()> {
        // SAFETY: a valid compiled model and sink.
        self.api.result(unsafe { function!(self.api, serialize)(self.raw, sink.as_ptr()) })
    }
}

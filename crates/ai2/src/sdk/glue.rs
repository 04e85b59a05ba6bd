//! The C side of a Rust plugin: version negotiation and the `DlAi2Api` function table whose
//! functions check their arguments, convert them, call the [`Plugin`] implementation, catch
//! every panic and turn errors into `DlAi2Error` objects. [`export_plugin!`](crate::export_plugin)
//! instantiates this for a plugin type; nothing here is called by plugin code directly.

use std::ffi::{CString, c_char, c_void};
use std::mem::{offset_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    DLOPT_AI2_ABI_MAJOR, DLOPT_AI2_ABI_MINOR, DlAi2Api, DlAi2Buffer, DlAi2ByteSink,
    DlAi2CompileArgs, DlAi2Compiled, DlAi2Error, DlAi2Graph, DlAi2Host, DlAi2Plugin, DlAi2Value,
    DlAi2ValueSink,
};
use crate::sdk::callbacks::{Callbacks, HostInfo};
use crate::sdk::error::{PluginError, PluginResult, destroy_raw_error, panic_message};
use crate::sdk::graph::GraphView;
use crate::sdk::plugin::{CompileRequest, CompiledModel, DeviceProperty, Plugin};
use crate::sdk::sink::{has_field, write_bytes, write_value};
use crate::sdk::value::{Value, read_str, slice_of};

/// `dlopt_ai2_negotiate`'s answer when the host's major version is not one this SDK speaks.
pub const NEGOTIATE_REFUSED_MAJOR: i32 = 1;
/// `dlopt_ai2_negotiate`'s answer when an output pointer is NULL.
pub const NEGOTIATE_NULL_POINTER: i32 = 2;

/// Marks a live plugin instance (the first word of its allocation).
const PLUGIN_TAG: u64 = u64::from_le_bytes(*b"ai2plugn");
/// Marks a live compiled model (the first word of its allocation).
const COMPILED_TAG: u64 = u64::from_le_bytes(*b"ai2model");

/// What a `DlAi2Plugin *` points to.
#[repr(C)]
struct PluginBox<P> {
    tag: u64,
    plugin: P,
}

/// What a `DlAi2Compiled *` points to.
#[repr(C)]
struct CompiledBox<C> {
    tag: u64,
    model: C,
}

/// The static function table a plugin exports (a `DlAi2Api` that may live in a `static`).
pub struct ApiTable(DlAi2Api);

// SAFETY: the table is immutable; its pointers are to static strings and functions.
unsafe impl Sync for ApiTable {}

impl ApiTable {
    /// The table for plugin type `P`. The strings must be NUL-terminated and static.
    pub const fn new<P: Plugin>(
        plugin_name: &'static str,
        plugin_version: &'static str,
        interface_name: &'static str,
    ) -> ApiTable {
        assert!(is_nul_terminated(plugin_name), "the plugin name must end with a NUL");
        assert!(is_nul_terminated(plugin_version), "the plugin version must end with a NUL");
        assert!(is_nul_terminated(interface_name), "the interface name must end with a NUL");
        ApiTable(DlAi2Api {
            struct_size: size_of::<DlAi2Api>(),
            abi_major: DLOPT_AI2_ABI_MAJOR,
            abi_minor: DLOPT_AI2_ABI_MINOR,
            plugin_name: plugin_name.as_ptr().cast(),
            plugin_version: plugin_version.as_ptr().cast(),
            interface_name: interface_name.as_ptr().cast(),
            error_destroy: Some(error_destroy),
            initialize: Some(initialize::<P>),
            device_count: Some(device_count::<P>),
            device_property: Some(device_property::<P>),
            set_device_param: Some(set_device_param::<P>),
            check_support: Some(check_support::<P>),
            compile: Some(compile::<P>),
            compiled_destroy: Some(compiled_destroy::<P>),
            execute: Some(execute::<P>),
            serialize: Some(serialize::<P>),
            deserialize: Some(deserialize::<P>),
        })
    }

    /// The table if `major` is the ABI major version it implements, else NULL.
    pub fn for_major(&'static self, major: u32) -> *const DlAi2Api {
        if major == self.0.abi_major { &self.0 } else { std::ptr::null() }
    }
}

const fn is_nul_terminated(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes[bytes.len() - 1] != 0 {
        return false;
    }
    let mut at = 0;
    while at + 1 < bytes.len() {
        if bytes[at] == 0 {
            return false;
        }
        at += 1;
    }
    true
}

/// Whether `name` is a valid plugin or interface name: ASCII letters, digits and `_`, not
/// empty (checked at compile time by `export_plugin!`).
pub const fn is_valid_plugin_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if !(byte.is_ascii_alphanumeric() || byte == b'_') {
            return false;
        }
        at += 1;
    }
    true
}

/// The exported `dlopt_ai2_negotiate`: accepts host major 1 with any minor and answers
/// (1, min(host minor, the SDK's minor)); refuses other majors
/// ([`NEGOTIATE_REFUSED_MAJOR`]) and NULL outputs ([`NEGOTIATE_NULL_POINTER`]).
///
/// # Safety
/// `plugin_major` and `plugin_minor` must be NULL or writable.
pub unsafe fn negotiate(
    host_major: u32,
    host_minor: u32,
    plugin_major: *mut u32,
    plugin_minor: *mut u32,
) -> i32 {
    if plugin_major.is_null() || plugin_minor.is_null() {
        return NEGOTIATE_NULL_POINTER;
    }
    if host_major != DLOPT_AI2_ABI_MAJOR {
        return NEGOTIATE_REFUSED_MAJOR;
    }
    // SAFETY: checked non-NULL; the caller guarantees they are writable.
    #[allow(clippy::unnecessary_min_or_max, reason = "the SDK's minor is 0 today and grows")]
    unsafe {
        *plugin_major = DLOPT_AI2_ABI_MAJOR;
        *plugin_minor = host_minor.min(DLOPT_AI2_ABI_MINOR);
    }
    0
}

/// Runs `body`, turning its error or panic into a `DlAi2Error` (NULL on success).
fn guard(function: &str, body: impl FnOnce() -> PluginResult<()>) -> *mut DlAi2Error {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(error)) => error.into_raw(),
        Err(payload) => {
            let message = panic_message(&*payload);
            // Dropping the payload can panic again (a payload with a panicking Drop).
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            PluginError::internal(format!("the plugin panicked in {function}: {message}"))
                .into_raw()
        }
    }
}

/// `Err(INVALID_ARGUMENT)` naming `name` when `pointer` is NULL.
fn non_null<T>(pointer: *const T, name: &str) -> PluginResult<()> {
    if pointer.is_null() {
        return Err(PluginError::invalid_argument(format!("{name} is NULL")));
    }
    Ok(())
}

/// The plugin instance behind a handle.
///
/// # Safety
/// `plugin` must be NULL or a handle from `initialize::<P>` (instances are never freed).
unsafe fn plugin_of<'p, P: Plugin>(plugin: *mut DlAi2Plugin) -> PluginResult<&'p P> {
    non_null(plugin, "plugin")?;
    // SAFETY: a handle from `initialize::<P>` points to a live `PluginBox<P>`.
    let boxed = unsafe { &*plugin.cast::<PluginBox<P>>() };
    if boxed.tag != PLUGIN_TAG {
        return Err(PluginError::invalid_argument("plugin is not an instance of this plugin"));
    }
    Ok(&boxed.plugin)
}

/// The compiled model behind a handle.
///
/// # Safety
/// `compiled` must be NULL or a live handle from `compile::<P>` / `deserialize::<P>`.
unsafe fn model_of<'m, P: Plugin>(compiled: *mut DlAi2Compiled) -> PluginResult<&'m P::Compiled> {
    non_null(compiled, "compiled")?;
    // SAFETY: a live handle points to a `CompiledBox<P::Compiled>`.
    let boxed = unsafe { &*compiled.cast::<CompiledBox<P::Compiled>>() };
    if boxed.tag != COMPILED_TAG {
        return Err(PluginError::invalid_argument("compiled is not a live model of this plugin"));
    }
    Ok(&boxed.model)
}

fn check_device<P: Plugin>(plugin: &P, device: usize) -> PluginResult<()> {
    let count = plugin.device_count();
    if device >= count {
        return Err(PluginError::invalid_argument(format!(
            "device {device} does not exist: the plugin has {count} device(s)"
        )));
    }
    Ok(())
}

fn box_model<P: Plugin>(model: P::Compiled) -> *mut DlAi2Compiled {
    Box::into_raw(Box::new(CompiledBox { tag: COMPILED_TAG, model })).cast()
}

unsafe extern "C" fn error_destroy(error: *mut DlAi2Error) {
    // SAFETY: the table's errors all come from `PluginError::into_raw`.
    unsafe { destroy_raw_error(error) }
}

unsafe extern "C" fn initialize<P: Plugin>(
    host: *const DlAi2Host,
    plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    guard("initialize", || {
        non_null(plugin, "plugin")?;
        // SAFETY: checked non-NULL; writable per the ABI.
        unsafe { *plugin = std::ptr::null_mut() };
        // SAFETY: `host` is NULL or valid until the process ends (ABI).
        let info = unsafe { HostInfo::from_raw(host) }?;
        let instance = P::initialize(info)?;
        let boxed = Box::new(PluginBox { tag: PLUGIN_TAG, plugin: instance });
        // SAFETY: as above.
        unsafe { *plugin = Box::into_raw(boxed).cast() };
        Ok(())
    })
}

unsafe extern "C" fn device_count<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    count: *mut usize,
) -> *mut DlAi2Error {
    guard("device_count", || {
        // SAFETY: handle from `initialize::<P>` (ABI).
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        non_null(count, "count")?;
        let devices = plugin.device_count();
        // SAFETY: checked non-NULL; writable per the ABI.
        unsafe { *count = devices };
        Ok(())
    })
}

unsafe extern "C" fn device_property<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    device: usize,
    key: *const c_char,
    sink: *const DlAi2ValueSink,
) -> *mut DlAi2Error {
    guard("device_property", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        let key = unsafe { read_str(key, "key") }?;
        non_null(sink, "sink")?;
        check_device(plugin, device)?;
        let value = plugin.device_property(device, DeviceProperty::from_key(key))?;
        unsafe { write_value(sink, &value) }
            .map_err(|error| error.context(format!("property '{key}'")))
    })
}

unsafe extern "C" fn set_device_param<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    device: usize,
    key: *const c_char,
    value: *const DlAi2Value,
) -> *mut DlAi2Error {
    guard("set_device_param", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        let key = unsafe { read_str(key, "key") }?;
        non_null(value, "value")?;
        let value = unsafe { Value::from_raw(value) }?;
        check_device(plugin, device)?;
        plugin.set_device_param(device, key, &value)
    })
}

type UnsupportedFn = unsafe extern "C" fn(context: *mut c_void, node: usize, reason: *const c_char);

unsafe extern "C" fn check_support<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    device: usize,
    graph: *const DlAi2Graph,
    precision: *const c_char,
    context: *mut c_void,
    unsupported: Option<UnsupportedFn>,
) -> *mut DlAi2Error {
    guard("check_support", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        let graph = unsafe { GraphView::from_raw(graph) }?;
        let precision = unsafe { read_str(precision, "precision") }?;
        let unsupported =
            unsupported.ok_or_else(|| PluginError::invalid_argument("unsupported is NULL"))?;
        check_device(plugin, device)?;
        let nodes = plugin.unsupported_nodes(device, &graph, precision)?;
        if let Some((node, _)) = nodes.iter().find(|(node, _)| *node >= graph.nodes().len()) {
            return Err(PluginError::internal(format!(
                "the plugin reported node {node}, the graph has {} nodes",
                graph.nodes().len()
            )));
        }
        for (node, reason) in nodes {
            let reason = CString::new(reason.replace('\0', "\u{FFFD}")).unwrap_or_default();
            // SAFETY: the host's callback with its context, during the call.
            unsafe { unsupported(context, node, reason.as_ptr()) };
        }
        Ok(())
    })
}

unsafe extern "C" fn compile<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    args: *const DlAi2CompileArgs,
    compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    guard("compile", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        non_null(compiled, "compiled")?;
        unsafe { *compiled = std::ptr::null_mut() };
        non_null(args, "args")?;
        let args = unsafe { &*args };
        let pointer = size_of::<*const u8>();
        let required = offset_of!(DlAi2CompileArgs, precision) + pointer;
        if args.struct_size < required {
            return Err(PluginError::invalid_argument(format!(
                "args->struct_size is {}, ABI 1.0 needs at least {required}",
                args.struct_size
            )));
        }
        non_null(args.graph, "args->graph")?;
        let graph = unsafe { GraphView::from_raw(args.graph) }?;
        let precision = unsafe { read_str(args.precision, "args->precision") }?;
        let options_present =
            has_field(args.struct_size, offset_of!(DlAi2CompileArgs, options), pointer);
        let options = if options_present && !args.options.is_null() {
            unsafe { Value::from_raw(args.options) }
                .map_err(|error| error.context("args->options"))?
        } else {
            Value::empty_map()
        };
        if !matches!(options, Value::Map(_)) {
            return Err(PluginError::invalid_argument(format!(
                "args->options is a {}, a map is needed",
                options.kind_name()
            )));
        }
        let callbacks_present =
            has_field(args.struct_size, offset_of!(DlAi2CompileArgs, callbacks), pointer);
        let callbacks = if callbacks_present {
            unsafe { Callbacks::from_raw(args.callbacks) }
        } else {
            Callbacks::none()
        };
        check_device(plugin, args.device)?;
        let request = CompileRequest { device: args.device, graph, precision, options, callbacks };
        let model = plugin.compile(request)?;
        unsafe { *compiled = box_model::<P>(model) };
        Ok(())
    })
}

unsafe extern "C" fn compiled_destroy<P: Plugin>(compiled: *mut DlAi2Compiled) {
    if compiled.is_null() {
        return;
    }
    let boxed = compiled.cast::<CompiledBox<P::Compiled>>();
    // SAFETY: a live handle (ABI); a foreign or freed one is left alone when the tag says so.
    if unsafe { (*boxed).tag } != COMPILED_TAG {
        return;
    }
    unsafe { (*boxed).tag = 0 };
    // A panicking Drop cannot be reported (the function returns nothing); it must not unwind.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(boxed) })));
}

/// Byte ranges of buffers, for the overlap check.
fn range_of(buffer: &DlAi2Buffer) -> (usize, usize) {
    let start = buffer.data as usize;
    (start, start.saturating_add(buffer.byte_size))
}

/// The input and output slices of `execute`.
type Buffers<'b> = (Vec<&'b [u8]>, Vec<&'b mut [u8]>);

/// Checks the buffers of `execute` (non-NULL data where bytes are announced, outputs
/// overlapping nothing) and returns their slices.
///
/// # Safety
/// The arrays and buffers must be valid as the ABI describes for the call.
unsafe fn buffers<'b>(
    inputs: *const DlAi2Buffer,
    input_count: usize,
    outputs: *const DlAi2Buffer,
    output_count: usize,
) -> PluginResult<Buffers<'b>> {
    // SAFETY: arrays of the announced counts (ABI).
    let inputs = unsafe { slice_of(inputs, input_count, "inputs") }?;
    let outputs = unsafe { slice_of(outputs, output_count, "outputs") }?;
    for (name, list) in [("inputs", inputs), ("outputs", outputs)] {
        for (at, buffer) in list.iter().enumerate() {
            if buffer.data.is_null() && buffer.byte_size > 0 {
                return Err(PluginError::invalid_argument(format!(
                    "{name}[{at}].data is NULL but byte_size is {}",
                    buffer.byte_size
                )));
            }
        }
    }
    for (at, output) in outputs.iter().enumerate() {
        let (start, end) = range_of(output);
        let overlaps = |other: &DlAi2Buffer| {
            let (other_start, other_end) = range_of(other);
            start < end && other_start < other_end && start < other_end && other_start < end
        };
        if let Some(input) = inputs.iter().position(overlaps) {
            return Err(PluginError::invalid_argument(format!(
                "outputs[{at}] overlaps inputs[{input}]"
            )));
        }
        if let Some(other) = outputs[..at].iter().position(overlaps) {
            return Err(PluginError::invalid_argument(format!(
                "outputs[{at}] overlaps outputs[{other}]"
            )));
        }
    }
    let input_slices = inputs
        .iter()
        .map(|buffer| {
            // SAFETY: non-NULL buffers of `byte_size` bytes, borrowed for the call (ABI).
            unsafe { slice_of(buffer.data.cast::<u8>().cast_const(), buffer.byte_size, "input") }
        })
        .collect::<PluginResult<Vec<_>>>()?;
    let output_slices = outputs
        .iter()
        .map(|buffer| {
            if buffer.byte_size == 0 {
                return Ok(<&mut [u8]>::default());
            }
            // SAFETY: non-NULL, writable, not overlapping any other buffer (checked).
            Ok(unsafe {
                std::slice::from_raw_parts_mut(buffer.data.cast::<u8>(), buffer.byte_size)
            })
        })
        .collect::<PluginResult<Vec<_>>>()?;
    Ok((input_slices, output_slices))
}

unsafe extern "C" fn execute<P: Plugin>(
    compiled: *mut DlAi2Compiled,
    inputs: *const DlAi2Buffer,
    input_count: usize,
    outputs: *const DlAi2Buffer,
    output_count: usize,
) -> *mut DlAi2Error {
    guard("execute", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let model = unsafe { model_of::<P>(compiled) }?;
        let (inputs, mut outputs) = unsafe { buffers(inputs, input_count, outputs, output_count) }?;
        model.execute(&inputs, &mut outputs)
    })
}

unsafe extern "C" fn serialize<P: Plugin>(
    compiled: *mut DlAi2Compiled,
    sink: *const DlAi2ByteSink,
) -> *mut DlAi2Error {
    guard("serialize", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let model = unsafe { model_of::<P>(compiled) }?;
        non_null(sink, "sink")?;
        let bytes = model.serialize()?;
        unsafe { write_bytes(sink, &bytes) }
    })
}

unsafe extern "C" fn deserialize<P: Plugin>(
    plugin: *mut DlAi2Plugin,
    device: usize,
    data: *const u8,
    size: usize,
    compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    guard("deserialize", || {
        // SAFETY (all): pointers as the ABI describes them, checked for NULL.
        let plugin = unsafe { plugin_of::<P>(plugin) }?;
        non_null(compiled, "compiled")?;
        unsafe { *compiled = std::ptr::null_mut() };
        let bytes = unsafe { slice_of(data, size, "data") }?;
        check_device(plugin, device)?;
        let model = plugin.deserialize(device, bytes)?;
        unsafe { *compiled = box_model::<P>(model) };
        Ok(())
    })
}

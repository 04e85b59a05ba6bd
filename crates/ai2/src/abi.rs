//! The AI² plugin ABI, version 1.0: the `#[repr(C)]` types of `include/dlopt_ai2.h`.
//!
//! A plugin is a shared library that exports exactly two functions (their signatures never
//! change):
//!
//! ```c
//! /* The host offers the newest ABI version it speaks; the plugin answers with the newest
//!    version both speak (a major it has a table for, not above the host's; with the host's
//!    major, a minor not above the host's), or returns non-zero to refuse. NULL out-pointers:
//!    refuse. */
//! int32_t dlopt_ai2_negotiate(uint32_t host_major, uint32_t host_minor,
//!                             uint32_t *plugin_major, uint32_t *plugin_minor);
//! /* The function table for the negotiated major version, or NULL. Static: valid for the
//!    process's lifetime (plugins are never unloaded). */
//! const DlAi2Api *dlopt_ai2_api(uint32_t major);
//! ```
//!
//! Rules (see the project's design/plugin-abi.md):
//! - **Versioning.** Every function table and argument struct starts with `struct_size`.
//!   Structs only grow by appending fields (minor version up); a reader uses the fields
//!   within the smaller of both sizes and treats the rest as absent. A break bumps the major
//!   version. Data records used in arrays (`DlAi2Value`, `DlAi2TensorDesc`, `DlAi2Node`,
//!   `DlAi2Buffer`) are frozen for a major version.
//! - **Errors.** A function returns NULL on success or a `DlAi2Error` the plugin allocated;
//!   the host reads `code` and `message` and frees it with the table's `error_destroy`.
//!   Nothing unwinds across the boundary.
//! - **Ownership.** Everything the host passes in is borrowed for the duration of the call.
//!   Values and bytes the plugin returns are written into host-provided sinks
//!   (`DlAi2ValueSink`, `DlAi2ByteSink`), so the host owns them. Objects the plugin creates
//!   (`DlAi2Plugin`, `DlAi2Compiled`) are destroyed through the table (destroy functions
//!   accept NULL).
//! - **Strings** are UTF-8 and NUL-terminated.
//! - **Alignment.** Constant data and execute buffers are aligned at least to their element
//!   size (dlopt aligns them to 4 bytes or more); plugins needing more copy.
//! - **Attributes** map from ONNX as FLOAT → `REAL`, INT → `INT`, STRING → `STRING`,
//!   FLOATS / INTS / STRINGS → `LIST` of those, TENSOR → `TENSOR`. An empty list carries no
//!   element type: operators' defaults apply.
//! - **Threading.** Per function, in its documentation.

use std::ffi::{c_char, c_void};

/// The ABI major version this header describes.
pub const DLOPT_AI2_ABI_MAJOR: u32 = 1;
/// The ABI minor version this header describes.
pub const DLOPT_AI2_ABI_MINOR: u32 = 0;

/// Element type: 32-bit float (ONNX code 1).
pub const DLOPT_AI2_DTYPE_FLOAT32: i32 = 1;
/// Element type: unsigned 8-bit integer (ONNX code 2).
pub const DLOPT_AI2_DTYPE_UINT8: i32 = 2;
/// Element type: signed 8-bit integer (ONNX code 3).
pub const DLOPT_AI2_DTYPE_INT8: i32 = 3;
/// Element type: signed 32-bit integer (ONNX code 6).
pub const DLOPT_AI2_DTYPE_INT32: i32 = 6;
/// Element type: signed 64-bit integer (ONNX code 7).
pub const DLOPT_AI2_DTYPE_INT64: i32 = 7;
/// Element type: boolean, one byte (ONNX code 9).
pub const DLOPT_AI2_DTYPE_BOOL: i32 = 9;
/// Element type: IEEE 16-bit float (ONNX code 10).
pub const DLOPT_AI2_DTYPE_FLOAT16: i32 = 10;
/// Element type: bfloat16 (ONNX code 16).
pub const DLOPT_AI2_DTYPE_BFLOAT16: i32 = 16;

/// Error code: an argument is NULL, out of range or inconsistent.
pub const DLOPT_AI2_ERROR_INVALID_ARGUMENT: i32 = 1;
/// Error code: the plugin does not support this (operator, precision, shape, attribute).
pub const DLOPT_AI2_ERROR_UNSUPPORTED: i32 = 2;
/// Error code: not enough memory (host or device).
pub const DLOPT_AI2_ERROR_OUT_OF_MEMORY: i32 = 3;
/// Error code: a bug or an unexpected state inside the plugin.
pub const DLOPT_AI2_ERROR_INTERNAL: i32 = 4;
/// Error code: the host's cancellation callback asked to stop.
pub const DLOPT_AI2_ERROR_CANCELLED: i32 = 5;
/// Error code: a serialized artifact is corrupt, or made by another plugin, version or device.
pub const DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT: i32 = 6;
/// Error code: the device failed (lost, busy, driver error).
pub const DLOPT_AI2_ERROR_DEVICE: i32 = 7;
/// Error code: a parameter or property name the plugin does not know.
pub const DLOPT_AI2_ERROR_UNKNOWN_PARAMETER: i32 = 8;
/// Error code: a known parameter with a value the plugin refuses.
pub const DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE: i32 = 9;

/// Value kind: no value.
pub const DLOPT_AI2_VALUE_NONE: u32 = 0;
/// Value kind: `integer`.
pub const DLOPT_AI2_VALUE_INT: u32 = 1;
/// Value kind: `real`.
pub const DLOPT_AI2_VALUE_REAL: u32 = 2;
/// Value kind: `string`.
pub const DLOPT_AI2_VALUE_STRING: u32 = 3;
/// Value kind: a list of `count` values in `items`.
pub const DLOPT_AI2_VALUE_LIST: u32 = 4;
/// Value kind: a map of `count` entries: `keys[i]` maps to `items[i]`.
pub const DLOPT_AI2_VALUE_MAP: u32 = 5;
/// Value kind: a tensor (`tensor`), e.g. a node attribute.
pub const DLOPT_AI2_VALUE_TENSOR: u32 = 6;

/// Log level: errors.
pub const DLOPT_AI2_LOG_ERROR: i32 = 1;
/// Log level: warnings.
pub const DLOPT_AI2_LOG_WARNING: i32 = 2;
/// Log level: information.
pub const DLOPT_AI2_LOG_INFO: i32 = 3;
/// Log level: details for debugging.
pub const DLOPT_AI2_LOG_DEBUG: i32 = 4;

/// An error a plugin reports. Allocated by the plugin, freed by the host through
/// `DlAi2Api::error_destroy`.
#[repr(C)]
pub struct DlAi2Error {
    /// `sizeof(DlAi2Error)` as the plugin was compiled.
    pub struct_size: usize,
    /// A `DLOPT_AI2_ERROR_*` code.
    pub code: i32,
    /// What went wrong, for the user: UTF-8, NUL-terminated, owned by the error.
    pub message: *const c_char,
}

/// A value the host passes to the plugin (parameters, options, attributes): borrowed for
/// the duration of the call. Frozen layout for ABI major 1.
#[repr(C)]
pub struct DlAi2Value {
    /// A `DLOPT_AI2_VALUE_*` kind; the fields that do not belong to it are zero / NULL.
    pub kind: u32,
    /// The integer of an `INT` value.
    pub integer: i64,
    /// The real of a `REAL` value.
    pub real: f64,
    /// The text of a `STRING` value.
    pub string: *const c_char,
    /// The number of items of a `LIST` or `MAP`.
    pub count: usize,
    /// The items of a `LIST` or `MAP` (`count` values).
    pub items: *const DlAi2Value,
    /// The keys of a `MAP` (`count` strings).
    pub keys: *const *const c_char,
    /// The tensor of a `TENSOR` value.
    pub tensor: *const DlAi2TensorDesc,
}

/// Where a plugin writes a value it returns (device properties). The host owns what is
/// written. Write exactly one value: a scalar, or a list / map whose items are written
/// between `begin_*` and `end_*` (in a map, `write_key` before each item). Every callback
/// is non-NULL; they must be called from the thread that received the sink, before the
/// plugin function returns.
#[repr(C)]
pub struct DlAi2ValueSink {
    /// `sizeof(DlAi2ValueSink)` as the host was compiled.
    pub struct_size: usize,
    /// Passed back as the first argument of every callback.
    pub context: *mut c_void,
    /// Writes an integer.
    pub write_int: Option<unsafe extern "C" fn(context: *mut c_void, value: i64)>,
    /// Writes a real.
    pub write_real: Option<unsafe extern "C" fn(context: *mut c_void, value: f64)>,
    /// Writes a string (copied by the host).
    pub write_string: Option<unsafe extern "C" fn(context: *mut c_void, value: *const c_char)>,
    /// Starts a list.
    pub begin_list: Option<unsafe extern "C" fn(context: *mut c_void)>,
    /// Ends the innermost list.
    pub end_list: Option<unsafe extern "C" fn(context: *mut c_void)>,
    /// Starts a map.
    pub begin_map: Option<unsafe extern "C" fn(context: *mut c_void)>,
    /// Writes the key of the next map item (copied by the host).
    pub write_key: Option<unsafe extern "C" fn(context: *mut c_void, key: *const c_char)>,
    /// Ends the innermost map.
    pub end_map: Option<unsafe extern "C" fn(context: *mut c_void)>,
}

/// Where a plugin writes bytes it returns (serialized artifacts). The host owns them.
#[repr(C)]
pub struct DlAi2ByteSink {
    /// `sizeof(DlAi2ByteSink)` as the host was compiled.
    pub struct_size: usize,
    /// Passed back as the first argument of `write`.
    pub context: *mut c_void,
    /// Appends `size` bytes; may be called several times. Returns 0, or non-zero when the
    /// host is out of memory (the plugin then returns `DLOPT_AI2_ERROR_OUT_OF_MEMORY`).
    pub write:
        Option<unsafe extern "C" fn(context: *mut c_void, data: *const u8, size: usize) -> i32>,
}

/// A tensor's description: name, element type, concrete shape and, for constants, the data.
/// Frozen layout for ABI major 1.
#[repr(C)]
pub struct DlAi2TensorDesc {
    /// The value's name in the graph.
    pub name: *const c_char,
    /// A `DLOPT_AI2_DTYPE_*` code.
    pub dtype: i32,
    /// The number of dimensions.
    pub rank: usize,
    /// `rank` dimensions, all known (the host compiles per concrete input shape).
    pub shape: *const i64,
    /// The elements of a constant (weights), row-major, little-endian; NULL otherwise.
    pub data: *const c_void,
    /// The size of `data` in bytes (0 when `data` is NULL).
    pub byte_size: usize,
}

/// One node of a graph. Frozen layout for ABI major 1.
#[repr(C)]
pub struct DlAi2Node {
    /// The node's name (unique in the graph).
    pub name: *const c_char,
    /// The ONNX operator type, e.g. `"Conv"`.
    pub op_type: *const c_char,
    /// The operator domain: `""` for ONNX.
    pub domain: *const c_char,
    /// The number of inputs.
    pub input_count: usize,
    /// Indices into `DlAi2Graph::values`; -1 for an omitted optional input.
    pub inputs: *const i64,
    /// The number of outputs.
    pub output_count: usize,
    /// Indices into `DlAi2Graph::values`.
    pub outputs: *const i64,
    /// The number of attributes.
    pub attribute_count: usize,
    /// Attribute names (`attribute_count` strings).
    pub attribute_names: *const *const c_char,
    /// Attribute values (`attribute_count` values; tensors as `DLOPT_AI2_VALUE_TENSOR`).
    pub attribute_values: *const DlAi2Value,
}

/// A graph to check or compile, with concrete shapes everywhere. Everything is borrowed for
/// the duration of the call. Fused activations appear as node attributes `dlopt_activation`
/// (and `dlopt_activation_alpha` / `_beta`) on Conv, ConvTranspose, Gemm and MatMul nodes.
#[repr(C)]
pub struct DlAi2Graph {
    /// `sizeof(DlAi2Graph)` as the host was compiled.
    pub struct_size: usize,
    /// The opset of the ONNX domain.
    pub opset: i64,
    /// The number of values.
    pub value_count: usize,
    /// Every value: graph inputs, constants (with data) and node outputs.
    pub values: *const DlAi2TensorDesc,
    /// The number of nodes.
    pub node_count: usize,
    /// The nodes, in topological order.
    pub nodes: *const DlAi2Node,
    /// The number of graph inputs.
    pub input_count: usize,
    /// Indices of the graph inputs in `values`, in order.
    pub inputs: *const i64,
    /// The number of graph outputs.
    pub output_count: usize,
    /// Indices of the graph outputs in `values`, in order.
    pub outputs: *const i64,
    /// The same graph as a serialized ONNX model (for plugins that import ONNX). dlopt
    /// always provides it.
    pub onnx: *const u8,
    /// The size of `onnx` in bytes.
    pub onnx_size: usize,
}

/// Callbacks the host passes into long calls. Any callback may be NULL (not wanted). They
/// may be called from any thread of the plugin, but only until the call returns.
#[repr(C)]
pub struct DlAi2Callbacks {
    /// `sizeof(DlAi2Callbacks)` as the host was compiled.
    pub struct_size: usize,
    /// Passed back as the first argument of every callback.
    pub context: *mut c_void,
    /// A log line at a `DLOPT_AI2_LOG_*` level.
    pub log: Option<unsafe extern "C" fn(context: *mut c_void, level: i32, message: *const c_char)>,
    /// Progress of a stage (e.g. `"compile"`): `done` of `total` units.
    pub progress: Option<
        unsafe extern "C" fn(context: *mut c_void, stage: *const c_char, done: u64, total: u64),
    >,
    /// Non-zero when the host wants the call to stop; the plugin then returns
    /// `DLOPT_AI2_ERROR_CANCELLED` as soon as it can.
    pub is_cancelled: Option<unsafe extern "C" fn(context: *mut c_void) -> i32>,
}

/// What the host tells a plugin when it initializes it.
#[repr(C)]
pub struct DlAi2Host {
    /// `sizeof(DlAi2Host)` as the host was compiled.
    pub struct_size: usize,
    /// The host's name, e.g. `"dlopt"`.
    pub host_name: *const c_char,
    /// The host's version, e.g. `"0.1.0"`.
    pub host_version: *const c_char,
    /// Callbacks for the plugin's whole life (only `log` is used; valid until the process
    /// ends).
    pub callbacks: *const DlAi2Callbacks,
}

/// The arguments of `DlAi2Api::compile`.
#[repr(C)]
pub struct DlAi2CompileArgs {
    /// `sizeof(DlAi2CompileArgs)` as the host was compiled.
    pub struct_size: usize,
    /// The device, 0 to `device_count - 1`.
    pub device: usize,
    /// The graph.
    pub graph: *const DlAi2Graph,
    /// The precision to compile for: `"float32"`, `"float16"`, `"bfloat16"` or `"int8"`.
    pub precision: *const c_char,
    /// Options (a `MAP`): the `GenParam` of `optimize_dl_model_for_inference`, with the
    /// plugin's defaults filled in; an empty map for a plain compile.
    pub options: *const DlAi2Value,
    /// Log, progress and cancellation for this call (may be NULL).
    pub callbacks: *const DlAi2Callbacks,
}

/// A buffer of tensor data for `DlAi2Api::execute`.
#[repr(C)]
pub struct DlAi2Buffer {
    /// The elements, row-major, in the graph's element type and shape for that input or
    /// output.
    pub data: *mut c_void,
    /// The size of `data` in bytes.
    pub byte_size: usize,
}

/// A plugin instance (opaque, defined by the plugin; only pointers cross the ABI).
pub struct DlAi2Plugin {
    _opaque: (),
}

/// A compiled model (opaque, defined by the plugin; only pointers cross the ABI).
pub struct DlAi2Compiled {
    _opaque: (),
}

/// The function table of ABI major version 1. Static: valid for the process's lifetime.
/// Functions returning `DlAi2Error *` return NULL on success.
#[repr(C)]
pub struct DlAi2Api {
    /// `sizeof(DlAi2Api)` as the plugin was compiled (fields beyond it are absent).
    pub struct_size: usize,
    /// The ABI major version of this table (1).
    pub abi_major: u32,
    /// The ABI minor version the plugin implements.
    pub abi_minor: u32,
    /// The plugin's name, e.g. `"dlopt_cpu"` (ASCII letters, digits, `_`).
    pub plugin_name: *const c_char,
    /// The plugin's version, e.g. `"1.2.0"`.
    pub plugin_version: *const c_char,
    /// The value of the devices' `'ai_accelerator_interface'` parameter, e.g. `"dlopt_cpu"`.
    pub interface_name: *const c_char,

    /// Frees an error. Accepts NULL. Thread safe.
    pub error_destroy: Option<unsafe extern "C" fn(error: *mut DlAi2Error)>,

    /// Creates the plugin instance. Called once, before anything else but
    /// `error_destroy`. `host` is valid until the process ends.
    pub initialize: Option<
        unsafe extern "C" fn(
            host: *const DlAi2Host,
            plugin: *mut *mut DlAi2Plugin,
        ) -> *mut DlAi2Error,
    >,

    /// Writes the number of devices to `*count`. Thread safe.
    pub device_count: Option<
        unsafe extern "C" fn(plugin: *mut DlAi2Plugin, count: *mut usize) -> *mut DlAi2Error,
    >,

    /// Writes device property `key` into `sink`. Well-known keys: `"name"` (string),
    /// `"type"` (`"cpu"`, `"gpu"`, `"npu"`, ...), `"precisions"` (list of strings the device
    /// runs), `"cast_precisions"` (list: reachable by `compile` without samples),
    /// `"calibration_precisions"` (list: need calibration samples), `"calibrates_itself"`
    /// (int 0/1), `"optimize_for_inference_params"` (map of option names to defaults),
    /// `"settable_device_params"` (map of settable names to current values), `"info"` (map
    /// of details), `"deterministic"` (int 0/1: same inputs give bitwise identical outputs),
    /// `"execute_concurrently"` (int 0/1: `execute` on one compiled model may run on several
    /// threads at once; otherwise the host serializes). Vendor keys start with
    /// `"<interface_name>."`. Unknown key: `DLOPT_AI2_ERROR_UNKNOWN_PARAMETER`. Thread safe.
    pub device_property: Option<
        unsafe extern "C" fn(
            plugin: *mut DlAi2Plugin,
            device: usize,
            key: *const c_char,
            sink: *const DlAi2ValueSink,
        ) -> *mut DlAi2Error,
    >,

    /// Sets a settable device parameter. Errors: `UNKNOWN_PARAMETER`,
    /// `INVALID_PARAMETER_VALUE`. Thread safe; compiled models may keep the old setting.
    pub set_device_param: Option<
        unsafe extern "C" fn(
            plugin: *mut DlAi2Plugin,
            device: usize,
            key: *const c_char,
            value: *const DlAi2Value,
        ) -> *mut DlAi2Error,
    >,

    /// Reports every node of `graph` the device cannot run at `precision` by calling
    /// `unsupported(context, node_index, reason)` once per such node; nodes not reported are
    /// supported. Thread safe.
    pub check_support: Option<
        unsafe extern "C" fn(
            plugin: *mut DlAi2Plugin,
            device: usize,
            graph: *const DlAi2Graph,
            precision: *const c_char,
            context: *mut c_void,
            unsupported: Option<
                unsafe extern "C" fn(context: *mut c_void, node: usize, reason: *const c_char),
            >,
        ) -> *mut DlAi2Error,
    >,

    /// Compiles a graph for a device; `*compiled` receives the result. The plugin must not
    /// keep pointers into `args` after returning. Thread safe (concurrent compiles allowed).
    pub compile: Option<
        unsafe extern "C" fn(
            plugin: *mut DlAi2Plugin,
            args: *const DlAi2CompileArgs,
            compiled: *mut *mut DlAi2Compiled,
        ) -> *mut DlAi2Error,
    >,

    /// Destroys a compiled model. Accepts NULL. Never concurrent with another call on it.
    pub compiled_destroy: Option<unsafe extern "C" fn(compiled: *mut DlAi2Compiled)>,

    /// Runs a compiled model: `inputs` / `outputs` in graph order, sized exactly for the
    /// graph's element types and shapes; the host owns them. Concurrent calls on one
    /// compiled model happen only if the device reports `"execute_concurrently"` = 1.
    pub execute: Option<
        unsafe extern "C" fn(
            compiled: *mut DlAi2Compiled,
            inputs: *const DlAi2Buffer,
            input_count: usize,
            outputs: *const DlAi2Buffer,
            output_count: usize,
        ) -> *mut DlAi2Error,
    >,

    /// Writes a self-describing artifact of the compiled model into `sink`: it must carry
    /// the plugin's name and version, the ABI version, the device's identity and whatever
    /// the plugin needs to reject a corrupt or foreign blob. Same compile, same bytes.
    pub serialize: Option<
        unsafe extern "C" fn(
            compiled: *mut DlAi2Compiled,
            sink: *const DlAi2ByteSink,
        ) -> *mut DlAi2Error,
    >,

    /// Validates and loads an artifact written by `serialize` for `device`. A corrupt,
    /// foreign or incompatible artifact gives `DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT` with
    /// a message saying why. Thread safe.
    pub deserialize: Option<
        unsafe extern "C" fn(
            plugin: *mut DlAi2Plugin,
            device: usize,
            data: *const u8,
            size: usize,
            compiled: *mut *mut DlAi2Compiled,
        ) -> *mut DlAi2Error,
    >,
}

/// The signature of the exported `dlopt_ai2_negotiate`.
pub type DlAi2NegotiateFn = unsafe extern "C" fn(
    host_major: u32,
    host_minor: u32,
    plugin_major: *mut u32,
    plugin_minor: *mut u32,
) -> i32;

/// The signature of the exported `dlopt_ai2_api`.
pub type DlAi2ApiFn = unsafe extern "C" fn(major: u32) -> *const DlAi2Api;

/// The name of the negotiation symbol.
pub const NEGOTIATE_SYMBOL: &str = "dlopt_ai2_negotiate";
/// The name of the function-table symbol.
pub const API_SYMBOL: &str = "dlopt_ai2_api";

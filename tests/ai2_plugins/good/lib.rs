//! A well-behaved minimal AI² test plugin: one device that runs float32 `Relu` and `Add`
//! (of two equal shapes), reports every other node as unsupported with a reason, and
//! keeps counters the tests read through vendor properties:
//! - `test_good.live_compiled`: compiled models not destroyed yet;
//! - `test_good.compiles`: compile calls that succeeded;
//! - `test_good.concurrent_executes`: times `execute` ran on a compiled model while another
//!   `execute` on it was running (the device says `execute_concurrently` = 0, so the host
//!   must keep this at 0);
//! - `test_good.answer`: 42.
//!
//! Settable: `log_level` (`'error'`, `'warning'`, `'info'`).

#[path = "../common.rs"]
mod common;

use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use dlopt_ai2::abi::*;

static LIVE_COMPILED: AtomicUsize = AtomicUsize::new(0);
static COMPILES: AtomicUsize = AtomicUsize::new(0);
static CONCURRENT_EXECUTES: AtomicUsize = AtomicUsize::new(0);
static LOG_LEVEL: Mutex<&'static str> = Mutex::new("warning");

/// One node: `Relu` (one input) or `Add` (two), by value indices.
enum Op {
    Relu { input: usize, output: usize },
    Add { a: usize, b: usize, output: usize },
}

struct Compiled {
    /// Element counts of every value.
    sizes: Vec<usize>,
    /// Constant data (float32), by value index.
    constants: Vec<Option<Vec<f32>>>,
    ops: Vec<Op>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    running: AtomicUsize,
}

fn text(pointer: *const c_char) -> &'static str {
    if pointer.is_null() {
        return "";
    }
    unsafe { CStr::from_ptr(pointer) }.to_str().unwrap_or("")
}

unsafe fn slice<'a, T>(pointer: *const T, count: usize) -> &'a [T] {
    if count == 0 || pointer.is_null() {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(pointer, count) }
    }
}

fn element_count(value: &DlAi2TensorDesc) -> usize {
    unsafe { slice(value.shape, value.rank) }.iter().map(|&dim| dim.max(0) as usize).product()
}

/// Why node `node` cannot run, if it cannot.
fn unsupported_reason(graph: &DlAi2Graph, node: &DlAi2Node) -> Option<String> {
    let values = unsafe { slice(graph.values, graph.value_count) };
    let inputs = unsafe { slice(node.inputs, node.input_count) };
    let outputs = unsafe { slice(node.outputs, node.output_count) };
    let op = text(node.op_type);
    if !text(node.domain).is_empty() {
        return Some(format!("domain '{}' is not supported", text(node.domain)));
    }
    let all_float = inputs.iter().chain(outputs).all(|&at| {
        at >= 0
            && (at as usize) < values.len()
            && values[at as usize].dtype == DLOPT_AI2_DTYPE_FLOAT32
    });
    if !all_float {
        return Some("only float32 tensors are supported".to_string());
    }
    match (op, inputs.len(), outputs.len()) {
        ("Relu", 1, 1) => None,
        ("Add", 2, 1) => {
            let (a, b) = (&values[inputs[0] as usize], &values[inputs[1] as usize]);
            let same = unsafe { slice(a.shape, a.rank) == slice(b.shape, b.rank) };
            (!same).then(|| "Add with broadcasting is not supported".to_string())
        }
        _ => {
            Some(format!("operator {op} is not supported by this test plugin (only Relu and Add)"))
        }
    }
}

unsafe extern "C" fn initialize(
    host: *const DlAi2Host,
    plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    if host.is_null() || plugin.is_null() {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "host or plugin is NULL");
    }
    host_log(host, DLOPT_AI2_LOG_INFO, "test_good initialized");
    unsafe { *plugin = dummy_instance() };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_count(_plugin: *mut DlAi2Plugin, count: *mut usize) -> *mut DlAi2Error {
    unsafe { *count = 1 };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_property(
    _plugin: *mut DlAi2Plugin,
    device: usize,
    key: *const c_char,
    sink: *const DlAi2ValueSink,
) -> *mut DlAi2Error {
    if device != 0 {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no such device");
    }
    let sink = Sink::from(sink);
    match key_text(key).as_str() {
        "name" => sink.string("Test device (Relu, Add)"),
        "type" => sink.string("cpu"),
        "precisions" => sink.strings(&["float32"]),
        "cast_precisions" | "calibration_precisions" => sink.strings(&[]),
        "calibrates_itself" | "execute_concurrently" => sink.int(0),
        "deterministic" => sink.int(1),
        "optimize_for_inference_params" => {
            sink.begin_map();
            sink.end_map();
        }
        "settable_device_params" => {
            sink.begin_map();
            sink.key("log_level");
            sink.string(&LOG_LEVEL.lock().unwrap());
            sink.end_map();
        }
        "info" => {
            sink.begin_map();
            sink.key("supported_operators");
            sink.strings(&["Relu", "Add"]);
            sink.key("vendor");
            sink.string("dlopt tests");
            sink.key("memory_mb");
            sink.real(0.5);
            sink.end_map();
        }
        "test_good.answer" => sink.int(42),
        "test_good.live_compiled" => sink.int(LIVE_COMPILED.load(Ordering::SeqCst) as i64),
        "test_good.compiles" => sink.int(COMPILES.load(Ordering::SeqCst) as i64),
        "test_good.concurrent_executes" => {
            sink.int(CONCURRENT_EXECUTES.load(Ordering::SeqCst) as i64)
        }
        other => {
            return error(
                DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
                &format!("unknown device property '{other}'"),
            );
        }
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn set_device_param(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    key: *const c_char,
    value: *const DlAi2Value,
) -> *mut DlAi2Error {
    let key = key_text(key);
    if key != "log_level" {
        return error(
            DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
            &format!("'{key}' is not settable (settable: log_level)"),
        );
    }
    let value = unsafe { &*value };
    let level = if value.kind == DLOPT_AI2_VALUE_STRING { text(value.string) } else { "" };
    let level: &'static str = match level {
        "error" => "error",
        "warning" => "warning",
        "info" => "info",
        _ => {
            return error(
                DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE,
                "log_level takes 'error', 'warning' or 'info'",
            );
        }
    };
    *LOG_LEVEL.lock().unwrap() = level;
    std::ptr::null_mut()
}

unsafe extern "C" fn check_support(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    graph: *const DlAi2Graph,
    precision: *const c_char,
    context: *mut c_void,
    unsupported: Option<unsafe extern "C" fn(*mut c_void, usize, *const c_char)>,
) -> *mut DlAi2Error {
    if text(precision) != "float32" {
        return error(
            DLOPT_AI2_ERROR_UNSUPPORTED,
            &format!("precision '{}' is not supported", text(precision)),
        );
    }
    let (Some(graph), Some(unsupported)) = (unsafe { graph.as_ref() }, unsupported) else {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "graph or callback is NULL");
    };
    for (at, node) in unsafe { slice(graph.nodes, graph.node_count) }.iter().enumerate() {
        if let Some(reason) = unsupported_reason(graph, node) {
            let reason = std::ffi::CString::new(reason).unwrap();
            unsafe { unsupported(context, at, reason.as_ptr()) };
        }
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn compile(
    _plugin: *mut DlAi2Plugin,
    args: *const DlAi2CompileArgs,
    compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    let Some(args) = (unsafe { args.as_ref() }) else {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "args is NULL");
    };
    if text(args.precision) != "float32" {
        return error(DLOPT_AI2_ERROR_UNSUPPORTED, "only float32");
    }
    let options = unsafe { args.options.as_ref() };
    if options.is_none_or(|options| options.kind != DLOPT_AI2_VALUE_MAP || options.count != 0) {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "options must be an empty map");
    }
    let graph = unsafe { &*args.graph };
    if graph.onnx.is_null() || graph.onnx_size == 0 {
        return error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "the graph came without ONNX bytes");
    }
    let values = unsafe { slice(graph.values, graph.value_count) };
    let mut ops = Vec::new();
    for node in unsafe { slice(graph.nodes, graph.node_count) } {
        if let Some(reason) = unsupported_reason(graph, node) {
            return error(DLOPT_AI2_ERROR_UNSUPPORTED, &reason);
        }
        let inputs = unsafe { slice(node.inputs, node.input_count) };
        let output = unsafe { *node.outputs } as usize;
        ops.push(match text(node.op_type) {
            "Relu" => Op::Relu { input: inputs[0] as usize, output },
            _ => Op::Add { a: inputs[0] as usize, b: inputs[1] as usize, output },
        });
    }
    let constants = values
        .iter()
        .map(|value| {
            (!value.data.is_null()).then(|| {
                let count = value.byte_size / 4;
                unsafe { std::slice::from_raw_parts(value.data as *const f32, count) }.to_vec()
            })
        })
        .collect();
    let result = Compiled {
        sizes: values.iter().map(element_count).collect(),
        constants,
        ops,
        inputs: unsafe { slice(graph.inputs, graph.input_count) }
            .iter()
            .map(|&i| i as usize)
            .collect(),
        outputs: unsafe { slice(graph.outputs, graph.output_count) }
            .iter()
            .map(|&i| i as usize)
            .collect(),
        running: AtomicUsize::new(0),
    };
    if let Some(callbacks) = unsafe { args.callbacks.as_ref() } {
        if let Some(progress) = callbacks.progress {
            unsafe { progress(callbacks.context, c"compile".as_ptr(), 1, 1) };
        }
    }
    LIVE_COMPILED.fetch_add(1, Ordering::SeqCst);
    COMPILES.fetch_add(1, Ordering::SeqCst);
    unsafe { *compiled = Box::into_raw(Box::new(result)) as *mut DlAi2Compiled };
    std::ptr::null_mut()
}

unsafe extern "C" fn compiled_destroy(compiled: *mut DlAi2Compiled) {
    if !compiled.is_null() {
        drop(unsafe { Box::from_raw(compiled as *mut Compiled) });
        LIVE_COMPILED.fetch_sub(1, Ordering::SeqCst);
    }
}

unsafe extern "C" fn execute(
    compiled: *mut DlAi2Compiled,
    inputs: *const DlAi2Buffer,
    input_count: usize,
    outputs: *const DlAi2Buffer,
    output_count: usize,
) -> *mut DlAi2Error {
    let model = unsafe { &*(compiled as *const Compiled) };
    if model.running.fetch_add(1, Ordering::SeqCst) > 0 {
        CONCURRENT_EXECUTES.fetch_add(1, Ordering::SeqCst);
    }
    let result =
        run(model, unsafe { slice(inputs, input_count) }, unsafe { slice(outputs, output_count) });
    // Stay inside long enough that unserialised calls would overlap.
    std::thread::sleep(std::time::Duration::from_millis(2));
    model.running.fetch_sub(1, Ordering::SeqCst);
    match result {
        Ok(()) => std::ptr::null_mut(),
        Err(message) => error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, &message),
    }
}

fn run(model: &Compiled, inputs: &[DlAi2Buffer], outputs: &[DlAi2Buffer]) -> Result<(), String> {
    if inputs.len() != model.inputs.len() || outputs.len() != model.outputs.len() {
        return Err("wrong number of buffers".into());
    }
    let mut values: Vec<Option<Vec<f32>>> = model.constants.clone();
    for (buffer, &at) in inputs.iter().zip(&model.inputs) {
        if buffer.byte_size != model.sizes[at] * 4 || buffer.data.is_null() {
            return Err(format!(
                "input buffer of {} bytes, expected {}",
                buffer.byte_size,
                model.sizes[at] * 4
            ));
        }
        values[at] = Some(
            unsafe { std::slice::from_raw_parts(buffer.data as *const f32, model.sizes[at]) }
                .to_vec(),
        );
    }
    for op in &model.ops {
        let (output, data) = match *op {
            Op::Relu { input, output } => {
                let x = values[input].as_ref().ok_or("input not computed")?;
                (output, x.iter().map(|v| v.max(0.0)).collect())
            }
            Op::Add { a, b, output } => {
                let (x, y) = (values[a].as_ref().ok_or("a")?, values[b].as_ref().ok_or("b")?);
                (output, x.iter().zip(y).map(|(p, q)| p + q).collect())
            }
        };
        values[output] = Some(data);
    }
    for (buffer, &at) in outputs.iter().zip(&model.outputs) {
        let data = values[at].as_ref().ok_or("output not computed")?;
        if buffer.byte_size != data.len() * 4 || buffer.data.is_null() {
            return Err("output buffer of the wrong size".into());
        }
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), buffer.data as *mut f32, data.len())
        };
    }
    Ok(())
}

static TABLE: Table = Table(DlAi2Api {
    initialize: Some(initialize),
    device_count: Some(device_count),
    device_property: Some(device_property),
    set_device_param: Some(set_device_param),
    check_support: Some(check_support),
    compile: Some(compile),
    compiled_destroy: Some(compiled_destroy),
    execute: Some(execute),
    ..empty_table(c"dlopt_test_good", c"test_good")
});

/// The negotiation entry symbol.
///
/// # Safety
/// `plugin_major` and `plugin_minor` are NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlopt_ai2_negotiate(
    host_major: u32,
    host_minor: u32,
    plugin_major: *mut u32,
    plugin_minor: *mut u32,
) -> i32 {
    unsafe { negotiate_v1(host_major, host_minor, plugin_major, plugin_minor) }
}

/// The function-table entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn dlopt_ai2_api(major: u32) -> *const DlAi2Api {
    if major == DLOPT_AI2_ABI_MAJOR { &TABLE.0 } else { std::ptr::null() }
}

//! A test AI² plugin whose compile succeeds and whose execute fails with a device error;
//! its device allows concurrent execution. Counts live compiled models in the vendor
//! property `test_exec_fails.live_compiled`.

#[path = "../common.rs"]
mod common;

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use dlopt_ai2::abi::*;

static LIVE_COMPILED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn initialize(
    _host: *const DlAi2Host,
    plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    unsafe { *plugin = dummy_instance() };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_count(_plugin: *mut DlAi2Plugin, count: *mut usize) -> *mut DlAi2Error {
    unsafe { *count = 1 };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_property(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    key: *const c_char,
    sink: *const DlAi2ValueSink,
) -> *mut DlAi2Error {
    let sink = Sink::from(sink);
    match key_text(key).as_str() {
        "name" => sink.string("Failing executor"),
        "type" => sink.string("npu"),
        "precisions" => sink.strings(&["float32", "float16"]),
        "cast_precisions" => sink.strings(&["float16"]),
        "execute_concurrently" => sink.int(1),
        "test_exec_fails.live_compiled" => sink.int(LIVE_COMPILED.load(Ordering::SeqCst) as i64),
        other => {
            return error(
                DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
                &format!("unknown property '{other}'"),
            );
        }
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn set_device_param(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    key: *const c_char,
    _value: *const DlAi2Value,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_UNKNOWN_PARAMETER, &format!("'{}' is not settable", key_text(key)))
}

unsafe extern "C" fn check_support(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    _graph: *const DlAi2Graph,
    _precision: *const c_char,
    _context: *mut c_void,
    _unsupported: Option<unsafe extern "C" fn(*mut c_void, usize, *const c_char)>,
) -> *mut DlAi2Error {
    std::ptr::null_mut()
}

unsafe extern "C" fn compile(
    _plugin: *mut DlAi2Plugin,
    _args: *const DlAi2CompileArgs,
    compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    LIVE_COMPILED.fetch_add(1, Ordering::SeqCst);
    unsafe { *compiled = Box::into_raw(Box::new(0u64)) as *mut DlAi2Compiled };
    std::ptr::null_mut()
}

unsafe extern "C" fn compiled_destroy(compiled: *mut DlAi2Compiled) {
    if !compiled.is_null() {
        drop(unsafe { Box::from_raw(compiled as *mut u64) });
        LIVE_COMPILED.fetch_sub(1, Ordering::SeqCst);
    }
}

unsafe extern "C" fn execute(
    _compiled: *mut DlAi2Compiled,
    _inputs: *const DlAi2Buffer,
    _input_count: usize,
    _outputs: *const DlAi2Buffer,
    _output_count: usize,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_DEVICE, "the device was lost")
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
    ..empty_table(c"dlopt_test_exec_fails", c"test_exec_fails")
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

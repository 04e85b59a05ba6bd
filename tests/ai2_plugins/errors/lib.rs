//! A test AI² plugin that loads, then fails: three devices whose properties (all but
//! `'precisions'`) and settings return errors of every code, whose compile fails
//! (device 0: `OUT_OF_MEMORY` from `compile`; device 1: `UNSUPPORTED` from
//! `check_support`), and whose execute would fail too. Device 2 runs only int8.

#[path = "../common.rs"]
mod common;

use std::ffi::{c_char, c_void};

use common::*;
use dlopt_ai2::abi::*;

unsafe extern "C" fn initialize(
    _host: *const DlAi2Host,
    plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    unsafe { *plugin = dummy_instance() };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_count(_plugin: *mut DlAi2Plugin, count: *mut usize) -> *mut DlAi2Error {
    unsafe { *count = 3 };
    std::ptr::null_mut()
}

unsafe extern "C" fn device_property(
    _plugin: *mut DlAi2Plugin,
    device: usize,
    key: *const c_char,
    sink: *const DlAi2ValueSink,
) -> *mut DlAi2Error {
    let key = key_text(key);
    let code = match key.as_str() {
        "precisions" => {
            Sink::from(sink).strings(if device == 2 { &["int8"] } else { &["float32"] });
            return std::ptr::null_mut();
        }
        "name" => DLOPT_AI2_ERROR_INTERNAL,
        "type" => DLOPT_AI2_ERROR_DEVICE,
        "cast_precisions" => DLOPT_AI2_ERROR_UNSUPPORTED,
        "calibration_precisions" => DLOPT_AI2_ERROR_OUT_OF_MEMORY,
        "info" => DLOPT_AI2_ERROR_CANCELLED,
        "settable_device_params" => DLOPT_AI2_ERROR_INVALID_ARGUMENT,
        "optimize_for_inference_params" => DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
        _ => DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
    };
    error(code, &format!("property '{key}' failed on purpose"))
}

unsafe extern "C" fn set_device_param(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    key: *const c_char,
    _value: *const DlAi2Value,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_DEVICE, &format!("cannot set '{}': the device is busy", key_text(key)))
}

unsafe extern "C" fn check_support(
    _plugin: *mut DlAi2Plugin,
    device: usize,
    _graph: *const DlAi2Graph,
    _precision: *const c_char,
    _context: *mut c_void,
    _unsupported: Option<unsafe extern "C" fn(*mut c_void, usize, *const c_char)>,
) -> *mut DlAi2Error {
    if device == 1 {
        return error(DLOPT_AI2_ERROR_UNSUPPORTED, "float32 is not available on this device");
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn compile(
    _plugin: *mut DlAi2Plugin,
    _args: *const DlAi2CompileArgs,
    _compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "no device memory left")
}

unsafe extern "C" fn compiled_destroy(_compiled: *mut DlAi2Compiled) {}

unsafe extern "C" fn execute(
    _compiled: *mut DlAi2Compiled,
    _inputs: *const DlAi2Buffer,
    _input_count: usize,
    _outputs: *const DlAi2Buffer,
    _output_count: usize,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INTERNAL, "execute failed on purpose")
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
    ..empty_table(c"dlopt_test_errors", c"test_errors")
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

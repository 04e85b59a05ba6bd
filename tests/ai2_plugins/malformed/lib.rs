//! A test AI² plugin that breaks the value protocol and the compile contract: its device
//! properties write malformed sink sequences (two values, an `end_list` without
//! `begin_list`, an unended list, a map item without a key, no value, a scalar where a map
//! belongs), only `'precisions'` is well-formed, and `compile` returns no compiled model
//! and no error.

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
        "precisions" => sink.strings(&["float32"]),
        "name" => {
            sink.string("first");
            sink.string("second");
        }
        "type" => sink.end_list(),
        "cast_precisions" => {
            sink.begin_list();
            sink.string("float16");
        }
        "info" => {
            sink.begin_map();
            sink.int(1);
            sink.end_map();
        }
        "settable_device_params" => sink.int(7),
        "calibration_precisions" => {
            sink.begin_list();
            sink.int(8);
            sink.end_list();
        }
        "execute_concurrently" => sink.key("stray"),
        _ => {}
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn set_device_param(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    _key: *const c_char,
    _value: *const DlAi2Value,
) -> *mut DlAi2Error {
    std::ptr::null_mut()
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
    _compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    std::ptr::null_mut()
}

unsafe extern "C" fn compiled_destroy(_compiled: *mut DlAi2Compiled) {}

unsafe extern "C" fn execute(
    _compiled: *mut DlAi2Compiled,
    _inputs: *const DlAi2Buffer,
    _input_count: usize,
    _outputs: *const DlAi2Buffer,
    _output_count: usize,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INTERNAL, "never compiled, never executed")
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
    ..empty_table(c"dlopt_test_malformed", c"test_malformed")
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

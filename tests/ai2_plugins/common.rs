//! Shared by the test plugins (each includes it with `#[path]`): error objects, the
//! standard negotiation, and writing values into the host's sinks. Written against the raw
//! ABI types of `dlopt-ai2`, as a vendor writing C would.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char};

use dlopt_ai2::abi::*;

/// An error object: the ABI struct first, so a pointer to it is a `DlAi2Error *`.
#[repr(C)]
struct OwnedError {
    error: DlAi2Error,
    message: CString,
}

/// A new error with `code` and `message`, freed by [`error_destroy`].
pub fn error(code: i32, message: &str) -> *mut DlAi2Error {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    let owned = Box::new(OwnedError {
        error: DlAi2Error { struct_size: size_of::<DlAi2Error>(), code, message: message.as_ptr() },
        message,
    });
    Box::into_raw(owned) as *mut DlAi2Error
}

/// `error_destroy`.
pub unsafe extern "C" fn error_destroy(error: *mut DlAi2Error) {
    if !error.is_null() {
        drop(unsafe { Box::from_raw(error as *mut OwnedError) });
    }
}

/// The standard negotiation: ABI 1.0, refusing other majors.
pub unsafe extern "C" fn negotiate_v1(
    host_major: u32,
    _host_minor: u32,
    plugin_major: *mut u32,
    plugin_minor: *mut u32,
) -> i32 {
    if host_major != DLOPT_AI2_ABI_MAJOR || plugin_major.is_null() || plugin_minor.is_null() {
        return 1;
    }
    unsafe {
        *plugin_major = DLOPT_AI2_ABI_MAJOR;
        *plugin_minor = 0;
    }
    0
}

/// A key the host passed in, as text.
pub fn key_text(key: *const c_char) -> String {
    if key.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(key) }.to_string_lossy().into_owned()
}

/// Writes into a host sink.
pub struct Sink<'a>(pub &'a DlAi2ValueSink);

impl Sink<'_> {
    /// The sink behind `sink`.
    pub fn from(sink: *const DlAi2ValueSink) -> Sink<'static> {
        Sink(unsafe { &*sink })
    }
    pub fn int(&self, value: i64) {
        unsafe { self.0.write_int.unwrap()(self.0.context, value) }
    }
    pub fn real(&self, value: f64) {
        unsafe { self.0.write_real.unwrap()(self.0.context, value) }
    }
    pub fn string(&self, value: &str) {
        let value = CString::new(value).unwrap();
        unsafe { self.0.write_string.unwrap()(self.0.context, value.as_ptr()) }
    }
    pub fn begin_list(&self) {
        unsafe { self.0.begin_list.unwrap()(self.0.context) }
    }
    pub fn end_list(&self) {
        unsafe { self.0.end_list.unwrap()(self.0.context) }
    }
    pub fn begin_map(&self) {
        unsafe { self.0.begin_map.unwrap()(self.0.context) }
    }
    pub fn key(&self, key: &str) {
        let key = CString::new(key).unwrap();
        unsafe { self.0.write_key.unwrap()(self.0.context, key.as_ptr()) }
    }
    pub fn end_map(&self) {
        unsafe { self.0.end_map.unwrap()(self.0.context) }
    }
    pub fn strings(&self, values: &[&str]) {
        self.begin_list();
        for value in values {
            self.string(value);
        }
        self.end_list();
    }
}

/// A function table with every function NULL: plugins fill in what they have.
pub const fn empty_table(name: &'static CStr, interface: &'static CStr) -> DlAi2Api {
    DlAi2Api {
        struct_size: size_of::<DlAi2Api>(),
        abi_major: DLOPT_AI2_ABI_MAJOR,
        abi_minor: 0,
        plugin_name: name.as_ptr(),
        plugin_version: c"0.1.0".as_ptr(),
        interface_name: interface.as_ptr(),
        error_destroy: Some(error_destroy),
        initialize: None,
        device_count: None,
        device_property: None,
        set_device_param: None,
        check_support: None,
        compile: None,
        compiled_destroy: None,
        execute: None,
        serialize: None,
        deserialize: None,
    }
}

/// A `static` holder for a function table (the ABI's raw pointers are not `Sync`).
pub struct Table(pub DlAi2Api);
unsafe impl Sync for Table {}

/// A plugin instance that carries nothing: a non-NULL dangling pointer.
pub fn dummy_instance() -> *mut DlAi2Plugin {
    std::ptr::NonNull::<DlAi2Plugin>::dangling().as_ptr()
}

/// Logs through the host's callbacks, if it gave any.
pub fn host_log(host: *const DlAi2Host, level: i32, message: &str) {
    let Some(host) = (unsafe { host.as_ref() }) else { return };
    let Some(callbacks) = (unsafe { host.callbacks.as_ref() }) else { return };
    if let Some(log) = callbacks.log {
        let message = CString::new(message).unwrap();
        unsafe { log(callbacks.context, level, message.as_ptr()) };
    }
}

/// A compiled model that holds nothing (for plugins whose execute is the point).
pub fn dummy_compiled() -> *mut DlAi2Compiled {
    std::ptr::NonNull::<DlAi2Compiled>::dangling().as_ptr()
}

unsafe extern "C" fn dummy_initialize(
    _host: *const DlAi2Host,
    plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    unsafe { *plugin = dummy_instance() };
    std::ptr::null_mut()
}

unsafe extern "C" fn dummy_device_count(
    _plugin: *mut DlAi2Plugin,
    count: *mut usize,
) -> *mut DlAi2Error {
    unsafe { *count = 0 };
    std::ptr::null_mut()
}

unsafe extern "C" fn dummy_device_property(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    _key: *const c_char,
    _sink: *const DlAi2ValueSink,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no devices")
}

unsafe extern "C" fn dummy_set_device_param(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    _key: *const c_char,
    _value: *const DlAi2Value,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no devices")
}

unsafe extern "C" fn dummy_check_support(
    _plugin: *mut DlAi2Plugin,
    _device: usize,
    _graph: *const DlAi2Graph,
    _precision: *const c_char,
    _context: *mut std::ffi::c_void,
    _unsupported: Option<unsafe extern "C" fn(*mut std::ffi::c_void, usize, *const c_char)>,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no devices")
}

unsafe extern "C" fn dummy_compile(
    _plugin: *mut DlAi2Plugin,
    _args: *const DlAi2CompileArgs,
    _compiled: *mut *mut DlAi2Compiled,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no devices")
}

unsafe extern "C" fn dummy_compiled_destroy(_compiled: *mut DlAi2Compiled) {}

unsafe extern "C" fn dummy_execute(
    _compiled: *mut DlAi2Compiled,
    _inputs: *const DlAi2Buffer,
    _input_count: usize,
    _outputs: *const DlAi2Buffer,
    _output_count: usize,
) -> *mut DlAi2Error {
    error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "no devices")
}

/// A complete table of functions that offer no devices (for plugins that fail earlier).
pub const FULL_DUMMY: DlAi2Api = DlAi2Api {
    initialize: Some(dummy_initialize),
    device_count: Some(dummy_device_count),
    device_property: Some(dummy_device_property),
    set_device_param: Some(dummy_set_device_param),
    check_support: Some(dummy_check_support),
    compile: Some(dummy_compile),
    compiled_destroy: Some(dummy_compiled_destroy),
    execute: Some(dummy_execute),
    ..empty_table(c"dlopt_test_dummy", c"test_dummy")
};

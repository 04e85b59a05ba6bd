//! A test AI² plugin whose `initialize` fails (no accelerator found).

#[path = "../common.rs"]
mod common;

use common::*;
use dlopt_ai2::abi::*;

unsafe extern "C" fn initialize(
    host: *const DlAi2Host,
    _plugin: *mut *mut DlAi2Plugin,
) -> *mut DlAi2Error {
    host_log(host, DLOPT_AI2_LOG_ERROR, "probing for accelerator cards: none found");
    error(DLOPT_AI2_ERROR_DEVICE, "no accelerator card found")
}

static TABLE: Table = Table(DlAi2Api {
    initialize: Some(initialize),
    plugin_name: c"dlopt_test_init_fails".as_ptr(),
    interface_name: c"test_init_fails".as_ptr(),
    ..common::FULL_DUMMY
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

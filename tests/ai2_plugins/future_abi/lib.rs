//! A test AI² plugin from the future: it answers negotiation with ABI 2.0.

#[path = "../common.rs"]
mod common;

use common::*;
use dlopt_ai2::abi::*;

static TABLE: Table = Table(DlAi2Api {
    abi_major: 2,
    plugin_name: c"dlopt_test_future_abi".as_ptr(),
    interface_name: c"test_future_abi".as_ptr(),
    ..common::FULL_DUMMY
});

/// The negotiation entry symbol: always ABI 2.0.
///
/// # Safety
/// `plugin_major` and `plugin_minor` are NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlopt_ai2_negotiate(
    _host_major: u32,
    _host_minor: u32,
    plugin_major: *mut u32,
    plugin_minor: *mut u32,
) -> i32 {
    unsafe {
        *plugin_major = 2;
        *plugin_minor = 0;
    }
    0
}

/// The function-table entry symbol.
#[unsafe(no_mangle)]
pub extern "C" fn dlopt_ai2_api(_major: u32) -> *const DlAi2Api {
    &TABLE.0
}

//! A test AI² plugin that negotiates but lacks the `dlopt_ai2_api` symbol.

#[path = "../common.rs"]
mod common;

use common::*;

/// The negotiation entry symbol (the only one).
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

//! dlopt's AI² plugin ABI and SDK.
//!
//! - [`abi`]: the `#[repr(C)]` types of `include/dlopt_ai2.h` (the header is generated from
//!   them), for the host and for plugins in any language.
//! - [`sdk`]: the safe Rust SDK: a plugin implements [`sdk::Plugin`] and calls
//!   [`export_plugin!`] to get the C ABI, argument checks, panic catching and error objects.

#![warn(missing_docs)]

pub mod abi;
/// The Rust SDK (not part of the C header, which is generated from [`abi`] alone).
///
/// cbindgen:ignore
pub mod sdk;

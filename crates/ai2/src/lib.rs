//! dlopt's AI² plugin ABI and SDK.
//!
//! - [`abi`]: the `#[repr(C)]` types of `include/dlopt_ai2.h` (the header is generated from
//!   them), for the host and for plugins in any language.
//! - The SDK (coming): a Rust plugin implements a trait and gets the C ABI, panic catching and
//!   error objects for free.

pub mod abi;

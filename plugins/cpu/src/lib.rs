//! dlopt's AI² CPU plugin (`dlopt_cpu`): dlopt's native runtime behind the plugin ABI, built
//! with the Rust SDK (`dlopt_ai2::sdk`).
//!
//! - **Devices**: one per CPU package ([`cpu`]); properties and settable parameters
//!   (`num_threads`, `log_level`) in [`device`].
//! - **Precisions**: float32; float16 and bfloat16 as 16-bit weight *storage* with float32
//!   math and activations ([`precision`]); int8 runs the host's calibrated QDQ graph, its
//!   quantized convolutions on int8 kernels ([`int8`]).
//! - **Compile** ([`compile`]): ONNX import, fixed input shapes, graph optimization, weight
//!   storage, then a runtime plan on the device's thread pool (threads flush denormals).
//! - **Artifacts** ([`artifact`]): self-describing, checksummed, validated before loading.
//! - **Execute** ([`model`]): concurrent calls on one compiled model are safe.
//!
//! The crate is a `cdylib` (the plugin) and an `rlib` (its tests call the exported
//! `dlopt_ai2_negotiate` / `dlopt_ai2_api` directly).

#![warn(missing_docs)]

pub mod artifact;
pub mod compile;
pub mod cpu;
pub mod device;
pub mod int8;
pub mod model;
pub mod plugin;
pub mod precision;
pub mod tensors;

pub use plugin::CpuPlugin;

/// The plugin's name (also its interface name, the devices' `'ai_accelerator_interface'`).
pub const PLUGIN_NAME: &str = "dlopt_cpu";
/// The plugin's version: the crate's.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

dlopt_ai2::export_plugin!(CpuPlugin, "dlopt_cpu", env!("CARGO_PKG_VERSION"), "dlopt_cpu");

//! The safe Rust SDK for AI² plugin authors.
//!
//! A plugin implements [`Plugin`](crate::sdk::Plugin) (devices, properties, support checks, compile,
//! deserialize) and [`CompiledModel`](crate::sdk::CompiledModel) (execute, serialize) and calls
//! [`export_plugin!`](crate::export_plugin) once; the SDK provides the C ABI of
//! `include/dlopt_ai2.h`: version negotiation, the function table, argument checks, value
//! conversion, panic catching and error objects.
//!
//! | type | what it is |
//! |---|---|
//! | [`Value`](crate::sdk::Value) | the ABI's typed value (int, real, string, list, map, tensor), owned |
//! | [`PluginError`](crate::sdk::PluginError) | an error code and message; crosses the ABI as a `DlAi2Error` |
//! | [`GraphView`](crate::sdk::GraphView) | checked read access to a `DlAi2Graph` (values, nodes, ONNX bytes) |
//! | [`Callbacks`](crate::sdk::Callbacks) | the host's log, progress and cancellation callbacks |
//! | [`DeviceProperty`](crate::sdk::DeviceProperty) | the well-known device property keys |
//! | [`HostInfo`](crate::sdk::HostInfo) | what the host tells the plugin at initialization |
//!
//! For hosts and tests: [`RawValue`](crate::sdk::RawValue) and [`RawGraph`](crate::sdk::RawGraph) encode values and graphs in the C
//! layout, [`ValueCollector`](crate::sdk::ValueCollector) and [`ByteCollector`](crate::sdk::ByteCollector) are sinks that collect what a plugin
//! writes.
//!
//! Threading: every [`Plugin`](crate::sdk::Plugin) method may be called concurrently (the trait requires
//! `Send + Sync`); [`CompiledModel::execute`](crate::sdk::CompiledModel::execute) too when the device says
//! `"execute_concurrently"` = 1.

mod callbacks;
mod error;
mod export;
pub mod glue;
mod graph;
mod plugin;
mod raw;
mod sink;
mod value;

pub use callbacks::{Callbacks, HostInfo, LogLevel};
pub use error::{ErrorCode, PluginError, PluginResult, destroy_raw_error};
pub use graph::{GraphView, NodeRef, TensorRef};
pub use plugin::{CompileRequest, CompiledModel, DeviceProperty, Plugin};
pub use raw::{GraphSpec, NodeSpec, RawGraph, RawValue};
pub use sink::{
    ByteCollector, ValueCollector, check_writable, has_field, write_bytes, write_value,
};
pub use value::{MAX_VALUE_DEPTH, TensorValue, Value};

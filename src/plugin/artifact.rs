//! Compiled models to bytes and back: the plugin's `serialize` and `deserialize`.
//!
//! The bytes (an *artifact*) are the plugin's own, self-describing format: the plugin
//! checks them itself when it loads them (a corrupt, foreign or incompatible artifact is
//! `DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT`, 4320 "incompatible compiled artifact: ..." with
//! the plugin's reason). The host keeps, next to them, what it needs to execute: the input
//! shape the model was compiled for, from which it specialises the graph again to learn the
//! element types and shapes of the inputs and outputs.
//!
//! Both functions are optional in the ABI: a plugin without `serialize` gives 4320 here, and
//! callers decide what that means (writing a converted model stores no artifacts then).

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use dlopt_ai2::abi::{DlAi2ByteSink, DlAi2Compiled};
use dlopt_graph::Graph;

use crate::error::{H_ERR_HAI2_ERROR, HalconError, Result};

use super::compiled::CompiledModel;
use super::device::PluginDevice;
use super::error::ErrorContext;
use super::graph::specialize;

/// The largest artifact accepted from a plugin (16 GiB): more is a broken plugin.
const MAX_ARTIFACT: usize = 1 << 34;

/// The bytes a plugin writes, and whether it wrote too many or memory ran out.
#[derive(Default)]
struct Collected {
    bytes: Vec<u8>,
    failed: Option<String>,
}

unsafe extern "C" fn collect(context: *mut c_void, data: *const u8, size: usize) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if context.is_null() {
            return 1;
        }
        let collected = unsafe { &mut *(context as *mut Collected) };
        if collected.failed.is_some() {
            return 1;
        }
        if size == 0 {
            return 0;
        }
        if data.is_null() {
            collected.failed = Some(format!("write was called with NULL data and size {size}"));
            return 1;
        }
        if collected.bytes.len().saturating_add(size) > MAX_ARTIFACT {
            collected.failed = Some(format!("the artifact grew beyond {MAX_ARTIFACT} bytes"));
            return 1;
        }
        if collected.bytes.try_reserve(size).is_err() {
            collected.failed = Some(format!("no memory for {size} more artifact bytes"));
            return 1;
        }
        collected.bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(data, size) });
        0
    }));
    outcome.unwrap_or(1)
}

impl CompiledModel {
    /// The plugin's artifact of this compiled model (`serialize`). Errors: 4320 when the
    /// plugin has no `serialize` or wrote nothing; the plugin's mapped error otherwise.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let plugin = &self.plugin;
        let Some(serialize) = plugin.functions.serialize else {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!(
                    "{}: the plugin cannot serialize compiled models (no 'serialize')",
                    plugin.name
                ),
            ));
        };
        let mut collected = Collected::default();
        let sink = DlAi2ByteSink {
            struct_size: size_of::<DlAi2ByteSink>(),
            context: &mut collected as *mut Collected as *mut c_void,
            write: Some(collect),
        };
        let error = {
            // Serialised with `execute` unless the device executes concurrently.
            let _serialised = self.serial.as_ref().map(|mutex| mutex.lock());
            unsafe { serialize(self.handle, &sink) }
        };
        unsafe { plugin.check(error, ErrorContext::General) }?;
        if let Some(reason) = collected.failed {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!("{}: serialize: {reason}", plugin.name),
            ));
        }
        if collected.bytes.is_empty() {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!("{}: serialize wrote no bytes and returned no error", plugin.name),
            ));
        }
        Ok(collected.bytes)
    }

    /// Loads `bytes`, an artifact written by `serialize` for `graph` with its input of
    /// `input_shape`, on `device` (`deserialize`; the plugin validates it). Errors: 4320
    /// when the plugin has no `deserialize` or the graph cannot be specialised for the shape;
    /// the plugin's refusal (4320 "incompatible compiled artifact: <reason>").
    pub fn deserialize(
        device: &PluginDevice,
        graph: &Graph,
        input_shape: &[usize],
        bytes: &[u8],
    ) -> Result<CompiledModel> {
        let plugin = &device.plugin;
        let Some(deserialize) = plugin.functions.deserialize else {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!(
                    "{}: the plugin cannot load compiled artifacts (no 'deserialize')",
                    plugin.name
                ),
            ));
        };
        let specialised = specialize(graph, input_shape)?;
        let mut handle: *mut DlAi2Compiled = std::ptr::null_mut();
        let error = unsafe {
            deserialize(plugin.instance, device.index, bytes.as_ptr(), bytes.len(), &mut handle)
        };
        unsafe { plugin.check(error, ErrorContext::General) }?;
        if handle.is_null() {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!(
                    "{}: deserialize returned neither a compiled model nor an error",
                    plugin.name
                ),
            ));
        }
        Ok(CompiledModel::wrap(device, handle, &specialised))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_sink_collects_and_refuses_null_data() {
        let mut collected = Collected::default();
        let context = &mut collected as *mut Collected as *mut c_void;
        unsafe {
            assert_eq!(collect(context, b"abc".as_ptr(), 3), 0);
            assert_eq!(collect(context, std::ptr::null(), 0), 0);
            assert_eq!(collect(context, b"de".as_ptr(), 2), 0);
        }
        assert_eq!(collected.bytes, b"abcde");
        unsafe {
            assert_eq!(collect(context, std::ptr::null(), 4), 1);
            // After a failure every write fails.
            assert_eq!(collect(context, b"f".as_ptr(), 1), 1);
            assert_eq!(collect(std::ptr::null_mut(), b"f".as_ptr(), 1), 1);
        }
        assert!(collected.failed.unwrap().contains("NULL data"));
    }
}

//! Models compiled by a plugin, and the per-model cache of them.
//!
//! Compiling: the host specialises the graph for the input shape ([`super::graph`]), asks
//! the device which nodes it cannot run at the model's precision (`check_support`:
//! unsupported nodes are reported by name with the plugin's reasons, 4320, instead of a
//! bare compile error), then compiles with the precision and options of a [`CompileSpec`]
//! (float32 and no options for an unconverted model; the conversion's precision and
//! `GenParam` for a converted one) and the host's log / progress / cancellation callbacks.
//!
//! Executing: host-owned buffers, sized from the specialised graph. Calls on one compiled
//! model are serialised unless its device reports `"execute_concurrently"` = 1.
//!
//! Destroying: a compiled model is destroyed when its last reference goes, i.e. when the
//! cache evicts it or the model dies and no `execute` on it is running (every run holds a
//! reference), never while the cache's lock is held.

use std::ffi::{CStr, c_char, c_void};
use std::sync::Arc;

use dlopt_ai2::abi::{DlAi2Buffer, DlAi2Callbacks, DlAi2CompileArgs, DlAi2Compiled};
use dlopt_graph::{DataType, Graph, Tensor, TensorData, with_tensor_data};
use parking_lot::Mutex;

use crate::error::{H_ERR_HAI2_ERROR, HalconError, Result};
use crate::tuple::Tuple;

use super::LoadedPlugin;
use super::device::PluginDevice;
use super::error::ErrorContext;
use super::graph::{AbiGraph, specialize, tensor_bytes, value_info};
use super::log::{self, LogSource};
use super::value::{CArena, PluginValue, tuple_to_value};

/// The precision models are compiled in when a device is set on an unconverted model.
pub const PLAIN_PRECISION: &str = "float32";

/// What a graph is compiled as: a precision and the options passed to `compile` (the
/// `GenParam` of `optimize_dl_model_for_inference`, defaults filled in).
#[derive(Clone, Copy, Debug)]
pub struct CompileSpec<'a> {
    /// `"float32"`, `"float16"`, `"bfloat16"` or `"int8"`.
    pub precision: &'a str,
    /// The options map, in order.
    pub options: &'a [(String, Tuple)],
}

impl CompileSpec<'static> {
    /// float32 without options: how unconverted models are compiled.
    pub const PLAIN: CompileSpec<'static> =
        CompileSpec { precision: PLAIN_PRECISION, options: &[] };
}

impl CompileSpec<'_> {
    /// The options as a `DlAi2Value` map laid out in `arena`. Errors (4321): a value that
    /// cannot cross (see [`tuple_to_value`]), naming its key.
    pub fn options_value(&self, arena: &mut CArena) -> Result<dlopt_ai2::abi::DlAi2Value> {
        let mut entries = Vec::with_capacity(self.options.len());
        for (key, tuple) in self.options {
            let value = tuple_to_value(arena, tuple)
                .map_err(|error| error.context(format!("GenParam '{key}'")))?;
            entries.push((key.clone(), value));
        }
        arena.map_value(entries)
    }
}

/// A model compiled by a plugin for one device and input shape.
pub struct CompiledModel {
    pub(super) plugin: Arc<LoadedPlugin>,
    pub(super) handle: *mut DlAi2Compiled,
    /// Held during `execute` unless the device executes concurrently.
    pub(super) serial: Option<Mutex<()>>,
    pub(super) inputs: Vec<(DataType, Vec<usize>)>,
    pub(super) outputs: Vec<(DataType, Vec<usize>)>,
}

// SAFETY: `execute` is either allowed concurrently by the device or serialised by
// `serial`; `compiled_destroy` runs only in `drop`, when no other reference exists.
unsafe impl Send for CompiledModel {}
unsafe impl Sync for CompiledModel {}

impl Drop for CompiledModel {
    fn drop(&mut self) {
        unsafe { (self.plugin.functions.compiled_destroy)(self.handle) };
    }
}

/// Collects what `check_support` reports. Behind a mutex: the ABI does not say on which
/// thread `unsupported` is called, so a plugin checking nodes in parallel may call it from
/// several at once.
struct Unsupported {
    nodes: Mutex<Vec<(usize, String)>>,
}

unsafe extern "C" fn report_unsupported(context: *mut c_void, node: usize, reason: *const c_char) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if context.is_null() {
            return;
        }
        let found = unsafe { &*(context as *const Unsupported) };
        let reason = if reason.is_null() {
            "no reason given".to_string()
        } else {
            unsafe { CStr::from_ptr(reason) }.to_string_lossy().into_owned()
        };
        let mut nodes = found.nodes.lock();
        if nodes.len() < 10_000 {
            nodes.push((node, reason));
        }
    }));
}

/// The message listing unsupported nodes (at most 20 named).
fn unsupported_message(
    device: &PluginDevice,
    graph: &Graph,
    precision: &str,
    nodes: &[(usize, String)],
) -> String {
    let mut parts: Vec<String> = nodes
        .iter()
        .take(20)
        .map(|(index, reason)| match graph.nodes.get(*index) {
            Some(node) => format!("{}: {reason}", node.describe()),
            None => format!("node #{index} (not in the graph): {reason}"),
        })
        .collect();
    if nodes.len() > 20 {
        parts.push(format!("and {} more", nodes.len() - 20));
    }
    format!(
        "{}: device {} cannot run {} node(s) of the model in {precision}: {}",
        device.plugin.name,
        device.index,
        nodes.len(),
        parts.join("; ")
    )
}

impl CompiledModel {
    /// Compiles `graph` for `device` with its single input of `input_shape`, as `spec`
    /// says. Errors: 4320 for unsupported nodes (named, with reasons) or a graph that cannot
    /// be specialised; the plugin's mapped error (7960 when `check_support` refuses the
    /// precision; 4321 for refused options).
    pub fn compile(
        device: &PluginDevice,
        graph: &Graph,
        input_shape: &[usize],
        spec: CompileSpec<'_>,
    ) -> Result<CompiledModel> {
        let plugin = &device.plugin;
        let abi_graph = AbiGraph::new(specialize(graph, input_shape)?)?;
        let mut arena = CArena::default();
        let precision = arena.string(spec.precision)?;
        let options = spec.options_value(&mut arena)?;
        let unsupported = Unsupported { nodes: Mutex::new(Vec::new()) };
        let error = unsafe {
            (plugin.functions.check_support)(
                plugin.instance,
                device.index,
                abi_graph.raw(),
                precision,
                &unsupported as *const Unsupported as *mut c_void,
                Some(report_unsupported),
            )
        };
        unsafe { plugin.check(error, ErrorContext::Precision) }?;
        let unsupported = unsupported.nodes.into_inner();
        if !unsupported.is_empty() {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                unsupported_message(device, abi_graph.graph(), spec.precision, &unsupported),
            ));
        }

        let source = LogSource { name: plugin.name.clone() };
        let callbacks = DlAi2Callbacks {
            struct_size: size_of::<DlAi2Callbacks>(),
            context: &source as *const LogSource as *mut c_void,
            log: Some(log::log_callback),
            progress: Some(log::progress_callback),
            is_cancelled: Some(log::never_cancelled),
        };
        let args = DlAi2CompileArgs {
            struct_size: size_of::<DlAi2CompileArgs>(),
            device: device.index,
            graph: abi_graph.raw(),
            precision,
            options: &options,
            callbacks: &callbacks,
        };
        let mut handle: *mut DlAi2Compiled = std::ptr::null_mut();
        let error = unsafe { (plugin.functions.compile)(plugin.instance, &args, &mut handle) };
        // `check_support` accepted the precision, so an UNSUPPORTED here is about something
        // else (a shape, an attribute): 4320, not 7960.
        unsafe { plugin.check(error, ErrorContext::General) }?;
        if handle.is_null() {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!("{}: compile returned neither a compiled model nor an error", plugin.name),
            ));
        }
        Ok(CompiledModel::wrap(device, handle, abi_graph.graph()))
    }

    /// Takes ownership of `handle`, a model compiled (or deserialized) by `device`'s plugin
    /// for the specialised graph `specialised`.
    pub(super) fn wrap(
        device: &PluginDevice,
        handle: *mut DlAi2Compiled,
        specialised: &Graph,
    ) -> CompiledModel {
        let plugin = &device.plugin;
        let infos = |ids: &[dlopt_graph::ValueId]| {
            ids.iter().map(|id| value_info(specialised, id.index())).collect::<Vec<_>>()
        };
        let concurrent = matches!(
            plugin.property(device.index, "execute_concurrently"),
            Ok(Ok(PluginValue::Int(1)))
        );
        CompiledModel {
            plugin: plugin.clone(),
            handle,
            serial: (!concurrent).then(|| Mutex::new(())),
            inputs: infos(&specialised.inputs),
            outputs: infos(&specialised.outputs),
        }
    }

    /// The plugin that compiled the model.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Runs the compiled model on `inputs` (types and shapes as compiled for).
    pub fn execute(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(HalconError::new(
                H_ERR_HAI2_ERROR,
                format!(
                    "the compiled model takes {} inputs, got {}",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        let mut input_buffers = Vec::with_capacity(inputs.len());
        for (at, (tensor, (data_type, shape))) in inputs.iter().zip(&self.inputs).enumerate() {
            if tensor.data_type() != *data_type || tensor.shape() != shape.as_slice() {
                return Err(HalconError::new(
                    H_ERR_HAI2_ERROR,
                    format!(
                        "input {at} is {} {:?}; the model was compiled for {} {shape:?}",
                        tensor.data_type().name(),
                        tensor.shape(),
                        data_type.name()
                    ),
                ));
            }
            let (data, byte_size) = tensor_bytes(tensor);
            // The plugin reads inputs only; the ABI's buffer type is shared with outputs.
            input_buffers.push(DlAi2Buffer { data: data as *mut c_void, byte_size });
        }
        let mut output_data = Vec::with_capacity(self.outputs.len());
        for (data_type, shape) in &self.outputs {
            let count = dlopt_graph::tensor::element_count(shape)
                .map_err(|e| HalconError::new(H_ERR_HAI2_ERROR, e.message))?;
            output_data.push(TensorData::zeros(*data_type, count));
        }
        let output_buffers: Vec<DlAi2Buffer> = output_data
            .iter_mut()
            .map(|data| {
                with_tensor_data!(data, values => DlAi2Buffer {
                    data: values.as_mut_ptr() as *mut c_void,
                    byte_size: std::mem::size_of_val(values.as_slice()),
                })
            })
            .collect();
        let error = {
            let _serialised = self.serial.as_ref().map(|mutex| mutex.lock());
            unsafe {
                (self.plugin.functions.execute)(
                    self.handle,
                    input_buffers.as_ptr(),
                    input_buffers.len(),
                    output_buffers.as_ptr(),
                    output_buffers.len(),
                )
            }
        };
        unsafe { self.plugin.check(error, ErrorContext::General) }?;
        output_data
            .into_iter()
            .zip(&self.outputs)
            .map(|(data, (_, shape))| {
                Tensor::new(shape.clone(), data)
                    .map_err(|e| HalconError::new(H_ERR_HAI2_ERROR, e.message))
            })
            .collect()
    }
}

/// One cached compiled model and what it was compiled for.
struct CachedCompiled {
    /// The graph's identity (its `Arc` address).
    graph: usize,
    /// The device's id.
    device: i64,
    shape: Vec<usize>,
    compiled: Arc<CompiledModel>,
}

/// Compiled models of one `dl_model`, most recently used last; a few are kept.
#[derive(Default)]
pub struct CompiledCache {
    entries: Mutex<Vec<CachedCompiled>>,
}

/// How many compiled models one `dl_model` keeps.
const CACHED_COMPILED: usize = 4;

impl CompiledCache {
    /// The compiled model for (`graph`, device `device_id`, `shape`): cached, or compiled
    /// now (without holding the cache's lock). Entries for other devices or graphs go when
    /// a new one is added, so switching devices frees the old device's compiled models.
    pub fn get_or_compile(
        &self,
        graph: &Arc<Graph>,
        device_id: i64,
        device: &PluginDevice,
        shape: &[usize],
        spec: CompileSpec<'_>,
    ) -> Result<Arc<CompiledModel>> {
        let graph_id = Arc::as_ptr(graph) as usize;
        let matches = |entry: &CachedCompiled| {
            entry.graph == graph_id && entry.device == device_id && entry.shape == shape
        };
        {
            let mut entries = self.entries.lock();
            if let Some(at) = entries.iter().position(matches) {
                let entry = entries.remove(at);
                let compiled = entry.compiled.clone();
                entries.push(entry);
                return Ok(compiled);
            }
        }
        let compiled = Arc::new(CompiledModel::compile(device, graph, shape, spec)?);
        Ok(self.insert(graph, device_id, shape, compiled))
    }

    /// Adds `compiled`, made for (`graph`, device `device_id`, `shape`), and returns it; if
    /// another thread added one for the same key meanwhile, that one is returned instead
    /// (and `compiled` is destroyed after the lock is released). Entries for other devices
    /// or graphs go, and the least recently used beyond the cache's size.
    pub fn insert(
        &self,
        graph: &Arc<Graph>,
        device_id: i64,
        shape: &[usize],
        compiled: Arc<CompiledModel>,
    ) -> Arc<CompiledModel> {
        let graph_id = Arc::as_ptr(graph) as usize;
        let matches = |entry: &CachedCompiled| {
            entry.graph == graph_id && entry.device == device_id && entry.shape == shape
        };
        let evicted: Vec<CachedCompiled> = {
            let mut entries = self.entries.lock();
            if let Some(existing) = entries.iter().find(|entry| matches(entry)) {
                // Another thread compiled the same meanwhile: use its result; ours is
                // destroyed below, after the lock is released.
                let winner = existing.compiled.clone();
                drop(entries);
                drop(compiled);
                return winner;
            }
            let (keep, mut evicted): (Vec<_>, Vec<_>) = std::mem::take(&mut *entries)
                .into_iter()
                .partition(|entry| entry.graph == graph_id && entry.device == device_id);
            *entries = keep;
            while entries.len() >= CACHED_COMPILED {
                evicted.push(entries.remove(0));
            }
            entries.push(CachedCompiled {
                graph: graph_id,
                device: device_id,
                shape: shape.to_vec(),
                compiled: compiled.clone(),
            });
            evicted
        };
        drop(evicted);
        compiled
    }

    /// The compiled models of (`graph`, device `device_id`) with their input shapes, least
    /// recently used first.
    pub fn compiled_for(
        &self,
        graph: &Arc<Graph>,
        device_id: i64,
    ) -> Vec<(Vec<usize>, Arc<CompiledModel>)> {
        let graph_id = Arc::as_ptr(graph) as usize;
        self.entries
            .lock()
            .iter()
            .filter(|entry| entry.graph == graph_id && entry.device == device_id)
            .map(|entry| (entry.shape.clone(), entry.compiled.clone()))
            .collect()
    }

    /// Drops every cached compiled model (each is destroyed once no run uses it).
    pub fn clear(&self) {
        let entries = std::mem::take(&mut *self.entries.lock());
        drop(entries);
    }

    /// Drops the compiled models of devices other than `device_id` (after the model moved
    /// to another device; each is destroyed once no run uses it).
    pub fn keep_only_device(&self, device_id: i64) {
        let dropped: Vec<CachedCompiled> = {
            let mut entries = self.entries.lock();
            let (keep, dropped) = std::mem::take(&mut *entries)
                .into_iter()
                .partition(|entry| entry.device == device_id);
            *entries = keep;
            dropped
        };
        drop(dropped);
    }

    /// The number of cached compiled models.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

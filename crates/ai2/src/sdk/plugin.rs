//! What a Rust plugin implements: [`Plugin`] (devices, properties, support checks, compile,
//! deserialize) and [`CompiledModel`] (execute, serialize). [`export_plugin!`](crate::export_plugin)
//! turns an implementation into the C ABI.

use crate::sdk::callbacks::{Callbacks, HostInfo};
use crate::sdk::error::{PluginError, PluginResult};
use crate::sdk::graph::GraphView;
use crate::sdk::value::Value;

/// A device property key: the well-known keys of the ABI, or another (vendor) key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceProperty<'k> {
    /// `"name"` (string).
    Name,
    /// `"type"` (string: `"cpu"`, `"gpu"`, `"npu"`, ...).
    Type,
    /// `"precisions"` (list of strings the device runs).
    Precisions,
    /// `"cast_precisions"` (list: reachable by `compile` without samples).
    CastPrecisions,
    /// `"calibration_precisions"` (list: need calibration samples).
    CalibrationPrecisions,
    /// `"calibrates_itself"` (int 0/1).
    CalibratesItself,
    /// `"optimize_for_inference_params"` (map of option names to defaults).
    OptimizeForInferenceParams,
    /// `"settable_device_params"` (map of settable names to current values).
    SettableDeviceParams,
    /// `"info"` (map of details).
    Info,
    /// `"deterministic"` (int 0/1: same inputs give bitwise identical outputs).
    Deterministic,
    /// `"execute_concurrently"` (int 0/1: `execute` on one compiled model may run on
    /// several threads at once).
    ExecuteConcurrently,
    /// Any other key (vendor keys start with `"<interface_name>."`).
    Other(&'k str),
}

impl<'k> DeviceProperty<'k> {
    /// The well-known properties, in the ABI's order.
    pub const WELL_KNOWN: [DeviceProperty<'static>; 11] = [
        DeviceProperty::Name,
        DeviceProperty::Type,
        DeviceProperty::Precisions,
        DeviceProperty::CastPrecisions,
        DeviceProperty::CalibrationPrecisions,
        DeviceProperty::CalibratesItself,
        DeviceProperty::OptimizeForInferenceParams,
        DeviceProperty::SettableDeviceParams,
        DeviceProperty::Info,
        DeviceProperty::Deterministic,
        DeviceProperty::ExecuteConcurrently,
    ];

    /// The property of `key`.
    pub fn from_key(key: &'k str) -> DeviceProperty<'k> {
        DeviceProperty::WELL_KNOWN
            .into_iter()
            .find(|property| property.key() == key)
            .unwrap_or(DeviceProperty::Other(key))
    }

    /// The key as the host writes it.
    pub fn key(&self) -> &'k str {
        match self {
            DeviceProperty::Name => "name",
            DeviceProperty::Type => "type",
            DeviceProperty::Precisions => "precisions",
            DeviceProperty::CastPrecisions => "cast_precisions",
            DeviceProperty::CalibrationPrecisions => "calibration_precisions",
            DeviceProperty::CalibratesItself => "calibrates_itself",
            DeviceProperty::OptimizeForInferenceParams => "optimize_for_inference_params",
            DeviceProperty::SettableDeviceParams => "settable_device_params",
            DeviceProperty::Info => "info",
            DeviceProperty::Deterministic => "deterministic",
            DeviceProperty::ExecuteConcurrently => "execute_concurrently",
            DeviceProperty::Other(key) => key,
        }
    }

    /// The `UNKNOWN_PARAMETER` error for a key the plugin does not answer.
    pub fn unknown(&self) -> PluginError {
        PluginError::unknown_parameter(format!("'{}' is not a device property", self.key()))
    }
}

/// What `compile` gets: the device, the graph, the precision, the options and the callbacks,
/// all borrowed for the call.
#[derive(Clone, Debug)]
pub struct CompileRequest<'a> {
    /// The device, checked to be below [`Plugin::device_count`].
    pub device: usize,
    /// The graph with concrete shapes.
    pub graph: GraphView<'a>,
    /// `"float32"`, `"float16"`, `"bfloat16"`, `"int8"` (or what the host asks).
    pub precision: &'a str,
    /// The options: a [`Value::Map`] (empty for a plain compile).
    pub options: Value,
    /// Log, progress and cancellation for this call.
    pub callbacks: Callbacks<'a>,
}

/// A plugin: its devices and what it can do with them. One instance is created by the
/// table's `initialize` and lives until the process ends. Every method but `initialize` may
/// be called from several threads at once (hence `Send + Sync`; use interior mutability for
/// settings). A panic in any method becomes `DLOPT_AI2_ERROR_INTERNAL` with its message.
/// Device indices passed in are checked against [`Plugin::device_count`] by the SDK.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// What [`Plugin::compile`] and [`Plugin::deserialize`] return.
    type Compiled: CompiledModel;

    /// Creates the plugin (enumerates devices, reads settings).
    fn initialize(host: HostInfo) -> PluginResult<Self>;

    /// The number of devices.
    fn device_count(&self) -> usize;

    /// The value of a device property (see [`DeviceProperty`]); an unknown key gives
    /// [`DeviceProperty::unknown`]. Values must not contain `None` or tensors.
    fn device_property(&self, device: usize, property: DeviceProperty<'_>) -> PluginResult<Value>;

    /// Sets a settable device parameter (`UNKNOWN_PARAMETER`, `INVALID_PARAMETER_VALUE`).
    fn set_device_param(&self, device: usize, key: &str, value: &Value) -> PluginResult<()>;

    /// The nodes of `graph` the device cannot run at `precision`, as (node index, reason).
    fn unsupported_nodes(
        &self,
        device: usize,
        graph: &GraphView<'_>,
        precision: &str,
    ) -> PluginResult<Vec<(usize, String)>>;

    /// Compiles a graph for a device.
    fn compile(&self, request: CompileRequest<'_>) -> PluginResult<Self::Compiled>;

    /// Validates and loads an artifact written by [`CompiledModel::serialize`]; a corrupt,
    /// foreign or incompatible one gives `INCOMPATIBLE_ARTIFACT` saying why.
    fn deserialize(&self, device: usize, bytes: &[u8]) -> PluginResult<Self::Compiled>;
}

/// A compiled model. `execute` is called from several threads at once if the device reports
/// `"execute_concurrently"` = 1.
pub trait CompiledModel: Send + Sync + 'static {
    /// Runs the model: `inputs` and `outputs` in graph order, each the exact bytes of that
    /// tensor (the SDK checks the buffers are non-NULL and do not overlap; the model checks
    /// their sizes).
    fn execute(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> PluginResult<()>;

    /// A self-describing artifact (see the ABI's `serialize`). Same compile, same bytes.
    fn serialize(&self) -> PluginResult<Vec<u8>>;
}

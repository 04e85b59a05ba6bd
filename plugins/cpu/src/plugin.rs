//! [`CpuPlugin`]: the [`Plugin`] implementation: one device per CPU package.

use dlopt_ai2::sdk::{
    CompileRequest, DeviceProperty, GraphView, HostInfo, LogLevel, Plugin, PluginResult, Value,
};

use crate::artifact::decode;
use crate::compile::compile;
use crate::cpu;
use crate::device::Device;
use crate::model::CpuModel;
use crate::precision::Precision;

/// The CPU plugin: its devices and the host it was initialized by.
pub struct CpuPlugin {
    devices: Vec<Device>,
    host: HostInfo,
}

impl CpuPlugin {
    /// The device at `index` (the SDK has checked the range).
    fn device(&self, index: usize) -> &Device {
        &self.devices[index]
    }
}

/// The reason given for a node whose operator the runtime lacks.
pub fn unsupported_reason(domain: &str, op_type: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        format!("operator {op_type} is not supported by the CPU plugin")
    } else {
        format!("operator {op_type} of domain '{domain}' is not supported by the CPU plugin")
    }
}

impl Plugin for CpuPlugin {
    type Compiled = CpuModel;

    fn initialize(host: HostInfo) -> PluginResult<Self> {
        let devices: Vec<Device> = cpu::packages().iter().cloned().map(Device::new).collect();
        let plugin = CpuPlugin { devices, host };
        for device in &plugin.devices {
            device.log(
                &plugin.host.callbacks,
                LogLevel::Debug,
                &format!("device '{}' (isa {})", device.name(), cpu::isa_features().join(", ")),
            );
        }
        Ok(plugin)
    }

    fn device_count(&self) -> usize {
        self.devices.len()
    }

    fn device_property(&self, device: usize, property: DeviceProperty<'_>) -> PluginResult<Value> {
        self.device(device).property(property)
    }

    fn set_device_param(&self, device: usize, key: &str, value: &Value) -> PluginResult<()> {
        self.device(device).set_param(key, value)
    }

    fn unsupported_nodes(
        &self,
        _device: usize,
        graph: &GraphView<'_>,
        precision: &str,
    ) -> PluginResult<Vec<(usize, String)>> {
        Precision::parse(precision)?;
        Ok(graph
            .nodes()
            .iter()
            .enumerate()
            .filter_map(|(at, node)| {
                if dlopt_runtime::ops::builder(node.domain, node.op_type).is_none() {
                    return Some((at, unsupported_reason(node.domain, node.op_type)));
                }
                // A fused activation the runtime does not know would fail at compile time.
                match node.attribute("dlopt_activation") {
                    Some(dlopt_ai2::sdk::Value::String(name))
                        if !dlopt_runtime::ops::FUSED_ACTIVATIONS.contains(&name.as_str()) =>
                    {
                        Some((
                            at,
                            format!("fused activation '{name}' is not supported by the CPU plugin"),
                        ))
                    }
                    _ => None,
                }
            })
            .collect())
    }

    fn compile(&self, request: CompileRequest<'_>) -> PluginResult<CpuModel> {
        compile(self.device(request.device), request)
    }

    fn deserialize(&self, device: usize, bytes: &[u8]) -> PluginResult<CpuModel> {
        let device = self.device(device);
        let artifact = decode(bytes)?;
        device.check_artifact(&artifact)?;
        let model = CpuModel::load(artifact, bytes.to_vec(), device.pool()?, "deserialize")
            .map_err(|error| {
                dlopt_ai2::sdk::PluginError::incompatible_artifact(format!(
                    "the artifact's graph cannot be loaded: {}",
                    error.message
                ))
            })?;
        device.log(&self.host.callbacks, LogLevel::Debug, &format!("loaded {model:?}"));
        Ok(model)
    }
}

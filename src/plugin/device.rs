//! Devices of plugins and their HALCON device parameters.
//!
//! | parameter | value |
//! |---|---|
//! | `'type'`, `'name'` | the plugin's `"type"` / `"name"` property (a string) |
//! | `'id'` | the device's number in the process (native 0, then plugin devices in load order) |
//! | `'runtime'` | `'ai_accelerator'`: the device runs through an AI² interface, not HALCON's own `'cpu'` / `'gpu'` runtimes, so `query_available_dl_devices('runtime', 'cpu')` finds only the native device |
//! | `'ai_accelerator_interface'` | the plugin's `interface_name` |
//! | `'precisions'`, `'cast_precisions'`, `'calibration_precisions'` | the plugin's lists of strings (a property the plugin does not know: empty) |
//! | `'conversion_supported'` | `'true'` if cast or calibration precisions are not empty |
//! | `'inference_only'` | `'true'` |
//! | `'optimize_for_inference_params'`, `'settable_device_params'`, `'info'` | a new dict built from the plugin's map (unknown to the plugin: empty); `'info'` also gets `ai2_plugin`, `ai2_plugin_version`, `ai2_plugin_path`, `ai2_abi_version` |
//! | `'<interface>.<key>'` | the plugin's vendor property, passed through |

use std::sync::Arc;

use dlopt_ai2::abi::DLOPT_AI2_ERROR_UNKNOWN_PARAMETER;

use crate::dict::{Dict, KeyRef};
use crate::error::{H_ERR_HAI2_ERROR, H_ERR_HAI2_INVALID_PARAM, HalconError, Result};
use crate::handle::HandleRef;
use crate::tuple::{Element, Tuple};

use super::LoadedPlugin;
use super::error::ErrorContext;
use super::value::PluginValue;

/// The `'runtime'` of plugin devices.
pub const PLUGIN_RUNTIME: &str = "ai_accelerator";

/// One device of a loaded plugin.
#[derive(Clone)]
pub struct PluginDevice {
    /// The plugin.
    pub plugin: Arc<LoadedPlugin>,
    /// The device's index within the plugin (0 to `device_count - 1`).
    pub index: usize,
}

fn string(text: &str) -> Result<Tuple> {
    Tuple::from_strings([text])
}

fn handle_of(dict: Dict) -> Result<Tuple> {
    Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
}

impl PluginDevice {
    /// Property `key`, or `None` if the plugin does not know it; other plugin errors are
    /// mapped.
    fn optional(&self, key: &str) -> Result<Option<PluginValue>> {
        match self.plugin.property(self.index, key) {
            Ok(value) => value.map(Some),
            Err(error) if error.code == DLOPT_AI2_ERROR_UNKNOWN_PARAMETER => Ok(None),
            Err(error) => Err(error.to_halcon(&self.plugin.name, ErrorContext::General)),
        }
    }

    fn malformed(&self, key: &str, expected: &str, got: &PluginValue) -> HalconError {
        HalconError::new(
            H_ERR_HAI2_ERROR,
            format!(
                "{}: device property '{key}' must be {expected}, the plugin gave a {}",
                self.plugin.name,
                got.kind()
            ),
        )
    }

    /// A string property the plugin must know.
    fn text(&self, key: &str) -> Result<String> {
        match self.plugin.property_value(self.index, key)? {
            PluginValue::String(text) => Ok(text),
            other => Err(self.malformed(key, "a string", &other)),
        }
    }

    /// A list of strings (a single string counts as a list of one; unknown: empty).
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.optional(key)? {
            None => Ok(Vec::new()),
            Some(PluginValue::String(text)) => Ok(vec![text]),
            Some(PluginValue::List(items)) => items
                .into_iter()
                .map(|item| match item {
                    PluginValue::String(text) => Ok(text),
                    other => Err(self.malformed(key, "a list of strings", &other)),
                })
                .collect(),
            Some(other) => Err(self.malformed(key, "a list of strings", &other)),
        }
    }

    /// A map property as a new dict (unknown: empty).
    fn dict(&self, key: &str) -> Result<Dict> {
        PluginValue::dict(&self.map(key)?)
    }

    /// A map property's entries, in the plugin's order (unknown: none).
    pub fn map(&self, key: &str) -> Result<Vec<(String, PluginValue)>> {
        match self.optional(key)? {
            None => Ok(Vec::new()),
            Some(PluginValue::Map(entries)) => Ok(entries),
            Some(other) => Err(self.malformed(key, "a map", &other)),
        }
    }

    /// The keys `optimize_dl_model_for_inference` accepts in `GenParam`, with defaults: the
    /// plugin's `"optimize_for_inference_params"`, and for a device with calibration
    /// precisions the host's calibration keys
    /// ([`crate::model::convert::calibration_params`]) the plugin does not define itself.
    pub fn optimize_params(&self) -> Result<Vec<(String, PluginValue)>> {
        let mut params = self.map("optimize_for_inference_params")?;
        if !self.strings("calibration_precisions")?.is_empty() {
            for (key, default) in crate::model::convert::calibration_params::host_params() {
                if !params.iter().any(|(name, _)| *name == key) {
                    params.push((key, default));
                }
            }
        }
        Ok(params)
    }

    /// The device's `"name"` property.
    pub fn name(&self) -> Result<String> {
        self.text("name")
    }

    /// Whether the device runs `precision`.
    pub fn runs(&self, precision: &str) -> Result<bool> {
        Ok(self.strings("precisions")?.iter().any(|p| p == precision))
    }

    /// The value of device parameter `name` (see the module documentation); `id` is the
    /// device's `'id'`. Errors: unknown name 4321 listing the known ones; the plugin's
    /// mapped errors; a malformed plugin value 4320.
    pub fn param(&self, id: i64, name: &str, known: &[&str]) -> Result<Tuple> {
        let plugin = &self.plugin;
        match name {
            "ai_accelerator_interface" => string(&plugin.interface),
            "calibration_precisions" | "cast_precisions" | "precisions" => {
                Tuple::from_strings(self.strings(name)?)
            }
            "conversion_supported" => {
                let converts = !self.strings("cast_precisions")?.is_empty()
                    || !self.strings("calibration_precisions")?.is_empty();
                string(if converts { "true" } else { "false" })
            }
            "id" => Ok(Tuple::from_integers([id])),
            "inference_only" => string("true"),
            "info" => {
                let info = self.dict("info")?;
                let add = |key: &str, value: Tuple| {
                    if !info.contains_key(KeyRef::String(key)) {
                        info.set_tuple(KeyRef::String(key), value);
                    }
                };
                add("ai2_plugin", string(&plugin.name)?);
                add("ai2_plugin_version", string(&plugin.version)?);
                add("ai2_plugin_path", string(&plugin.path.to_string_lossy())?);
                let (major, minor) = plugin.abi_version;
                add("ai2_abi_version", string(&format!("{major}.{minor}"))?);
                handle_of(info)
            }
            "name" | "type" => string(&self.text(name)?),
            "optimize_for_inference_params" => {
                handle_of(PluginValue::dict(&self.optimize_params()?)?)
            }
            "settable_device_params" => handle_of(self.dict(name)?),
            "runtime" => string(PLUGIN_RUNTIME),
            vendor if self.is_vendor_key(vendor) => {
                plugin.property_value(self.index, vendor)?.to_tuple()
            }
            other => Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!(
                    "GenParamName: unknown device parameter '{other}' (known: {}, and vendor keys '{}.*')",
                    known.join(", "),
                    plugin.interface
                ),
            )),
        }
    }

    /// Whether `name` is one of this plugin's vendor keys (`<interface>.<key>`).
    pub fn is_vendor_key(&self, name: &str) -> bool {
        name.strip_prefix(self.plugin.interface.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|key| !key.is_empty())
    }

    /// `set_dl_device_param`: passes `name` and the value to the plugin. Errors (4321 with
    /// the plugin's message): an unknown name, a refused value, a value that cannot cross.
    pub fn set_param(&self, name: &str, value: &Tuple) -> Result<()> {
        self.plugin.set_device_param(self.index, name, value).map_err(|error| {
            if error.code == H_ERR_HAI2_ERROR {
                // Whatever the plugin's code, a refused setting is a parameter error.
                HalconError::new(H_ERR_HAI2_INVALID_PARAM, error.message)
            } else {
                error
            }
        })
    }
}

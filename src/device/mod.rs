//! Deep-learning devices (`query_available_dl_devices`, `get_dl_device_param`, ...).
//!
//! A device is hardware plus the backend that drives it: dlopt's native runtime, or an AI²
//! plugin (see [`crate::plugin`]). Every query hands out new handles to the same shared
//! [`Device`]s, so clearing one handle never affects another.
//!
//! Device ids: the native device is 0, then each loaded plugin's devices in load order.
//! Plugins are loaded on the first call of [`all_devices`] (not by models, which start on
//! [`native_device`]).

pub mod native;

use std::sync::{Arc, OnceLock};

use crate::dict::{Dict, KeyRef};
use crate::error::{H_ERR_HAI2_INVALID_PARAM, H_ERR_WIPV1, HalconError, Result};
use crate::handle::{HandleKind, HandleObject, HandleRef};
use crate::plugin::device::PluginDevice;
use crate::plugin::{self, log};
use crate::tuple::{Element, Tuple};

use native::NativeDevice;

/// What drives a device.
pub enum Backend {
    /// dlopt's own float32 CPU runtime.
    Native(NativeDevice),
    /// A device of an AI² plugin.
    Plugin(PluginDevice),
}

/// One device.
pub struct Device {
    /// Its number among all devices (`'id'`), stable for the process.
    pub id: i64,
    /// The backend.
    pub backend: Backend,
}

/// A handle's view of a device (the object behind a `dl_device` handle).
pub struct DlDevice {
    /// The shared device.
    pub device: Arc<Device>,
}

impl HandleObject for DlDevice {
    const KIND: HandleKind = HandleKind::DlDevice;
}

/// The native device (id 0), without loading plugins. Built once.
pub fn native_device() -> Result<&'static Arc<Device>> {
    static NATIVE: OnceLock<Arc<Device>> = OnceLock::new();
    if let Some(device) = NATIVE.get() {
        return Ok(device);
    }
    let native = Device { id: 0, backend: Backend::Native(NativeDevice::new()?) };
    Ok(NATIVE.get_or_init(|| Arc::new(native)))
}

/// Every device of the process: native first, then each loaded plugin's devices. Built
/// once; the first call loads the plugins.
pub fn all_devices() -> Result<&'static [Arc<Device>]> {
    static DEVICES: OnceLock<Vec<Arc<Device>>> = OnceLock::new();
    if let Some(devices) = DEVICES.get() {
        return Ok(devices);
    }
    let mut devices = vec![native_device()?.clone()];
    for loaded in plugin::registry().loaded() {
        for index in 0..loaded.device_count {
            let id = devices.len() as i64;
            let backend = Backend::Plugin(PluginDevice { plugin: loaded.clone(), index });
            devices.push(Arc::new(Device { id, backend }));
        }
    }
    Ok(DEVICES.get_or_init(|| devices))
}

/// The names `get_dl_device_param` answers, in documentation order.
pub const DEVICE_PARAMS: &[&str] = &[
    "ai_accelerator_interface",
    "calibration_precisions",
    "cast_precisions",
    "conversion_supported",
    "id",
    "inference_only",
    "info",
    "name",
    "optimize_for_inference_params",
    "precisions",
    "runtime",
    "settable_device_params",
    "type",
];

fn string(text: &str) -> Result<Tuple> {
    Tuple::from_strings([text])
}

fn dict_tuple(entries: Vec<(&str, Tuple)>) -> Result<Tuple> {
    let dict = Dict::new();
    for (key, value) in entries {
        dict.set_tuple(KeyRef::String(key), value);
    }
    Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
}

impl Device {
    /// The value of device parameter `name`. Dict-valued parameters return a tuple with a
    /// new dict handle (a snapshot). Plugin devices: see [`crate::plugin::device`].
    pub fn param(&self, name: &str) -> Result<Tuple> {
        let native = match &self.backend {
            Backend::Native(native) => native,
            Backend::Plugin(device) => return device.param(self.id, name, DEVICE_PARAMS),
        };
        match name {
            "ai_accelerator_interface" => string("none"),
            "calibration_precisions" | "cast_precisions" => Ok(Tuple::new()),
            "conversion_supported" => string("false"),
            "id" => Ok(Tuple::from_integers([self.id])),
            "inference_only" => string("true"),
            "info" => {
                let cpu = native.cpu();
                dict_tuple(vec![
                    ("cpu_model", string(&cpu.model_name)?),
                    ("logical_cores", Tuple::from_integers([cpu.logical_cores as i64])),
                    ("isa_features", Tuple::from_strings(&cpu.features)?),
                    ("num_threads", Tuple::from_integers([native.threads() as i64])),
                    ("precision_note", string("float32 computed in float32")?),
                    ("version", string(env!("CARGO_PKG_VERSION"))?),
                ])
            }
            "name" => string(&format!("CPU: {}", native.cpu().model_name)),
            "optimize_for_inference_params" => dict_tuple(Vec::new()),
            "precisions" => string("float32"),
            "runtime" | "type" => string("cpu"),
            "settable_device_params" => {
                dict_tuple(vec![("num_threads", Tuple::from_integers([native.threads() as i64]))])
            }
            other => Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!(
                    "GenParamName: unknown device parameter '{other}' (known: {})",
                    DEVICE_PARAMS.join(", ")
                ),
            )),
        }
    }

    /// Changes a settable device parameter (`'num_threads'` for the native device; what
    /// the plugin lists in `'settable_device_params'` for plugin devices).
    pub fn set_param(&self, name: &str, value: &Tuple) -> Result<()> {
        let native = match &self.backend {
            Backend::Native(native) => native,
            Backend::Plugin(device) => return device.set_param(name, value),
        };
        match (name, value.elements()) {
            ("num_threads", [Element::Integer(threads)]) => native.set_threads(*threads),
            ("num_threads", _) => Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!("GenParamValue: 'num_threads' takes one integer, got {value}"),
            )),
            (other, _) => Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!(
                    "GenParamName: '{other}' is not a settable parameter of this device (settable: 'num_threads')"
                ),
            )),
        }
    }

    /// The plugin device, if this is one.
    pub fn plugin(&self) -> Option<&PluginDevice> {
        match &self.backend {
            Backend::Plugin(device) => Some(device),
            Backend::Native(_) => None,
        }
    }

    /// `'runtime'`: `'cpu'` for the native device, `'ai_accelerator'` for plugin devices.
    pub fn runtime(&self) -> &'static str {
        match &self.backend {
            Backend::Native(_) => "cpu",
            Backend::Plugin(_) => crate::plugin::device::PLUGIN_RUNTIME,
        }
    }
}

/// Whether a parameter value matches a filter value: equal, or (for lists such as
/// `'precisions'`) containing it.
fn matches(value: &Tuple, wanted: &Element) -> bool {
    value.elements().iter().any(|element| match (element, wanted) {
        (Element::String(a), Element::String(b)) => a == b,
        (Element::Integer(a), Element::Integer(b)) => a == b,
        (Element::Integer(a), Element::Real(b)) | (Element::Real(b), Element::Integer(a)) => {
            *a as f64 == *b
        }
        (Element::Real(a), Element::Real(b)) => a == b,
        _ => false,
    })
}

/// Whether `name` may filter devices: a device parameter that is not a dict, or a vendor
/// key (`<interface>.<key>`, containing a dot).
fn check_filter_name(name: &str) -> Result<()> {
    if !DEVICE_PARAMS.contains(&name) && !name.contains('.') {
        return Err(HalconError::new(
            H_ERR_WIPV1,
            format!(
                "GenParamName: unknown device parameter '{name}' (known: {}, and vendor keys '<interface>.<key>')",
                DEVICE_PARAMS.join(", ")
            ),
        ));
    }
    if matches!(name, "info" | "optimize_for_inference_params" | "settable_device_params") {
        return Err(HalconError::new(
            H_ERR_WIPV1,
            format!("GenParamName: '{name}' is a dict and cannot filter devices"),
        ));
    }
    Ok(())
}

/// Whether `device` matches every filter. A plugin device that cannot answer a filter's
/// parameter (a plugin error, a vendor key of another interface) does not match; the
/// reason is logged, so one broken plugin cannot break queries for the others.
fn device_matches(device: &Device, filters: &[(&str, Vec<&Element>)]) -> bool {
    filters.iter().all(|(name, wanted)| match device.param(name) {
        Ok(value) => wanted.iter().any(|wanted| matches(&value, wanted)),
        Err(error) => {
            if let Backend::Plugin(plugin) = &device.backend {
                if !name.contains('.') || plugin.is_vendor_key(name) {
                    log::log(
                        log::WARNING,
                        &plugin.plugin.name,
                        &format!(
                            "device {} cannot answer '{name}' while filtering devices: {}",
                            device.id, error.message
                        ),
                    );
                }
            }
            false
        }
    })
}

/// The devices matching every filter: values given for one name are alternatives (OR),
/// different names must all match (AND). Filters on dict-valued parameters are refused.
///
/// When nothing matches and an `'ai_accelerator_interface'` value names a plugin that
/// failed to load (its interface name or file stem), the error it failed with is returned
/// (8600 / 8602 / 8603 / 4320) with the reason, instead of an empty result.
pub fn query(filters: &[(&str, Vec<&Element>)]) -> Result<Vec<Arc<Device>>> {
    for (name, _) in filters {
        check_filter_name(name)?;
    }
    let found: Vec<Arc<Device>> =
        all_devices()?.iter().filter(|device| device_matches(device, filters)).cloned().collect();
    if found.is_empty() {
        let interfaces = filters
            .iter()
            .filter(|(name, _)| *name == "ai_accelerator_interface")
            .flat_map(|(_, values)| values.iter());
        for value in interfaces {
            let Element::String(text) = value else { continue };
            if let Some(record) = plugin::registry().failed(text.as_str()) {
                let error = record.outcome.as_ref().err().cloned().unwrap_or_else(|| {
                    HalconError::new(crate::error::H_ERR_HAI2_ERROR, "the plugin failed to load")
                });
                return Err(HalconError::new(
                    error.code,
                    format!(
                        "the AI² plugin for interface '{}' ({}) failed to load: {}",
                        text.as_str(),
                        record.path.display(),
                        error.message
                    ),
                ));
            }
        }
    }
    Ok(found)
}

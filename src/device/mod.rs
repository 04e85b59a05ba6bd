//! Deep-learning devices (`query_available_dl_devices`, `get_dl_device_param`, ...).
//!
//! A device is hardware plus the backend that drives it. Every query hands out new handles
//! to the same shared [`Device`]s, so clearing one handle never affects another.

pub mod native;

use std::sync::{Arc, OnceLock};

use crate::dict::{Dict, KeyRef};
use crate::error::{H_ERR_HAI2_INVALID_PARAM, H_ERR_WIPV1, HalconError, Result};
use crate::handle::{HandleKind, HandleObject, HandleRef};
use crate::tuple::{Element, Tuple};

use native::NativeDevice;

/// What drives a device.
pub enum Backend {
    /// dlopt's own float32 CPU runtime.
    Native(NativeDevice),
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

/// Every device of the process, native first. Built once.
pub fn all_devices() -> Result<&'static [Arc<Device>]> {
    static DEVICES: OnceLock<Vec<Arc<Device>>> = OnceLock::new();
    if let Some(devices) = DEVICES.get() {
        return Ok(devices);
    }
    let native = Device { id: 0, backend: Backend::Native(NativeDevice::new()?) };
    Ok(DEVICES.get_or_init(|| vec![Arc::new(native)]))
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
    /// new dict handle (a snapshot).
    pub fn param(&self, name: &str) -> Result<Tuple> {
        let Backend::Native(native) = &self.backend;
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

    /// Changes a settable device parameter (`'num_threads'` for the native device).
    pub fn set_param(&self, name: &str, value: &Tuple) -> Result<()> {
        let Backend::Native(native) = &self.backend;
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

/// The devices matching every filter: values given for one name are alternatives (OR),
/// different names must all match (AND). Filters on dict-valued parameters are refused.
pub fn query(filters: &[(&str, Vec<&Element>)]) -> Result<Vec<Arc<Device>>> {
    for (name, _) in filters {
        if !DEVICE_PARAMS.contains(name) {
            return Err(HalconError::new(
                H_ERR_WIPV1,
                format!(
                    "GenParamName: unknown device parameter '{name}' (known: {})",
                    DEVICE_PARAMS.join(", ")
                ),
            ));
        }
        if matches!(*name, "info" | "optimize_for_inference_params" | "settable_device_params") {
            return Err(HalconError::new(
                H_ERR_WIPV1,
                format!("GenParamName: '{name}' is a dict and cannot filter devices"),
            ));
        }
    }
    let mut found = Vec::new();
    for device in all_devices()? {
        let mut all = true;
        for (name, wanted) in filters {
            let value = device.param(name)?;
            if !wanted.iter().any(|wanted| matches(&value, wanted)) {
                all = false;
                break;
            }
        }
        if all {
            found.push(device.clone());
        }
    }
    Ok(found)
}

//! `optimize_dl_model_for_inference`: converting a model for a device of an AI² plugin.
//!
//! What happens (every check before anything is built; the input model is never changed):
//!
//! 1. The model must not be converted already (7917: optimize the original model).
//! 2. The device must be an AI² plugin device that converts (`'conversion_supported'`
//!    `'true'`, i.e. its `'cast_precisions'` or `'calibration_precisions'` are not empty);
//!    the native device and plugin devices that only run models give 4320
//!    (`H_ERR_HAI2_ERROR`).
//! 3. The precision ([`plan`]): in the device's `'cast_precisions'` it is a **cast** (no
//!    samples needed); only in its `'calibration_precisions'` it is **calibrated** in the
//!    host on `DLSamples` ([`calibrate`]; no samples: 7915
//!    `H_ERR_DL_MODEL_INVALID_NUM_SAMPLES`) into a QDQ graph the plugin compiles; in
//!    neither list 7960 (`H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION`).
//! 4. `GenParam` against the device's `'optimize_for_inference_params'` ([`options`]).
//! 5. `DLSamples` (optional for a cast) are checked like `apply_dl_model`'s samples.
//!
//! The converted model is a new model sharing the graph (immutable) with a copy of the
//! parameters; it gets `'precision'` and `'precision_is_converted'` = `'true'`, and the
//! device if the device runs that precision (otherwise it keeps no runnable device until
//! `'device'` is set to one of the interface that does). The plugin compiles it per input
//! shape as for any model on a plugin device, but in the converted precision with the
//! options: at once for the input shape the model fixes (if it does) and for the samples'
//! batches, later for other shapes on first use. With samples, both the float32 model (on
//! the native runtime) and the converted model run them, and the report says how well they
//! agree ([`report`]).

pub mod accuracy_aware;
pub mod bias_correction;
pub mod calibrate;
pub mod calibration_params;
pub mod options;
pub mod probe;
pub mod report;
pub mod section;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::device::{Device, native_device};
use crate::dict::{Dict, DictKey, DictValue};
use crate::error::{
    H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION, H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED, H_ERR_HAI2_ERROR,
    HalconError, Result,
};
use crate::handle::HandleRef;
use crate::plugin::compiled::CompileSpec;
use crate::plugin::device::PluginDevice;
use crate::tuple::{Element, Tuple};

use super::model_type::ModelType;
use super::{DlModel, batch_input, checked_images};
use calibration_params::CalibrationConfig;
use report::{Agreement, ReportData};

/// The precisions `optimize_dl_model_for_inference` knows, in documentation order.
pub const PRECISIONS: [&str; 4] = ["float32", "float16", "bfloat16", "int8"];

/// The static name of precision `name`, if it is one of [`PRECISIONS`].
pub fn precision_named(name: &str) -> Option<&'static str> {
    PRECISIONS.into_iter().find(|known| *known == name)
}

/// What a conversion made of a model: the precision, who compiled it, with which options.
#[derive(Clone, Debug)]
pub struct Conversion {
    /// One of [`PRECISIONS`].
    pub precision: &'static str,
    /// The AI² interface (`'ai_accelerator_interface'`) that converted the model.
    pub interface: String,
    /// The plugin's `plugin_name`.
    pub plugin_name: String,
    /// The plugin's `plugin_version`.
    pub plugin_version: String,
    /// The AI² ABI version the plugin was loaded with (major, minor).
    pub abi_version: (u32, u32),
    /// The `'name'` of the device it was converted for.
    pub device_name: String,
    /// The `'info'` of that device.
    pub device_info: Vec<(DictKey, DictValue)>,
    /// The options passed to the plugin's `compile` (`GenParam` with defaults filled in).
    pub options: Vec<(String, Tuple)>,
}

impl Conversion {
    /// How plugin devices compile the converted model.
    pub fn compile_spec(&self) -> CompileSpec<'_> {
        CompileSpec { precision: self.precision, options: &self.options }
    }
}

/// What a conversion does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// A cast to another precision: no samples needed.
    Cast,
    /// Calibration on samples into a QDQ graph ([`calibrate`]).
    Calibrate,
}

/// The job for `precision` on a device with `cast` and `calibration` precisions, named
/// `device_label` in messages. Errors: a calibration precision (4320, not implemented
/// yet); a precision the device does not convert to (7960).
pub fn plan(
    precision: &str,
    cast: &[String],
    calibration: &[String],
    device_label: &str,
) -> Result<Job> {
    if cast.iter().any(|p| p == precision) {
        return Ok(Job::Cast);
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ")
        }
    };
    if calibration.iter().any(|p| p == precision) {
        return Ok(Job::Calibrate);
    }
    Err(HalconError::new(
        H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION,
        format!(
            "Precision: {device_label} cannot convert to '{precision}' (its 'cast_precisions': {}; its 'calibration_precisions': {})",
            list(cast),
            list(calibration)
        ),
    ))
}

/// What to convert to: the precision (one of [`PRECISIONS`]), the samples (sample dict
/// handles, possibly none), the options dict (`None`: no options).
pub struct Request<'a> {
    /// The precision.
    pub precision: &'static str,
    /// `DLSamples`.
    pub samples: &'a [HandleRef],
    /// `GenParam`.
    pub gen_param: Option<&'a Dict>,
}

/// The plugin device of `device`, checked to convert (see the module documentation).
fn converting_device<'a>(device: &'a Device, label: &str) -> Result<&'a PluginDevice> {
    let Some(plugin) = device.plugin() else {
        return Err(HalconError::new(
            H_ERR_HAI2_ERROR,
            format!(
                "DLDeviceHandle: {label} is dlopt's native runtime ('ai_accelerator_interface' 'none', 'conversion_supported' 'false'), which cannot convert models; use a device of an AI² plugin, e.g. from query_available_dl_devices('conversion_supported', 'true')"
            ),
        ));
    };
    Ok(plugin)
}

/// A label for messages: `device 3 ('name', interface 'x')`.
fn device_label(device: &Device, plugin: &PluginDevice) -> String {
    let name = plugin.name().unwrap_or_else(|_| "?".to_string());
    format!("device {} ('{name}', interface '{}')", device.id, plugin.plugin.interface)
}

/// `optimize_dl_model_for_inference`: the converted model and the `ConversionReport`.
/// Errors: see the module documentation; compiling and running give the plugin's errors.
pub fn optimize(
    model: &DlModel,
    device: &Arc<Device>,
    request: Request<'_>,
) -> Result<(DlModel, Dict)> {
    let started = Instant::now();
    let state = model.state();
    if let Some(conversion) = &state.conversion {
        return Err(HalconError::new(
            H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
            format!(
                "DLModelHandle: the model is already converted (to '{}' by interface '{}'); convert the original model instead",
                conversion.precision, conversion.interface
            ),
        ));
    }
    let plugin = converting_device(device, &format!("device {}", device.id))?;
    let label = device_label(device, plugin);
    let cast = plugin.strings("cast_precisions")?;
    let calibration = plugin.strings("calibration_precisions")?;
    if cast.is_empty() && calibration.is_empty() {
        return Err(HalconError::new(
            H_ERR_HAI2_ERROR,
            format!(
                "DLDeviceHandle: {label} reports 'conversion_supported' 'false' (no 'cast_precisions' or 'calibration_precisions'): it runs models but cannot convert them"
            ),
        ));
    }
    let job = plan(request.precision, &cast, &calibration, &label)?;
    let all_options = options::checked(plugin, &label, request.gen_param)?;
    // The host's calibration keys are for the host; the plugin compiles with its own keys.
    let plugin_keys = plugin.map("optimize_for_inference_params")?;
    let (options, host_options): (Vec<_>, Vec<_>) = all_options
        .into_iter()
        .partition(|(key, _)| plugin_keys.iter().any(|(name, _)| name == key));
    let calibration_config = match job {
        Job::Calibrate => Some(CalibrationConfig::from_options(&host_options)?),
        Job::Cast => None,
    };
    let images = if request.samples.is_empty() {
        Vec::new()
    } else {
        checked_images(&state, request.samples, "DLSamples")?
    };
    let calibrated = match &calibration_config {
        Some(config) => {
            // Progress at the info level (DLOPT_LOG=info): about every eighth of a pass.
            let mut last = (String::new(), usize::MAX);
            let mut progress = |stage: &str, done: usize, total: usize| {
                let eighth = done * 8 / total.max(1);
                if last.0 != stage || last.1 != eighth {
                    last = (stage.to_string(), eighth);
                    let message = format!("{stage}: {done}/{total}");
                    crate::plugin::log::log(crate::plugin::log::INFO, "calibration", &message);
                }
            };
            Some(calibrate::calibrate(&state, &images, config, &mut progress)?)
        }
        None => None,
    };
    let runs = plugin.runs(request.precision)?;
    let info = match device.param("info")?.elements() {
        [Element::Handle(handle)] => handle.as_ref()?.object::<Dict>()?.snapshot(),
        _ => Vec::new(),
    };
    let conversion = Arc::new(Conversion {
        precision: request.precision,
        interface: plugin.plugin.interface.clone(),
        plugin_name: plugin.plugin.name.clone(),
        plugin_version: plugin.plugin.version.clone(),
        abi_version: plugin.plugin.abi_version,
        device_name: plugin.name()?,
        device_info: info,
        options,
    });
    let mut converted_state = (*state).clone();
    if let Some(calibrated) = &calibrated {
        converted_state.graph = Arc::new(calibrated.graph.clone());
    }
    converted_state.precision = request.precision;
    converted_state.conversion = Some(conversion.clone());
    converted_state.device = if runs { device.clone() } else { native_device()?.clone() };
    let converted = DlModel::new(converted_state);
    let converted_state = converted.state();
    let prepare = started.elapsed();

    // Compile for the shape the model fixes, then for the samples' batches while comparing.
    let mut compile = Duration::ZERO;
    let mut compare = Duration::ZERO;
    let mut shapes: Vec<Vec<usize>> = Vec::new();
    let mut compile_once = |shape: &[usize], shapes: &mut Vec<Vec<usize>>| -> Result<_> {
        let at = Instant::now();
        let compiled = converted.compiled_for(&converted_state, shape)?;
        compile += at.elapsed();
        if !shapes.iter().any(|known| known == shape) {
            shapes.push(shape.to_vec());
        }
        Ok(compiled)
    };
    let mut agreement = None;
    if runs {
        if let Some(shape) = state.fixed_input_shape() {
            compile_once(&shape, &mut shapes)?;
        }
        if !images.is_empty() {
            let mut reference_state = (*state).clone();
            reference_state.device = native_device()?.clone();
            let reference = DlModel::new(reference_state);
            let reference_state = reference.state();
            let mut tally = Agreement::new(state.model_type == ModelType::Classification);
            for (chunk_index, group) in images.chunks(state.batch_size).enumerate() {
                let (input, batch) = batch_input(&state, group, chunk_index)?;
                let compiled = compile_once(input.shape(), &mut shapes)?;
                let at = Instant::now();
                let expected = reference.run_tensor(&reference_state, input.clone())?;
                let actual = compiled.execute(&[input])?;
                tally.add(&expected, &actual, group.len(), batch);
                compare += at.elapsed();
            }
            agreement = Some(tally);
        }
    }
    let weights = match request.precision {
        "float16" | "bfloat16" => report::weights_to_convert(&state.graph),
        _ => (0, 0),
    };
    let mut stages = vec![("prepare", prepare)];
    if let Some(calibrated) = &calibrated {
        stages.extend(calibrated.stages.iter().copied());
    }
    stages.extend([("compile", compile), ("agreement", compare)]);
    let report = report::build(&ReportData {
        conversion: &conversion,
        conversion_type: match job {
            Job::Cast => "cast",
            Job::Calibrate => "calibration",
        },
        calibration: calibrated.as_ref().zip(calibration_config.as_ref()),
        nodes: state.graph.nodes.len(),
        weights,
        num_samples: images.len(),
        compiled_shapes: &shapes,
        stages: &stages,
        total: started.elapsed(),
        agreement: agreement.as_ref(),
    })?;
    Ok((converted, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn casts_and_calibrations_are_jobs_and_others_are_7960() {
        let cast = names(&["float32", "float16"]);
        let calibration = names(&["int8"]);
        assert_eq!(plan("float16", &cast, &calibration, "device 1").unwrap(), Job::Cast);
        assert_eq!(plan("int8", &cast, &calibration, "device 1").unwrap(), Job::Calibrate);
        let error = plan("int8", &cast, &[], "device 1").unwrap_err();
        assert_eq!(error.code, 7960);
        assert!(error.message.contains("'calibration_precisions': none"), "{}", error.message);
        let error = plan("bfloat16", &cast, &calibration, "device 1").unwrap_err();
        assert_eq!(error.code, 7960);
        // A precision in both lists is a cast: no samples needed.
        assert_eq!(plan("int8", &calibration, &calibration, "d").unwrap(), Job::Cast);
    }

    #[test]
    fn precisions_are_known_by_name() {
        assert_eq!(precision_named("bfloat16"), Some("bfloat16"));
        assert_eq!(precision_named("float64"), None);
    }
}

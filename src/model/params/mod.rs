//! `get_dl_model_param` / `set_dl_model_param`: HALCON's model parameters.
//!
//! Errors: a name HALCON does not know is `H_ERR_DL_MODEL_UNSUPPORTED_GENPARAM` (7911); a
//! known name that is read-only or belongs to another model type is
//! `H_ERR_DL_PARAM_NOT_AVAILABLE` (7788); a bad value is
//! `H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE` (7914) unless a more specific number exists (e.g.
//! 7884 for a fixed image size, 4203 for a batch size the graph cannot take). A converted
//! model accepts only a few parameters (7916 for the others, see [`converted`]).

pub mod alphabet;
pub mod converted;
pub mod type_params;

use crate::device::{Device, DlDevice};
use crate::dict::Dict;
use crate::error::{
    H_ERR_BATCH_SIZE_NOT_SUPPORTED, H_ERR_DL_CLASS_IDS_NOT_UNIQUE,
    H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION, H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
    H_ERR_DL_MODEL_RUNTIME, H_ERR_DL_MODEL_UNSUPPORTED_GENPARAM,
    H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE, H_ERR_DL_PARAM_NOT_AVAILABLE,
    H_ERR_DL_WRONG_BS_MULTIPLIER, HalconError, Result,
};
use crate::handle::HandleRef;
use crate::tuple::{Element, Tuple};

use super::geometry::{ImageDim, ImageGeometry};
use super::model_type::ModelType;
use super::{DlModel, ModelState};

/// Parameters every model has (get), in documentation order.
pub const GENERAL_PARAMS: &[&str] = &[
    "batch_size",
    "batch_size_multiplier",
    "class_ids",
    "class_names",
    "device",
    "image_dimensions",
    "image_height",
    "image_num_channels",
    "image_range_max",
    "image_range_min",
    "image_size",
    "image_width",
    "input_dimensions",
    "meta_data",
    "num_trainable_params",
    "optimize_for_inference",
    "precision",
    "precision_is_converted",
    "runtime",
    "summary",
    "type",
];

/// Parameters that can only be read.
const READ_ONLY: &[&str] =
    &["input_dimensions", "num_trainable_params", "precision", "precision_is_converted", "summary"];

/// Parameters of OCR recognition models.
const ALPHABET_PARAMS: &[&str] = &["alphabet", "alphabet_internal", "alphabet_mapping"];

/// Parameters that can only be set.
const SET_ONLY: &[&str] = &["runtime_init"];

fn value_error(name: &str, expected: &str, value: &Tuple) -> HalconError {
    HalconError::new(
        H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE,
        format!("GenParamValue: '{name}' takes {expected}, got {value}"),
    )
}

fn string(text: &str) -> Result<Tuple> {
    Tuple::from_strings([text])
}

fn single_integer(name: &str, value: &Tuple) -> Result<i64> {
    match value.elements() {
        [Element::Integer(v)] => Ok(*v),
        _ => Err(value_error(name, "one integer", value)),
    }
}

fn single_number(name: &str, value: &Tuple) -> Result<f64> {
    match value.elements() {
        [Element::Integer(v)] => Ok(*v as f64),
        [Element::Real(v)] if v.is_finite() => Ok(*v),
        _ => Err(value_error(name, "one number", value)),
    }
}

fn single_string<'a>(name: &str, value: &'a Tuple) -> Result<&'a str> {
    match value.elements() {
        [Element::String(v)] => Ok(v.as_str()),
        _ => Err(value_error(name, "one string", value)),
    }
}

fn strings(name: &str, value: &Tuple) -> Result<Vec<String>> {
    value
        .elements()
        .iter()
        .map(|element| match element {
            Element::String(text) => Ok(text.as_str().to_string()),
            _ => Err(value_error(name, "strings", value)),
        })
        .collect()
}

fn integers(name: &str, value: &Tuple) -> Result<Vec<i64>> {
    value
        .elements()
        .iter()
        .map(|element| match element {
            Element::Integer(v) => Ok(*v),
            _ => Err(value_error(name, "integers", value)),
        })
        .collect()
}

fn bool_string(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn not_available(name: &str, why: String) -> HalconError {
    HalconError::new(
        H_ERR_DL_PARAM_NOT_AVAILABLE,
        format!("GenParamName: '{name}' is not available: {why}"),
    )
}

fn unknown(name: &str) -> HalconError {
    HalconError::new(
        H_ERR_DL_MODEL_UNSUPPORTED_GENPARAM,
        format!("GenParamName: unknown model parameter '{name}'"),
    )
}

fn geometry<'a>(state: &'a ModelState, name: &str) -> Result<&'a ImageGeometry> {
    state.geometry.as_ref().ok_or_else(|| {
        not_available(
            name,
            "the model's first input is not an image tensor [N, C, H, W]".to_string(),
        )
    })
}

fn check_type_param_owner(state: &ModelState, name: &str) -> Result<()> {
    if ALPHABET_PARAMS.contains(&name) && state.model_type != ModelType::OcrRecognition {
        return Err(not_available(
            name,
            format!("it belongs to 'ocr_recognition' models; this model is '{}'", state.model_type),
        ));
    }
    if type_params::is_type_param(name) && state.type_params.get(state.model_type, name).is_none() {
        return Err(not_available(
            name,
            format!("this model is '{}', which has no such parameter", state.model_type),
        ));
    }
    Ok(())
}

/// Checks that `name` is a model parameter (7911 otherwise) that this model has and that can
/// be set (7788 for read-only ones and those of other model types).
fn check_known_and_available(state: &ModelState, name: &str) -> Result<()> {
    let known = GENERAL_PARAMS.contains(&name)
        || ALPHABET_PARAMS.contains(&name)
        || SET_ONLY.contains(&name)
        || type_params::is_type_param(name);
    if !known {
        return Err(unknown(name));
    }
    if READ_ONLY.contains(&name) {
        return Err(not_available(name, "it is read-only".to_string()));
    }
    check_type_param_owner(state, name)
}

/// `get_dl_model_param`.
pub fn get_param(model: &DlModel, name: &str) -> Result<Tuple> {
    let state = model.state();
    check_type_param_owner(&state, name)?;
    if let Some(value) = state.type_params.get(state.model_type, name) {
        return Ok(value.clone());
    }
    let dims = |name: &str| geometry(&state, name);
    match name {
        "type" => string(state.model_type.name()),
        "batch_size" => Ok(Tuple::from_integers([state.batch_size as i64])),
        "batch_size_multiplier" => Ok(Tuple::from_integers([state.batch_size_multiplier as i64])),
        "image_width" => Ok(Tuple::from_integers([dims(name)?.width.reported()])),
        "image_height" => Ok(Tuple::from_integers([dims(name)?.height.reported()])),
        "image_num_channels" => Ok(Tuple::from_integers([dims(name)?.channels.reported()])),
        "image_dimensions" => {
            let g = dims(name)?;
            Ok(Tuple::from_integers([
                g.width.reported(),
                g.height.reported(),
                g.channels.reported(),
            ]))
        }
        "image_size" => {
            let g = dims(name)?;
            Ok(Tuple::from_integers([g.width.reported(), g.height.reported()]))
        }
        "image_range_min" => Ok(Tuple::single(Element::Real(state.image_range.0))),
        "image_range_max" => Ok(Tuple::single(Element::Real(state.image_range.1))),
        "input_dimensions" => Ok(Tuple::from_integers(state.graph.inputs.iter().flat_map(|&id| {
            let shape = state.graph.value(id).shape.clone().unwrap_or_default();
            shape
                .into_iter()
                .map(|dim| dim.fixed().map_or(-1, |size| size as i64))
                .collect::<Vec<_>>()
        }))),
        "class_ids" => Ok(Tuple::from_integers(state.class_ids.iter().copied())),
        "class_names" => Tuple::from_strings(&state.class_names),
        "meta_data" => {
            let dict = Dict::from_entries(state.meta_data.clone());
            Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
        }
        "device" => {
            let device = DlDevice { device: state.device.clone() };
            Ok(Tuple::single(Element::handle(HandleRef::new(device)?)))
        }
        "runtime" => string(state.device.runtime()),
        "precision" => string(state.precision),
        "precision_is_converted" => string(bool_string(state.is_converted())),
        "optimize_for_inference" => string(bool_string(state.optimize_for_inference)),
        "num_trainable_params" => Ok(Tuple::from_integers([state
            .graph
            .values
            .iter()
            .filter_map(|value| value.constant.as_ref())
            .filter(|tensor| tensor.data_type().is_float())
            .map(|tensor| tensor.len() as i64)
            .sum()])),
        "summary" => summary(&state),
        "alphabet" => Tuple::from_strings(state.alphabet.alphabet()),
        "alphabet_internal" => Tuple::from_strings(state.alphabet.internal()),
        "alphabet_mapping" => Ok(Tuple::from_integers(state.alphabet.mapping())),
        _ if SET_ONLY.contains(&name) => Err(not_available(name, "it can only be set".to_string())),
        _ if type_params::is_type_param(name) => unreachable!("checked above"),
        _ => Err(unknown(name)),
    }
}

/// One line per node: `name; op_type; inputs -> outputs`, after a header line.
fn summary(state: &ModelState) -> Result<Tuple> {
    let graph = &state.graph;
    let describe = |id: &dlopt_graph::ValueId| {
        let value = graph.value(*id);
        match &value.shape {
            Some(shape) => format!("{} {:?}", value.name, shape),
            None => value.name.clone(),
        }
    };
    let mut lines = vec![format!(
        "graph '{}': {} nodes, opset {}, inputs: {}, outputs: {}",
        graph.name,
        graph.nodes.len(),
        graph.opset,
        graph.inputs.iter().map(describe).collect::<Vec<_>>().join(", "),
        graph.outputs.iter().map(describe).collect::<Vec<_>>().join(", ")
    )];
    for node in &graph.nodes {
        let inputs: Vec<&str> =
            node.inputs.iter().flatten().map(|id| graph.value(*id).name.as_str()).collect();
        let outputs: Vec<&str> =
            node.outputs.iter().map(|id| graph.value(*id).name.as_str()).collect();
        lines.push(format!(
            "{}; {}; {} -> {}",
            node.name,
            node.op_type,
            inputs.join(", "),
            outputs.join(", ")
        ));
    }
    Tuple::from_strings(lines)
}

fn set_dim(
    state: &mut ModelState,
    name: &str,
    pick: fn(&mut ImageGeometry) -> &mut ImageDim,
    value: i64,
) -> Result<()> {
    let geometry = state.geometry.as_mut().ok_or_else(|| {
        not_available(
            name,
            "the model's first input is not an image tensor [N, C, H, W]".to_string(),
        )
    })?;
    pick(geometry).set(name, value)
}

fn width(g: &mut ImageGeometry) -> &mut ImageDim {
    &mut g.width
}
fn height(g: &mut ImageGeometry) -> &mut ImageDim {
    &mut g.height
}
fn channels(g: &mut ImageGeometry) -> &mut ImageDim {
    &mut g.channels
}

/// `set_dl_model_param`.
pub fn set_param(model: &DlModel, name: &str, value: &Tuple) -> Result<()> {
    let snapshot = model.state();
    if snapshot.is_converted() {
        converted::check_settable(&snapshot, name)?;
    }
    if name == "runtime_init" {
        return runtime_init(model, value);
    }
    if name == "device" {
        // Checked before the state is locked: asking a plugin device calls the plugin.
        let device = checked_device(value, &snapshot)?;
        return model
            .update(|state| {
                // The conversion cannot change (a converted model stays converted), so the
                // check on the snapshot holds.
                state.device = device;
                Ok(())
            })
            .map(|()| model.release_other_devices());
    }
    model.update(|state| set_in_state(state, name, value))?;
    if name == "runtime" {
        model.release_other_devices();
    }
    Ok(())
}

/// The device of a `'device'` value for the model of `state`. A plugin device must run the
/// model's precision (7960 otherwise): float32 for an unconverted model (compiled on first
/// use), the converted precision for a converted one, which moreover accepts only devices
/// of the interface that converted it (7917).
fn checked_device(value: &Tuple, state: &ModelState) -> Result<std::sync::Arc<Device>> {
    let handle = match value.elements() {
        [Element::Handle(handle)] => handle.as_ref()?,
        _ => return Err(value_error("device", "one dl_device handle", value)),
    };
    let device = handle.object::<DlDevice>()?.device.clone();
    let interface = device.plugin().map_or("none", |plugin| plugin.plugin.interface.as_str());
    if let Some(conversion) = &state.conversion {
        if interface != conversion.interface {
            return Err(HalconError::new(
                H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
                format!(
                    "GenParamValue: device {} has 'ai_accelerator_interface' '{interface}'; this model was converted to '{}' by interface '{}' and runs only on its devices",
                    device.id, conversion.precision, conversion.interface
                ),
            ));
        }
    }
    if let Some(plugin) = device.plugin() {
        if !plugin.runs(state.precision)? {
            let hint = if state.is_converted() {
                ""
            } else {
                "; optimize the model for it with optimize_dl_model_for_inference"
            };
            return Err(HalconError::new(
                H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION,
                format!(
                    "GenParamValue: device {} ('{}') does not run '{}' (its 'precisions': {}){hint}",
                    device.id,
                    plugin.plugin.interface,
                    state.precision,
                    plugin.strings("precisions")?.join(", ")
                ),
            ));
        }
    }
    Ok(device)
}

fn set_in_state(state: &mut ModelState, name: &str, value: &Tuple) -> Result<()> {
    check_type_param_owner(state, name)?;
    if state.type_params.set(state.model_type, name, value)? {
        return Ok(());
    }
    match name {
        "type" => {
            let text = single_string(name, value)?;
            let model_type = ModelType::from_name(text).ok_or_else(|| {
                value_error(
                    name,
                    &format!("one of {}", ModelType::ALL.map(|t| format!("'{t}'")).join(", ")),
                    value,
                )
            })?;
            if let (Some(rank), Some(&output)) =
                (model_type.required_output_rank(), state.graph.outputs.first())
            {
                if let Some(shape) = &state.graph.value(output).shape {
                    if shape.len() != rank {
                        return Err(HalconError::new(
                            H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE,
                            format!(
                                "a '{text}' model needs a first output of rank {rank}; this graph's is {shape:?}"
                            ),
                        ));
                    }
                }
            }
            state.model_type = model_type;
        }
        "batch_size" => {
            let size = single_integer(name, value)?;
            if !(1..=1 << 16).contains(&size) {
                return Err(value_error(name, "an integer from 1 to 65536", value));
            }
            if let Some(fixed) = state.geometry.as_ref().and_then(|g| g.fixed_batch) {
                if size as usize > fixed {
                    return Err(HalconError::new(
                        H_ERR_BATCH_SIZE_NOT_SUPPORTED,
                        format!(
                            "the graph fixes its batch to {fixed}; 'batch_size' {size} is not supported"
                        ),
                    ));
                }
            }
            state.batch_size = size as usize;
        }
        "batch_size_multiplier" => {
            let multiplier = single_integer(name, value)?;
            if multiplier < 1 {
                return Err(HalconError::new(
                    H_ERR_DL_WRONG_BS_MULTIPLIER,
                    format!("'batch_size_multiplier' must be > 0, got {multiplier}"),
                ));
            }
            state.batch_size_multiplier = multiplier as usize;
        }
        "image_width" => set_dim(state, name, width, single_integer(name, value)?)?,
        "image_height" => set_dim(state, name, height, single_integer(name, value)?)?,
        "image_num_channels" => set_dim(state, name, channels, single_integer(name, value)?)?,
        "image_dimensions" | "image_size" => {
            let values = integers(name, value)?;
            let expected = if name == "image_size" { 2 } else { 3 };
            if values.len() != expected {
                return Err(value_error(
                    name,
                    &format!(
                        "{expected} integers (width, height{})",
                        if expected == 3 { ", channels" } else { "" }
                    ),
                    value,
                ));
            }
            set_dim(state, "image_width", width, values[0])?;
            set_dim(state, "image_height", height, values[1])?;
            if expected == 3 {
                set_dim(state, "image_num_channels", channels, values[2])?;
            }
        }
        "image_range_min" => state.image_range.0 = single_number(name, value)?,
        "image_range_max" => state.image_range.1 = single_number(name, value)?,
        "class_names" => state.class_names = strings(name, value)?,
        "class_ids" => {
            let ids = integers(name, value)?;
            let mut seen = std::collections::HashSet::new();
            if let Some(duplicate) = ids.iter().find(|id| !seen.insert(**id)) {
                return Err(HalconError::new(
                    H_ERR_DL_CLASS_IDS_NOT_UNIQUE,
                    format!("'class_ids' contains {duplicate} more than once"),
                ));
            }
            state.class_ids = ids;
        }
        "meta_data" => {
            let handle = match value.elements() {
                [Element::Handle(handle)] => handle.as_ref()?,
                _ => return Err(value_error(name, "one dict handle", value)),
            };
            state.meta_data = handle.object::<Dict>()?.snapshot();
        }
        "runtime" => match single_string(name, value)? {
            "cpu" if state.is_converted() => {
                let conversion = state.conversion.as_ref().expect("converted");
                return Err(HalconError::new(
                    H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
                    format!(
                        "GenParamValue: runtime 'cpu' (the native runtime) cannot run this model, converted to '{}' by interface '{}'; set 'device' to a device of that interface",
                        conversion.precision, conversion.interface
                    ),
                ));
            }
            "cpu" => state.device = crate::device::native_device()?.clone(),
            other => {
                return Err(HalconError::new(
                    H_ERR_DL_MODEL_RUNTIME,
                    format!(
                        "runtime '{other}' is not available (this build runs on 'cpu'; set 'device' to a dl_device handle for AI2 devices)"
                    ),
                ));
            }
        },
        "optimize_for_inference" => {
            state.optimize_for_inference = match single_string(name, value)? {
                "true" => true,
                "false" => false,
                _ => return Err(value_error(name, "'true' or 'false'", value)),
            }
        }
        "alphabet" => state.alphabet.restrict(&strings(name, value)?)?,
        "alphabet_internal" => state.alphabet.set_internal(strings(name, value)?)?,
        "alphabet_mapping" => state.alphabet.set_mapping(&integers(name, value)?)?,
        _ if READ_ONLY.contains(&name) => {
            return Err(not_available(name, "it is read-only".to_string()));
        }
        _ => return Err(unknown(name)),
    }
    Ok(())
}

/// `'runtime_init'` = `'immediately'`: prepares the execution plan now for the current image
/// size and batch size instead of on the first `apply_dl_model`.
fn runtime_init(model: &DlModel, value: &Tuple) -> Result<()> {
    if single_string("runtime_init", value)? != "immediately" {
        return Err(value_error("runtime_init", "'immediately'", value));
    }
    let state = model.state();
    let Some(geometry) = &state.geometry else { return Ok(()) };
    let (Some(c), Some(h), Some(w)) =
        (geometry.channels.size(), geometry.height.size(), geometry.width.size())
    else {
        // Dynamic and unset dimensions: nothing to prepare until samples define them.
        return Ok(());
    };
    let batch = geometry.fixed_batch.unwrap_or(state.batch_size);
    let input = dlopt_graph::Tensor::zeros(dlopt_graph::DataType::F32, vec![batch, c, h, w])
        .map_err(super::inference_error)?;
    model.run_tensor(&state, input).map(|_| ())
}

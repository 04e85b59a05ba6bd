//! dlopt's model file format (`write_dl_model` / `read_dl_model`).
//!
//! ```text
//! header    magic "DLOPTMDL" | major u16 | minor u16 | section count u32          (16 bytes)
//! section   tag [u8; 4] | payload length u64 | payload CRC-32 u32 | payload
//! sections  "GRPH": the graph as ONNX (dlopt's optimized graph, weights included)
//!           "PRMS": the model parameters as a dlopt binary dict (see `params_dict`)
//!           "CONV": converted models only (format 1.1): the conversion (precision,
//!                   interface, plugin, device, options), see `convert::section`
//!           "ARTF": converted models only, one per compiled input shape: the shape and
//!                   the plugin's serialized artifact
//! ```
//!
//! Unknown sections are skipped (a newer minor version may add some); an unknown major
//! version is `H_ERR_DL_FILE_WRONG_VERSION` (7782); a truncated or corrupt file is
//! `H_ERR_DL_FILE_READ` (7780) naming the problem. Lengths are checked against the file
//! before anything is allocated. Runtime settings (the device) are not stored, as in HALCON;
//! a converted model is bound to a device of its interface again when it is read.

use crate::dict::files::binary;
use crate::dict::{Dict, DictKey, DictValue, KeyRef, UnserializablePolicy};
use crate::error::{H_ERR_DL_FILE_READ, H_ERR_DL_FILE_WRONG_VERSION, HalconError, Result};
use crate::handle::HandleRef;
use crate::tuple::{Element, Tuple};

use super::convert::section::{self, StoredArtifact};
use super::model_type::ModelType;
use super::params::alphabet::Alphabet;
use super::params::type_params;
use super::{DlModel, ModelState};

/// The first bytes of a dlopt model file.
pub const MAGIC: &[u8; 8] = b"DLOPTMDL";
const MAJOR_VERSION: u16 = 1;
const MINOR_VERSION: u16 = 1;

/// A 7780 error (`H_ERR_DL_FILE_READ`) saying what is wrong with the file.
pub(crate) fn corrupt(message: impl Into<String>) -> HalconError {
    HalconError::new(H_ERR_DL_FILE_READ, message.into())
}

fn section(out: &mut Vec<u8>, tag: &[u8; 4], payload: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The bytes of a model file for `state`, without compiled artifacts (a converted model
/// written so is compiled again when read).
pub fn encode(state: &ModelState) -> Result<Vec<u8>> {
    encode_with(state, &[])
}

/// The bytes of a model file for `model`: its state and, for a converted model, the
/// artifacts of the models its plugin compiled (see [`section::artifacts_of`]).
pub fn encode_model(model: &DlModel) -> Result<Vec<u8>> {
    let state = model.state();
    let artifacts = section::artifacts_of(model, &state).map_err(|error| {
        error.context("cannot serialize the converted model's compiled artifacts")
    })?;
    encode_with(&state, &artifacts)
}

fn encode_with(state: &ModelState, artifacts: &[StoredArtifact]) -> Result<Vec<u8>> {
    let graph = dlopt_graph::export_model(&state.graph).map_err(|error| {
        HalconError::new(
            crate::error::H_ERR_DL_FILE_WRITE,
            format!("cannot encode the graph: {}", error.message),
        )
    })?;
    let params =
        binary::encode(&HandleRef::new(params_dict(state)?)?, UnserializablePolicy::Raise)?;
    let conversion = match &state.conversion {
        Some(conversion) => Some(section::encode_conversion(conversion, artifacts.len())?),
        None => None,
    };
    let artifacts: Vec<Vec<u8>> = if conversion.is_some() {
        artifacts.iter().map(section::encode_artifact).collect()
    } else {
        Vec::new()
    };
    let count = 2 + conversion.iter().count() + artifacts.len();
    let size = graph.len()
        + params.len()
        + conversion.as_ref().map_or(0, Vec::len)
        + artifacts.iter().map(Vec::len).sum::<usize>()
        + 16 * (count + 1);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&MAJOR_VERSION.to_le_bytes());
    out.extend_from_slice(&MINOR_VERSION.to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    section(&mut out, b"GRPH", &graph);
    section(&mut out, b"PRMS", &params);
    if let Some(conversion) = &conversion {
        section(&mut out, b"CONV", conversion);
    }
    for artifact in &artifacts {
        section(&mut out, b"ARTF", artifact);
    }
    Ok(out)
}

fn put(dict: &Dict, key: &str, tuple: Tuple) {
    dict.set_tuple(KeyRef::String(key), tuple);
}

fn params_dict(state: &ModelState) -> Result<Dict> {
    let dict = Dict::new();
    put(&dict, "type", Tuple::from_strings([state.model_type.name()])?);
    put(&dict, "batch_size", Tuple::from_integers([state.batch_size as i64]));
    put(&dict, "batch_size_multiplier", Tuple::from_integers([state.batch_size_multiplier as i64]));
    if let Some(geometry) = &state.geometry {
        put(
            &dict,
            "image_dimensions",
            Tuple::from_integers([
                geometry.width.reported(),
                geometry.height.reported(),
                geometry.channels.reported(),
            ]),
        );
    }
    put(
        &dict,
        "image_range",
        Tuple::from_elements(vec![
            Element::Real(state.image_range.0),
            Element::Real(state.image_range.1),
        ]),
    );
    put(&dict, "class_names", Tuple::from_strings(&state.class_names)?);
    put(&dict, "class_ids", Tuple::from_integers(state.class_ids.iter().copied()));
    put(&dict, "alphabet_internal", Tuple::from_strings(state.alphabet.internal())?);
    put(&dict, "alphabet_mapping", Tuple::from_integers(state.alphabet.mapping()));
    put(&dict, "alphabet", Tuple::from_strings(state.alphabet.alphabet())?);
    put(&dict, "precision", Tuple::from_strings([state.precision])?);
    put(&dict, "precision_is_converted", Tuple::from_integers([state.is_converted() as i64]));
    put(
        &dict,
        "optimize_for_inference",
        Tuple::from_integers([state.optimize_for_inference as i64]),
    );
    let types = Dict::new();
    for model_type in ModelType::ALL {
        for name in type_params::names_of(model_type) {
            if let Some(value) = state.type_params.get(model_type, name) {
                types.set_tuple(
                    KeyRef::String(&format!("{}.{name}", model_type.name())),
                    value.clone(),
                );
            }
        }
    }
    put(&dict, "type_params", Tuple::single(Element::handle(HandleRef::new(types)?)));
    let meta = Dict::from_entries(state.meta_data.clone());
    put(&dict, "meta_data", Tuple::single(Element::handle(HandleRef::new(meta)?)));
    Ok(dict)
}

struct Sections<'a> {
    graph: &'a [u8],
    params: &'a [u8],
    conversion: Option<&'a [u8]>,
    artifacts: Vec<&'a [u8]>,
}

fn split_sections(bytes: &[u8]) -> Result<Sections<'_>> {
    if bytes.len() < 16 || !bytes.starts_with(MAGIC) {
        return Err(corrupt("not a dlopt model file (wrong magic bytes)"));
    }
    let major = u16::from_le_bytes([bytes[8], bytes[9]]);
    let minor = u16::from_le_bytes([bytes[10], bytes[11]]);
    if major != MAJOR_VERSION {
        return Err(HalconError::new(
            H_ERR_DL_FILE_WRONG_VERSION,
            format!(
                "model file format version {major}.{minor} is not supported (this library reads {MAJOR_VERSION}.x)"
            ),
        ));
    }
    let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    let (mut graph, mut params, mut conversion) = (None, None, None);
    let mut artifacts = Vec::new();
    let mut at = 16usize;
    for index in 0..count {
        if bytes.len() - at < 16 {
            return Err(corrupt(format!("the file ends inside the header of section {index}")));
        }
        let tag: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let length = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap());
        let checksum = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap());
        at += 16;
        if length > (bytes.len() - at) as u64 {
            return Err(corrupt(format!(
                "section '{}' announces {length} bytes, the file has {} left (truncated?)",
                String::from_utf8_lossy(&tag),
                bytes.len() - at
            )));
        }
        let payload = &bytes[at..at + length as usize];
        at += length as usize;
        if crc32fast::hash(payload) != checksum {
            return Err(corrupt(format!(
                "section '{}' is corrupt (checksum mismatch)",
                String::from_utf8_lossy(&tag)
            )));
        }
        match &tag {
            b"GRPH" => graph = Some(payload),
            b"PRMS" => params = Some(payload),
            b"CONV" => conversion = Some(payload),
            b"ARTF" => artifacts.push(payload),
            _ => {}
        }
    }
    if at != bytes.len() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the last section",
            bytes.len() - at
        )));
    }
    match (graph, params) {
        (Some(graph), Some(params)) => Ok(Sections { graph, params, conversion, artifacts }),
        _ => Err(corrupt("the file lacks its graph or parameter section")),
    }
}

pub(crate) fn tuple_of(dict: &Dict, key: &str) -> Result<Tuple> {
    dict.get_tuple(KeyRef::String(key))
        .map_err(|_| corrupt(format!("the parameter section lacks '{key}'")))
}

pub(crate) fn integer_of(dict: &Dict, key: &str) -> Result<i64> {
    match tuple_of(dict, key)?.elements() {
        [Element::Integer(value)] => Ok(*value),
        _ => Err(corrupt(format!("parameter '{key}' is not one integer"))),
    }
}

pub(crate) fn strings_of(dict: &Dict, key: &str) -> Result<Vec<String>> {
    tuple_of(dict, key)?
        .elements()
        .iter()
        .map(|element| match element {
            Element::String(text) => Ok(text.as_str().to_string()),
            _ => Err(corrupt(format!("parameter '{key}' holds a non-string"))),
        })
        .collect()
}

pub(crate) fn nested_dict(dict: &Dict, key: &str) -> Result<std::sync::Arc<Dict>> {
    match tuple_of(dict, key)?.elements() {
        [Element::Handle(handle)] => handle.as_ref()?.object_arc::<Dict>(),
        _ => Err(corrupt(format!("parameter '{key}' is not a dict"))),
    }
}

/// A model from the bytes of a model file.
pub fn decode(bytes: &[u8]) -> Result<DlModel> {
    let sections = split_sections(bytes)?;
    let graph = dlopt_graph::import_model(sections.graph)
        .map_err(|error| corrupt(format!("the graph section is invalid: {}", error.message)))?;
    super::import::check_supported(&graph)?;
    let params = binary::decode(sections.params)
        .map_err(|error| corrupt(format!("the parameter section is invalid: {}", error.message)))?;
    let mut state = ModelState::new(graph)?;
    let model_type = strings_of(&params, "type")?;
    state.model_type = model_type
        .first()
        .and_then(|name| ModelType::from_name(name))
        .ok_or_else(|| corrupt(format!("unknown model type {model_type:?}")))?;
    state.batch_size = integer_of(&params, "batch_size")?.clamp(1, 1 << 16) as usize;
    state.batch_size_multiplier = integer_of(&params, "batch_size_multiplier")?.max(1) as usize;
    if let (Some(geometry), Ok(dims)) =
        (state.geometry.as_mut(), tuple_of(&params, "image_dimensions"))
    {
        let sizes = dims
            .elements()
            .iter()
            .map(|e| if let Element::Integer(v) = e { *v } else { -1 })
            .collect::<Vec<_>>();
        for (dim, &size) in [&mut geometry.width, &mut geometry.height, &mut geometry.channels]
            .into_iter()
            .zip(&sizes)
        {
            if size > 0 {
                dim.set("image dimension", size).map_err(|error| corrupt(error.message))?;
            }
        }
    }
    if let [Element::Real(low), Element::Real(high)] = tuple_of(&params, "image_range")?.elements()
    {
        state.image_range = (*low, *high);
    }
    state.class_names = strings_of(&params, "class_names")?;
    state.class_ids = tuple_of(&params, "class_ids")?.to_integers().map_err(corrupt)?;
    let internal = strings_of(&params, "alphabet_internal")?;
    if !internal.is_empty() {
        let mut alphabet = Alphabet::from_internal(internal);
        alphabet
            .set_mapping(&tuple_of(&params, "alphabet_mapping")?.to_integers().map_err(corrupt)?)?;
        // Only a restriction the user set is applied again: the full alphabet of an imported
        // model may hold entries of several characters (e.g. the labels "90", "180" of an
        // orientation classifier), which 'alphabet' itself does not accept.
        let allowed = strings_of(&params, "alphabet")?;
        if allowed.iter().map(String::as_str).ne(alphabet.alphabet()) {
            alphabet.restrict(&allowed)?;
        }
        state.alphabet = alphabet;
    }
    let converted = integer_of(&params, "precision_is_converted")? != 0;
    state.optimize_for_inference = integer_of(&params, "optimize_for_inference")? != 0;
    for (key, value) in nested_dict(&params, "type_params")?.snapshot() {
        if let (DictKey::String(key), DictValue::Tuple(value)) = (key, value) {
            if let Some((type_name, name)) = key.split_once('.') {
                if let Some(model_type) = ModelType::from_name(type_name) {
                    state
                        .type_params
                        .set(model_type, name, &value)
                        .map_err(|error| corrupt(error.message))?;
                }
            }
        }
    }
    state.meta_data = nested_dict(&params, "meta_data")?.snapshot();
    match (converted, sections.conversion) {
        (false, None) if sections.artifacts.is_empty() => Ok(DlModel::new(state)),
        (true, Some(payload)) => {
            let (conversion, announced) = section::decode_conversion(payload)?;
            if announced != sections.artifacts.len() {
                return Err(corrupt(format!(
                    "the conversion announces {announced} compiled artifacts, the file has {}",
                    sections.artifacts.len()
                )));
            }
            let artifacts = sections
                .artifacts
                .iter()
                .map(|payload| section::decode_artifact(payload))
                .collect::<Result<Vec<_>>>()?;
            section::restore(state, conversion, artifacts)
        }
        (true, None) => {
            Err(corrupt("the model is marked converted but lacks its conversion section"))
        }
        (false, _) => Err(corrupt("the model is not marked converted but has conversion sections")),
    }
}

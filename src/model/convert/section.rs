//! Converted models in model files: the `CONV` section (what the conversion was) and one
//! `ARTF` section per compiled input shape (the plugin's serialized artifact), and binding a
//! converted model read from a file to a device again.
//!
//! ```text
//! CONV   a dlopt binary dict: 'precision', 'ai_accelerator_interface', 'plugin_name',
//!        'plugin_version', 'ai2_abi_version' [major, minor], 'device_name',
//!        'device_info' (dict: the device's 'info'), 'gen_param' (dict: the options
//!        compile got), 'artifacts' (the number of ARTF sections)
//! ARTF   rank u32 | rank x u64 input dims | the artifact bytes (the plugin's format)
//! ```
//!
//! Reading (`read_dl_model`) a converted model needs its plugin: the devices of the loaded
//! plugin with the same interface name that run the precision are candidates, the one with
//! the stored `'device_name'` first; the artifacts are loaded with the plugin's
//! `deserialize`, which validates them, and the device is set. When no loaded plugin
//! provides the interface, or none of its devices runs the precision, or the plugin refuses
//! an artifact (corrupt, made by another plugin version, for another CPU), read_dl_model
//! fails: a converted model runs nowhere else, so the error belongs where the model enters
//! the program (re-run optimize_dl_model_for_inference on the original model for this
//! machine). Errors: 4320 naming the interface, plugin and device (or the load error of a
//! plugin that failed to load: 8600 / 8602 / 8603 / 4320); 7960; the plugin's refusal
//! (4320 "incompatible compiled artifact: <reason>").

use std::sync::Arc;

use crate::device::{Device, all_devices};
use crate::dict::files::binary;
use crate::dict::{Dict, DictKey, DictValue, KeyRef, UnserializablePolicy};
use crate::error::{H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION, H_ERR_HAI2_ERROR, HalconError, Result};
use crate::handle::HandleRef;
use crate::plugin::compiled::CompiledModel;
use crate::plugin::registry;
use crate::tuple::{Element, Tuple};

use super::super::file::{corrupt, integer_of, nested_dict, strings_of, tuple_of};
use super::super::{DlModel, ModelState};
use super::{Conversion, precision_named};

/// The most dimensions an artifact's input shape may have.
const MAX_RANK: usize = 16;

/// A compiled model as stored: the input shape it was compiled for and the plugin's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredArtifact {
    /// The input shape.
    pub shape: Vec<usize>,
    /// The plugin's artifact.
    pub bytes: Vec<u8>,
}

fn handle_tuple(dict: Dict) -> Result<Tuple> {
    Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
}

/// The payload of the `CONV` section.
pub fn encode_conversion(conversion: &Conversion, artifacts: usize) -> Result<Vec<u8>> {
    let dict = Dict::new();
    let put = |key: &str, tuple: Tuple| dict.set_tuple(KeyRef::String(key), tuple);
    let text = |value: &str| Tuple::from_strings([value]);
    put("precision", text(conversion.precision)?);
    put("ai_accelerator_interface", text(&conversion.interface)?);
    put("plugin_name", text(&conversion.plugin_name)?);
    put("plugin_version", text(&conversion.plugin_version)?);
    let (major, minor) = conversion.abi_version;
    put("ai2_abi_version", Tuple::from_integers([i64::from(major), i64::from(minor)]));
    put("device_name", text(&conversion.device_name)?);
    put("device_info", handle_tuple(Dict::from_entries(conversion.device_info.clone()))?);
    let options = Dict::new();
    for (key, value) in &conversion.options {
        options.set_tuple(KeyRef::String(key), value.clone());
    }
    put("gen_param", handle_tuple(options)?);
    put("artifacts", Tuple::from_integers([artifacts as i64]));
    binary::encode(&HandleRef::new(dict)?, UnserializablePolicy::Raise)
}

fn one_string(dict: &Dict, key: &str) -> Result<String> {
    match strings_of(dict, key)?.as_slice() {
        [text] => Ok(text.clone()),
        _ => Err(corrupt(format!("conversion entry '{key}' is not one string"))),
    }
}

/// The conversion of a `CONV` payload and the number of artifacts it announces.
pub fn decode_conversion(payload: &[u8]) -> Result<(Conversion, usize)> {
    let dict = binary::decode(payload).map_err(|error| {
        corrupt(format!("the conversion section is invalid: {}", error.message))
    })?;
    let precision_text = one_string(&dict, "precision")?;
    let precision = precision_named(&precision_text)
        .ok_or_else(|| corrupt(format!("unknown converted precision '{precision_text}'")))?;
    let abi = tuple_of(&dict, "ai2_abi_version")?.to_integers().map_err(corrupt)?;
    let abi_version = match abi.as_slice() {
        [major, minor] => (
            u32::try_from(*major).map_err(|_| corrupt("bad AI² ABI major version"))?,
            u32::try_from(*minor).map_err(|_| corrupt("bad AI² ABI minor version"))?,
        ),
        _ => return Err(corrupt("conversion entry 'ai2_abi_version' is not [major, minor]")),
    };
    let mut options = Vec::new();
    for (key, value) in nested_dict(&dict, "gen_param")?.snapshot() {
        match (key, value) {
            (DictKey::String(key), DictValue::Tuple(tuple)) => {
                options.push((key.to_string(), tuple))
            }
            _ => return Err(corrupt("conversion entry 'gen_param' holds a non-option")),
        }
    }
    let artifacts = integer_of(&dict, "artifacts")?;
    let artifacts = usize::try_from(artifacts)
        .map_err(|_| corrupt(format!("conversion announces {artifacts} artifacts")))?;
    let conversion = Conversion {
        precision,
        interface: one_string(&dict, "ai_accelerator_interface")?,
        plugin_name: one_string(&dict, "plugin_name")?,
        plugin_version: one_string(&dict, "plugin_version")?,
        abi_version,
        device_name: one_string(&dict, "device_name")?,
        device_info: nested_dict(&dict, "device_info")?.snapshot(),
        options,
    };
    Ok((conversion, artifacts))
}

/// The payload of one `ARTF` section.
pub fn encode_artifact(artifact: &StoredArtifact) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 8 * artifact.shape.len() + artifact.bytes.len());
    out.extend_from_slice(&(artifact.shape.len() as u32).to_le_bytes());
    for &dim in &artifact.shape {
        out.extend_from_slice(&(dim as u64).to_le_bytes());
    }
    out.extend_from_slice(&artifact.bytes);
    out
}

/// The artifact of an `ARTF` payload. Errors (7780): a rank above 16, a dimension of 0 or
/// above 2^31, no artifact bytes.
pub fn decode_artifact(payload: &[u8]) -> Result<StoredArtifact> {
    let rank = payload
        .get(..4)
        .map(|bytes| u32::from_le_bytes(bytes.try_into().unwrap()) as usize)
        .ok_or_else(|| corrupt("an artifact section is shorter than its header"))?;
    if rank == 0 || rank > MAX_RANK {
        return Err(corrupt(format!("an artifact's input rank is {rank} (1 to {MAX_RANK})")));
    }
    let start = 4 + 8 * rank;
    if payload.len() <= start {
        return Err(corrupt("an artifact section ends before its artifact bytes"));
    }
    let shape = payload[4..start]
        .chunks_exact(8)
        .map(|bytes| {
            let dim = u64::from_le_bytes(bytes.try_into().unwrap());
            if dim == 0 || dim > 1 << 31 {
                Err(corrupt(format!("an artifact's input dimension is {dim}")))
            } else {
                Ok(dim as usize)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StoredArtifact { shape, bytes: payload[start..].to_vec() })
}

/// The artifacts of the models `model` compiled for its current graph and device, least
/// recently used first. None when the model is not converted, not on a plugin device, or
/// its plugin cannot serialize (it is then compiled again after reading). Errors: the
/// plugin's `serialize` errors.
pub fn artifacts_of(model: &DlModel, state: &ModelState) -> Result<Vec<StoredArtifact>> {
    let Some(plugin) = state.device.plugin() else { return Ok(Vec::new()) };
    if state.conversion.is_none() || plugin.plugin.functions.serialize.is_none() {
        return Ok(Vec::new());
    }
    model
        .compiled_models_of(state)
        .into_iter()
        .map(|(shape, compiled)| Ok(StoredArtifact { shape, bytes: compiled.serialize()? }))
        .collect()
}

/// A device for a converted model read from a file (see the module documentation).
fn bind_device(conversion: &Conversion) -> Result<Arc<Device>> {
    let interface = conversion.interface.as_str();
    let described = format!(
        "the model was converted to '{}' by AI² interface '{interface}' (plugin {} {}, ABI {}.{}) for device '{}'",
        conversion.precision,
        conversion.plugin_name,
        conversion.plugin_version,
        conversion.abi_version.0,
        conversion.abi_version.1,
        conversion.device_name
    );
    let candidates: Vec<&Arc<Device>> = all_devices()?
        .iter()
        .filter(|device| device.plugin().is_some_and(|p| p.plugin.interface == interface))
        .collect();
    if candidates.is_empty() {
        if let Some(record) = registry().failed(interface) {
            let error =
                record.outcome.as_ref().err().cloned().unwrap_or_else(|| {
                    HalconError::new(H_ERR_HAI2_ERROR, "the plugin failed to load")
                });
            return Err(HalconError::new(
                error.code,
                format!(
                    "{described}; that plugin ({}) failed to load: {}",
                    record.path.display(),
                    error.message
                ),
            ));
        }
        return Err(HalconError::new(
            H_ERR_HAI2_ERROR,
            format!(
                "{described}; no loaded AI² plugin provides that interface (install it in a directory of DLOPT_AI2_PLUGIN_PATH or in dlopt-plugins/ beside the library; get_system('ai2_plugins') lists what loaded)"
            ),
        ));
    }
    let mut running = Vec::new();
    for device in candidates {
        let plugin = device.plugin().expect("a plugin device");
        if plugin.runs(conversion.precision)? {
            let same = plugin.name().is_ok_and(|name| name == conversion.device_name);
            running.push((same, device));
        }
    }
    running.sort_by_key(|(same, _)| !same);
    running.first().map(|(_, device)| (*device).clone()).ok_or_else(|| {
        HalconError::new(
            H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION,
            format!("{described}; no device of that interface runs '{}'", conversion.precision),
        )
    })
}

/// The model of `state` as converted by `conversion`, bound to a device of its interface
/// with `artifacts` loaded (see the module documentation for the errors).
pub fn restore(
    mut state: ModelState,
    conversion: Conversion,
    artifacts: Vec<StoredArtifact>,
) -> Result<DlModel> {
    let device = bind_device(&conversion)?;
    state.precision = conversion.precision;
    state.device = device.clone();
    state.conversion = Some(Arc::new(conversion));
    let model = DlModel::new(state);
    let state = model.state();
    let plugin = device.plugin().expect("bound to a plugin device");
    for artifact in artifacts {
        let compiled =
            CompiledModel::deserialize(plugin, &state.graph, &artifact.shape, &artifact.bytes)
                .map_err(|error| {
                    error.context(format!(
                        "the compiled model for input shape {:?} (device {}, interface '{}')",
                        artifact.shape, device.id, plugin.plugin.interface
                    ))
                })?;
        model.add_compiled(&state, &artifact.shape, compiled);
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion() -> Conversion {
        Conversion {
            precision: "float16",
            interface: "vendor".into(),
            plugin_name: "vendor_plugin".into(),
            plugin_version: "1.2.3".into(),
            abi_version: (1, 0),
            device_name: "NPU 7".into(),
            device_info: vec![(
                DictKey::String("cores".into()),
                DictValue::Tuple(Tuple::from_integers([4])),
            )],
            options: vec![("level".into(), Tuple::from_integers([2]))],
        }
    }

    #[test]
    fn the_conversion_section_round_trips() {
        let bytes = encode_conversion(&conversion(), 3).unwrap();
        let (decoded, artifacts) = decode_conversion(&bytes).unwrap();
        assert_eq!(artifacts, 3);
        let original = conversion();
        assert_eq!(decoded.precision, original.precision);
        assert_eq!(decoded.interface, original.interface);
        assert_eq!(decoded.plugin_version, original.plugin_version);
        assert_eq!(decoded.abi_version, (1, 0));
        assert_eq!(decoded.device_name, original.device_name);
        assert_eq!(decoded.device_info.len(), 1);
        assert_eq!(decoded.options.len(), 1);
        assert_eq!(decoded.options[0].0, "level");
        // Re-encoding gives the same bytes.
        assert_eq!(encode_conversion(&decoded, 3).unwrap(), bytes);
    }

    #[test]
    fn artifacts_round_trip_and_bad_headers_are_7780() {
        let artifact = StoredArtifact { shape: vec![1, 3, 48, 192], bytes: b"blob".to_vec() };
        let bytes = encode_artifact(&artifact);
        assert_eq!(decode_artifact(&bytes).unwrap(), artifact);
        for bad in [
            &bytes[..3],
            &bytes[..4 + 32],
            &[0, 0, 0, 0, 1][..],
            &[17, 0, 0, 0][..],
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7][..],
        ] {
            assert_eq!(decode_artifact(bad).unwrap_err().code, 7780, "{bad:?}");
        }
    }
}

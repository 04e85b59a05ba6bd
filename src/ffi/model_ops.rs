//! The deep-learning model operators: `read_dl_model`, `write_dl_model`,
//! `get_dl_model_param`, `set_dl_model_param`, `apply_dl_model`, `clear_dl_model`,
//! `optimize_dl_model_for_inference`.
//!
//! A model may be used from several threads at once: `apply_dl_model` calls run in
//! parallel, and a parameter change never disturbs an inference already running (it uses
//! the parameters it started with).

use std::path::{Path, PathBuf};

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::device::DlDevice;
use crate::dict::Dict;
use crate::error::{H_ERR_DL_FILE_WRITE, H_ERR_FNF, HalconError, Herror, Result};
use crate::file;
use crate::handle::HandleRef;
use crate::model::convert::{self, PRECISIONS, Request};
use crate::model::{DlModel, file as model_file, import, params};
use crate::tuple::{Element, Tuple};

fn read_model_file(name: &str) -> Result<(PathBuf, Vec<u8>)> {
    let path = file::checked_path(name)?;
    match file::read_whole(&path) {
        Err(error) if error.code == H_ERR_FNF && path.extension().is_none() => {
            for extension in ["hdl", "onnx"] {
                let candidate = path.with_extension(extension);
                if candidate.is_file() {
                    return file::read_whole(&candidate).map(|bytes| (candidate, bytes));
                }
            }
            Err(error)
        }
        other => other.map(|bytes| (path, bytes)),
    }
}

/// Reads a model: a dlopt model file (written by `write_dl_model`) or an ONNX model (opsets
/// 11 to 21), recognised by content. Without an extension, `FileName.hdl` and
/// `FileName.onnx` are tried. `*DLModelHandle` receives a tuple with the model's handle.
///
/// An ONNX model starts as type `'generic'` with batch size 1; its image parameters come
/// from the first input [N, C, H, W]; its metadata becomes `'meta_data'`; a `character`
/// metadata entry (PaddleOCR) becomes the OCR alphabet.
///
/// A converted model (written after `optimize_dl_model_for_inference`) stays converted: it is
/// bound to a device of the AI² interface that converted it (the device it was converted
/// for if present) and its compiled models are loaded from the file, validated by the
/// plugin.
///
/// Errors: file not found 5200; ONNX problems `H_ERR_DL_READ_ONNX` (7801) naming the node,
/// operator and reason; a corrupt or truncated dlopt file `H_ERR_DL_FILE_READ` (7780); a
/// newer format version `H_ERR_DL_FILE_WRONG_VERSION` (7782). A converted model whose
/// plugin is not loaded: 4320 naming the interface, plugin and device (or the plugin's load
/// error, 8600 / 8602 / 8603 / 4320, if it failed to load); no device of the interface runs
/// the precision: 7960; the plugin refuses a compiled artifact (corrupt, another plugin
/// version, another CPU): 4320 "incompatible compiled artifact: <reason>". A converted model
/// runs nowhere else: convert the original model again on this machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read_dl_model(file_name: Htuple, dl_model_handle: *mut Htuple) -> Herror {
    operator("read_dl_model", || {
        let name = unsafe { input(file_name, 1, "FileName") }?.string()?;
        let out = unsafe { output(dl_model_handle, 2, "DLModelHandle") }?;
        let (path, bytes) = read_model_file(name)?;
        let model = if import::looks_like_onnx(&bytes) {
            import::model_from_onnx(&bytes)
        } else {
            model_file::decode(&bytes)
        }
        .map_err(|error| error.context(format!("'{}'", path.display())))?;
        write_tuple(out, Tuple::single(Element::handle(HandleRef::new(model)?)));
        Ok(())
    })
}

/// Writes the model to `FileName` in dlopt's model format, atomically. `read_dl_model`
/// restores it with bit-identical results. The device is not stored (as in HALCON). A
/// converted model is stored with its conversion (precision, interface, plugin name and
/// version, ABI version, device name and info, options) and the plugin's serialized
/// compiled model for every input shape compiled so far on its device (none if the plugin
/// cannot serialize: it compiles again after reading).
/// Errors: cannot write `H_ERR_DL_FILE_WRITE` (7781) naming the file and the reason; the
/// plugin's error if it fails to serialize a compiled model.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write_dl_model(dl_model_handle: Htuple, file_name: Htuple) -> Herror {
    operator("write_dl_model", || {
        let model = unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object::<DlModel>()?;
        let name = unsafe { input(file_name, 2, "FileName") }?.string()?;
        let path = file::checked_path(name)?;
        let bytes = model_file::encode_model(&model)?;
        file::write_atomically(Path::new(&path), &bytes)
            .map_err(|error| HalconError::new(H_ERR_DL_FILE_WRITE, error.message))
    })
}

/// `*GenParamValue` receives the value of the model parameter `GenParamName` (one name per
/// call). See docs/model-parameters.md for the names, values and which are settable.
/// Errors: unknown name 7911; not available for this model (other type, set-only) 7788.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_dl_model_param(
    dl_model_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: *mut Htuple,
) -> Herror {
    operator("get_dl_model_param", || {
        let model = unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object::<DlModel>()?;
        let name = unsafe { input(gen_param_name, 2, "GenParamName") }?.string()?;
        let out = unsafe { output(gen_param_value, 3, "GenParamValue") }?;
        let value = params::get_param(&model, name)?;
        write_tuple(out, value);
        Ok(())
    })
}

/// Sets the model parameter `GenParamName` to `GenParamValue`. Inference already running
/// keeps the old value. Errors: unknown name 7911; read-only or other type 7788; bad value
/// 7914 (or a more specific number, e.g. 7884 for an image size the graph fixes, 4203 for a
/// batch size the graph cannot take).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_dl_model_param(
    dl_model_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
) -> Herror {
    operator("set_dl_model_param", || {
        let model =
            unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object_arc::<DlModel>()?;
        let name = unsafe { input(gen_param_name, 2, "GenParamName") }?.string()?;
        let value = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        params::set_param(&model, name, value.tuple)
    })
}

/// Runs the model on `DLSampleBatch` (a tuple of sample dicts, each with a preprocessed
/// `'image'`: type `'real'`, the model's size and channel count) and returns one result
/// dict per sample in `*DLResultBatch`. Samples are processed `'batch_size'` at a time.
/// `Outputs` selects result keys (`[]`: the model type's defaults; for `'generic'` models
/// the graph's output names).
///
/// Errors: a sample without `'image'` 7783; pixel type not `'real'` 9001; wrong channel
/// count 3359; wrong size 7735; an unknown output 7787.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn apply_dl_model(
    dl_model_handle: Htuple,
    dl_sample_batch: Htuple,
    outputs: Htuple,
    dl_result_batch: *mut Htuple,
) -> Herror {
    operator("apply_dl_model", || {
        let model =
            unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object_arc::<DlModel>()?;
        let samples_param = unsafe { input(dl_sample_batch, 2, "DLSampleBatch") }?;
        let samples = samples_param
            .tuple
            .elements()
            .iter()
            .map(|element| samples_param.element_as_handle(element).cloned())
            .collect::<Result<Vec<_>>>()?;
        let outputs_param = unsafe { input(outputs, 3, "Outputs") }?;
        let requested = outputs_param.strings()?;
        let out = unsafe { output(dl_result_batch, 4, "DLResultBatch") }?;
        let results = model.apply(&samples, &requested)?;
        let handles = results
            .into_iter()
            .map(|dict| HandleRef::new(dict).map(Element::handle))
            .collect::<Result<Vec<_>>>()?;
        write_tuple(out, Tuple::from_elements(handles));
        Ok(())
    })
}

/// Clears models (HALCON's legacy operator; the same as `clear_handle`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clear_dl_model(dl_model_handle: Htuple) -> Herror {
    operator("clear_dl_model", || {
        let handles = unsafe { input(dl_model_handle, 1, "DLModelHandle") }?;
        let models = handles
            .tuple
            .elements()
            .iter()
            .map(|element| {
                let handle = handles.element_as_handle(element)?;
                handle.object::<DlModel>()?;
                Ok(handle)
            })
            .collect::<Result<Vec<_>>>()?;
        models.into_iter().for_each(HandleRef::clear);
        Ok(())
    })
}

/// Converts `DLModelHandle` for the AI² device `DLDeviceHandle` to `Precision` and returns the
/// converted model in `*DLModelHandleConverted` and a report (a dict) in
/// `*ConversionReport`. The input model is not changed.
///
/// - `DLDeviceHandle`: one device whose `'conversion_supported'` is `'true'` (a device of an
///   AI² plugin; the native device cannot convert).
/// - `Precision`: `'float32'`, `'float16'`, `'bfloat16'` or `'int8'`. A precision in the
///   device's `'cast_precisions'` is a cast and needs no samples. A precision in its
///   `'calibration_precisions'` (`'int8'`) is calibrated by dlopt on `DLSamples` (10 to 20
///   representative samples per class usually suffice; the first `'stat_subset_size'` are
///   used): statistics of every activation, ranges, a QDQ graph (int8 weights per channel,
///   8-bit activations), fast bias correction and an accuracy-aware fallback that keeps the
///   nodes float that change the model's answers; the device compiles the result.
/// - `DLSamples`: sample dicts as for `apply_dl_model` (may be empty for a cast). Given
///   samples are run by the float32 model and the converted model; the report's
///   `'agreement'` compares them.
/// - `GenParam`: a dict of the device's options (keys from its
///   `'optimize_for_inference_params'`, missing keys take the defaults), or `[]`. Devices
///   with calibration precisions also list dlopt's calibration keys there
///   (`'calibration_method'`, `'percentile'`, `'activation_type'`, `'stat_subset_size'`,
///   `'bias_correction'`, `'accuracy_aware'`, `'max_float_fraction'`, `'keep_float_nodes'`,
///   `'keep_float_op_types'`, `'int8_nodes'`, `'int8_op_types'`; docs/model-parameters.md).
///
/// The converted model has `'precision'` set, `'precision_is_converted'` `'true'`, the
/// device set if it runs the precision, and is frozen: only a few parameters stay settable
/// (7916 for the others, see docs/model-parameters.md), `'device'` and `'runtime'` accept
/// only devices of the converting interface (7917). The report's keys are documented in
/// docs/model-parameters.md ("Conversion report").
///
/// Errors: `Precision` not one of the four 1303 (not a string 1203); `GenParam` not a dict
/// handle or `[]` 1205 / 1405; more than one device 1402; the model is converted already
/// 7917; the device cannot convert (native, or no cast or calibration precisions) 4320; the
/// precision is not among the device's cast or calibration precisions 7960; a calibration
/// precision without samples 7915; an unknown `GenParam` key or a value of the wrong
/// kind 4321 naming it; samples as in `apply_dl_model` (7783, 9001, 3359, 7735); the plugin's
/// errors while compiling (4320 naming unsupported nodes, 4321 for refused options).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn optimize_dl_model_for_inference(
    dl_model_handle: Htuple,
    dl_device_handle: Htuple,
    precision: Htuple,
    dl_samples: Htuple,
    gen_param: Htuple,
    dl_model_handle_converted: *mut Htuple,
    conversion_report: *mut Htuple,
) -> Herror {
    operator("optimize_dl_model_for_inference", || {
        let model =
            unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object_arc::<DlModel>()?;
        let device_param = unsafe { input(dl_device_handle, 2, "DLDeviceHandle") }?;
        let device = device_param.object::<DlDevice>()?.device.clone();
        let precision_param = unsafe { input(precision, 3, "Precision") }?;
        let name = precision_param.string()?;
        let precision = convert::precision_named(name).ok_or_else(|| {
            precision_param.wrong_value(format_args!(
                "'{name}' is not a precision (use {})",
                PRECISIONS.map(|p| format!("'{p}'")).join(", ")
            ))
        })?;
        let samples_param = unsafe { input(dl_samples, 4, "DLSamples") }?;
        let samples = samples_param
            .tuple
            .elements()
            .iter()
            .map(|element| samples_param.element_as_handle(element).cloned())
            .collect::<Result<Vec<_>>>()?;
        let gen_param_param = unsafe { input(gen_param, 5, "GenParam") }?;
        let options = match gen_param_param.tuple.len() {
            0 => None,
            1 => Some(gen_param_param.object_arc::<Dict>()?),
            count => {
                return Err(gen_param_param.wrong_count(format_args!(
                    "one dict handle or [] expected, got {count} values"
                )));
            }
        };
        let out_model = unsafe { output(dl_model_handle_converted, 6, "DLModelHandleConverted") }?;
        let out_report = unsafe { output(conversion_report, 7, "ConversionReport") }?;
        let request = Request { precision, samples: &samples, gen_param: options.as_deref() };
        let (converted, report) = convert::optimize(&model, &device, request)?;
        let converted = HandleRef::new(converted)?;
        let report = HandleRef::new(report)?;
        write_tuple(out_model, Tuple::single(Element::handle(converted)));
        write_tuple(out_report, Tuple::single(Element::handle(report)));
        Ok(())
    })
}

//! The deep-learning model operators: `read_dl_model`, `write_dl_model`,
//! `get_dl_model_param`, `set_dl_model_param`, `apply_dl_model`, `clear_dl_model`.
//!
//! A model may be used from several threads at once: `apply_dl_model` calls run in
//! parallel, and a parameter change never disturbs an inference already running (it uses
//! the parameters it started with).

use std::path::{Path, PathBuf};

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::error::{H_ERR_DL_FILE_WRITE, H_ERR_FNF, HalconError, Herror, Result};
use crate::file;
use crate::handle::HandleRef;
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
/// Errors: file not found 5200; ONNX problems `H_ERR_DL_READ_ONNX` (7801) naming the node,
/// operator and reason; a corrupt or truncated dlopt file `H_ERR_DL_FILE_READ` (7780); a
/// newer format version `H_ERR_DL_FILE_WRONG_VERSION` (7782).
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
/// restores it with bit-identical results. The device is not stored (as in HALCON).
/// Errors: cannot write `H_ERR_DL_FILE_WRITE` (7781) naming the file and the reason.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write_dl_model(dl_model_handle: Htuple, file_name: Htuple) -> Herror {
    operator("write_dl_model", || {
        let model = unsafe { input(dl_model_handle, 1, "DLModelHandle") }?.object::<DlModel>()?;
        let name = unsafe { input(file_name, 2, "FileName") }?.string()?;
        let path = file::checked_path(name)?;
        let bytes = model_file::encode(&model.state())?;
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

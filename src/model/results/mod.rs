//! Network outputs to result dicts, one per sample, by model type.
//!
//! `Outputs` of `apply_dl_model` selects result keys: `[]` gives the type's defaults; for
//! generic models the keys are the graph's output names.

mod classification;
mod generic;
mod ocr_recognition;
mod segmentation;

use dlopt_graph::Tensor;

use crate::dict::Dict;
use crate::error::{H_ERR_DL_INTERNAL, H_ERR_DL_INVALID_OUTPUT, HalconError, Result};

use super::ModelState;
use super::model_type::ModelType;

/// The outputs of one batch.
pub struct BatchOutputs<'a> {
    /// The graph's outputs, in graph order.
    pub tensors: &'a [Tensor],
    /// Their names.
    pub names: &'a [String],
    /// Real samples in the batch (the rest is padding).
    pub samples: usize,
    /// The batch size the network ran with.
    pub batch: usize,
}

impl BatchOutputs<'_> {
    /// The first output as f32 data with its shape; its first dimension must be the batch.
    fn first_f32(&self) -> Result<(&[f32], &[usize])> {
        let tensor = self
            .tensors
            .first()
            .ok_or_else(|| HalconError::new(H_ERR_DL_INTERNAL, "the model has no output"))?;
        let data = tensor.as_f32().ok_or_else(|| {
            HalconError::new(
                H_ERR_DL_INVALID_OUTPUT,
                format!("output '{}' is {}, not float32", self.names[0], tensor.data_type()),
            )
        })?;
        if tensor.shape().first() != Some(&self.batch) {
            return Err(HalconError::new(
                H_ERR_DL_INVALID_OUTPUT,
                format!(
                    "output '{}' has shape {:?}: its first dimension is not the batch ({})",
                    self.names[0],
                    tensor.shape(),
                    self.batch
                ),
            ));
        }
        Ok((data, tensor.shape()))
    }
}

/// The result keys each type produces by default.
pub fn default_keys(model_type: ModelType) -> &'static [&'static str] {
    match model_type {
        ModelType::Classification => classification::KEYS,
        ModelType::Segmentation => segmentation::KEYS,
        ModelType::OcrRecognition => ocr_recognition::KEYS,
        _ => &[],
    }
}

/// Checks `requested` result keys for the model and returns the keys to produce.
pub fn select_keys(state: &ModelState, requested: &[&str]) -> Result<Vec<String>> {
    let available: Vec<String> = match state.model_type {
        ModelType::Classification | ModelType::Segmentation | ModelType::OcrRecognition => {
            default_keys(state.model_type).iter().map(|key| key.to_string()).collect()
        }
        // Types without a dedicated post-processing yet give their raw outputs, as generic.
        _ => state.output_names(),
    };
    if requested.is_empty() {
        return Ok(available);
    }
    requested
        .iter()
        .map(|key| {
            if available.iter().any(|name| name == key) {
                Ok(key.to_string())
            } else {
                Err(HalconError::new(
                    H_ERR_DL_INVALID_OUTPUT,
                    format!(
                        "Outputs: '{key}' is not an output of this '{}' model (available: {})",
                        state.model_type,
                        available.join(", ")
                    ),
                ))
            }
        })
        .collect()
}

/// The result dicts of one batch.
pub fn make_results(
    state: &ModelState,
    outputs: &BatchOutputs<'_>,
    keys: &[String],
) -> Result<Vec<Dict>> {
    match state.model_type {
        ModelType::Classification => classification::results(state, outputs, keys),
        ModelType::Segmentation => segmentation::results(state, outputs, keys),
        ModelType::OcrRecognition => ocr_recognition::results(state, outputs, keys),
        _ => generic::results(outputs, keys),
    }
}

//! The parameters a converted model (`'precision_is_converted'` = `'true'`) still accepts:
//! its architecture and precision are frozen by the conversion, so only what HALCON lists
//! stays settable (halcon-operators.md, optimize_dl_model_for_inference):
//!
//! | model type | settable after conversion |
//! |---|---|
//! | any | `'device'`, `'meta_data'`, `'runtime'` |
//! | anomaly_detection | `'standard_deviation_factor'` |
//! | classification | `'class_names'`, `'ood_threshold'` |
//! | detection | `'class_names'`, `'max_num_detections'`, `'max_overlap'`, `'max_overlap_class_agnostic'`, `'min_confidence'` |
//! | gc_anomaly_detection | `'anomaly_score_tolerance'` |
//! | ocr_detection | `'min_character_score'`, `'min_link_score'`, `'min_word_score'`, `'orientation'`, `'sort_by_line'`, `'tiling'`, `'tiling_overlap'` |
//! | ocr_recognition | `'alphabet'`, `'alphabet_internal'`, `'alphabet_mapping'` |
//! | segmentation | `'class_names'`, `'tiling_overlap'` |
//!
//! Any other parameter the model has is 7916 (`H_ERR_DL_MODEL_CONVERTED_PARAM`) naming it:
//! `'batch_size'`, `'type'`, the image sizes and ranges, `'class_ids'`, ... An unknown name
//! stays 7911 and a read-only one or one of another type 7788, as for any model.
//! `'runtime_init'` (set-only) stays allowed: it changes nothing, it compiles now what the
//! first `apply_dl_model` would compile.
//!
//! `'device'` accepts only devices of the interface that converted the model and that run
//! its precision; `'runtime'` accepts no value that would leave that interface (`'cpu'`):
//! both are 7917 (`H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED`, an operation the converted model
//! cannot do), 7960 for a device of the interface that does not run the precision.

use crate::error::{H_ERR_DL_MODEL_CONVERTED_PARAM, HalconError, Result};

use super::super::ModelState;
use super::super::model_type::ModelType;

/// The parameters every converted model keeps.
const ANY_TYPE: &[&str] = &["device", "meta_data", "runtime"];

/// The parameters a converted model of `model_type` keeps besides [`ANY_TYPE`].
fn kept_by_type(model_type: ModelType) -> &'static [&'static str] {
    match model_type {
        ModelType::AnomalyDetection => &["standard_deviation_factor"],
        ModelType::Classification => &["class_names", "ood_threshold"],
        ModelType::Detection => &[
            "class_names",
            "max_num_detections",
            "max_overlap",
            "max_overlap_class_agnostic",
            "min_confidence",
        ],
        ModelType::GcAnomalyDetection => &["anomaly_score_tolerance"],
        ModelType::OcrDetection => &[
            "min_character_score",
            "min_link_score",
            "min_word_score",
            "orientation",
            "sort_by_line",
            "tiling",
            "tiling_overlap",
        ],
        ModelType::OcrRecognition => &["alphabet", "alphabet_internal", "alphabet_mapping"],
        ModelType::Segmentation => &["class_names", "tiling_overlap"],
        ModelType::Generic => &[],
    }
}

/// Whether a converted model of `model_type` accepts `name`.
pub fn settable(model_type: ModelType, name: &str) -> bool {
    name == "runtime_init" || ANY_TYPE.contains(&name) || kept_by_type(model_type).contains(&name)
}

/// Checks that the converted model of `state` accepts `name` (see the module
/// documentation). Unknown names (7911) and names not available for the model (7788) get
/// the errors any model gives.
pub fn check_settable(state: &ModelState, name: &str) -> Result<()> {
    if settable(state.model_type, name) {
        return Ok(());
    }
    super::check_known_and_available(state, name)?;
    let conversion = state.conversion.as_ref();
    let kept: Vec<String> = ANY_TYPE
        .iter()
        .chain(kept_by_type(state.model_type))
        .map(|name| format!("'{name}'"))
        .collect();
    Err(HalconError::new(
        H_ERR_DL_MODEL_CONVERTED_PARAM,
        format!(
            "GenParamName: '{name}' cannot be set on a converted model (converted to '{}' by interface '{}'; a converted '{}' model accepts {})",
            conversion.map_or("?", |c| c.precision),
            conversion.map_or("?", |c| c.interface.as_str()),
            state.model_type,
            kept.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_follow_halcon() {
        assert!(settable(ModelType::Classification, "class_names"));
        assert!(settable(ModelType::Classification, "device"));
        assert!(!settable(ModelType::Classification, "batch_size"));
        assert!(!settable(ModelType::Classification, "class_ids"));
        assert!(!settable(ModelType::Generic, "class_names"));
        assert!(settable(ModelType::Detection, "min_confidence"));
        assert!(!settable(ModelType::Detection, "instance_type"));
        assert!(settable(ModelType::OcrRecognition, "alphabet_mapping"));
        assert!(!settable(ModelType::OcrRecognition, "image_width"));
        assert!(settable(ModelType::Segmentation, "tiling_overlap"));
        assert!(!settable(ModelType::Segmentation, "ignore_class_ids"));
        assert!(settable(ModelType::Generic, "runtime_init"));
    }
}

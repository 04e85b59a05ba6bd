//! The model types HALCON knows ('type'), and what each needs of the graph's output.

use std::fmt;

/// A model's type: decides the default outputs of `apply_dl_model` and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelType {
    /// An imported graph without declared semantics: results are the raw output tensors.
    Generic,
    /// Image classification: one score vector per image.
    Classification,
    /// Object detection.
    Detection,
    /// Semantic segmentation: one score map per class.
    Segmentation,
    /// Anomaly detection.
    AnomalyDetection,
    /// Global-context anomaly detection.
    GcAnomalyDetection,
    /// OCR text detection (a text probability map).
    OcrDetection,
    /// OCR text recognition (per-step character probabilities, CTC).
    OcrRecognition,
}

impl ModelType {
    /// Every type, in HALCON's listing order.
    pub const ALL: [ModelType; 8] = [
        ModelType::AnomalyDetection,
        ModelType::Classification,
        ModelType::Detection,
        ModelType::GcAnomalyDetection,
        ModelType::Generic,
        ModelType::OcrDetection,
        ModelType::OcrRecognition,
        ModelType::Segmentation,
    ];

    /// The HALCON name.
    pub fn name(self) -> &'static str {
        match self {
            ModelType::Generic => "generic",
            ModelType::Classification => "classification",
            ModelType::Detection => "detection",
            ModelType::Segmentation => "segmentation",
            ModelType::AnomalyDetection => "anomaly_detection",
            ModelType::GcAnomalyDetection => "gc_anomaly_detection",
            ModelType::OcrDetection => "ocr_detection",
            ModelType::OcrRecognition => "ocr_recognition",
        }
    }

    /// Parses a HALCON name.
    pub fn from_name(name: &str) -> Option<ModelType> {
        ModelType::ALL.into_iter().find(|model_type| model_type.name() == name)
    }

    /// The rank the first graph output must have for this type (`None`: any).
    pub fn required_output_rank(self) -> Option<usize> {
        match self {
            ModelType::Classification => Some(2),
            ModelType::OcrRecognition => Some(3),
            ModelType::Segmentation | ModelType::OcrDetection => Some(4),
            _ => None,
        }
    }
}

impl fmt::Display for ModelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

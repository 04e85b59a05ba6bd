//! The SDK driven as a host drives a plugin: a tiny test plugin exported with
//! `export_plugin!`, called only through `dlopt_ai2_negotiate`, `dlopt_ai2_api` and the raw
//! function table. Checks negotiation, values through sinks, errors, panics and NULL
//! arguments.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Mutex;

use dlopt_ai2::abi::*;
use dlopt_ai2::sdk::{
    ByteCollector, CompileRequest, CompiledModel, DeviceProperty, ErrorCode, GraphSpec, GraphView,
    HostInfo, LogLevel, NodeSpec, Plugin, PluginError, PluginResult, RawGraph, RawValue,
    TensorValue, Value, ValueCollector,
};

/// A plugin with two devices that doubles its f32 input.
struct TestPlugin {
    threads: Mutex<[i64; 2]>,
}

struct Doubler {
    tag: Vec<u8>,
}

impl Plugin for TestPlugin {
    type Compiled = Doubler;

    fn initialize(host: HostInfo) -> PluginResult<Self> {
        if host.name == "refused" {
            return Err(PluginError::device("no device for this host"));
        }
        host.callbacks.log(LogLevel::Info, &format!("hello {} {}", host.name, host.version));
        Ok(TestPlugin { threads: Mutex::new([1, 1]) })
    }

    fn device_count(&self) -> usize {
        2
    }

    fn device_property(&self, device: usize, property: DeviceProperty<'_>) -> PluginResult<Value> {
        Ok(match property {
            DeviceProperty::Name => Value::from(format!("test device {device}")),
            DeviceProperty::Precisions => Value::strings(["float32"]),
            DeviceProperty::SettableDeviceParams => {
                Value::map([("threads", self.threads.lock().unwrap()[device])])
            }
            DeviceProperty::Info => Value::map([
                ("scale", Value::Real(2.0)),
                ("nested", Value::List(vec![Value::empty_map(), Value::strings(["x"])])),
            ]),
            DeviceProperty::Other("test.panic") => panic!("boom in property"),
            DeviceProperty::Other("test.tensor") => Value::Tensor(TensorValue::default()),
            other => return Err(other.unknown()),
        })
    }

    fn set_device_param(&self, device: usize, key: &str, value: &Value) -> PluginResult<()> {
        if key != "threads" {
            return Err(PluginError::unknown_parameter(format!("'{key}' is not settable")));
        }
        match value.as_int() {
            Some(threads @ 1..=8) => {
                self.threads.lock().unwrap()[device] = threads;
                Ok(())
            }
            _ => Err(PluginError::invalid_parameter_value(format!(
                "'threads' must be an integer from 1 to 8, got {value:?}"
            ))),
        }
    }

    fn unsupported_nodes(
        &self,
        _device: usize,
        graph: &GraphView<'_>,
        precision: &str,
    ) -> PluginResult<Vec<(usize, String)>> {
        if precision == "out-of-range" {
            return Ok(vec![(99, "no such node".into())]);
        }
        Ok(graph
            .nodes()
            .iter()
            .enumerate()
            .filter(|(_, node)| node.op_type != "Relu")
            .map(|(at, node)| (at, format!("{} is not Relu", node.op_type)))
            .collect())
    }

    fn compile(&self, request: CompileRequest<'_>) -> PluginResult<Doubler> {
        request.callbacks.progress("compile", 0, 2);
        request.callbacks.check_cancelled("compile")?;
        if request.precision == "panic" {
            std::panic::panic_any(format!("compile panicked with {}", request.options.kind_name()));
        }
        request.callbacks.log(LogLevel::Debug, "compiling");
        request.callbacks.progress("compile", 2, 2);
        let tag =
            request.graph.inputs().next().map(|v| v.name.as_bytes().to_vec()).unwrap_or_default();
        Ok(Doubler { tag })
    }

    fn deserialize(&self, _device: usize, bytes: &[u8]) -> PluginResult<Doubler> {
        match bytes.strip_prefix(b"DBL:") {
            Some(tag) => Ok(Doubler { tag: tag.to_vec() }),
            None => Err(PluginError::incompatible_artifact("not a doubler artifact (wrong magic)")),
        }
    }
}

impl CompiledModel for Doubler {
    fn execute(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> PluginResult<()> {
        let ([input], [output]) = (inputs, outputs) else {
            return Err(PluginError::invalid_argument("one input and one output are needed"));
        };
        if input.len() != output.len() || input.len() % 4 != 0 {
            return Err(PluginError::invalid_argument("buffer sizes differ"));
        }
        for (source, target) in input.chunks_exact(4).zip(output.chunks_exact_mut(4)) {
            let value = f32::from_le_bytes(source.try_into().unwrap()) * 2.0;
            target.copy_from_slice(&value.to_le_bytes());
        }
        Ok(())
    }

    fn serialize(&self) -> PluginResult<Vec<u8>> {
        Ok([b"DBL:".as_slice(), &self.tag].concat())
    }
}

dlopt_ai2::export_plugin!(TestPlugin, "test_plugin", "1.2.3", "test_interface");

/// What the host's callbacks saw.
#[derive(Default)]
struct Seen {
    logs: Vec<(i32, String)>,
    progress: Vec<(String, u64, u64)>,
    cancel: bool,
}

unsafe extern "C" fn on_log(context: *mut c_void, level: i32, message: *const c_char) {
    let seen = unsafe { &mut *context.cast::<Seen>() };
    seen.logs.push((level, unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()));
}

unsafe extern "C" fn on_progress(
    context: *mut c_void,
    stage: *const c_char,
    done: u64,
    total: u64,
) {
    let seen = unsafe { &mut *context.cast::<Seen>() };
    let stage = unsafe { CStr::from_ptr(stage) }.to_string_lossy().into_owned();
    seen.progress.push((stage, done, total));
}

unsafe extern "C" fn on_cancelled(context: *mut c_void) -> i32 {
    unsafe { &*context.cast::<Seen>() }.cancel as i32
}

fn callbacks(seen: &mut Seen) -> DlAi2Callbacks {
    DlAi2Callbacks {
        struct_size: size_of::<DlAi2Callbacks>(),
        context: (seen as *mut Seen).cast(),
        log: Some(on_log),
        progress: Some(on_progress),
        is_cancelled: Some(on_cancelled),
    }
}

fn api() -> &'static DlAi2Api {
    unsafe { &*dlopt_ai2_api(DLOPT_AI2_ABI_MAJOR) }
}

/// Takes an error object: its code and message, freed through the table.
fn take(error: *mut DlAi2Error) -> Option<(ErrorCode, String)> {
    let read = unsafe { PluginError::from_raw(error) };
    unsafe { (api().error_destroy.unwrap())(error) };
    read.map(|error| (error.code, error.message))
}

fn ok(error: *mut DlAi2Error) {
    if let Some((code, message)) = take(error) {
        panic!("unexpected error {code:?}: {message}");
    }
}

/// A host description whose callbacks feed a `Seen` (both leaked: valid until the process
/// ends, as the ABI requires).
fn host(name: &str) -> (&'static DlAi2Host, *mut Seen) {
    let seen: *mut Seen = Box::into_raw(Box::default());
    let callbacks: &'static DlAi2Callbacks = Box::leak(Box::new(callbacks(unsafe { &mut *seen })));
    let host = Box::leak(Box::new(DlAi2Host {
        struct_size: size_of::<DlAi2Host>(),
        host_name: CString::new(name).unwrap().into_raw(),
        host_version: c"0.1.0".as_ptr(),
        callbacks,
    }));
    (host, seen)
}

fn plugin() -> *mut DlAi2Plugin {
    let (host, _) = host("dlopt");
    let mut plugin = null_mut();
    ok(unsafe { (api().initialize.unwrap())(host, &mut plugin) });
    assert!(!plugin.is_null());
    plugin
}

fn property(
    plugin: *mut DlAi2Plugin,
    device: usize,
    key: &str,
) -> Result<Value, (ErrorCode, String)> {
    let key = CString::new(key).unwrap();
    let mut collector = ValueCollector::new();
    let sink = collector.sink();
    match take(unsafe { (api().device_property.unwrap())(plugin, device, key.as_ptr(), &sink) }) {
        Some(error) => Err(error),
        None => Ok(collector.finish().expect("a well-formed value")),
    }
}

#[test]
fn negotiation_accepts_major_1_and_answers_the_common_minor() {
    let (mut major, mut minor) = (9, 9);
    assert_eq!(unsafe { dlopt_ai2_negotiate(1, 0, &mut major, &mut minor) }, 0);
    assert_eq!((major, minor), (1, 0));
    assert_eq!(unsafe { dlopt_ai2_negotiate(1, 7, &mut major, &mut minor) }, 0);
    assert_eq!((major, minor), (1, DLOPT_AI2_ABI_MINOR));
    assert_ne!(unsafe { dlopt_ai2_negotiate(2, 0, &mut major, &mut minor) }, 0);
    assert_ne!(unsafe { dlopt_ai2_negotiate(0, 3, &mut major, &mut minor) }, 0);
    assert_ne!(unsafe { dlopt_ai2_negotiate(1, 0, null_mut(), &mut minor) }, 0);
    assert!(dlopt_ai2_api(2).is_null());
    assert!(dlopt_ai2_api(0).is_null());
}

#[test]
fn the_table_describes_the_plugin() {
    let api = api();
    assert_eq!(api.struct_size, size_of::<DlAi2Api>());
    assert_eq!((api.abi_major, api.abi_minor), (DLOPT_AI2_ABI_MAJOR, DLOPT_AI2_ABI_MINOR));
    let text = |pointer| unsafe { CStr::from_ptr(pointer) }.to_str().unwrap();
    assert_eq!(text(api.plugin_name), "test_plugin");
    assert_eq!(text(api.plugin_version), "1.2.3");
    assert_eq!(text(api.interface_name), "test_interface");
    unsafe { (api.error_destroy.unwrap())(null_mut()) };
    unsafe { (api.compiled_destroy.unwrap())(null_mut()) };
}

#[test]
fn initialize_checks_its_arguments_and_reports_plugin_errors() {
    let initialize = api().initialize.unwrap();
    let mut plugin = null_mut();
    assert_eq!(
        take(unsafe { initialize(null(), &mut plugin) }),
        Some((ErrorCode::InvalidArgument, "host is NULL".into()))
    );
    let (good, _) = host("dlopt");
    assert_eq!(
        take(unsafe { initialize(good, null_mut()) }),
        Some((ErrorCode::InvalidArgument, "plugin is NULL".into()))
    );
    let (refused, _) = host("refused");
    assert_eq!(
        take(unsafe { initialize(refused, &mut plugin) }),
        Some((ErrorCode::Device, "no device for this host".into()))
    );
    assert!(plugin.is_null());
}

#[test]
fn host_log_callbacks_reach_the_host() {
    let (host, seen) = host("dlopt");
    let mut plugin = null_mut();
    ok(unsafe { (api().initialize.unwrap())(host, &mut plugin) });
    let seen = unsafe { &*seen };
    assert_eq!(seen.logs, [(DLOPT_AI2_LOG_INFO, "hello dlopt 0.1.0".to_string())]);
}

#[test]
fn properties_round_trip_through_sinks() {
    let plugin = plugin();
    let mut count = 0;
    ok(unsafe { (api().device_count.unwrap())(plugin, &mut count) });
    assert_eq!(count, 2);
    assert_eq!(property(plugin, 1, "name"), Ok(Value::from("test device 1")));
    assert_eq!(property(plugin, 0, "precisions"), Ok(Value::strings(["float32"])));
    assert_eq!(
        property(plugin, 0, "info"),
        Ok(Value::map([
            ("scale", Value::Real(2.0)),
            ("nested", Value::List(vec![Value::empty_map(), Value::strings(["x"])])),
        ]))
    );
}

#[test]
fn property_errors_name_the_problem() {
    let plugin = plugin();
    assert_eq!(
        property(plugin, 0, "no_such_key"),
        Err((ErrorCode::UnknownParameter, "'no_such_key' is not a device property".into()))
    );
    assert_eq!(
        property(plugin, 2, "name"),
        Err((
            ErrorCode::InvalidArgument,
            "device 2 does not exist: the plugin has 2 device(s)".into()
        ))
    );
    let (code, message) = property(plugin, 0, "test.tensor").unwrap_err();
    assert_eq!(code, ErrorCode::Internal);
    assert!(message.contains("tensor, which a value sink cannot carry"), "{message}");

    let device_property = api().device_property.unwrap();
    let mut collector = ValueCollector::new();
    let sink = collector.sink();
    assert_eq!(
        take(unsafe { device_property(plugin, 0, null(), &sink) }),
        Some((ErrorCode::InvalidArgument, "key is NULL".into()))
    );
    assert_eq!(
        take(unsafe { device_property(plugin, 0, c"name".as_ptr(), null()) }),
        Some((ErrorCode::InvalidArgument, "sink is NULL".into()))
    );
    assert_eq!(
        take(unsafe { device_property(null_mut(), 0, c"name".as_ptr(), &sink) }),
        Some((ErrorCode::InvalidArgument, "plugin is NULL".into()))
    );
    let invalid = [0xffu8, 0];
    assert_eq!(
        take(unsafe { device_property(plugin, 0, invalid.as_ptr().cast(), &sink) }),
        Some((ErrorCode::InvalidArgument, "key is not UTF-8".into()))
    );
}

#[test]
fn panics_become_internal_errors_with_their_message() {
    let plugin = plugin();
    let (code, message) = property(plugin, 0, "test.panic").unwrap_err();
    assert_eq!(code, ErrorCode::Internal);
    assert_eq!(message, "the plugin panicked in device_property: boom in property");

    let graph = RawGraph::new(&relu_graph()).unwrap();
    let args = DlAi2CompileArgs {
        struct_size: size_of::<DlAi2CompileArgs>(),
        device: 0,
        graph: graph.as_ptr(),
        precision: c"panic".as_ptr(),
        options: null(),
        callbacks: null(),
    };
    let mut compiled = null_mut();
    let (code, message) =
        take(unsafe { (api().compile.unwrap())(plugin, &args, &mut compiled) }).unwrap();
    assert_eq!(code, ErrorCode::Internal);
    assert_eq!(message, "the plugin panicked in compile: compile panicked with map");
    assert!(compiled.is_null());
}

#[test]
fn settable_parameters_take_raw_values() {
    let plugin = plugin();
    let set = api().set_device_param.unwrap();
    let four = RawValue::new(&Value::Int(4)).unwrap();
    ok(unsafe { set(plugin, 1, c"threads".as_ptr(), four.as_ptr()) });
    assert_eq!(property(plugin, 1, "settable_device_params"), Ok(Value::map([("threads", 4)])));
    assert_eq!(property(plugin, 0, "settable_device_params"), Ok(Value::map([("threads", 1)])));

    let text = RawValue::new(&Value::from("many")).unwrap();
    let (code, message) =
        take(unsafe { set(plugin, 1, c"threads".as_ptr(), text.as_ptr()) }).unwrap();
    assert_eq!(code, ErrorCode::InvalidParameterValue);
    assert!(message.contains("String(\"many\")"), "{message}");
    let (code, _) = take(unsafe { set(plugin, 1, c"speed".as_ptr(), four.as_ptr()) }).unwrap();
    assert_eq!(code, ErrorCode::UnknownParameter);
    assert_eq!(
        take(unsafe { set(plugin, 1, c"threads".as_ptr(), null()) }),
        Some((ErrorCode::InvalidArgument, "value is NULL".into()))
    );
}

#[test]
fn hostile_values_are_refused_not_followed() {
    let plugin = plugin();
    // A list that contains itself.
    let mut cyclic = Box::new(DlAi2Value {
        kind: DLOPT_AI2_VALUE_LIST,
        integer: 0,
        real: 0.0,
        string: null(),
        count: 1,
        items: null(),
        keys: null(),
        tensor: null(),
    });
    cyclic.items = &*cyclic;
    let (code, message) = take(unsafe {
        (api().set_device_param.unwrap())(plugin, 0, c"threads".as_ptr(), &*cyclic)
    })
    .unwrap();
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert!(message.contains("nested deeper than 64 levels"), "{message}");
    cyclic.kind = 42;
    let (_, message) = take(unsafe {
        (api().set_device_param.unwrap())(plugin, 0, c"threads".as_ptr(), &*cyclic)
    })
    .unwrap();
    assert_eq!(message, "value has the unknown kind 42");
}

fn relu_graph() -> GraphSpec {
    let value = |name: &str| TensorValue {
        name: name.into(),
        dtype: DLOPT_AI2_DTYPE_FLOAT32,
        shape: vec![2],
        data: None,
    };
    GraphSpec {
        opset: 17,
        values: vec![value("x"), value("y"), value("z")],
        nodes: vec![
            NodeSpec {
                name: "a".into(),
                op_type: "Relu".into(),
                inputs: vec![Some(0)],
                outputs: vec![1],
                ..Default::default()
            },
            NodeSpec {
                name: "b".into(),
                op_type: "Tanh".into(),
                inputs: vec![Some(1)],
                outputs: vec![2],
                ..Default::default()
            },
        ],
        inputs: vec![0],
        outputs: vec![2],
        onnx: Vec::new(),
    }
}

unsafe extern "C" fn on_unsupported(context: *mut c_void, node: usize, reason: *const c_char) {
    let found = unsafe { &mut *context.cast::<Vec<(usize, String)>>() };
    found.push((node, unsafe { CStr::from_ptr(reason) }.to_string_lossy().into_owned()));
}

#[test]
fn check_support_reports_nodes_with_reasons() {
    let plugin = plugin();
    let graph = RawGraph::new(&relu_graph()).unwrap();
    let check = api().check_support.unwrap();
    let mut found: Vec<(usize, String)> = Vec::new();
    let context = (&mut found as *mut Vec<(usize, String)>).cast();
    ok(unsafe {
        check(plugin, 0, graph.as_ptr(), c"float32".as_ptr(), context, Some(on_unsupported))
    });
    assert_eq!(found, [(1, "Tanh is not Relu".to_string())]);

    let (code, message) = take(unsafe {
        check(plugin, 0, graph.as_ptr(), c"out-of-range".as_ptr(), context, Some(on_unsupported))
    })
    .unwrap();
    assert_eq!(code, ErrorCode::Internal);
    assert_eq!(message, "the plugin reported node 99, the graph has 2 nodes");
    assert_eq!(
        take(unsafe { check(plugin, 0, graph.as_ptr(), c"float32".as_ptr(), context, None) }),
        Some((ErrorCode::InvalidArgument, "unsupported is NULL".into()))
    );
    assert_eq!(
        take(unsafe {
            check(plugin, 0, null(), c"float32".as_ptr(), context, Some(on_unsupported))
        }),
        Some((ErrorCode::InvalidArgument, "graph is NULL".into()))
    );
}

fn compile_args(
    graph: &RawGraph,
    callbacks: *const DlAi2Callbacks,
    options: *const DlAi2Value,
) -> DlAi2CompileArgs {
    DlAi2CompileArgs {
        struct_size: size_of::<DlAi2CompileArgs>(),
        device: 0,
        graph: graph.as_ptr(),
        precision: c"float32".as_ptr(),
        options,
        callbacks,
    }
}

fn execute(compiled: *mut DlAi2Compiled, input: &[f32]) -> Result<Vec<f32>, (ErrorCode, String)> {
    let mut output = vec![0f32; input.len()];
    let inputs =
        [DlAi2Buffer { data: input.as_ptr().cast_mut().cast(), byte_size: size_of_val(input) }];
    let outputs = [DlAi2Buffer {
        data: output.as_mut_ptr().cast(),
        byte_size: size_of_val(output.as_slice()),
    }];
    match take(unsafe {
        (api().execute.unwrap())(compiled, inputs.as_ptr(), 1, outputs.as_ptr(), 1)
    }) {
        Some(error) => Err(error),
        None => Ok(output),
    }
}

#[test]
fn compile_execute_serialize_and_deserialize() {
    let plugin = plugin();
    let graph = RawGraph::new(&relu_graph()).unwrap();
    let mut seen = Seen::default();
    let callbacks = callbacks(&mut seen);
    let args = compile_args(&graph, &callbacks, null());
    let mut compiled = null_mut();
    ok(unsafe { (api().compile.unwrap())(plugin, &args, &mut compiled) });
    assert_eq!(seen.progress, [("compile".to_string(), 0, 2), ("compile".to_string(), 2, 2)]);
    assert_eq!(seen.logs, [(DLOPT_AI2_LOG_DEBUG, "compiling".to_string())]);
    assert_eq!(execute(compiled, &[1.0, -2.5]), Ok(vec![2.0, -5.0]));

    let mut bytes = ByteCollector::new();
    let sink = bytes.sink();
    ok(unsafe { (api().serialize.unwrap())(compiled, &sink) });
    assert_eq!(bytes.bytes, b"DBL:x");
    let mut refusing = ByteCollector { limit: Some(2), ..Default::default() };
    let sink = refusing.sink();
    let (code, _) = take(unsafe { (api().serialize.unwrap())(compiled, &sink) }).unwrap();
    assert_eq!(code, ErrorCode::OutOfMemory);
    unsafe { (api().compiled_destroy.unwrap())(compiled) };

    let deserialize = api().deserialize.unwrap();
    let mut loaded = null_mut();
    ok(unsafe { deserialize(plugin, 1, bytes.bytes.as_ptr(), bytes.bytes.len(), &mut loaded) });
    assert_eq!(execute(loaded, &[3.0]), Ok(vec![6.0]));
    unsafe { (api().compiled_destroy.unwrap())(loaded) };
    let (code, message) =
        take(unsafe { deserialize(plugin, 0, b"junk".as_ptr(), 4, &mut loaded) }).unwrap();
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::IncompatibleArtifact, "not a doubler artifact (wrong magic)")
    );
    assert!(loaded.is_null());
    assert_eq!(
        take(unsafe { deserialize(plugin, 0, null(), 4, &mut loaded) }),
        Some((ErrorCode::InvalidArgument, "data is NULL but 4 elements are announced".into()))
    );
}

#[test]
fn compile_honours_cancellation_and_checks_arguments() {
    let plugin = plugin();
    let compile = api().compile.unwrap();
    let graph = RawGraph::new(&relu_graph()).unwrap();
    let mut seen = Seen { cancel: true, ..Default::default() };
    let callbacks = callbacks(&mut seen);
    let mut compiled = null_mut();
    let args = compile_args(&graph, &callbacks, null());
    assert_eq!(
        take(unsafe { compile(plugin, &args, &mut compiled) }),
        Some((ErrorCode::Cancelled, "cancelled by the host during compile".into()))
    );
    assert!(compiled.is_null());

    assert_eq!(
        take(unsafe { compile(plugin, null(), &mut compiled) }),
        Some((ErrorCode::InvalidArgument, "args is NULL".into()))
    );
    assert_eq!(
        take(unsafe { compile(plugin, &args, null_mut()) }),
        Some((ErrorCode::InvalidArgument, "compiled is NULL".into()))
    );
    let list = RawValue::new(&Value::List(Vec::new())).unwrap();
    let with_list = compile_args(&graph, null(), list.as_ptr());
    assert_eq!(
        take(unsafe { compile(plugin, &with_list, &mut compiled) }),
        Some((ErrorCode::InvalidArgument, "args->options is a list, a map is needed".into()))
    );
    let mut no_graph = compile_args(&graph, null(), null());
    no_graph.graph = null();
    assert_eq!(
        take(unsafe { compile(plugin, &no_graph, &mut compiled) }),
        Some((ErrorCode::InvalidArgument, "args->graph is NULL".into()))
    );
    // Callbacks beyond a smaller struct_size are absent: the cancelling callback is not seen.
    let mut short = compile_args(&graph, &callbacks, null());
    short.struct_size = std::mem::offset_of!(DlAi2CompileArgs, callbacks);
    ok(unsafe { compile(plugin, &short, &mut compiled) });
    unsafe { (api().compiled_destroy.unwrap())(compiled) };
}

#[test]
fn execute_checks_buffers() {
    let plugin = plugin();
    let graph = RawGraph::new(&relu_graph()).unwrap();
    let mut compiled = null_mut();
    ok(unsafe {
        (api().compile.unwrap())(plugin, &compile_args(&graph, null(), null()), &mut compiled)
    });
    let execute_raw = api().execute.unwrap();
    let mut data = [1f32, 2.0, 3.0, 4.0];
    let whole = DlAi2Buffer { data: data.as_mut_ptr().cast(), byte_size: 16 };
    let half = DlAi2Buffer { data: data[2..].as_mut_ptr().cast(), byte_size: 8 };
    assert_eq!(
        take(unsafe { execute_raw(compiled, &whole, 1, &half, 1) }),
        Some((ErrorCode::InvalidArgument, "outputs[0] overlaps inputs[0]".into()))
    );
    let null_data = DlAi2Buffer { data: null_mut(), byte_size: 8 };
    assert_eq!(
        take(unsafe { execute_raw(compiled, &null_data, 1, &half, 1) }),
        Some((ErrorCode::InvalidArgument, "inputs[0].data is NULL but byte_size is 8".into()))
    );
    assert_eq!(
        take(unsafe { execute_raw(compiled, null(), 1, &half, 1) }),
        Some((ErrorCode::InvalidArgument, "inputs is NULL but 1 elements are announced".into()))
    );
    assert_eq!(
        take(unsafe { execute_raw(null_mut(), &whole, 1, &half, 1) }),
        Some((ErrorCode::InvalidArgument, "compiled is NULL".into()))
    );
    assert_eq!(execute(compiled, &[0.5]), Ok(vec![1.0]));
    unsafe { (api().compiled_destroy.unwrap())(compiled) };
}

#[test]
fn one_plugin_serves_many_threads() {
    let plugin = plugin() as usize;
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for device in 0..4 {
            let failed = &failed;
            scope.spawn(move || {
                for _ in 0..50 {
                    let name = property(plugin as *mut DlAi2Plugin, device % 2, "name");
                    if name != Ok(Value::from(format!("test device {}", device % 2))) {
                        failed.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert!(!failed.load(Ordering::Relaxed));
}

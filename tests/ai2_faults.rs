//! Fault tolerance of the AI² plugin host: misbehaving test plugins (`tests/ai2_plugins/`)
//! that return errors from every call, answer a future ABI major, lack an entry symbol,
//! fail to initialize, write malformed values, compile nothing without an error, or fail
//! to execute, next to a garbage `.so` file and a well-behaved plugin. The host must stay
//! up, report HALCON numbers with the plugin's message, and keep the good plugin usable:
//! a small model runs on it with the native runtime's results.
//!
//! The plugin registry loads once per process, so every scenario runs in a child process:
//! this test binary again, with `DLOPT_AI2_FAULT_SCENARIO` naming the scenario and
//! `DLOPT_AI2_PLUGIN_PATH` pointing at a fresh directory of plugins.

#[path = "ai2_plugins/support.rs"]
mod support;

use std::ffi::{CStr, CString};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use dlopt::device::{self, Device, DlDevice};
use dlopt::dict::{Dict, KeyRef};
use dlopt::error::Result;
use dlopt::ffi::system_ops::get_system;
use dlopt::ffi::tuple_api::{create_tuple_s, destroy_tuple, get_h, get_s, length_tuple};
use dlopt::ffi::types::Htuple;
use dlopt::handle::HandleRef;
use dlopt::model::{DlModel, ModelState, params};
use dlopt::plugin;
use dlopt::tuple::{Element, Tuple};
use dlopt_graph::{DataType, Dim, Graph, Node, Tensor, Value};

const SCENARIO: &str = "DLOPT_AI2_FAULT_SCENARIO";

// ---- the parent side ------------------------------------------------------------------

/// Runs `scenario` in a child process with `path` as `DLOPT_AI2_PLUGIN_PATH` (`None`:
/// unset); returns the child's stderr. Fails with the child's output if it fails.
fn run_scenario(scenario: &str, path: Option<&str>) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "scenario_child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("DLOPT_LOG", "info")
        .env_remove("DLOPT_AI2_PLUGIN_PATH");
    if let Some(path) = path {
        command.env("DLOPT_AI2_PLUGIN_PATH", path);
    }
    let output = command.output().expect("run the scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "scenario {scenario} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    stderr
}

#[test]
fn bad_plugins_are_skipped_with_their_reasons_and_the_good_one_works() {
    let dir = support::plugin_dir(support::TEST_PLUGINS);
    std::fs::write(dir.path().join("libbroken.so"), b"this is not an ELF file").unwrap();
    let log = run_scenario("all_together", Some(dir.path().to_str().unwrap()));
    // The plugins' own log lines reach stderr through the host's callback.
    assert!(log.contains("dlopt_test_good: test_good initialized"), "{log}");
    assert!(log.contains("probing for accelerator cards: none found"), "{log}");
    assert!(log.contains("skipped") && log.contains("libbroken.so"), "{log}");
}

#[test]
fn without_plugins_only_the_native_device_exists() {
    run_scenario("no_plugins", None);
}

#[test]
fn relative_and_empty_path_entries_are_ignored() {
    let log = run_scenario("no_plugins", Some("relative/plugins::"));
    assert!(log.contains("'relative/plugins' is relative and is ignored"), "{log}");
}

#[test]
fn a_second_plugin_with_the_same_interface_is_refused() {
    let first = support::plugin_dir(&["good"]);
    let second = tempfile::tempdir().unwrap();
    std::fs::copy(support::library("good"), second.path().join("libcopy_of_good.so")).unwrap();
    let path = format!(
        "{}:{}:{}",
        first.path().display(),
        second.path().display(),
        first.path().display()
    );
    run_scenario("duplicate", Some(&path));
}

#[test]
fn scenario_child() {
    let Ok(scenario) = std::env::var(SCENARIO) else { return };
    match scenario.as_str() {
        "all_together" => all_together(),
        "no_plugins" => no_plugins(),
        "duplicate" => duplicate(),
        other => panic!("unknown scenario {other}"),
    }
}

// ---- helpers of the child side --------------------------------------------------------

fn text(element: &Element) -> &str {
    match element {
        Element::String(text) => text.as_str(),
        other => panic!("expected a string, got {other}"),
    }
}

fn strings(tuple: &Tuple) -> Vec<&str> {
    tuple.elements().iter().map(text).collect()
}

fn dict_of(tuple: &Tuple) -> Arc<Dict> {
    match tuple.elements() {
        [Element::Handle(handle)] => handle.as_ref().unwrap().object_arc::<Dict>().unwrap(),
        other => panic!("expected one dict handle, got {other:?}"),
    }
}

fn entry(dict: &Dict, key: &str) -> Tuple {
    dict.get_tuple(KeyRef::String(key)).unwrap_or_else(|e| panic!("key {key}: {e}"))
}

/// `get_system(query)` through the C ABI: the code and the elements (handles as dicts'
/// numbers, strings as strings).
fn system(query: &str) -> std::result::Result<Vec<Element>, i32> {
    let query = CString::new(query).unwrap();
    let mut query_tuple = Htuple { data: std::ptr::null_mut() };
    let mut out = Htuple { data: std::ptr::null_mut() };
    unsafe {
        assert_eq!(create_tuple_s(&mut query_tuple, query.as_ptr()), 2);
        let code = get_system(query_tuple, &mut out);
        destroy_tuple(query_tuple);
        if code != 2 {
            assert!(out.data.is_null(), "a failed call wrote its output");
            return Err(code);
        }
        let mut length = 0;
        assert_eq!(length_tuple(out, &mut length), 2);
        let mut elements = Vec::new();
        for at in 0..length {
            let mut text = std::ptr::null();
            let mut number = 0;
            if get_s(out, at, &mut text) == 2 {
                elements.push(Element::string(CStr::from_ptr(text).to_str().unwrap()).unwrap());
            } else {
                assert_eq!(get_h(out, at, &mut number), 2);
                elements.push(Element::handle(HandleRef::from_number(number).unwrap()));
            }
        }
        destroy_tuple(out);
        Ok(elements)
    }
}

/// The `get_system('ai2_plugins')` dict of the plugin file whose name contains `file`.
fn plugin_status(file: &str) -> Arc<Dict> {
    system("ai2_plugins")
        .unwrap()
        .iter()
        .map(|element| dict_of(&Tuple::single(element.clone())))
        .find(|dict| strings(&entry(dict, "path"))[0].contains(file))
        .unwrap_or_else(|| panic!("no plugin record for {file}"))
}

fn query(filters: &[(&str, &[&str])]) -> Result<Vec<Arc<Device>>> {
    let values: Vec<(&str, Vec<Element>)> = filters
        .iter()
        .map(|(name, values)| (*name, values.iter().map(|v| Element::string(v).unwrap()).collect()))
        .collect();
    let filters: Vec<(&str, Vec<&Element>)> =
        values.iter().map(|(name, values)| (*name, values.iter().collect())).collect();
    device::query(&filters)
}

fn only(interface: &str) -> Arc<Device> {
    let found = query(&[("ai_accelerator_interface", &[interface])]).unwrap();
    assert_eq!(found.len(), 1, "devices of {interface}");
    found[0].clone()
}

fn device_tuple(device: &Arc<Device>) -> Tuple {
    Tuple::single(Element::handle(HandleRef::new(DlDevice { device: device.clone() }).unwrap()))
}

fn expect_error<T>(result: Result<T>, code: i32, needle: &str) {
    match result {
        Ok(_) => panic!("expected error {code} ({needle}), got success"),
        Err(error) => {
            assert_eq!(error.code, code, "{}", error.message);
            assert!(error.message.contains(needle), "'{}' lacks '{needle}'", error.message);
        }
    }
}

fn integer(tuple: &Tuple) -> i64 {
    match tuple.elements() {
        [Element::Integer(value)] => *value,
        other => panic!("expected one integer, got {other:?}"),
    }
}

/// x [N, 3, 4, 4] -> Relu -> r; `second` (r, or a constant) -> y = `op`(r, second).
fn model_graph(op: &str, broadcast: bool) -> Graph {
    let mut graph = Graph { name: "tiny".into(), opset: 17, ..Default::default() };
    let x = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(DataType::F32),
        shape: Some(vec![Dim::symbol("N"), Dim::Fixed(3), Dim::Fixed(4), Dim::Fixed(4)]),
        constant: None,
    });
    let r = graph.add_value(Value { name: "r".into(), ..Default::default() });
    let y = graph.add_value(Value { name: "y".into(), ..Default::default() });
    let other = if broadcast {
        graph.add_constant(
            "c".into(),
            Tensor::from_f32(vec![3, 1, 1], vec![0.5, -1.0, 2.0]).unwrap(),
        )
    } else {
        x
    };
    graph.inputs.push(x);
    graph.outputs.push(y);
    graph.nodes.push(Node {
        name: "relu".into(),
        op_type: "Relu".into(),
        inputs: vec![Some(x)],
        outputs: vec![r],
        ..Default::default()
    });
    graph.nodes.push(Node {
        name: op.to_lowercase(),
        op_type: op.into(),
        inputs: vec![Some(r), Some(other)],
        outputs: vec![y],
        ..Default::default()
    });
    graph.check().unwrap();
    graph
}

fn model(op: &str, broadcast: bool) -> DlModel {
    DlModel::new(ModelState::new(model_graph(op, broadcast)).unwrap())
}

fn input(batch: usize, offset: f32) -> Tensor {
    let count = batch * 48;
    Tensor::from_f32(
        vec![batch, 3, 4, 4],
        (0..count).map(|v| v as f32 * 0.25 - 6.0 + offset).collect(),
    )
    .unwrap()
}

fn run(model: &DlModel, tensor: Tensor) -> Result<Vec<Tensor>> {
    model.run_tensor(&model.state(), tensor)
}

fn set_device(model: &DlModel, device: &Arc<Device>) -> Result<()> {
    params::set_param(model, "device", &device_tuple(device))
}

fn vendor_counter(device: &Device, key: &str) -> i64 {
    integer(&device.param(key).unwrap())
}

// ---- scenarios ------------------------------------------------------------------------

fn all_together() {
    check_plugin_statuses();
    check_device_list_and_filters();
    check_good_device_parameters();
    check_error_mapping();
    check_malformed_values();
    check_models_on_the_good_device();
    check_failing_compiles_and_executes();
    // After everything above, the good plugin still works.
    let model = model("Add", false);
    set_device(&model, &only("test_good")).unwrap();
    let native = self::model("Add", false);
    assert_eq!(run(&model, input(1, 0.5)).unwrap(), run(&native, input(1, 0.5)).unwrap());
}

fn check_plugin_statuses() {
    let records = system("ai2_plugins").unwrap();
    assert_eq!(records.len(), 8, "seven test plugins and the garbage file");
    let expect = |file: &str, status: &str, code: i64, reason: &str| {
        let dict = plugin_status(file);
        assert_eq!(strings(&entry(&dict, "status")), [status], "{file}");
        assert_eq!(integer(&entry(&dict, "error_code")), code, "{file}");
        let text = strings(&entry(&dict, "reason"))[0].to_string();
        assert!(text.contains(reason), "{file}: reason '{text}' lacks '{reason}'");
        dict
    };
    let good = expect("libai2_test_good.so", "loaded", 2, "");
    assert_eq!(strings(&entry(&good, "name")), ["dlopt_test_good"]);
    assert_eq!(strings(&entry(&good, "interface")), ["test_good"]);
    assert_eq!(strings(&entry(&good, "version")), ["0.1.0"]);
    assert_eq!(strings(&entry(&good, "abi_version")), ["1.0"]);
    assert_eq!(integer(&entry(&good, "num_devices")), 1);
    expect("libai2_test_errors.so", "loaded", 2, "");
    expect("libai2_test_malformed.so", "loaded", 2, "");
    expect("libai2_test_exec_fails.so", "loaded", 2, "");
    let init = expect("libai2_test_init_fails.so", "failed", 4320, "no accelerator card found");
    assert_eq!(strings(&entry(&init, "interface")), ["test_init_fails"]);
    let future = expect("libai2_test_future_abi.so", "failed", 8603, "answered AI² ABI 2.0");
    assert_eq!(strings(&entry(&future, "abi_version")), ["2.0"]);
    let no_api = expect("libai2_test_no_api.so", "failed", 8602, "dlopt_ai2_api");
    assert!(!no_api.contains_key(KeyRef::String("name")), "the name is unknown without the table");
    expect("libbroken.so", "failed", 8600, "cannot load");

    let path = system("ai2_plugin_path").unwrap();
    let expected = std::env::var("DLOPT_AI2_PLUGIN_PATH").unwrap();
    assert_eq!(text(&path[0]), expected);
    assert!(text(&path[1]).ends_with("dlopt-plugins"));
    assert_eq!(system("ai2_plugins_please").err(), Some(1301));
}

fn check_device_list_and_filters() {
    let all = query(&[]).unwrap();
    // native + good (1) + errors (3) + malformed (1) + exec_fails (1)
    assert_eq!(all.len(), 7);
    assert_eq!(strings(&all[0].param("ai_accelerator_interface").unwrap()), ["none"]);
    let ids: Vec<i64> = all.iter().map(|device| integer(&device.param("id").unwrap())).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6]);

    assert_eq!(
        query(&[("ai_accelerator_interface", &["test_good", "test_exec_fails"])]).unwrap().len(),
        2
    );
    assert_eq!(
        query(&[("ai_accelerator_interface", &["test_good"]), ("type", &["cpu"])]).unwrap().len(),
        1
    );
    assert!(
        query(&[("ai_accelerator_interface", &["test_good"]), ("runtime", &["cpu"])])
            .unwrap()
            .is_empty()
    );
    let cpu = query(&[("runtime", &["cpu"])]).unwrap();
    assert_eq!((cpu.len(), cpu[0].id), (1, 0), "runtime 'cpu' is the native runtime only");
    assert_eq!(query(&[("runtime", &["ai_accelerator"])]).unwrap().len(), 6);
    // The errors plugin fails 'type' and the malformed one writes garbage: neither matches,
    // neither breaks the query.
    let npu = query(&[("type", &["npu"])]).unwrap();
    assert_eq!(npu.len(), 1);
    assert_eq!(strings(&npu[0].param("ai_accelerator_interface").unwrap()), ["test_exec_fails"]);
    assert_eq!(query(&[("precisions", &["float16"])]).unwrap().len(), 1);
    assert_eq!(query(&[("conversion_supported", &["true"])]).unwrap().len(), 1);
    assert_eq!(query(&[("test_good.answer", &["42"])]).unwrap().len(), 0, "42 is an integer");
    let answer = Element::Integer(42);
    assert_eq!(device::query(&[("test_good.answer", vec![&answer])]).unwrap().len(), 1);
    expect_error(query(&[("info", &["x"])]), 1301, "is a dict");
    expect_error(query(&[("colour", &["x"])]), 1301, "unknown device parameter 'colour'");

    // Failed plugins: asking for their interface gives their error, not an empty list.
    expect_error(
        query(&[("ai_accelerator_interface", &["test_init_fails"])]),
        4320,
        "no accelerator card",
    );
    expect_error(
        query(&[("ai_accelerator_interface", &["libai2_test_no_api"])]),
        8602,
        "dlopt_ai2_api",
    );
    expect_error(query(&[("ai_accelerator_interface", &["ai2_test_future_abi"])]), 8603, "ABI 2.0");
    expect_error(query(&[("ai_accelerator_interface", &["broken"])]), 8600, "libbroken.so");
    assert!(query(&[("ai_accelerator_interface", &["no_such_thing"])]).unwrap().is_empty());
    // An alternative that matches wins over a failed one.
    assert_eq!(
        query(&[("ai_accelerator_interface", &["test_init_fails", "test_good"])]).unwrap().len(),
        1
    );
}

fn check_good_device_parameters() {
    let good = only("test_good");
    let param = |name: &str| good.param(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(strings(&param("type")), ["cpu"]);
    assert_eq!(strings(&param("name")), ["Test device (Relu, Add)"]);
    assert_eq!(integer(&param("id")), good.id);
    assert_eq!(strings(&param("runtime")), ["ai_accelerator"]);
    assert_eq!(strings(&param("ai_accelerator_interface")), ["test_good"]);
    assert_eq!(strings(&param("conversion_supported")), ["false"]);
    assert_eq!(strings(&param("precisions")), ["float32"]);
    assert!(param("cast_precisions").is_empty() && param("calibration_precisions").is_empty());
    assert_eq!(strings(&param("inference_only")), ["true"]);
    assert!(dict_of(&param("optimize_for_inference_params")).is_empty());
    let settable = dict_of(&param("settable_device_params"));
    assert_eq!(strings(&entry(&settable, "log_level")), ["warning"]);
    let info = dict_of(&param("info"));
    assert_eq!(strings(&entry(&info, "supported_operators")), ["Relu", "Add"]);
    assert!(matches!(entry(&info, "memory_mb").elements(), [Element::Real(r)] if *r == 0.5));
    assert_eq!(strings(&entry(&info, "ai2_plugin")), ["dlopt_test_good"]);
    assert_eq!(strings(&entry(&info, "ai2_abi_version")), ["1.0"]);
    assert!(strings(&entry(&info, "ai2_plugin_path"))[0].ends_with("libai2_test_good.so"));
    assert_eq!(integer(&param("test_good.answer")), 42);
    expect_error(good.param("colour"), 4321, "unknown device parameter 'colour'");
    expect_error(good.param("test_good.nothing"), 4321, "dlopt_test_good: unknown device property");
    expect_error(good.param("test_exec_fails.live_compiled"), 4321, "unknown device parameter");

    good.set_param("log_level", &Tuple::from_strings(["info"]).unwrap()).unwrap();
    assert_eq!(strings(&entry(&dict_of(&param("settable_device_params")), "log_level")), ["info"]);
    expect_error(
        good.set_param("log_level", &Tuple::from_strings(["loud"]).unwrap()),
        4321,
        "log_level takes",
    );
    expect_error(
        good.set_param("log_level", &Tuple::from_integers([1, 2])),
        4321,
        "log_level takes",
    );
    expect_error(
        good.set_param("threads", &Tuple::from_integers([2])),
        4321,
        "'threads' is not settable",
    );
}

fn check_error_mapping() {
    let errors = query(&[("ai_accelerator_interface", &["test_errors"])]).unwrap();
    assert_eq!(errors.len(), 3);
    let device = &errors[0];
    let failing =
        |name: &str, code: i32, needle: &str| expect_error(device.param(name), code, needle);
    failing("name", 4320, "dlopt_test_errors: property 'name' failed on purpose");
    failing("type", 4320, "property 'type'");
    failing("cast_precisions", 4320, "property 'cast_precisions'");
    failing("conversion_supported", 4320, "property 'cast_precisions'");
    failing("calibration_precisions", 6001, "property 'calibration_precisions'");
    failing("info", 22, "property 'info'");
    failing("settable_device_params", 4321, "property 'settable_device_params'");
    failing("optimize_for_inference_params", 4320, "incompatible compiled artifact");
    failing("test_errors.anything", 4321, "failed on purpose");
    assert_eq!(strings(&device.param("precisions").unwrap()), ["float32"]);
    expect_error(device.set_param("x", &Tuple::from_integers([1])), 4321, "the device is busy");
}

fn check_malformed_values() {
    let device = only("test_malformed");
    let malformed = |name: &str, needle: &str| {
        expect_error(device.param(name), 4320, needle);
        expect_error(device.param(name), 4320, "dlopt_test_malformed");
    };
    malformed("name", "more than one value");
    malformed("type", "end_list was called without begin_list");
    malformed("cast_precisions", "never ended");
    malformed("conversion_supported", "never ended");
    malformed("info", "without write_key");
    malformed("settable_device_params", "must be a map");
    malformed("optimize_for_inference_params", "no value was written");
    malformed("calibration_precisions", "must be a list of strings");
    assert_eq!(strings(&device.param("precisions").unwrap()), ["float32"]);
}

fn check_models_on_the_good_device() {
    let good = only("test_good");
    let native = model("Add", false);
    let on_plugin = model("Add", false);
    set_device(&on_plugin, &good).unwrap();
    assert_eq!(strings(&params::get_param(&on_plugin, "runtime").unwrap()), ["ai_accelerator"]);
    let device_param = params::get_param(&on_plugin, "device").unwrap();
    let Element::Handle(handle) = &device_param.elements()[0] else { panic!() };
    assert_eq!(handle.as_ref().unwrap().object::<DlDevice>().unwrap().device.id, good.id);

    for (batch, offset) in [(1, 0.0), (2, 1.5), (1, -3.0)] {
        let expected = run(&native, input(batch, offset)).unwrap();
        assert_eq!(run(&on_plugin, input(batch, offset)).unwrap(), expected, "batch {batch}");
    }
    assert_eq!(on_plugin.compiled_models(), 2, "one compiled model per input shape");
    assert_eq!(vendor_counter(&good, "test_good.compiles"), 2);
    assert_eq!(vendor_counter(&good, "test_good.live_compiled"), 2);

    // Concurrent applies on one compiled model are serialised (the device does not allow
    // concurrent execution) and give the right results.
    let expected = run(&native, input(1, 0.25)).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(run(&on_plugin, input(1, 0.25)).unwrap(), expected);
                }
            });
        }
    });
    assert_eq!(vendor_counter(&good, "test_good.concurrent_executes"), 0);

    // 'runtime_init' compiles now.
    params::set_param(&on_plugin, "batch_size", &Tuple::from_integers([3])).unwrap();
    params::set_param(&on_plugin, "runtime_init", &Tuple::from_strings(["immediately"]).unwrap())
        .unwrap();
    assert_eq!(vendor_counter(&good, "test_good.compiles"), 3);

    // Back to the native device, by 'device' and by 'runtime': the compiled models go.
    set_device(&on_plugin, device::native_device().unwrap()).unwrap();
    assert_eq!(strings(&params::get_param(&on_plugin, "runtime").unwrap()), ["cpu"]);
    assert_eq!(on_plugin.compiled_models(), 0);
    assert_eq!(vendor_counter(&good, "test_good.live_compiled"), 0);
    assert_eq!(run(&on_plugin, input(1, 0.0)).unwrap(), run(&native, input(1, 0.0)).unwrap());
    set_device(&on_plugin, &good).unwrap();
    assert_eq!(run(&on_plugin, input(1, 0.0)).unwrap(), run(&native, input(1, 0.0)).unwrap());
    params::set_param(&on_plugin, "runtime", &Tuple::from_strings(["cpu"]).unwrap()).unwrap();
    assert_eq!(strings(&params::get_param(&on_plugin, "runtime").unwrap()), ["cpu"]);
    assert_eq!(vendor_counter(&good, "test_good.live_compiled"), 0);

    // The compiled models die with the model.
    set_device(&on_plugin, &good).unwrap();
    run(&on_plugin, input(1, 0.0)).unwrap();
    assert_eq!(vendor_counter(&good, "test_good.live_compiled"), 1);
    drop(on_plugin);
    assert_eq!(vendor_counter(&good, "test_good.live_compiled"), 0);

    // Unsupported nodes are named, with the plugin's reasons.
    let with_mul = model("Mul", false);
    set_device(&with_mul, &good).unwrap();
    expect_error(
        run(&with_mul, input(1, 0.0)),
        4320,
        "node 'mul' (Mul): operator Mul is not supported",
    );
    expect_error(
        run(&with_mul, input(1, 0.0)),
        4320,
        "cannot run 1 node(s) of the model in float32",
    );
    let broadcast = model("Add", true);
    set_device(&broadcast, &good).unwrap();
    expect_error(run(&broadcast, input(1, 0.0)), 4320, "Add with broadcasting is not supported");
    // The same model still runs natively.
    set_device(&broadcast, device::native_device().unwrap()).unwrap();
    run(&broadcast, input(1, 0.0)).unwrap();
}

fn check_failing_compiles_and_executes() {
    let errors = query(&[("ai_accelerator_interface", &["test_errors"])]).unwrap();
    let model = model("Add", false);
    set_device(&model, &errors[0]).unwrap();
    expect_error(run(&model, input(1, 0.0)), 6001, "dlopt_test_errors: no device memory left");
    set_device(&model, &errors[1]).unwrap();
    expect_error(run(&model, input(1, 0.0)), 7960, "float32 is not available on this device");

    set_device(&model, &only("test_malformed")).unwrap();
    expect_error(
        run(&model, input(1, 0.0)),
        4320,
        "compile returned neither a compiled model nor an error",
    );

    let failing = only("test_exec_fails");
    set_device(&model, &failing).unwrap();
    expect_error(run(&model, input(1, 0.0)), 4320, "dlopt_test_exec_fails: the device was lost");
    assert_eq!(vendor_counter(&failing, "test_exec_fails.live_compiled"), 1);
    drop(model);
    assert_eq!(vendor_counter(&failing, "test_exec_fails.live_compiled"), 0);

    // A device that does not run float32 is refused for an unconverted model, at once.
    let model = self::model("Add", false);
    expect_error(
        set_device(&model, &errors[2]),
        7960,
        "does not run 'float32' (its 'precisions': int8)",
    );
    assert_eq!(strings(&params::get_param(&model, "runtime").unwrap()), ["cpu"]);
}

fn no_plugins() {
    assert!(system("ai2_plugins").unwrap().is_empty());
    let path = system("ai2_plugin_path").unwrap();
    assert_eq!(path.len(), 1, "only the folder beside the library");
    assert!(Path::new(text(&path[0])).is_absolute());
    let all = query(&[]).unwrap();
    assert_eq!(all.len(), 1);
    assert!(query(&[("ai_accelerator_interface", &["test_good"])]).unwrap().is_empty());
    assert!(plugin::registry().records.is_empty());
}

fn duplicate() {
    let records = &plugin::registry().records;
    assert_eq!(records.len(), 2, "the directory listed twice is searched once");
    assert!(records[0].outcome.is_ok());
    let error = records[1].outcome.as_ref().err().unwrap();
    assert_eq!(error.code, 8603);
    assert!(
        error.message.contains("interface 'test_good' is already provided by"),
        "{}",
        error.message
    );
    assert_eq!(query(&[("ai_accelerator_interface", &["test_good"])]).unwrap().len(), 1);
}

//! The CPU plugin through its C function table: device enumeration and properties, settable
//! parameters, support checks, compile (progress, cancellation, errors) and execute errors.

mod common;

use common::*;
use dlopt_ai2::sdk::{ErrorCode, GraphSpec, NodeSpec, TensorValue, Value};

#[test]
fn one_device_per_cpu_package() {
    let mut count = 0;
    result(unsafe { (api().device_count.unwrap())(plugin(), &mut count) }).unwrap();
    let packages: std::collections::BTreeSet<String> = std::fs::read_dir("/sys/devices/system/cpu")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|cpu| {
            std::fs::read_to_string(cpu.path().join("topology/physical_package_id")).ok()
        })
        .map(|id| id.trim().to_string())
        .collect();
    assert_eq!(count, packages.len().max(1));
}

#[test]
fn well_known_properties_describe_the_cpu() {
    let name = property("name").unwrap();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(line) = cpuinfo.lines().find(|line| line.starts_with("model name")) {
        assert_eq!(name.as_str(), line.split_once(':').map(|(_, n)| n.trim()));
    }
    assert_eq!(property("type"), Ok(Value::from("cpu")));
    let casts = Value::strings(["float32", "float16", "bfloat16"]);
    let all = Value::strings(["float32", "float16", "bfloat16", "int8"]);
    assert_eq!(property("precisions"), Ok(all));
    assert_eq!(property("cast_precisions"), Ok(casts));
    // int8 is calibrated by the host, which hands the plugin a QDQ graph.
    assert_eq!(property("calibration_precisions"), Ok(Value::strings(["int8"])));
    assert_eq!(property("calibrates_itself"), Ok(Value::Int(0)));
    assert_eq!(property("optimize_for_inference_params"), Ok(Value::empty_map()));
    assert_eq!(property("deterministic"), Ok(Value::Int(1)));
    assert_eq!(property("execute_concurrently"), Ok(Value::Int(1)));
    let settable = property("settable_device_params").unwrap();
    assert!(
        settable.get("num_threads").and_then(Value::as_int).is_some_and(|n| n >= 1),
        "{settable:?}"
    );
    assert!(settable.get("log_level").and_then(Value::as_str).is_some(), "{settable:?}");

    let info = property("info").unwrap();
    let isa: Vec<&str> = info
        .get("isa")
        .and_then(Value::as_list)
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(isa.contains(&"avx2"), std::arch::is_x86_feature_detected!("avx2"));
        assert_eq!(isa.contains(&"avx512f"), std::arch::is_x86_feature_detected!("avx512f"));
        assert_eq!(isa.contains(&"f16c"), std::arch::is_x86_feature_detected!("f16c"));
    }
    for key in ["float16_math", "bfloat16_math"] {
        let text = info.get(key).and_then(Value::as_str).unwrap();
        assert!(text.starts_with("float32 (weights stored as"), "{key}: {text}");
    }
    assert!(info.get("kernels").and_then(Value::as_str).is_some());
}

#[test]
fn unknown_properties_and_devices_are_errors() {
    let (code, message) = property("no_such_property").unwrap_err();
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::UnknownParameter, "'no_such_property' is not a device property")
    );
    assert_eq!(property("dlopt_cpu.vendor").unwrap_err().0, ErrorCode::UnknownParameter);
    let mut collector = dlopt_ai2::sdk::ValueCollector::new();
    let sink = collector.sink();
    let (code, _) =
        take(unsafe { (api().device_property.unwrap())(plugin(), 99, c"name".as_ptr(), &sink) })
            .unwrap();
    assert_eq!(code, ErrorCode::InvalidArgument);
}

#[test]
fn settable_parameters_change_and_refuse_bad_values() {
    let before = property("settable_device_params").unwrap();
    set_param("log_level", &Value::from("debug")).unwrap();
    assert_eq!(
        property("settable_device_params").unwrap().get("log_level"),
        Some(&Value::from("debug"))
    );
    set_param("num_threads", &Value::Int(1)).unwrap();
    assert_eq!(
        property("settable_device_params").unwrap().get("num_threads"),
        Some(&Value::Int(1))
    );

    for (key, value, code) in [
        ("num_threads", Value::Int(0), ErrorCode::InvalidParameterValue),
        ("num_threads", Value::Int(1 << 20), ErrorCode::InvalidParameterValue),
        ("num_threads", Value::from("four"), ErrorCode::InvalidParameterValue),
        ("log_level", Value::from("loud"), ErrorCode::InvalidParameterValue),
        ("log_level", Value::Int(2), ErrorCode::InvalidParameterValue),
        ("batch_size", Value::Int(2), ErrorCode::UnknownParameter),
    ] {
        let (found, message) = set_param(key, &value).unwrap_err();
        assert_eq!(found, code, "{key} = {value:?}: {message}");
        assert!(message.contains(&format!("'{key}'")), "{message}");
    }
    for key in ["num_threads", "log_level"] {
        set_param(key, before.get(key).unwrap()).unwrap();
    }
    assert_eq!(property("settable_device_params").unwrap(), before);
}

#[test]
fn unsupported_operators_are_reported_per_node() {
    let value =
        |name: &str| TensorValue { name: name.into(), dtype: 1, shape: vec![4], data: None };
    let node = |name: &str, op: &str, domain: &str, input, output| NodeSpec {
        name: name.into(),
        op_type: op.into(),
        domain: domain.into(),
        inputs: vec![Some(input)],
        outputs: vec![output],
        ..Default::default()
    };
    let spec = GraphSpec {
        opset: 17,
        values: (0..4).map(|at| value(&format!("v{at}"))).collect(),
        nodes: vec![
            node("relu", "Relu", "", 0, 1),
            node("nms", "NonMaxSuppression", "", 1, 2),
            node("custom", "Foo", "com.vendor", 2, 3),
        ],
        inputs: vec![0],
        outputs: vec![3],
        onnx: Vec::new(),
    };
    assert_eq!(
        check_support(&spec, c"float16").unwrap(),
        [
            (1, "operator NonMaxSuppression is not supported by the CPU plugin".to_string()),
            (
                2,
                "operator Foo of domain 'com.vendor' is not supported by the CPU plugin"
                    .to_string()
            ),
        ]
    );
    let (code, message) = check_support(&spec, c"int4").unwrap_err();
    assert_eq!(code, ErrorCode::Unsupported);
    assert!(message.contains("'int4'"), "{message}");
}

#[test]
fn the_tiny_model_is_fully_supported() {
    let spec = describe(&tiny_model(), &[vec![1, 3, 8, 8]]);
    assert_eq!(check_support(&spec, c"float32").unwrap(), []);
}

#[test]
fn compile_reports_progress_and_matches_the_native_runtime() {
    let onnx = tiny_model();
    let input = seeded_input(vec![2, 3, 8, 8], 7);
    let spec = describe(&onnx, &[input.shape().to_vec()]);
    let mut observer = Observer::default();
    let compiled =
        compile_with(&spec, "float32", &Value::empty_map(), Some(&mut observer)).unwrap();
    let stages: Vec<(u64, u64)> = observer
        .progress
        .iter()
        .map(|(stage, done, total)| {
            assert_eq!(stage, "compile");
            (*done, *total)
        })
        .collect();
    assert_eq!(stages, [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]);
    let outputs = execute(&compiled, &spec, std::slice::from_ref(&input)).unwrap();
    let native = native_outputs(&onnx, &[input]);
    assert_eq!(outputs, native);
}

#[test]
fn cancellation_is_honoured_between_stages() {
    let spec = describe(&tiny_model(), &[vec![1, 3, 8, 8]]);
    for after in 0..5 {
        let mut observer = Observer { cancel_after: Some(after), ..Default::default() };
        let error =
            compile_with(&spec, "float16", &Value::empty_map(), Some(&mut observer)).err().unwrap();
        assert_eq!(error.0, ErrorCode::Cancelled, "{error:?}");
        assert!(error.1.starts_with("cancelled by the host during compile ("), "{}", error.1);
        assert_eq!(observer.progress.len(), after, "stages reported before cancelling");
    }
}

#[test]
fn compile_errors_name_the_problem() {
    let spec = describe(&tiny_model(), &[vec![1, 3, 8, 8]]);
    let error = compile(&spec, "float64").err().unwrap();
    assert_eq!(
        error,
        (
            ErrorCode::Unsupported,
            "precision 'float64' is not one of float32, float16, bfloat16, int8".into()
        )
    );
    let error = compile_with(&spec, "float32", &Value::map([("precision_is_calibrated", 1)]), None)
        .err()
        .unwrap();
    assert_eq!(error.0, ErrorCode::UnknownParameter);
    assert!(error.1.contains("'precision_is_calibrated'"), "{}", error.1);

    let mut no_onnx = spec.clone();
    no_onnx.onnx.clear();
    let error = compile(&no_onnx, "float32").err().unwrap();
    assert_eq!(error.0, ErrorCode::InvalidArgument);
    assert!(error.1.contains("no ONNX bytes"), "{}", error.1);

    let mut wrong_shape = spec.clone();
    wrong_shape.values[wrong_shape.inputs[0]].shape = vec![1, 3, 9, 9];
    let error = compile(&wrong_shape, "float32").err().unwrap();
    assert_eq!(error.0, ErrorCode::InvalidArgument);
    assert!(error.1.contains("input 'x' is declared"), "{}", error.1);

    let mut garbage = spec.clone();
    garbage.onnx = b"not a model".to_vec();
    let error = compile(&garbage, "float32").err().unwrap();
    assert_eq!(error.0, ErrorCode::InvalidArgument);
    assert!(error.1.starts_with("compile: import:"), "{}", error.1);
}

#[test]
fn execute_checks_counts_and_sizes() {
    let spec = describe(&tiny_model(), &[vec![1, 3, 8, 8]]);
    let compiled = compile(&spec, "float32").unwrap();
    let error = execute(&compiled, &spec, &[seeded_input(vec![1, 3, 8, 4], 1)]).unwrap_err();
    assert_eq!(
        error,
        (
            ErrorCode::InvalidArgument,
            "input 0 ('x', f32 [1, 3, 8, 8]) needs 768 bytes, the buffer has 384".into()
        )
    );
    let error = execute(&compiled, &spec, &[]).unwrap_err();
    assert_eq!(
        error,
        (
            ErrorCode::InvalidArgument,
            "the model takes 1 inputs and 1 outputs, 0 and 1 were given".into()
        )
    );
}

#[test]
fn the_same_compile_gives_the_same_artifact() {
    let spec = describe(&tiny_model(), &[vec![1, 3, 8, 8]]);
    for precision in ["float32", "bfloat16"] {
        let first = serialize(&compile(&spec, precision).unwrap()).unwrap();
        let second = serialize(&compile(&spec, precision).unwrap()).unwrap();
        assert!(first == second, "{precision}: two compiles gave different artifacts");
    }
}

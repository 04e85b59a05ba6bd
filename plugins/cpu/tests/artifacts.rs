//! Artifacts through the C table: what they record, that reloading reproduces the model, and
//! that corrupt, truncated or foreign artifacts are refused with INCOMPATIBLE_ARTIFACT and a
//! precise reason (never a crash).

mod common;

use common::*;
use dlopt_ai2::sdk::ErrorCode;
use dlopt_ai2_cpu::artifact::{Artifact, FORMAT_VERSION, decode, encode, fnv1a64};

fn tiny_artifact(precision: &str) -> (Vec<u8>, Vec<u8>) {
    let onnx = tiny_model();
    let spec = describe(&onnx, &[vec![1, 3, 8, 8]]);
    (serialize(&compile(&spec, precision).unwrap()).unwrap(), onnx)
}

fn refused(bytes: &[u8]) -> String {
    match deserialize(bytes) {
        Ok(_) => panic!("an artifact of {} bytes was accepted", bytes.len()),
        Err((code, message)) => {
            assert_eq!(code, ErrorCode::IncompatibleArtifact, "{message}");
            message
        }
    }
}

#[test]
fn artifacts_describe_what_they_hold() {
    let (bytes, onnx) = tiny_artifact("float16");
    assert_eq!(&bytes[..8], b"DLAI2CPU");
    let artifact = decode(&bytes).unwrap();
    assert_eq!(artifact.plugin_name, "dlopt_cpu");
    assert_eq!(artifact.plugin_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(artifact.abi, (1, 0));
    assert_eq!(Some(artifact.cpu_model.as_str()), property("name").unwrap().as_str());
    assert_eq!(artifact.precision, "float16");
    assert_eq!(artifact.source_hash, fnv1a64(&onnx));
    assert_eq!(artifact.inputs[0].shape, [1, 3, 8, 8]);
    assert_eq!(artifact.outputs[0].name, "y");
    assert_eq!(artifact.stored_16bit, ["b", "w"]);
    // The stored graph holds the weights as FLOAT16 tensors.
    let graph = dlopt_graph::onnx::import_model(&artifact.graph).unwrap();
    let w = graph.value_by_name("w").and_then(|id| graph.constant(id)).unwrap();
    assert_eq!(w.data_type(), dlopt_graph::DataType::F16);
}

#[test]
fn reloaded_artifacts_give_identical_outputs() {
    let onnx = tiny_model();
    let input = seeded_input(vec![1, 3, 8, 8], 3);
    let spec = describe(&onnx, &[input.shape().to_vec()]);
    for precision in ["float32", "float16", "bfloat16"] {
        let compiled = compile(&spec, precision).unwrap();
        let expected = execute(&compiled, &spec, std::slice::from_ref(&input)).unwrap();
        let bytes = serialize(&compiled).unwrap();
        drop(compiled);
        let reloaded = deserialize(&bytes).unwrap();
        assert_eq!(
            execute(&reloaded, &spec, std::slice::from_ref(&input)).unwrap(),
            expected,
            "{precision}"
        );
    }
}

#[test]
fn every_truncation_and_every_bit_flip_is_refused() {
    let (bytes, _) = tiny_artifact("bfloat16");
    for length in 0..bytes.len() {
        let message = refused(&bytes[..length]);
        assert!(message.starts_with("truncated artifact"), "{length}: {message}");
    }
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        refused(&flipped);
    }
}

#[test]
fn a_real_artifact_survives_sampled_damage() {
    let Some(cases) = real_cases() else { return };
    let case = cases.iter().find(|case| case.model == "cls").unwrap();
    let spec = describe(&case.onnx, &[case.input.shape().to_vec()]);
    let bytes = serialize(&compile(&spec, "float16").unwrap()).unwrap();
    for length in (0..bytes.len()).step_by(997) {
        assert!(refused(&bytes[..length]).starts_with("truncated artifact"));
    }
    for bit in (0..bytes.len() * 8).step_by(4099) {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        refused(&flipped);
    }
    assert!(refused(&[bytes.as_slice(), &[0]].concat()).contains("header announces"));
    assert!(deserialize(&bytes).is_ok());
}

/// The tiny artifact re-encoded after `change` (a consistent artifact with other fields).
fn altered(change: impl FnOnce(&mut Artifact)) -> Vec<u8> {
    let (bytes, _) = tiny_artifact("float32");
    let mut artifact = decode(&bytes).unwrap();
    change(&mut artifact);
    encode(&artifact)
}

#[test]
fn foreign_and_incompatible_artifacts_say_why() {
    let device = property("name").unwrap().as_str().unwrap().to_string();
    assert_eq!(
        refused(&altered(|a| a.cpu_model = "Imaginary CPU 9000".into())),
        format!(
            "the artifact was compiled for CPU 'Imaginary CPU 9000', this device is '{device}'"
        )
    );
    assert_eq!(
        refused(&altered(|a| a.isa.push("avx1024".into()))),
        "the artifact was compiled for ISA features this CPU lacks: avx1024"
    );
    assert_eq!(
        refused(&altered(|a| a.plugin_name = "other_plugin".into())),
        "the artifact was made by plugin 'other_plugin', not dlopt_cpu"
    );
    assert_eq!(
        refused(&altered(|a| a.abi = (2, 0))),
        "the artifact was made for AI² ABI 2.0, this plugin speaks 1.0"
    );
    assert_eq!(
        refused(&altered(|a| a.precision = "float8".into())),
        "the artifact has the unknown precision 'float8'"
    );
    let message = refused(&altered(|a| a.graph = b"not a graph".to_vec()));
    assert!(
        message
            .starts_with("the artifact's graph cannot be loaded: deserialize: the compiled graph"),
        "{message}"
    );
    let message = refused(&altered(|a| a.stored_16bit.push("nothing".into())));
    assert!(message.contains("stored weights are missing"), "{message}");

    let mut newer = altered(|_| {});
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(refused(&newer), "artifact format version 2, this dlopt_cpu reads version 1");
    assert_eq!(refused(b"\x89PNG\r\n\x1a\n...."), "not a dlopt_cpu artifact (wrong magic bytes)");
    let mut corrupt = altered(|_| {});
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x10;
    assert!(refused(&corrupt).starts_with("corrupt artifact: checksum mismatch"));
}

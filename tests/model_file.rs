//! dlopt's model file format: lossless round trips, and hostile files (truncated, bit-flipped,
//! giant lengths, newer versions) give HALCON errors, never a panic or a huge allocation.
//!
//! With `DLOPT_FUZZ_SEEDS_DIR` set, the test also writes its valid file there as a fuzzing seed
//! (fuzz target `model_file`, see fuzz/Cargo.toml).

use dlopt::error::{H_ERR_DL_FILE_READ, H_ERR_DL_FILE_WRONG_VERSION};
use dlopt::model::file::{decode, encode};
use dlopt::model::{DlModel, ModelState};
use dlopt_graph::{DataType, Dim, Graph, Node, Tensor, Value};

/// x [N, 3, 4, 4] -> Mul(w) -> Relu -> y, with metadata.
fn small_graph() -> Graph {
    let mut graph = Graph { name: "small".into(), opset: 17, ..Default::default() };
    let x = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(DataType::F32),
        shape: Some(vec![Dim::symbol("N"), Dim::Fixed(3), Dim::Fixed(4), Dim::Fixed(4)]),
        constant: None,
    });
    let w = graph
        .add_constant("w".into(), Tensor::from_f32(vec![3, 1, 1], vec![0.5, -1.0, 2.0]).unwrap());
    let scaled = graph.add_value(Value { name: "scaled".into(), ..Default::default() });
    let y = graph.add_value(Value { name: "y".into(), ..Default::default() });
    graph.inputs.push(x);
    graph.outputs.push(y);
    graph.nodes.push(Node {
        name: "mul".into(),
        op_type: "Mul".into(),
        inputs: vec![Some(x), Some(w)],
        outputs: vec![scaled],
        ..Default::default()
    });
    graph.nodes.push(Node {
        name: "relu".into(),
        op_type: "Relu".into(),
        inputs: vec![Some(scaled)],
        outputs: vec![y],
        ..Default::default()
    });
    graph.metadata.push(("author".into(), "dlopt tests".into()));
    graph.check().unwrap();
    graph
}

fn valid_file() -> Vec<u8> {
    let model = DlModel::new(ModelState::new(small_graph()).unwrap());
    model
        .update(|state| {
            state.batch_size = 3;
            state.class_names = vec!["a".into(), "b".into()];
            state.image_range = (0.0, 255.0);
            Ok(())
        })
        .unwrap();
    encode(&model.state()).unwrap()
}

#[test]
fn a_model_file_round_trips_losslessly() {
    let bytes = valid_file();
    if let Some(dir) = std::env::var_os("DLOPT_FUZZ_SEEDS_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join("small.hdl"), &bytes).unwrap();
    }
    let model = decode(&bytes).unwrap();
    let state = model.state();
    assert_eq!(state.batch_size, 3);
    assert_eq!(state.class_names, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(state.image_range, (0.0, 255.0));
    assert_eq!(state.graph.nodes.len(), 2);
    assert!(state.meta_data.iter().any(|(key, _)| key.to_string() == "'author'"));
    // Encoding the decoded model gives the same bytes: nothing is lost or reordered.
    assert_eq!(encode(&state).unwrap(), bytes);
    let input =
        Tensor::from_f32(vec![1, 3, 4, 4], (0..48).map(|v| v as f32 - 20.0).collect()).unwrap();
    let original = DlModel::new(ModelState::new(small_graph()).unwrap());
    let expected = original.run_tensor(&original.state(), input.clone()).unwrap();
    assert_eq!(model.run_tensor(&state, input).unwrap(), expected);
}

fn expect_read_error(bytes: &[u8], what: &str) {
    match std::panic::catch_unwind(|| decode(bytes)) {
        Ok(Ok(_)) => panic!("{what}: accepted"),
        Ok(Err(error)) => assert!(
            [H_ERR_DL_FILE_READ, H_ERR_DL_FILE_WRONG_VERSION, dlopt::error::H_ERR_DL_READ_ONNX]
                .contains(&error.code),
            "{what}: error {} ({})",
            error.code,
            error.message
        ),
        Err(_) => panic!("{what}: panicked"),
    }
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let bytes = valid_file();
    for length in 0..bytes.len() {
        expect_read_error(&bytes[..length], &format!("truncated to {length} bytes"));
    }
}

#[test]
fn every_flipped_bit_is_detected() {
    let bytes = valid_file();
    // Bytes 10 and 11 hold the minor version: a newer minor version is read by design.
    for at in (0..bytes.len()).filter(|at| !(10..12).contains(at)) {
        for bit in [0, 3, 7] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= 1 << bit;
            expect_read_error(&corrupt, &format!("bit {bit} of byte {at} flipped"));
        }
    }
}

#[test]
fn giant_lengths_and_newer_versions_are_refused_cleanly() {
    let mut bytes = valid_file();
    // The first section's length field (after the 16-byte header and the 4-byte tag).
    bytes[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_read_error(&bytes, "giant section length");
    let mut newer = valid_file();
    newer[8] = 2;
    newer[10..12].copy_from_slice(&0u16.to_le_bytes());
    let error = decode(&newer).err().unwrap();
    assert_eq!(error.code, H_ERR_DL_FILE_WRONG_VERSION);
    assert!(error.message.contains("2.0"), "{}", error.message);
}

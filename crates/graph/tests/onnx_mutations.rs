//! The stable-Rust stand-in for the cargo-fuzz target `onnx_import` (see `fuzz/`): the
//! importer runs on tens of thousands of deterministic mutations of the test models, of
//! their bytes and of their protobuf structure. It must never panic, and whatever it accepts
//! must be a consistent graph that export and import reproduce.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use dlopt_graph::onnx::proto::{ModelProto, NodeProto, TensorProto};
use dlopt_graph::{Graph, export_model, import_model};

/// How the importer treated the mutations.
#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    /// Refused by protobuf decoding.
    undecodable: usize,
    /// Decoded, then refused by the importer's own checks.
    refused: usize,
    /// Descriptions of the cases that panicked or broke an invariant.
    failures: Vec<String>,
}

/// Node names and op types, and the names of each node's inputs and outputs.
fn structure(graph: &Graph) -> Vec<(String, String, Vec<String>)> {
    let name = |id: dlopt_graph::ValueId| graph.value(id).name.clone();
    graph
        .nodes
        .iter()
        .map(|node| {
            let values = node
                .inputs
                .iter()
                .map(|input| input.map_or_else(String::new, name))
                .chain(node.outputs.iter().map(|&id| name(id)));
            (node.name.clone(), node.op_type.clone(), values.collect())
        })
        .collect()
}

/// Imports `bytes`; an accepted graph must pass `check` and survive export and import.
fn import_and_verify(bytes: &[u8]) -> std::result::Result<(), String> {
    let graph = match import_model(bytes) {
        Ok(graph) => graph,
        Err(error) => return Err(error.message),
    };
    graph
        .check()
        .map_err(|error| format!("INVARIANT: accepted graph fails check: {}", error.message))?;
    let exported = export_model(&graph)
        .map_err(|error| format!("INVARIANT: export failed: {}", error.message))?;
    let again = import_model(&exported)
        .map_err(|error| format!("INVARIANT: re-import failed: {}", error.message))?;
    if structure(&graph) != structure(&again) || graph.values.len() != again.values.len() {
        return Err("INVARIANT: re-import changed the graph".into());
    }
    Ok(())
}

impl Tally {
    fn run(&mut self, bytes: &[u8], case: impl FnOnce() -> String) {
        match catch_unwind(AssertUnwindSafe(|| import_and_verify(bytes))) {
            Ok(Ok(())) => self.accepted += 1,
            Ok(Err(message)) if message.starts_with("INVARIANT") => {
                self.failures.push(format!("{}: {message}", case()))
            }
            Ok(Err(message)) if message.starts_with("the file is not a readable ONNX model") => {
                self.undecodable += 1
            }
            Ok(Err(_)) => self.refused += 1,
            Err(_) => self.failures.push(format!("{}: panicked", case())),
        }
    }
}

const INTERESTING_BYTES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08];

/// One random change of the bytes.
fn mutate_bytes(bytes: &mut Vec<u8>, random: &mut SplitMix64) {
    if bytes.is_empty() {
        bytes.push(0);
    }
    let at = random.below(bytes.len());
    let span = 1 + random.below(16.min(bytes.len() - at));
    match random.below(6) {
        0 => bytes[at] ^= 1 << random.below(8),
        1 => bytes[at] = INTERESTING_BYTES[random.below(INTERESTING_BYTES.len())],
        2 => {
            bytes.drain(at..at + span);
        }
        3 => {
            let copy = bytes[at..at + span].to_vec();
            let to = random.below(bytes.len() + 1);
            bytes.splice(to..to, copy);
        }
        4 => bytes.truncate(at),
        _ => {
            let noise: Vec<u8> = (0..span).map(|_| random.next_u64() as u8).collect();
            bytes.splice(at..at, noise);
        }
    }
}

const INTERESTING_NUMBERS: [i64; 10] =
    [-1, 0, 1, 2, 3, 33, 255, 1 << 31, 1_000_000_000_000, i64::MAX];

fn pick<T: Clone>(items: &[T], random: &mut SplitMix64) -> Option<T> {
    (!items.is_empty()).then(|| items[random.below(items.len())].clone())
}

fn mutate_tensor(tensor: &mut TensorProto, random: &mut SplitMix64) {
    match random.below(4) {
        0 if !tensor.dims.is_empty() => {
            let at = random.below(tensor.dims.len());
            tensor.dims[at] = INTERESTING_NUMBERS[random.below(INTERESTING_NUMBERS.len())];
        }
        1 => tensor.data_type = random.below(26) as i32,
        2 => {
            if let Some(raw) = &mut tensor.raw_data {
                raw.truncate(random.below(raw.len() + 1));
            } else {
                tensor.float_data.push(1.0);
            }
        }
        _ => tensor.dims.push(INTERESTING_NUMBERS[random.below(INTERESTING_NUMBERS.len())]),
    }
}

/// All value names the model mentions, plus a few that it does not.
fn value_names(model: &ModelProto) -> Vec<String> {
    let mut names = vec![String::new(), "ghost".to_string()];
    if let Some(graph) = &model.graph {
        names.extend(graph.initializer.iter().map(|tensor| tensor.name.clone()));
        names.extend(graph.input.iter().map(|info| info.name.clone()));
        names.extend(graph.node.iter().flat_map(|node| node.output.iter().cloned()));
    }
    names
}

fn mutate_node(node: &mut NodeProto, names: &[String], random: &mut SplitMix64) {
    match random.below(6) {
        0 if !node.input.is_empty() => {
            let at = random.below(node.input.len());
            node.input[at] = pick(names, random).unwrap_or_default();
        }
        1 if !node.output.is_empty() => {
            let at = random.below(node.output.len());
            node.output[at] = pick(names, random).unwrap_or_default();
        }
        2 => node.op_type = ["Constant", "", "Relu", "If"][random.below(4)].to_string(),
        3 if !node.attribute.is_empty() => {
            let at = random.below(node.attribute.len());
            node.attribute[at].r#type = random.below(16) as i32;
        }
        4 => node.attribute.push(attr_tensor("value", raw_f32_tensor("", &[2], &[1.0, 2.0]))),
        _ => node.name = pick(names, random).unwrap_or_default(),
    }
}

/// One random change of the model's structure.
fn mutate_model(model: &mut ModelProto, random: &mut SplitMix64) {
    let names = value_names(model);
    if random.below(10) == 0 {
        if let Some(opset) = model.opset_import.first_mut() {
            opset.version = random.below(25) as i64;
        }
        return;
    }
    let Some(graph) = model.graph.as_mut() else { return };
    match random.below(7) {
        0 => {
            let count = graph.initializer.len();
            if count > 0 {
                mutate_tensor(&mut graph.initializer[random.below(count)], random);
            }
        }
        1 | 2 => {
            let count = graph.node.len();
            if count > 0 {
                mutate_node(&mut graph.node[random.below(count)], &names, random);
            }
        }
        3 if graph.node.len() > 1 => {
            let (a, b) = (random.below(graph.node.len()), random.below(graph.node.len()));
            graph.node.swap(a, b);
        }
        4 => {
            if let Some(copy) = pick(&graph.node, random) {
                graph.node.push(copy);
            }
        }
        5 => {
            let elem_type = random.below(17) as i32;
            let dims = vec![
                dim_value(INTERESTING_NUMBERS[random.below(INTERESTING_NUMBERS.len())]),
                dim_param("N"),
            ];
            let declaration =
                value_info(&pick(&names, random).unwrap_or_default(), elem_type, dims);
            match random.below(3) {
                0 => graph.input.push(declaration),
                1 => graph.output.push(declaration),
                _ => graph.value_info.push(declaration),
            }
        }
        _ => {
            if !graph.node.is_empty() {
                let at = random.below(graph.node.len());
                graph.node.remove(at);
            }
        }
    }
}

fn seeds() -> Vec<ModelProto> {
    vec![conv_relu_model(), constant_model()]
}

#[test]
fn byte_mutations_never_panic() {
    let mut tally = Tally::default();
    let mut random = SplitMix64::new(0x5eed_0001);
    for (seed_index, seed) in seeds().iter().enumerate() {
        let original = encode(seed);
        for case in 0..10_000 {
            let mut bytes = original.clone();
            for _ in 0..1 + random.below(2) {
                mutate_bytes(&mut bytes, &mut random);
            }
            tally.run(&bytes, || format!("seed model {seed_index}, byte case {case}"));
        }
    }
    assert!(
        tally.failures.is_empty(),
        "{} failures, first: {:?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(5)]
    );
    // The mutations must exercise all three outcomes, or they test too little.
    eprintln!("{tally:?}");
    assert!(tally.accepted > 500 && tally.undecodable > 500 && tally.refused > 500, "{tally:?}");
}

#[test]
fn structural_mutations_never_panic() {
    let mut tally = Tally::default();
    let mut random = SplitMix64::new(0x5eed_0002);
    for (seed_index, seed) in seeds().iter().enumerate() {
        for case in 0..5_000 {
            let mut model = seed.clone();
            for _ in 0..1 + random.below(4) {
                mutate_model(&mut model, &mut random);
            }
            tally.run(&encode(&model), || {
                format!("seed model {seed_index}, structural case {case}: {model:?}")
            });
        }
    }
    assert!(
        tally.failures.is_empty(),
        "{} failures, first: {:?}",
        tally.failures.len(),
        &tally.failures[..tally.failures.len().min(3)]
    );
    eprintln!("{tally:?}");
    assert!(tally.accepted > 500 && tally.refused > 2000, "{tally:?}");
}

/// Writes the seed models as a corpus for the cargo-fuzz target when
/// `DLOPT_FUZZ_SEEDS_DIR` names a directory (see `fuzz/Cargo.toml`); does nothing otherwise.
#[test]
fn fuzz_seed_corpus_is_written_on_request() {
    let Some(dir) = std::env::var_os("DLOPT_FUZZ_SEEDS_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (index, seed) in seeds().iter().enumerate() {
        let path = dir.join(format!("seed_model_{index}.onnx"));
        std::fs::write(&path, encode(seed)).unwrap();
        assert!(import_model(&std::fs::read(&path).unwrap()).is_ok(), "{}", path.display());
    }
}

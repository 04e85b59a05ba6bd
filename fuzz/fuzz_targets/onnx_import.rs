//! Fuzz target: `dlopt_graph::onnx::import_model` on arbitrary bytes must never panic, and a
//! graph it accepts must be consistent and survive export and import.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = dlopt_graph::onnx::import_model(data) {
        graph.check().expect("an imported graph passes Graph::check");
        let exported =
            dlopt_graph::onnx::export_model(&graph).expect("an imported graph can be exported");
        let again =
            dlopt_graph::onnx::import_model(&exported).expect("an exported graph can be imported");
        assert_eq!(graph.nodes.len(), again.nodes.len());
        assert_eq!(graph.values.len(), again.values.len());
    }
});

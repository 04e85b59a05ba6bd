//! ONNX export: the written model is valid for dlopt's importer and reproduces the graph.

mod common;

use common::*;
use dlopt_graph::onnx::proto::ModelProto;
use dlopt_graph::onnx::{EXPORT_IR_VERSION, export_model_proto};
use dlopt_graph::{
    Attribute, DataType, Dim, ErrorKind, Graph, Node, Tensor, TensorData, Value, export_model,
    import_model,
};
use half::{bf16, f16};
use prost::Message;

fn round_trip(graph: &Graph) -> Graph {
    let bytes = export_model(graph).unwrap_or_else(|error| panic!("export: {}", error.message));
    import_model(&bytes)
        .unwrap_or_else(|error| panic!("re-import: {:?}: {}", error.kind, error.message))
}

#[test]
fn imported_models_survive_export_and_import() {
    for model in [conv_relu_model(), constant_model()] {
        let graph = import_model(&encode(&model)).unwrap();
        assert_same_graph(&graph, &round_trip(&graph));
    }
}

#[test]
fn the_exported_model_declares_version_opset_and_raw_initializers() {
    let graph = import_model(&encode(&conv_relu_model())).unwrap();
    let model = ModelProto::decode(&export_model(&graph).unwrap()[..]).unwrap();
    assert_eq!(model.ir_version, EXPORT_IR_VERSION);
    assert_eq!(model.producer_name, "dlopt");
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!((model.opset_import[0].domain.as_str(), model.opset_import[0].version), ("", 13));
    let proto = model.graph.unwrap();
    assert!(
        proto
            .initializer
            .iter()
            .all(|tensor| tensor.raw_data.is_some() && tensor.float_data.is_empty())
    );
    let bias = proto.initializer.iter().find(|tensor| tensor.name == "B").unwrap();
    assert_eq!(
        bias.raw_data.as_deref().unwrap(),
        [0.5f32.to_le_bytes(), (-1.0f32).to_le_bytes()].concat()
    );
    let inputs: Vec<&str> = proto.input.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(inputs, ["x"], "constants are initializers only");
    let intermediates: Vec<&str> = proto.value_info.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(intermediates, ["conv_out"]);
    assert_eq!(model.metadata_props.len(), 2);
}

/// A graph built with the IR's API: every element type, every attribute kind, an omitted
/// optional input, a custom domain, symbolic and unknown shapes.
fn handmade_graph() -> Graph {
    let mut graph = Graph { name: "handmade".into(), opset: 21, ..Graph::default() };
    graph.metadata = vec![("k".into(), "v".into()), ("k".into(), "second".into())];
    let x = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(DataType::F16),
        shape: Some(vec![Dim::symbol("batch"), Dim::Fixed(4)]),
        constant: None,
    });
    graph.inputs.push(x);
    let constants = [
        Tensor::from_f32(vec![2, 2], vec![1.0, -2.0, 3.5, 0.0]).unwrap(),
        Tensor::new(vec![4], TensorData::F16(vec![f16::from_f32(0.5); 4])).unwrap(),
        Tensor::new(vec![1], TensorData::BF16(vec![bf16::from_f32(2.0)])).unwrap(),
        Tensor::new(vec![2], TensorData::I8(vec![-1, 1])).unwrap(),
        Tensor::new(vec![2], TensorData::U8(vec![0, 200])).unwrap(),
        Tensor::new(vec![], TensorData::I32(vec![-5])).unwrap(),
        Tensor::from_i64(vec![0], vec![]).unwrap(),
        Tensor::new(vec![3], TensorData::Bool(vec![true, false, true])).unwrap(),
    ];
    let constant_ids: Vec<_> = constants
        .into_iter()
        .enumerate()
        .map(|(at, tensor)| graph.add_constant(format!("c{at}"), tensor))
        .collect();
    let mid = graph.add_value(Value {
        name: "mid".into(),
        shape: Some(vec![Dim::symbol("batch"), Dim::Fixed(4)]),
        ..Value::default()
    });
    let y = graph.add_value(Value {
        name: "y".into(),
        data_type: Some(DataType::F16),
        ..Value::default()
    });
    let mut fused = Node {
        name: "fused".into(),
        op_type: "FusedThing".into(),
        domain: "dlopt".into(),
        inputs: vec![Some(x), None, Some(constant_ids[1])],
        outputs: vec![mid],
        ..Node::default()
    };
    fused.attributes.set("alpha", Attribute::Float(0.125));
    fused.attributes.set("axis", Attribute::Int(-1));
    fused.attributes.set("mode", Attribute::String("linear".into()));
    fused
        .attributes
        .set("table", Attribute::Tensor(Tensor::from_i64(vec![2], vec![7, 8]).unwrap()));
    fused.attributes.set("scales", Attribute::Floats(vec![1.0, 0.5]));
    fused.attributes.set("pads", Attribute::Ints(vec![0, 1]));
    fused.attributes.set("names", Attribute::Strings(vec!["a".into(), "b".into()]));
    graph.nodes.push(fused);
    graph.nodes.push(Node {
        name: "add".into(),
        op_type: "Add".into(),
        inputs: vec![Some(mid), Some(constant_ids[1])],
        outputs: vec![y],
        ..Node::default()
    });
    graph.outputs.push(y);
    graph.outputs.push(constant_ids[0]);
    graph.check().unwrap();
    graph
}

#[test]
fn a_handmade_graph_survives_export_and_import() {
    let graph = handmade_graph();
    let again = round_trip(&graph);
    assert_same_graph(&graph, &again);
    // Unused constants are kept too.
    assert!(again.constant(again.value_by_name("c7").unwrap()).is_some());
    let model = ModelProto::decode(&export_model(&graph).unwrap()[..]).unwrap();
    let domains: Vec<(&str, i64)> =
        model.opset_import.iter().map(|o| (o.domain.as_str(), o.version)).collect();
    assert_eq!(domains, [("", 21), ("dlopt", 1)]);
}

#[test]
fn inconsistent_graphs_and_unsupported_opsets_are_not_exported() {
    let mut graph = handmade_graph();
    graph.nodes.reverse();
    let error = export_model(&graph).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidModel);
    assert!(
        error.message.starts_with("the graph cannot be exported: node 'add' (Add) uses 'mid'"),
        "{}",
        error.message
    );

    let mut graph = handmade_graph();
    graph.inputs.push(graph.inputs[0]);
    let error = export_model(&graph).unwrap_err();
    assert!(error.message.ends_with("graph input 'x' is listed twice"), "{}", error.message);

    let mut graph = handmade_graph();
    graph.values[0].name.clear();
    let error = export_model(&graph).unwrap_err();
    assert!(error.message.ends_with("value 0 has no name"), "{}", error.message);

    let mut graph = handmade_graph();
    graph.opset = 0;
    let error = export_model_proto(&graph).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("opset 0"), "{}", error.message);
}

#[test]
fn the_default_domain_spelled_ai_onnx_is_not_declared_twice() {
    let mut graph = handmade_graph();
    graph.nodes[1].domain = "ai.onnx".into();
    let model = ModelProto::decode(&export_model(&graph).unwrap()[..]).unwrap();
    let domains: Vec<&str> = model.opset_import.iter().map(|o| o.domain.as_str()).collect();
    assert_eq!(domains, ["", "dlopt"]);
    assert_eq!(round_trip(&graph).nodes[1].domain, "");
}

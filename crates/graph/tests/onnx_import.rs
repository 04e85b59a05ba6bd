//! ONNX import of well-formed models: what the IR holds afterwards.

mod common;

use common::*;
use dlopt_graph::onnx::proto::{
    AttributeProto, GraphProto, OperatorSetIdProto, TypeProto, TypeProtoValue, attribute_type,
};
use dlopt_graph::shape::format_shape;
use dlopt_graph::{Attribute, DataType, Dim, ErrorKind, Graph, TensorData, import_model};

fn import(model: &dlopt_graph::onnx::proto::ModelProto) -> Graph {
    let graph = import_model(&encode(model))
        .unwrap_or_else(|error| panic!("{:?}: {}", error.kind, error.message));
    graph.check().unwrap();
    graph
}

fn shape_of(graph: &Graph, name: &str) -> String {
    let id = graph.value_by_name(name).unwrap_or_else(|| panic!("no value '{name}'"));
    format_shape(graph.value(id).shape.as_ref().unwrap())
}

#[test]
fn conv_relu_keeps_weights_types_shapes_and_metadata() {
    let graph = import(&conv_relu_model());
    assert_eq!(graph.name, "conv_relu");
    assert_eq!(graph.opset, 13);
    // W is listed as an input too, but it is an initializer: a constant, not an input.
    let inputs: Vec<&str> = graph.inputs.iter().map(|&id| graph.value(id).name.as_str()).collect();
    assert_eq!(inputs, ["x"]);
    let x = graph.value(graph.inputs[0]);
    assert_eq!(x.data_type, Some(DataType::F32));
    assert_eq!(
        x.shape,
        Some(vec![Dim::symbol("N"), Dim::Fixed(1), Dim::Fixed(5), Dim::symbol("width")])
    );

    let weights = graph.constant(graph.value_by_name("W").unwrap()).unwrap();
    assert_eq!(weights.shape(), [2, 1, 3, 3]);
    assert_eq!(weights.as_f32().unwrap(), conv_weights());
    let bias = graph.constant(graph.value_by_name("B").unwrap()).unwrap();
    assert_eq!(bias.as_f32().unwrap(), [0.5, -1.0]);

    let names: Vec<(&str, &str)> =
        graph.nodes.iter().map(|n| (n.name.as_str(), n.op_type.as_str())).collect();
    assert_eq!(names, [("conv", "Conv"), ("relu", "Relu")]);
    let conv = &graph.nodes[0];
    let conv_inputs: Vec<&str> =
        conv.inputs.iter().map(|i| graph.value(i.unwrap()).name.as_str()).collect();
    assert_eq!(conv_inputs, ["x", "W", "B"]);
    assert_eq!(conv.attributes.ints("pads").unwrap(), Some(&[1, 1, 1, 1][..]));
    assert_eq!(graph.nodes[1].inputs, vec![Some(conv.outputs[0])]);

    // value_info gives the intermediate's shape; its unknown dimension gets its own name.
    assert_eq!(shape_of(&graph, "conv_out"), "[N, 2, conv_out_dim2, width]");
    assert_eq!(shape_of(&graph, "y"), "[N, 2, 5, width]");
    assert_eq!(graph.value(graph.outputs[0]).name, "y");
    assert_eq!(
        graph.metadata,
        [("character".to_string(), "a\nb\nc".to_string()), ("author".into(), "tests".into())]
    );
}

#[test]
fn constant_nodes_become_constants_and_nodes_are_sorted() {
    let graph = import(&constant_model());
    // File order is Mul, Reshape, Add; unnamed nodes are named after op type and file index.
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["Add_2", "reshape", "Mul_0"]);
    assert!(graph.nodes.iter().all(|node| node.op_type != "Constant"));

    let constant = |name: &str| graph.constant(graph.value_by_name(name).unwrap()).unwrap().clone();
    let offset = constant("offset");
    assert_eq!((offset.shape(), offset.as_f32().unwrap()), (&[2][..], &[1.0, 2.0][..]));
    let shape = constant("shape");
    assert_eq!((shape.shape(), shape.as_i64().unwrap()), (&[2][..], &[1, 2][..]));
    let scale = constant("scale");
    assert_eq!((scale.rank(), scale.as_f32().unwrap()), (0, &[3.0][..]));
}

#[test]
fn every_constant_form_is_read_and_strings_stay_nodes() {
    let mut label = value_info("label", FLOAT, vec![]);
    label.r#type = None; // its STRING type would be refused
    let graph = GraphProto {
        node: vec![
            node("Constant", "a", &[], &["floats"], vec![attr_floats("value_floats", &[1.0, 2.5])]),
            node("Constant", "b", &[], &["int"], vec![attr_int("value_int", -7)]),
            node("Constant", "c", &[], &["label"], vec![attr_string("value_string", "cat")]),
        ],
        output: vec![
            value_info("floats", FLOAT, vec![dim_value(2)]),
            value_info("int", INT64, vec![]),
            label,
        ],
        ..Default::default()
    };
    let graph = import(&model(graph, 13));
    let floats = graph.constant(graph.value_by_name("floats").unwrap()).unwrap();
    assert_eq!(floats.as_f32().unwrap(), [1.0, 2.5]);
    let int = graph.constant(graph.value_by_name("int").unwrap()).unwrap();
    assert_eq!((int.rank(), int.as_i64().unwrap()), (0, &[-7][..]));
    assert_eq!(graph.nodes.len(), 1);
    assert_eq!(graph.nodes[0].attributes.string("value_string").unwrap(), Some("cat"));
}

#[test]
fn optional_inputs_and_outputs_keep_their_positions() {
    let mut model = model(
        GraphProto {
            node: vec![
                node("Resize", "resize", &["x", "", "", "sizes"], &["r"], vec![]),
                node("Split", "split", &["r"], &["a", "", "c", "", ""], vec![]),
            ],
            initializer: vec![int64_tensor("sizes", &[4], &[1, 1, 4, 4])],
            input: vec![value_info(
                "x",
                FLOAT,
                vec![dim_value(1), dim_value(1), dim_value(2), dim_value(2)],
            )],
            output: vec![value_info("a", FLOAT, vec![]), value_info("c", FLOAT, vec![])],
            ..Default::default()
        },
        13,
    );
    model.graph.as_mut().unwrap().node[1].name = String::new();
    let graph = import(&model);
    let resize = &graph.nodes[0];
    assert_eq!(
        resize.inputs.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, false, false, true]
    );
    let split = &graph.nodes[1];
    let outputs: Vec<&str> =
        split.outputs.iter().map(|&id| graph.value(id).name.as_str()).collect();
    assert_eq!(
        outputs,
        ["a", "Split_1_unused_output1", "c"],
        "trailing omitted outputs are dropped"
    );
}

#[test]
fn node_names_are_made_unique() {
    let graph = GraphProto {
        node: vec![
            node("Relu", "", &["x"], &["a"], vec![]),
            node("Relu", "Relu_0", &["a"], &["b"], vec![]),
            node("Relu", "twice", &["b"], &["c"], vec![]),
            node("Relu", "twice", &["c"], &["d"], vec![]),
        ],
        input: vec![value_info("x", FLOAT, vec![])],
        output: vec![value_info("d", FLOAT, vec![])],
        ..Default::default()
    };
    let graph = import(&model(graph, 13));
    let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["Relu_0_2", "Relu_0", "twice", "twice_2"]);
}

#[test]
fn attributes_of_every_supported_type_are_read() {
    let untyped_int = AttributeProto { name: "legacy".into(), i: Some(4), ..Default::default() };
    let strings = AttributeProto {
        name: "names".into(),
        r#type: attribute_type::STRINGS,
        strings: vec![b"a".to_vec(), "é".as_bytes().to_vec()],
        ..Default::default()
    };
    let attributes = vec![
        attr_float("alpha", 0.25),
        attr_int("axis", -1),
        attr_string("mode", "nearest"),
        attr_floats("scales", &[1.0, 2.0]),
        attr_ints("perm", &[0, 2, 1]),
        attr_tensor("t", int64_tensor("", &[1], &[9])),
        strings,
        untyped_int,
    ];
    let graph = GraphProto {
        node: vec![node("Custom", "n", &["x"], &["y"], attributes)],
        input: vec![value_info("x", FLOAT, vec![])],
        output: vec![value_info("y", FLOAT, vec![])],
        ..Default::default()
    };
    let graph = import(&model(graph, 13));
    let attributes = &graph.nodes[0].attributes;
    assert_eq!(attributes.get("alpha"), Some(&Attribute::Float(0.25)));
    assert_eq!(attributes.get("axis"), Some(&Attribute::Int(-1)));
    assert_eq!(attributes.get("mode"), Some(&Attribute::String("nearest".into())));
    assert_eq!(attributes.get("scales"), Some(&Attribute::Floats(vec![1.0, 2.0])));
    assert_eq!(attributes.get("perm"), Some(&Attribute::Ints(vec![0, 2, 1])));
    assert_eq!(attributes.tensor("t").unwrap().unwrap().as_i64().unwrap(), [9]);
    assert_eq!(attributes.get("names"), Some(&Attribute::Strings(vec!["a".into(), "é".into()])));
    assert_eq!(attributes.get("legacy"), Some(&Attribute::Int(4)));
}

#[test]
fn domains_are_normalized_and_custom_domains_kept() {
    let mut custom = node("Fused", "f", &["x"], &["y"], vec![]);
    custom.domain = "com.example".into();
    let mut relu = node("Relu", "r", &["y"], &["z"], vec![]);
    relu.domain = "ai.onnx".into();
    let graph = GraphProto {
        node: vec![custom, relu],
        input: vec![value_info("x", FLOAT, vec![])],
        output: vec![value_info("z", FLOAT, vec![])],
        ..Default::default()
    };
    let mut model = model(graph, 14);
    model.opset_import = vec![
        OperatorSetIdProto { domain: "ai.onnx".into(), version: 14 },
        OperatorSetIdProto { domain: "com.example".into(), version: 1 },
    ];
    let graph = import(&model);
    assert_eq!(graph.opset, 14);
    assert_eq!(graph.nodes[0].domain, "com.example");
    assert_eq!(graph.nodes[1].domain, "");
}

#[test]
fn inputs_without_types_and_shapes_are_unknown() {
    let mut input = value_info("x", FLOAT, vec![]);
    input.r#type = None;
    let mut rank_only = value_info("y", 0, vec![]);
    if let Some(TypeProto { value: Some(TypeProtoValue::TensorType(tensor)), .. }) =
        &mut rank_only.r#type
    {
        tensor.shape = None;
    }
    let graph = GraphProto {
        node: vec![node("Add", "add", &["x", "y"], &["z"], vec![])],
        input: vec![input, rank_only],
        output: vec![value_info("z", FLOAT, vec![dim_param("N")])],
        ..Default::default()
    };
    let graph = import(&model(graph, 13));
    for &id in &graph.inputs {
        assert_eq!((graph.value(id).data_type, graph.value(id).shape.as_ref()), (None, None));
    }
    assert_eq!(shape_of(&graph, "z"), "[N]");
}

#[test]
fn declarations_that_contradict_a_constant_are_refused() {
    let mut model = conv_relu_model();
    let graph = model.graph.as_mut().unwrap();
    graph.input[1] =
        value_info("W", FLOAT, vec![dim_value(2), dim_value(1), dim_value(3), dim_value(4)]);
    let error = import_model(&encode(&model)).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(
        error.message.starts_with("graph input 'W': value 'W' is declared with shape [2, 1, 3, 4]"),
        "{error}"
    );
}

#[test]
fn bool_and_int8_initializers_use_int32_data() {
    let tensor =
        |name: &str, data_type: DataType, values: &[i32]| dlopt_graph::onnx::proto::TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: data_type.onnx_code(),
            int32_data: values.to_vec(),
            ..Default::default()
        };
    let graph = GraphProto {
        initializer: vec![
            tensor("mask", DataType::Bool, &[1, 0]),
            tensor("q", DataType::I8, &[-128, 127]),
        ],
        output: vec![
            value_info("mask", 9, vec![dim_value(2)]),
            value_info("q", 3, vec![dim_value(2)]),
        ],
        ..Default::default()
    };
    let graph = import(&model(graph, 13));
    let data =
        |name: &str| graph.constant(graph.value_by_name(name).unwrap()).unwrap().data().clone();
    assert_eq!(data("mask"), TensorData::Bool(vec![true, false]));
    assert_eq!(data("q"), TensorData::I8(vec![-128, 127]));
}

//! ONNX import of malformed, inconsistent and unsupported models: each is refused with an
//! error of the right kind that names what is wrong; none panics.

mod common;

use common::*;
use dlopt_graph::onnx::proto::{
    AttributeProto, GraphProto, ModelProto, OperatorSetIdProto, SparseTensorProto,
    StringStringEntryProto, TensorProto, TypeProto, TypeProtoValue, attribute_type,
};
use dlopt_graph::{ErrorKind, GraphError, import_model};

fn refused(model: &ModelProto) -> GraphError {
    match import_model(&encode(model)) {
        Ok(_) => panic!("the model was accepted"),
        Err(error) => error,
    }
}

fn assert_refused(model: &ModelProto, kind: ErrorKind, message_part: &str) {
    let error = refused(model);
    assert_eq!(error.kind, kind, "{}", error.message);
    assert!(
        error.message.contains(message_part),
        "'{}' does not contain '{message_part}'",
        error.message
    );
}

/// The conv model with `change` applied to its graph.
fn conv_with(change: impl FnOnce(&mut GraphProto)) -> ModelProto {
    let mut model = conv_relu_model();
    change(model.graph.as_mut().unwrap());
    model
}

#[test]
fn every_truncation_is_refused() {
    // Without metadata the last field is the single opset import: any strict prefix either
    // breaks the protobuf or loses the opset, so every cut must fail.
    let mut model = conv_relu_model();
    model.metadata_props.clear();
    let bytes = encode(&model);
    assert!(import_model(&bytes).is_ok());
    for cut in 0..bytes.len() {
        let error = import_model(&bytes[..cut])
            .err()
            .unwrap_or_else(|| panic!("cut at {cut} was accepted"));
        assert_eq!(error.kind, ErrorKind::InvalidModel, "cut at {cut}: {}", error.message);
    }
}

#[test]
fn bit_flips_never_panic_and_what_imports_is_consistent() {
    let bytes = encode(&conv_relu_model());
    let mut random = SplitMix64::new(0x0b17_f11b);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut flipped = bytes.clone();
        for _ in 0..1 + random.below(3) {
            let at = random.below(flipped.len());
            flipped[at] ^= 1 << random.below(8);
        }
        match import_model(&flipped) {
            Ok(graph) => {
                graph.check().unwrap();
                accepted += 1;
            }
            Err(_) => refused += 1,
        }
    }
    // Flips in weights keep the model valid; flips in structure break it: both must occur.
    assert!(accepted > 100 && refused > 100, "accepted {accepted}, refused {refused}");
}

#[test]
fn dims_claiming_more_than_the_data_holds_are_too_large() {
    let model = conv_with(|graph| graph.initializer[0].dims = vec![1_000_000_000_000]);
    assert_refused(
        &model,
        ErrorKind::TooLarge,
        "initializer 'W': dims [1000000000000] need 4000000000000 bytes",
    );
    let model = conv_with(|graph| graph.initializer[1].dims = vec![1 << 40, 1 << 40, 1 << 40]);
    assert_refused(&model, ErrorKind::TooLarge, "initializer 'B'");
    let model = conv_with(|graph| graph.initializer[1].dims = vec![3]);
    assert_refused(
        &model,
        ErrorKind::TooLarge,
        "initializer 'B': dims [3] need 3 elements, but float_data holds only 2",
    );
    let model = conv_with(|graph| graph.initializer[1].dims = vec![1]);
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'B': float_data holds 2 elements, but dims [1] need 1",
    );
}

#[test]
fn negative_dims_and_excessive_ranks_are_invalid() {
    let model = conv_with(|graph| graph.initializer[0].dims = vec![-2, 1, 3, -3]);
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'W': dimension -2 in dims [-2, 1, 3, -3] is negative",
    );
    let model = conv_with(|graph| graph.initializer[1].dims = vec![1; 33]);
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'B': rank 33 exceeds the limit of 32",
    );
    let model = conv_with(|graph| graph.input[0] = value_info("x", FLOAT, vec![dim_value(1); 40]));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "graph input 'x': rank 40 exceeds the limit of 32",
    );
}

#[test]
fn unknown_and_unsupported_element_types_are_named() {
    let model = conv_with(|graph| graph.initializer[0].data_type = 99);
    assert_refused(
        &model,
        ErrorKind::Unsupported,
        "initializer 'W': element type unknown (99) is not supported",
    );
    let model = conv_with(|graph| graph.initializer[0].data_type = 0);
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'W': the element type is UNDEFINED",
    );
    let model = conv_with(|graph| {
        graph.initializer[1] = TensorProto {
            name: "B".into(),
            dims: vec![2],
            data_type: 11,
            double_data: vec![0.5, -1.0],
            ..Default::default()
        };
    });
    assert_refused(
        &model,
        ErrorKind::Unsupported,
        "initializer 'B': element type DOUBLE (11) is not supported",
    );
    let model = conv_with(|graph| graph.input[0] = value_info("x", 11, vec![]));
    assert_refused(&model, ErrorKind::Unsupported, "graph input 'x': element type DOUBLE (11)");
    let model = conv_with(|graph| {
        graph.input[0].r#type = Some(TypeProto {
            value: Some(TypeProtoValue::MapType(vec![8, 1])),
            denotation: String::new(),
        });
    });
    assert_refused(&model, ErrorKind::Unsupported, "graph input 'x': the type is a map");
}

#[test]
fn opsets_outside_11_to_21_are_unsupported() {
    for version in [9, 22] {
        let mut model = conv_relu_model();
        model.opset_import[0].version = version;
        assert_refused(
            &model,
            ErrorKind::Unsupported,
            &format!("ONNX opset {version} is not supported"),
        );
    }
    let mut model = conv_relu_model();
    model.opset_import.clear();
    assert_refused(&model, ErrorKind::InvalidModel, "imports no opset of the ONNX domain");
    let mut model = conv_relu_model();
    model.opset_import.push(OperatorSetIdProto { domain: "ai.onnx".into(), version: 12 });
    assert_refused(&model, ErrorKind::InvalidModel, "versions 13 and 12");
}

#[test]
fn undefined_inputs_name_the_node() {
    let model = conv_with(|graph| graph.node[1].input[0] = "nope".into());
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'relu' (Relu): input 'nope' is not defined",
    );
    let model = conv_with(|graph| graph.output[0].name = "missing".into());
    assert_refused(&model, ErrorKind::InvalidModel, "graph output 'missing' is not produced");
}

#[test]
fn names_defined_twice_are_refused() {
    let model = conv_with(|graph| graph.node[1].output[0] = "conv_out".into());
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'relu' (Relu): output 'conv_out': the name is already defined by node 'conv' (Conv)",
    );
    let model = conv_with(|graph| graph.node[0].output[0] = "W".into());
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "output 'W': the name is already defined by an initializer",
    );
    let model = conv_with(|graph| graph.node[0].output[0] = "x".into());
    assert_refused(&model, ErrorKind::InvalidModel, "the name is already defined by a graph input");
    let model = conv_with(|graph| graph.initializer.push(float_data_tensor("B", &[1], &[0.0])));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'B': the name is already defined by an initializer",
    );
    let model = conv_with(|graph| graph.input.push(value_info("x", FLOAT, vec![])));
    assert_refused(&model, ErrorKind::InvalidModel, "graph input 'x' is listed twice");
    let model = conv_with(|graph| graph.node[0].attribute.push(attr_ints("pads", &[0, 0, 0, 0])));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'conv' (Conv): attribute 'pads' is given twice",
    );
}

#[test]
fn cycles_are_refused() {
    let model = conv_with(|graph| graph.node[0].input[0] = "y".into());
    assert_refused(&model, ErrorKind::InvalidModel, "cycle");
}

#[test]
fn external_segmented_and_sparse_data_are_unsupported() {
    let model = conv_with(|graph| {
        let weights = &mut graph.initializer[0];
        weights.raw_data = None;
        weights.data_location = 1;
        weights.external_data =
            vec![StringStringEntryProto { key: "location".into(), value: "weights.bin".into() }];
    });
    assert_refused(
        &model,
        ErrorKind::Unsupported,
        "initializer 'W': the data is stored outside the model, in 'weights.bin'",
    );
    let model = conv_with(|graph| graph.initializer[1].segment = Some(Default::default()));
    assert_refused(&model, ErrorKind::Unsupported, "initializer 'B': segmented tensors");
    let model = conv_with(|graph| {
        graph.sparse_initializer.push(SparseTensorProto {
            values: Some(float_data_tensor("S", &[1], &[1.0])),
            ..Default::default()
        });
    });
    assert_refused(&model, ErrorKind::Unsupported, "sparse initializer 'S'");
}

#[test]
fn unsupported_and_broken_attributes_name_node_and_attribute() {
    let subgraph = AttributeProto {
        name: "then_branch".into(),
        r#type: attribute_type::GRAPH,
        g: Some(Box::new(GraphProto::default())),
        ..Default::default()
    };
    let model = conv_with(|graph| graph.node[1].attribute.push(subgraph));
    assert_refused(
        &model,
        ErrorKind::Unsupported,
        "node 'relu' (Relu): attribute 'then_branch': its type is GRAPH",
    );
    let bad_string = AttributeProto {
        name: "auto_pad".into(),
        r#type: attribute_type::STRING,
        s: Some(vec![0xC3]),
        ..Default::default()
    };
    let model = conv_with(|graph| graph.node[0].attribute.push(bad_string));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'conv' (Conv): attribute 'auto_pad': the string is not valid UTF-8",
    );
    let model = conv_with(|graph| {
        graph.node[0].attribute.push(attr_tensor("t", float_data_tensor("", &[-1], &[])))
    });
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'conv' (Conv): attribute 't': dimension -1",
    );
    let reference = AttributeProto {
        name: "alpha".into(),
        ref_attr_name: "a".into(),
        r#type: attribute_type::FLOAT,
        ..Default::default()
    };
    let model = conv_with(|graph| graph.node[1].attribute.push(reference));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'relu' (Relu): attribute 'alpha': it refers to the function attribute 'a'",
    );
}

#[test]
fn malformed_constant_nodes_are_refused() {
    let two_values = node(
        "Constant",
        "k",
        &[],
        &["k_out"],
        vec![attr_int("value_int", 1), attr_float("value_float", 1.0)],
    );
    let model = conv_with(|graph| graph.node.push(two_values));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'k' (Constant): a Constant has exactly one attribute",
    );
    let wrong_kind = node("Constant", "k", &[], &["k_out"], vec![attr_ints("value_float", &[1])]);
    let model = conv_with(|graph| graph.node.push(wrong_kind));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'k' (Constant): attribute 'value_float' must be a float",
    );
    let with_input = node("Constant", "k", &["x"], &["k_out"], vec![attr_int("value_int", 1)]);
    let model = conv_with(|graph| graph.node.push(with_input));
    assert_refused(&model, ErrorKind::InvalidModel, "a Constant takes no inputs");
    let clashing = node("Constant", "k", &[], &["B"], vec![attr_int("value_int", 1)]);
    let model = conv_with(|graph| graph.node.push(clashing));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'k' (Constant): output 'B': the name is already defined",
    );
}

#[test]
fn structural_gaps_are_invalid() {
    let mut model = conv_relu_model();
    model.graph = None;
    assert_refused(&model, ErrorKind::InvalidModel, "the model has no graph");
    let model = conv_with(|graph| graph.node[1].op_type.clear());
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'relu' (number 1 in the file) has no op_type",
    );
    let model = conv_with(|graph| graph.node[1].domain = "com.example".into());
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "node 'relu' (Relu): its domain 'com.example' is not among",
    );
    let model = conv_with(|graph| graph.initializer[1].name.clear());
    assert_refused(&model, ErrorKind::InvalidModel, "an initializer has no name");
    let model = conv_with(|graph| graph.initializer[1].int64_data = vec![1, 2]);
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "initializer 'B': the elements are stored in several fields (float_data, int64_data)",
    );
    // The output list says y is [N, 2, 5, width]; value_info may refine it, not contradict it.
    let model = conv_with(|graph| {
        graph.value_info.push(value_info(
            "y",
            FLOAT,
            vec![dim_value(1), dim_value(2), dim_value(5), dim_value(7)],
        ))
    });
    assert!(import_model(&encode(&model)).is_ok());
    let model = conv_with(|graph| {
        graph.value_info.push(value_info(
            "y",
            FLOAT,
            vec![dim_param("N"), dim_value(3), dim_value(5), dim_param("width")],
        ))
    });
    assert_refused(
        &model,
        ErrorKind::ShapeMismatch,
        "value_info 'y': value 'y' is declared with shape [N, 3, 5, width], but its shape is [N, 2, 5, width]",
    );
    let model = conv_with(|graph| graph.value_info.push(value_info("y", INT64, vec![])));
    assert_refused(
        &model,
        ErrorKind::InvalidModel,
        "value_info 'y': value 'y' is declared with element type i64, but it is f32",
    );
}

/// A protobuf length-delimited field: tag, length, payload.
fn length_delimited(field: u32, payload: &[u8]) -> Vec<u8> {
    fn varint(mut value: u64, out: &mut Vec<u8>) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
    let mut out = Vec::with_capacity(payload.len() + 12);
    varint(u64::from(field << 3 | 2), &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

#[test]
fn deeply_nested_subgraphs_are_refused_without_exhausting_the_stack() {
    // graph -> node -> attribute -> g -> node -> attribute -> ... 5000 levels deep.
    let mut graph = Vec::new();
    for _ in 0..5000 {
        let attribute = length_delimited(6, &graph); // AttributeProto.g
        let node = length_delimited(5, &attribute); // NodeProto.attribute
        graph = length_delimited(1, &node); // GraphProto.node
    }
    let mut bytes = length_delimited(7, &graph); // ModelProto.graph
    bytes.extend(length_delimited(8, &encode_opset(13)));
    let error = import_model(&bytes).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidModel);
    assert!(error.message.contains("recursion limit"), "{}", error.message);
}

fn encode_opset(version: i64) -> Vec<u8> {
    prost::Message::encode_to_vec(&OperatorSetIdProto { domain: String::new(), version })
}

#[test]
fn garbage_is_not_a_model() {
    for bytes in [
        &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        b"ONNX",
        &[0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        let error = import_model(bytes).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidModel);
        assert!(
            error.message.starts_with("the file is not a readable ONNX model"),
            "{}",
            error.message
        );
    }
}

#[test]
fn a_long_chain_closing_in_a_cycle_is_refused_promptly() {
    // 100,000 Relus; the last two feed each other. Finding the cycle must stay linear.
    let count = 100_000;
    let mut nodes: Vec<_> = (0..count)
        .map(|at| {
            let input = if at == 0 { "x".to_string() } else { format!("v{}", at - 1) };
            node("Relu", "", &[&input], &[&format!("v{at}")], vec![])
        })
        .collect();
    nodes[count - 2].input[0] = format!("v{}", count - 1);
    let graph = GraphProto {
        node: nodes,
        input: vec![value_info("x", FLOAT, vec![])],
        output: vec![value_info(&format!("v{}", count - 1), FLOAT, vec![])],
        ..Default::default()
    };
    let started = std::time::Instant::now();
    assert_refused(
        &model(graph, 13),
        ErrorKind::InvalidModel,
        "cycle through node 'Relu_99998' (Relu)",
    );
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
}

//! Node attributes: ONNX `AttributeProto` to [`Attribute`] and back.
//!
//! Supported: FLOAT, INT, STRING, TENSOR, FLOATS, INTS, STRINGS. GRAPH, GRAPHS, TENSORS,
//! SPARSE_TENSOR(S) and TYPE_PROTO(S) are refused as Unsupported. Scalars a proto3 writer
//! left out because they equal the default (0, 0.0, "") read as that default.

use crate::attribute::Attribute;
use crate::error::{GraphError, Result};
use crate::onnx::proto::{AttributeProto, attribute_type};
use crate::onnx::tensors::{tensor_from_proto, tensor_to_proto};

/// The `type` of an attribute from IR version 1, which had none: the one value field set.
fn inferred_type(proto: &AttributeProto) -> Result<i32> {
    let set: Vec<i32> = [
        (attribute_type::FLOAT, proto.f.is_some()),
        (attribute_type::INT, proto.i.is_some()),
        (attribute_type::STRING, proto.s.is_some()),
        (attribute_type::TENSOR, proto.t.is_some()),
        (attribute_type::GRAPH, proto.g.is_some()),
        (attribute_type::SPARSE_TENSOR, proto.sparse_tensor.is_some()),
        (attribute_type::FLOATS, !proto.floats.is_empty()),
        (attribute_type::INTS, !proto.ints.is_empty()),
        (attribute_type::STRINGS, !proto.strings.is_empty()),
        (attribute_type::TENSORS, !proto.tensors.is_empty()),
        (attribute_type::GRAPHS, !proto.graphs.is_empty()),
        (attribute_type::SPARSE_TENSORS, !proto.sparse_tensors.is_empty()),
    ]
    .into_iter()
    .filter_map(|(code, is_set)| is_set.then_some(code))
    .collect();
    match set.as_slice() {
        [code] => Ok(*code),
        [] => Err(GraphError::invalid("it has no type and no value")),
        codes => {
            let names: Vec<&str> = codes.iter().map(|&code| attribute_type::name(code)).collect();
            Err(GraphError::invalid(format!(
                "it has no type and values of several types ({})",
                names.join(", ")
            )))
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|error| {
        GraphError::invalid(format!(
            "the string is not valid UTF-8 (at byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Decodes an attribute. Errors name the attribute (`attribute 'pads': ...`); the caller
/// adds the node.
pub(crate) fn attribute_from_proto(proto: &AttributeProto) -> Result<Attribute> {
    if proto.name.is_empty() {
        return Err(GraphError::invalid("an attribute has no name"));
    }
    decode_attribute(proto).map_err(|error| error.context(format!("attribute '{}'", proto.name)))
}

fn decode_attribute(proto: &AttributeProto) -> Result<Attribute> {
    if !proto.ref_attr_name.is_empty() {
        return Err(GraphError::invalid(format!(
            "it refers to the function attribute '{}', which only a function body may do",
            proto.ref_attr_name
        )));
    }
    let code = match proto.r#type {
        attribute_type::UNDEFINED => inferred_type(proto)?,
        code => code,
    };
    Ok(match code {
        attribute_type::FLOAT => Attribute::Float(proto.f.unwrap_or_default()),
        attribute_type::INT => Attribute::Int(proto.i.unwrap_or_default()),
        attribute_type::STRING => Attribute::String(utf8(proto.s.as_deref().unwrap_or_default())?),
        attribute_type::TENSOR => match &proto.t {
            Some(tensor) => Attribute::Tensor(tensor_from_proto(tensor)?),
            None => return Err(GraphError::invalid("its type is TENSOR, but it holds no tensor")),
        },
        attribute_type::FLOATS => Attribute::Floats(proto.floats.clone()),
        attribute_type::INTS => Attribute::Ints(proto.ints.clone()),
        attribute_type::STRINGS => Attribute::Strings(
            proto.strings.iter().map(|bytes| utf8(bytes)).collect::<Result<_>>()?,
        ),
        attribute_type::GRAPH
        | attribute_type::GRAPHS
        | attribute_type::TENSORS
        | attribute_type::SPARSE_TENSOR
        | attribute_type::SPARSE_TENSORS
        | attribute_type::TYPE_PROTO
        | attribute_type::TYPE_PROTOS => {
            let what = match code {
                attribute_type::GRAPH | attribute_type::GRAPHS => {
                    "subgraphs, as If, Loop and Scan use"
                }
                attribute_type::SPARSE_TENSOR | attribute_type::SPARSE_TENSORS => "sparse tensors",
                attribute_type::TENSORS => "a list of tensors",
                _ => "type descriptions",
            };
            return Err(GraphError::unsupported(format!(
                "its type is {} ({what}), which dlopt does not support",
                attribute_type::name(code)
            )));
        }
        unknown => {
            return Err(GraphError::invalid(format!(
                "its type code {unknown} is not an ONNX attribute type"
            )));
        }
    })
}

/// The `AttributeProto` of attribute `name`.
pub(crate) fn attribute_to_proto(name: &str, attribute: &Attribute) -> AttributeProto {
    let mut proto = AttributeProto { name: name.to_string(), ..AttributeProto::default() };
    match attribute {
        Attribute::Float(value) => {
            proto.r#type = attribute_type::FLOAT;
            proto.f = Some(*value);
        }
        Attribute::Int(value) => {
            proto.r#type = attribute_type::INT;
            proto.i = Some(*value);
        }
        Attribute::String(value) => {
            proto.r#type = attribute_type::STRING;
            proto.s = Some(value.as_bytes().to_vec());
        }
        Attribute::Tensor(tensor) => {
            proto.r#type = attribute_type::TENSOR;
            proto.t = Some(tensor_to_proto(tensor, ""));
        }
        Attribute::Floats(values) => {
            proto.r#type = attribute_type::FLOATS;
            proto.floats = values.clone();
        }
        Attribute::Ints(values) => {
            proto.r#type = attribute_type::INTS;
            proto.ints = values.clone();
        }
        Attribute::Strings(values) => {
            proto.r#type = attribute_type::STRINGS;
            proto.strings = values.iter().map(|value| value.as_bytes().to_vec()).collect();
        }
    }
    proto
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::onnx::proto::GraphProto;
    use crate::tensor::Tensor;

    #[test]
    fn every_supported_kind_round_trips() {
        let attributes = [
            Attribute::Float(0.25),
            Attribute::Int(-3),
            Attribute::String("NOTSET".into()),
            Attribute::Tensor(Tensor::from_i64(vec![2], vec![4, 5]).unwrap()),
            Attribute::Floats(vec![1.0, 2.0]),
            Attribute::Ints(vec![]),
            Attribute::Strings(vec!["a".into(), "ü".into()]),
        ];
        for attribute in attributes {
            let proto = attribute_to_proto("a", &attribute);
            assert_eq!(attribute_from_proto(&proto).unwrap(), attribute);
        }
    }

    #[test]
    fn defaults_left_out_by_proto3_writers_read_as_zero() {
        let proto = AttributeProto {
            name: "axis".into(),
            r#type: attribute_type::INT,
            ..AttributeProto::default()
        };
        assert_eq!(attribute_from_proto(&proto).unwrap(), Attribute::Int(0));
    }

    #[test]
    fn untyped_attributes_are_inferred_from_their_value() {
        let proto =
            AttributeProto { name: "alpha".into(), f: Some(0.5), ..AttributeProto::default() };
        assert_eq!(attribute_from_proto(&proto).unwrap(), Attribute::Float(0.5));
        let ambiguous = AttributeProto {
            name: "x".into(),
            f: Some(0.5),
            i: Some(1),
            ..AttributeProto::default()
        };
        assert!(attribute_from_proto(&ambiguous).unwrap_err().message.contains("FLOAT, INT"));
    }

    #[test]
    fn refusals_name_the_attribute_and_the_reason() {
        let graph = AttributeProto {
            name: "then_branch".into(),
            r#type: attribute_type::GRAPH,
            g: Some(Box::new(GraphProto::default())),
            ..AttributeProto::default()
        };
        let error = attribute_from_proto(&graph).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(error.message.starts_with("attribute 'then_branch': its type is GRAPH"), "{error}");

        let bad_utf8 = AttributeProto {
            name: "mode".into(),
            r#type: attribute_type::STRING,
            s: Some(vec![b'a', 0xff]),
            ..AttributeProto::default()
        };
        let error = attribute_from_proto(&bad_utf8).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidModel);
        assert!(
            error.message.contains("attribute 'mode': the string is not valid UTF-8 (at byte 1)"),
            "{error}"
        );

        let no_tensor = AttributeProto {
            name: "value".into(),
            r#type: attribute_type::TENSOR,
            ..AttributeProto::default()
        };
        assert!(attribute_from_proto(&no_tensor).unwrap_err().message.contains("holds no tensor"));
        let unknown = AttributeProto { name: "x".into(), r#type: 99, ..AttributeProto::default() };
        assert_eq!(attribute_from_proto(&unknown).unwrap_err().kind, ErrorKind::InvalidModel);
    }

    #[test]
    fn tensor_errors_keep_the_attribute_name() {
        let tensor =
            crate::onnx::proto::TensorProto { data_type: 1, dims: vec![-2], ..Default::default() };
        let proto = AttributeProto {
            name: "value".into(),
            r#type: attribute_type::TENSOR,
            t: Some(tensor),
            ..Default::default()
        };
        let error = attribute_from_proto(&proto).unwrap_err();
        assert!(error.message.starts_with("attribute 'value': dimension -2"), "{error}");
    }
}

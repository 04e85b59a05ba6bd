//! Value types: ONNX `ValueInfoProto`/`TypeProto` to element type and symbolic shape, back,
//! and merging what several declarations say about one value.
//!
//! Dimensions: `dim_value` is a known size, `dim_param` a named unknown (equal names mean
//! equal sizes). A dimension with neither, with the name `"?"` or `""`, or with a negative
//! `dim_value` (Paddle2ONNX writes -1 for "dynamic") is an unknown of its own: it gets a
//! generated name, `<value>_dim<axis>`, unique in the model.

use crate::data_type::DataType;
use crate::error::{ErrorKind, GraphError, Result};
use crate::graph::Value;
use crate::onnx::MAX_RANK;
use crate::onnx::names::UniqueNames;
use crate::onnx::proto::{
    DimensionValue, TensorShapeDimension, TensorShapeProto, TypeProto, TypeProtoTensor,
    TypeProtoValue, ValueInfoProto,
};
use crate::onnx::tensors::data_type_from_code;
use crate::shape::{Dim, SymbolicShape, format_shape};

/// What a value declaration says: element type and shape, each possibly unknown.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TensorType {
    /// The element type, if declared.
    pub(crate) data_type: Option<DataType>,
    /// The shape, if declared (an absent shape means even the rank is unknown).
    pub(crate) shape: Option<SymbolicShape>,
}

/// The `dim_param` names a type uses (to keep generated names clear of them).
pub(crate) fn declared_symbols(info: &ValueInfoProto) -> impl Iterator<Item = &str> {
    let dims: &[TensorShapeDimension] = match &info.r#type {
        Some(TypeProto {
            value: Some(TypeProtoValue::TensorType(TypeProtoTensor { shape: Some(shape), .. })),
            ..
        }) => &shape.dim,
        _ => &[],
    };
    dims.iter().filter_map(|dim| match &dim.value {
        Some(DimensionValue::DimParam(name)) => Some(name.as_str()),
        _ => None,
    })
}

/// Whether a `dim_param` is a placeholder for "unknown" rather than a shared name.
fn is_anonymous(name: &str) -> bool {
    name.is_empty() || name == "?"
}

/// One dimension: a known size, a shared name, or an unknown of its own, which gets a new
/// name starting with `unknown_name`.
fn dim_from_proto(
    dim: &TensorShapeDimension,
    unknown_name: &str,
    symbols: &mut UniqueNames,
) -> Result<Dim> {
    match &dim.value {
        Some(DimensionValue::DimValue(size)) if *size >= 0 => {
            usize::try_from(*size).map(Dim::Fixed).map_err(|_| {
                let message = format!("dimension {size} does not fit this machine's address space");
                GraphError::new(ErrorKind::TooLarge, message)
            })
        }
        Some(DimensionValue::DimParam(name)) if !is_anonymous(name) => Ok(Dim::symbol(name)),
        _ => Ok(Dim::symbol(&symbols.claim(unknown_name))),
    }
}

/// The type of a value declaration. `symbols` holds every `dim_param` of the model and the
/// names generated so far. Errors do not name the value; the caller adds that.
pub(crate) fn tensor_type_from_proto(
    info: &ValueInfoProto,
    symbols: &mut UniqueNames,
) -> Result<TensorType> {
    let tensor = match info.r#type.as_ref().and_then(|type_proto| type_proto.value.as_ref()) {
        None => return Ok(TensorType::default()),
        Some(TypeProtoValue::TensorType(tensor)) => tensor,
        Some(other) => {
            let kind = match other {
                TypeProtoValue::SequenceType(_) => "a sequence",
                TypeProtoValue::MapType(_) => "a map",
                TypeProtoValue::OpaqueType(_) => "an opaque type",
                TypeProtoValue::SparseTensorType(_) => "a sparse tensor",
                TypeProtoValue::OptionalType(_) => "an optional",
                TypeProtoValue::TensorType(_) => "a tensor",
            };
            return Err(GraphError::unsupported(format!(
                "the type is {kind}; dlopt supports tensors only"
            )));
        }
    };
    let data_type = match tensor.elem_type {
        0 => None,
        code => Some(data_type_from_code(code)?),
    };
    let shape = match &tensor.shape {
        None => None,
        Some(shape) => {
            if shape.dim.len() > MAX_RANK {
                return Err(GraphError::invalid(format!(
                    "rank {} exceeds the limit of {MAX_RANK}",
                    shape.dim.len()
                )));
            }
            let dims = shape.dim.iter().enumerate().map(|(axis, dim)| {
                dim_from_proto(dim, &format!("{}_dim{axis}", info.name), symbols)
            });
            Some(dims.collect::<Result<_>>()?)
        }
    };
    Ok(TensorType { data_type, shape })
}

/// A declaration of `value`'s name, element type and shape (no type when neither is known).
pub(crate) fn value_info_to_proto(value: &Value) -> ValueInfoProto {
    let known = value.data_type.is_some() || value.shape.is_some();
    let tensor = TypeProtoTensor {
        elem_type: value.data_type.map_or(0, DataType::onnx_code),
        shape: value.shape.as_ref().map(|shape| TensorShapeProto {
            dim: shape
                .iter()
                .map(|dim| TensorShapeDimension {
                    value: Some(match dim {
                        Dim::Fixed(size) => {
                            DimensionValue::DimValue(i64::try_from(*size).unwrap_or(i64::MAX))
                        }
                        Dim::Symbol(name) => DimensionValue::DimParam(name.to_string()),
                    }),
                    denotation: String::new(),
                })
                .collect(),
        }),
    };
    ValueInfoProto {
        name: value.name.clone(),
        r#type: known.then(|| TypeProto {
            value: Some(TypeProtoValue::TensorType(tensor)),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// Adds what `declared` says to `value`: unknown parts are filled in, known parts must agree
/// (a fixed size wins over a symbol). Errors name the value.
pub(crate) fn merge_declared_type(value: &mut Value, declared: TensorType) -> Result<()> {
    if let Some(declared_type) = declared.data_type {
        match value.data_type {
            Some(known) if known != declared_type => {
                return Err(GraphError::invalid(format!(
                    "value '{}' is declared with element type {declared_type}, but it is {known}",
                    value.name
                )));
            }
            _ => value.data_type = Some(declared_type),
        }
    }
    let Some(declared_shape) = declared.shape else { return Ok(()) };
    let Some(known_shape) = &value.shape else {
        value.shape = Some(declared_shape);
        return Ok(());
    };
    let mismatch = || {
        GraphError::shape(format!(
            "value '{}' is declared with shape {}, but its shape is {}",
            value.name,
            format_shape(&declared_shape),
            format_shape(known_shape)
        ))
    };
    if known_shape.len() != declared_shape.len() {
        return Err(mismatch());
    }
    let mut merged = known_shape.clone();
    for (known, declared) in merged.iter_mut().zip(&declared_shape) {
        match (&*known, declared) {
            (Dim::Fixed(a), Dim::Fixed(b)) if a != b => return Err(mismatch()),
            (Dim::Symbol(_), Dim::Fixed(size)) => *known = Dim::Fixed(*size),
            _ => {}
        }
    }
    value.shape = Some(merged);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, elem_type: i32, dims: Vec<Option<DimensionValue>>) -> ValueInfoProto {
        let dim = dims
            .into_iter()
            .map(|value| TensorShapeDimension { value, denotation: String::new() })
            .collect();
        let tensor = TypeProtoTensor { elem_type, shape: Some(TensorShapeProto { dim }) };
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(TypeProtoValue::TensorType(tensor)),
                denotation: String::new(),
            }),
            doc_string: String::new(),
        }
    }

    #[test]
    fn unknown_dimensions_get_their_own_names() {
        let declared = info(
            "x",
            1,
            vec![
                Some(DimensionValue::DimParam("N".into())),
                Some(DimensionValue::DimValue(3)),
                Some(DimensionValue::DimParam("?".into())),
                Some(DimensionValue::DimValue(-1)),
                None,
            ],
        );
        let mut symbols = UniqueNames::with_taken(declared_symbols(&declared).chain(["x_dim4"]));
        let tensor_type = tensor_type_from_proto(&declared, &mut symbols).unwrap();
        assert_eq!(tensor_type.data_type, Some(DataType::F32));
        let names = ["N", "3", "x_dim2", "x_dim3", "x_dim4_2"];
        assert_eq!(format_shape(&tensor_type.shape.unwrap()), format!("[{}]", names.join(", ")));
    }

    #[test]
    fn types_round_trip_through_value_info() {
        let value = Value {
            name: "y".into(),
            data_type: Some(DataType::I64),
            shape: Some(vec![Dim::symbol("batch"), Dim::Fixed(7)]),
            constant: None,
        };
        let tensor_type =
            tensor_type_from_proto(&value_info_to_proto(&value), &mut UniqueNames::default())
                .unwrap();
        assert_eq!(tensor_type.data_type, value.data_type);
        assert_eq!(tensor_type.shape, value.shape);
        let unknown = Value { name: "u".into(), ..Value::default() };
        assert_eq!(value_info_to_proto(&unknown).r#type, None);
    }

    #[test]
    fn non_tensor_types_are_refused() {
        let mut sequence = info("s", 1, vec![]);
        sequence.r#type = Some(TypeProto {
            value: Some(TypeProtoValue::SequenceType(vec![])),
            denotation: String::new(),
        });
        let error = tensor_type_from_proto(&sequence, &mut UniqueNames::default()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(error.message.contains("a sequence"), "{error}");
    }

    #[test]
    fn merging_fills_in_and_checks() {
        let mut value = Value { name: "v".into(), ..Value::default() };
        let first =
            TensorType { data_type: None, shape: Some(vec![Dim::symbol("N"), Dim::symbol("C")]) };
        merge_declared_type(&mut value, first).unwrap();
        let second = TensorType {
            data_type: Some(DataType::F32),
            shape: Some(vec![Dim::symbol("M"), Dim::Fixed(3)]),
        };
        merge_declared_type(&mut value, second).unwrap();
        assert_eq!(value.data_type, Some(DataType::F32));
        assert_eq!(format_shape(value.shape.as_ref().unwrap()), "[N, 3]");

        let other_size =
            TensorType { data_type: None, shape: Some(vec![Dim::symbol("N"), Dim::Fixed(4)]) };
        let error = merge_declared_type(&mut value, other_size).unwrap_err();
        assert_eq!(error.kind, ErrorKind::ShapeMismatch);
        assert!(error.message.contains("value 'v'"), "{error}");
        let other_rank = TensorType { data_type: None, shape: Some(vec![Dim::Fixed(3)]) };
        assert_eq!(
            merge_declared_type(&mut value, other_rank).unwrap_err().kind,
            ErrorKind::ShapeMismatch
        );
        let other_type = TensorType { data_type: Some(DataType::I64), shape: None };
        assert_eq!(
            merge_declared_type(&mut value, other_type).unwrap_err().kind,
            ErrorKind::InvalidModel
        );
    }
}

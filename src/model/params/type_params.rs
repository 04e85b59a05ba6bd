//! The parameters of specific model types (e.g. detection's `'min_confidence'`), with their
//! defaults and value checks. They are stored for every type so that switching `'type'`
//! keeps what the user set.

use std::collections::BTreeMap;

use crate::error::{H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE, HalconError, Result};
use crate::tuple::{Element, Tuple};

use super::super::model_type::ModelType;

/// What values a type parameter takes.
#[derive(Clone, Copy)]
enum Kind {
    /// A real in a closed range.
    Real(f64, f64),
    /// An integer in a closed range.
    Integer(i64, i64),
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// A tuple of integers (possibly empty).
    Integers,
}

struct Spec {
    model_type: ModelType,
    name: &'static str,
    kind: Kind,
    default: fn() -> Tuple,
}

fn real(value: f64) -> Tuple {
    Tuple::single(Element::Real(value))
}

const SPECS: &[Spec] = &[
    Spec {
        model_type: ModelType::AnomalyDetection,
        name: "standard_deviation_factor",
        kind: Kind::Real(0.0, 1e6),
        default: || real(3.0),
    },
    Spec {
        model_type: ModelType::Classification,
        name: "ood_threshold",
        kind: Kind::Real(-1.0, 1e12),
        default: || real(-1.0),
    },
    Spec {
        model_type: ModelType::Detection,
        name: "instance_type",
        kind: Kind::Choice(&["rectangle1", "rectangle2"]),
        default: || Tuple::from_strings(["rectangle1"]).unwrap(),
    },
    Spec {
        model_type: ModelType::Detection,
        name: "max_num_detections",
        kind: Kind::Integer(1, 1 << 20),
        default: || Tuple::from_integers([100]),
    },
    Spec {
        model_type: ModelType::Detection,
        name: "max_overlap",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.5),
    },
    Spec {
        model_type: ModelType::Detection,
        name: "max_overlap_class_agnostic",
        kind: Kind::Real(0.0, 1.0),
        default: || real(1.0),
    },
    Spec {
        model_type: ModelType::Detection,
        name: "min_confidence",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.5),
    },
    Spec {
        model_type: ModelType::GcAnomalyDetection,
        name: "anomaly_score_tolerance",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.0),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "min_character_score",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.5),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "min_link_score",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.3),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "min_word_score",
        kind: Kind::Real(0.0, 1.0),
        default: || real(0.7),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "orientation",
        kind: Kind::Choice(&["auto", "none"]),
        default: || Tuple::from_strings(["auto"]).unwrap(),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "sort_by_line",
        kind: Kind::Choice(&["true", "false"]),
        default: || Tuple::from_strings(["true"]).unwrap(),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "tiling",
        kind: Kind::Choice(&["auto", "true", "false"]),
        default: || Tuple::from_strings(["auto"]).unwrap(),
    },
    Spec {
        model_type: ModelType::OcrDetection,
        name: "tiling_overlap",
        kind: Kind::Integer(0, 1 << 16),
        default: || Tuple::from_integers([60]),
    },
    Spec {
        model_type: ModelType::Segmentation,
        name: "ignore_class_ids",
        kind: Kind::Integers,
        default: Tuple::new,
    },
    Spec {
        model_type: ModelType::Segmentation,
        name: "tiling_overlap",
        kind: Kind::Integer(0, 1 << 16),
        default: || Tuple::from_integers([0]),
    },
];

/// The values of every type parameter.
#[derive(Clone, Debug)]
pub struct TypeParams {
    values: BTreeMap<(&'static str, &'static str), Tuple>,
}

impl Default for TypeParams {
    fn default() -> Self {
        let values = SPECS
            .iter()
            .map(|spec| ((spec.model_type.name(), spec.name), (spec.default)()))
            .collect();
        TypeParams { values }
    }
}

fn spec(model_type: ModelType, name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|spec| spec.model_type == model_type && spec.name == name)
}

/// Whether `name` is a type parameter of any type.
pub fn is_type_param(name: &str) -> bool {
    SPECS.iter().any(|spec| spec.name == name)
}

/// The type parameters of `model_type`.
pub fn names_of(model_type: ModelType) -> Vec<&'static str> {
    SPECS.iter().filter(|spec| spec.model_type == model_type).map(|spec| spec.name).collect()
}

impl TypeParams {
    /// The value of `name` for `model_type`, if it is one of its parameters.
    pub fn get(&self, model_type: ModelType, name: &str) -> Option<&Tuple> {
        let spec = spec(model_type, name)?;
        self.values.get(&(spec.model_type.name(), spec.name))
    }

    /// Sets `name` for `model_type` after checking the value; `Ok(false)` if it is not a
    /// parameter of that type.
    pub fn set(&mut self, model_type: ModelType, name: &str, value: &Tuple) -> Result<bool> {
        let Some(spec) = spec(model_type, name) else { return Ok(false) };
        let refused = |expected: String| {
            HalconError::new(
                H_ERR_DL_MODEL_UNSUPPORTED_GENVALUE,
                format!("GenParamValue: '{name}' takes {expected}, got {value}"),
            )
        };
        let elements = value.elements();
        match spec.kind {
            Kind::Real(low, high) => match elements {
                [Element::Real(v)] if (low..=high).contains(v) => {}
                [Element::Integer(v)] if (low..=high).contains(&(*v as f64)) => {}
                _ => return Err(refused(format!("one number from {low} to {high}"))),
            },
            Kind::Integer(low, high) => match elements {
                [Element::Integer(v)] if (low..=high).contains(v) => {}
                _ => return Err(refused(format!("one integer from {low} to {high}"))),
            },
            Kind::Choice(choices) => match elements {
                [Element::String(v)] if choices.contains(&v.as_str()) => {}
                _ => {
                    return Err(refused(format!(
                        "one of {}",
                        choices.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
                    )));
                }
            },
            Kind::Integers => {
                if !elements.iter().all(|element| matches!(element, Element::Integer(_))) {
                    return Err(refused("integers".to_string()));
                }
            }
        }
        self.values.insert((spec.model_type.name(), spec.name), value.clone());
        Ok(true)
    }
}

//! The host's calibration options: `GenParam` keys of `optimize_dl_model_for_inference`
//! that every device with `'calibration_precisions'` accepts, because dlopt calibrates in
//! the host for every plugin (the plugin compiles the resulting QDQ graph). They appear in
//! the device's `'optimize_for_inference_params'` next to the plugin's own keys, with
//! their defaults:
//!
//! | key | default | values |
//! |---|---|---|
//! | `'calibration_method'` | `'percentile'` | `'max'` (min/max), `'mean_min_max'` (mean of per-sample extremes), `'percentile'`, `'kl'` (entropy, as TensorRT), `'mse'` (least quantization error) |
//! | `'percentile'` | 99.999 | the percentile of `'percentile'`, in (50, 100] |
//! | `'activation_type'` | `'uint8'` | `'uint8'` (asymmetric, zero point) or `'int8'` (symmetric) |
//! | `'stat_subset_size'` | 300 | the most samples statistics are collected on (the first ones) |
//! | `'bias_correction'` | `'true'` | fast bias correction of quantized layers (`'true'` / `'false'`) |
//! | `'accuracy_aware'` | `'true'` | keep the nodes that change the model's answers on the samples float (`'true'` / `'false'`, see `accuracy_aware.rs`) |
//! | `'max_float_fraction'` | 0.25 | the most compute nodes the accuracy-aware fallback keeps float, as a fraction, in [0, 1] |
//! | `'keep_float_nodes'` | `[]` | node names that stay float |
//! | `'keep_float_op_types'` | `[]` | operator types whose nodes stay float |
//! | `'int8_nodes'` | `[]` | node names quantized even if the recipe would keep them float |
//! | `'int8_op_types'` | `[]` | operator types quantized likewise |
//!
//! A wrong value is 4321 (`H_ERR_HAI2_INVALID_PARAM`) naming the key and the value.

use crate::error::{H_ERR_HAI2_INVALID_PARAM, HalconError, Result};
use crate::plugin::value::PluginValue;
use crate::tuple::{Element, Tuple};

/// The calibration method: how an activation's range is chosen from its statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    Max,
    /// The mean over samples of each sample's minimum and maximum.
    MeanMinMax,
    /// The given percentile of the values (and the complementary one below).
    Percentile(f64),
    /// The threshold minimising the KL divergence of the quantized distribution.
    Kl,
    /// The range minimising the expected squared quantization error.
    Mse,
}

impl Method {
    /// The method's name in `GenParam` and the report.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Max => "max",
            Method::MeanMinMax => "mean_min_max",
            Method::Percentile(_) => "percentile",
            Method::Kl => "kl",
            Method::Mse => "mse",
        }
    }
}

/// The host's calibration settings, from `GenParam` with defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationConfig {
    /// How activation ranges are chosen.
    pub method: Method,
    /// Asymmetric uint8 activations (else symmetric int8).
    pub unsigned_activations: bool,
    /// The most samples statistics are collected on.
    pub stat_subset_size: usize,
    /// Whether fast bias correction runs.
    pub bias_correction: bool,
    /// Whether the accuracy-aware fallback runs.
    pub accuracy_aware: bool,
    /// The most compute nodes it keeps float, as a fraction.
    pub max_float_fraction: f64,
    /// Node names kept float.
    pub keep_float_nodes: Vec<String>,
    /// Operator types kept float.
    pub keep_float_op_types: Vec<String>,
    /// Node names forced to int8.
    pub int8_nodes: Vec<String>,
    /// Operator types forced to int8.
    pub int8_op_types: Vec<String>,
}

/// The host's keys with their defaults, in documentation order.
pub fn host_params() -> Vec<(String, PluginValue)> {
    let text = |value: &str| PluginValue::String(value.to_string());
    vec![
        ("calibration_method".into(), text("percentile")),
        ("percentile".into(), PluginValue::Real(99.999)),
        ("activation_type".into(), text("uint8")),
        ("stat_subset_size".into(), PluginValue::Int(300)),
        ("bias_correction".into(), text("true")),
        ("accuracy_aware".into(), text("true")),
        ("max_float_fraction".into(), PluginValue::Real(0.25)),
        ("keep_float_nodes".into(), PluginValue::List(Vec::new())),
        ("keep_float_op_types".into(), PluginValue::List(Vec::new())),
        ("int8_nodes".into(), PluginValue::List(Vec::new())),
        ("int8_op_types".into(), PluginValue::List(Vec::new())),
    ]
}

/// Whether `key` is one of the host's calibration keys.
pub fn is_host_key(key: &str) -> bool {
    host_params().iter().any(|(name, _)| name == key)
}

fn invalid(key: &str, value: &Tuple, expected: &str) -> HalconError {
    HalconError::new(
        H_ERR_HAI2_INVALID_PARAM,
        format!("GenParam: '{key}' takes {expected}, got {value}"),
    )
}

fn one_string<'a>(key: &str, value: &'a Tuple, expected: &str) -> Result<&'a str> {
    match value.elements() {
        [Element::String(text)] => Ok(text.as_str()),
        _ => Err(invalid(key, value, expected)),
    }
}

fn strings(key: &str, value: &Tuple) -> Result<Vec<String>> {
    value
        .elements()
        .iter()
        .map(|element| match element {
            Element::String(text) => Ok(text.as_str().to_string()),
            _ => Err(invalid(key, value, "a tuple of strings")),
        })
        .collect()
}

fn number(value: &Tuple) -> Option<f64> {
    match value.elements() {
        [Element::Integer(number)] => Some(*number as f64),
        [Element::Real(number)] => Some(*number),
        _ => None,
    }
}

impl CalibrationConfig {
    /// The settings from checked options (every host key present, defaults filled in by
    /// [`super::options::checked`]); keys that are not the host's are ignored.
    pub fn from_options(options: &[(String, Tuple)]) -> Result<CalibrationConfig> {
        let defaults = host_params();
        let get = |key: &str| -> Result<Tuple> {
            if let Some((_, value)) = options.iter().find(|(name, _)| name == key) {
                return Ok(value.clone());
            }
            let (_, default) =
                defaults.iter().find(|(name, _)| name == key).expect("one of the host's keys");
            default.to_tuple()
        };
        let percentile_value = get("percentile")?;
        let percentile = number(&percentile_value)
            .filter(|p| *p > 50.0 && *p <= 100.0)
            .ok_or_else(|| invalid("percentile", &percentile_value, "a number in (50, 100]"))?;
        let method_value = get("calibration_method")?;
        let expected = "'max', 'mean_min_max', 'percentile', 'kl' or 'mse'";
        let method = match one_string("calibration_method", &method_value, expected)? {
            "max" => Method::Max,
            "mean_min_max" => Method::MeanMinMax,
            "percentile" => Method::Percentile(percentile),
            "kl" => Method::Kl,
            "mse" => Method::Mse,
            _ => return Err(invalid("calibration_method", &method_value, expected)),
        };
        let type_value = get("activation_type")?;
        let unsigned_activations =
            match one_string("activation_type", &type_value, "'uint8' or 'int8'")? {
                "uint8" => true,
                "int8" => false,
                _ => return Err(invalid("activation_type", &type_value, "'uint8' or 'int8'")),
            };
        let size_value = get("stat_subset_size")?;
        let stat_subset_size = match size_value.elements() {
            [Element::Integer(size)] if *size > 0 => *size as usize,
            _ => return Err(invalid("stat_subset_size", &size_value, "an integer above 0")),
        };
        let bias_value = get("bias_correction")?;
        let bias_correction = match one_string("bias_correction", &bias_value, "'true' or 'false'")?
        {
            "true" => true,
            "false" => false,
            _ => return Err(invalid("bias_correction", &bias_value, "'true' or 'false'")),
        };
        let aware_value = get("accuracy_aware")?;
        let accuracy_aware = match one_string("accuracy_aware", &aware_value, "'true' or 'false'")?
        {
            "true" => true,
            "false" => false,
            _ => return Err(invalid("accuracy_aware", &aware_value, "'true' or 'false'")),
        };
        let fraction_value = get("max_float_fraction")?;
        let max_float_fraction = number(&fraction_value)
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or_else(|| invalid("max_float_fraction", &fraction_value, "a number in [0, 1]"))?;
        Ok(CalibrationConfig {
            accuracy_aware,
            max_float_fraction,
            method,
            unsigned_activations,
            stat_subset_size,
            bias_correction,
            keep_float_nodes: strings("keep_float_nodes", &get("keep_float_nodes")?)?,
            keep_float_op_types: strings("keep_float_op_types", &get("keep_float_op_types")?)?,
            int8_nodes: strings("int8_nodes", &get("int8_nodes")?)?,
            int8_op_types: strings("int8_op_types", &get("int8_op_types")?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(key: &str, value: Tuple) -> Vec<(String, Tuple)> {
        vec![(key.to_string(), value)]
    }

    #[test]
    fn defaults_and_given_values() {
        let config = CalibrationConfig::from_options(&[]).unwrap();
        assert_eq!(config.method, Method::Percentile(99.999));
        assert!(config.unsigned_activations && config.bias_correction);
        assert_eq!(config.stat_subset_size, 300);
        let config = CalibrationConfig::from_options(&[
            ("calibration_method".into(), Tuple::from_strings(["kl"]).unwrap()),
            ("activation_type".into(), Tuple::from_strings(["int8"]).unwrap()),
            ("keep_float_op_types".into(), Tuple::from_strings(["MatMul", "Add"]).unwrap()),
            ("other".into(), Tuple::from_integers([1])),
        ])
        .unwrap();
        assert_eq!(config.method, Method::Kl);
        assert!(!config.unsigned_activations);
        assert_eq!(config.keep_float_op_types, vec!["MatMul", "Add"]);
    }

    #[test]
    fn wrong_values_are_4321_naming_key_and_value() {
        for (key, value, needle) in [
            ("calibration_method", Tuple::from_strings(["entropy"]).unwrap(), "entropy"),
            ("percentile", Tuple::single(Element::Real(20.0)), "20"),
            ("activation_type", Tuple::from_strings(["uint4"]).unwrap(), "uint4"),
            ("stat_subset_size", Tuple::from_integers([0]), "0"),
            ("bias_correction", Tuple::from_strings(["yes"]).unwrap(), "yes"),
            ("keep_float_nodes", Tuple::from_integers([3]), "3"),
        ] {
            let error = CalibrationConfig::from_options(&option(key, value)).unwrap_err();
            assert_eq!(error.code, 4321);
            assert!(
                error.message.contains(key) && error.message.contains(needle),
                "{}",
                error.message
            );
        }
    }
}

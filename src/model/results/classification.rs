//! Classification results: every class, sorted by descending confidence, as
//! `'classification_class_ids'`, `'classification_class_names'`, `'classification_confidences'`.
//!
//! The network's output row is taken as probabilities when it already is one (values in
//! [0, 1] summing to 1, e.g. a final Softmax); otherwise a softmax is applied to it.

use crate::dict::{Dict, KeyRef};
use crate::error::{H_ERR_DL_INVALID_OUTPUT, HalconError, Result};
use crate::tuple::{Element, Tuple};

use super::{BatchOutputs, ModelState};

/// The result keys.
pub const KEYS: &[&str] =
    &["classification_class_ids", "classification_class_names", "classification_confidences"];

/// `scores` as probabilities (see the module documentation).
pub fn probabilities(scores: &[f32]) -> Vec<f64> {
    let sum: f64 = scores.iter().map(|&v| v as f64).sum();
    let is_distribution =
        scores.iter().all(|&v| (0.0..=1.0).contains(&v)) && (sum - 1.0).abs() < 1e-3;
    if is_distribution {
        return scores.iter().map(|&v| v as f64).collect();
    }
    let max = scores.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let exps: Vec<f64> = scores.iter().map(|&v| (v as f64 - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

pub fn results(
    state: &ModelState,
    outputs: &BatchOutputs<'_>,
    keys: &[String],
) -> Result<Vec<Dict>> {
    let (data, shape) = outputs.first_f32()?;
    if shape.len() != 2 {
        return Err(HalconError::new(
            H_ERR_DL_INVALID_OUTPUT,
            format!("a classification model needs an output of shape [N, classes], got {shape:?}"),
        ));
    }
    let classes = shape[1];
    let (ids, names) = state.class_ids_and_names(classes)?;
    let mut dicts = Vec::with_capacity(outputs.samples);
    for sample in 0..outputs.samples {
        let probabilities = probabilities(&data[sample * classes..(sample + 1) * classes]);
        let mut order: Vec<usize> = (0..classes).collect();
        // Stable: equal confidences keep class order.
        order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
        let dict = Dict::new();
        for key in keys {
            let tuple = match key.as_str() {
                "classification_class_ids" => Tuple::from_integers(order.iter().map(|&c| ids[c])),
                "classification_class_names" => {
                    Tuple::from_strings(order.iter().map(|&c| names[c].as_str()))?
                }
                _ => Tuple::from_elements(
                    order.iter().map(|&c| Element::Real(probabilities[c])).collect(),
                ),
            };
            dict.set_tuple(KeyRef::String(key), tuple);
        }
        dicts.push(dict);
    }
    Ok(dicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_get_a_softmax_and_distributions_stay() {
        let p = probabilities(&[0.1, 0.7, 0.2]);
        assert!((p[1] - 0.7).abs() < 1e-7);
        let p = probabilities(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}

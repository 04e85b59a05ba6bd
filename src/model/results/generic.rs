//! Generic results: each requested output tensor as a real tuple under its output name, and
//! its shape under `<name>_shape`. An output whose first dimension is the batch is split per
//! sample (the shape then has 1 as its first dimension); any other output goes whole to
//! every sample.

use crate::dict::{Dict, KeyRef};
use crate::error::Result;
use crate::tuple::{Element, Tuple};

use super::BatchOutputs;

pub fn results(outputs: &BatchOutputs<'_>, keys: &[String]) -> Result<Vec<Dict>> {
    let dicts: Vec<Dict> = (0..outputs.samples).map(|_| Dict::new()).collect();
    for key in keys {
        let at = outputs
            .names
            .iter()
            .position(|name| name == key)
            .expect("keys were selected from the outputs");
        let tensor = &outputs.tensors[at];
        let values: Vec<f64> = tensor.data().to_f64_vec();
        let shape = tensor.shape();
        let split = shape.first() == Some(&outputs.batch) && outputs.batch > 0;
        let per_sample = if split { values.len() / outputs.batch } else { values.len() };
        for (sample, dict) in dicts.iter().enumerate() {
            let (slice, sample_shape): (&[f64], Vec<usize>) = if split {
                let mut sample_shape = shape.to_vec();
                sample_shape[0] = 1;
                (&values[sample * per_sample..(sample + 1) * per_sample], sample_shape)
            } else {
                (&values, shape.to_vec())
            };
            dict.set_tuple(
                KeyRef::String(key),
                Tuple::from_elements(slice.iter().map(|&v| Element::Real(v)).collect()),
            );
            dict.set_tuple(
                KeyRef::String(&format!("{key}_shape")),
                Tuple::from_integers(sample_shape.iter().map(|&d| d as i64)),
            );
        }
    }
    Ok(dicts)
}

//! OCR recognition results: greedy CTC decoding of the per-step class probabilities
//! [N, steps, classes] into `'word'`, with `'char_confidences'` (the probability of each
//! emitted character) and `'word_confidence'` (their mean; 0 for an empty word).
//!
//! Decoding: per step the most probable class among the blank (class 0) and the allowed
//! characters; repeated classes collapse, blanks separate and are dropped.

use crate::dict::{Dict, KeyRef};
use crate::error::{
    H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_IDX, H_ERR_DL_INVALID_OUTPUT, HalconError, Result,
};
use crate::tuple::{Element, Tuple};

use super::super::params::alphabet::Alphabet;
use super::{BatchOutputs, ModelState};

/// The result keys.
pub const KEYS: &[&str] = &["word", "word_confidence", "char_confidences"];

/// A decoded word.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    /// The text.
    pub word: String,
    /// One probability per character.
    pub confidences: Vec<f64>,
}

/// Greedy CTC decoding of `steps` rows of `classes` probabilities.
pub fn decode(probabilities: &[f32], classes: usize, alphabet: &Alphabet) -> Decoded {
    let mut word = String::new();
    let mut confidences = Vec::new();
    let mut previous = 0usize;
    for row in probabilities.chunks_exact(classes) {
        let mut best = 0usize;
        for class in 1..classes {
            if row[class] > row[best] && alphabet.allows(class) {
                best = class;
            }
        }
        if best != 0 && best != previous {
            if let Some(character) = alphabet.character(best) {
                word.push_str(character);
                confidences.push(row[best] as f64);
            }
        }
        previous = best;
    }
    Decoded { word, confidences }
}

pub fn results(
    state: &ModelState,
    outputs: &BatchOutputs<'_>,
    keys: &[String],
) -> Result<Vec<Dict>> {
    let (data, shape) = outputs.first_f32()?;
    if shape.len() != 3 {
        return Err(HalconError::new(
            H_ERR_DL_INVALID_OUTPUT,
            format!(
                "an ocr_recognition model needs an output of shape [N, steps, classes], got {shape:?}"
            ),
        ));
    }
    let (steps, classes) = (shape[1], shape[2]);
    let alphabet = &state.alphabet;
    if alphabet.len() + 1 != classes {
        return Err(HalconError::new(
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_IDX,
            format!(
                "the model outputs {classes} classes (blank + {} characters), but 'alphabet_internal' has {} characters",
                classes - 1,
                alphabet.len()
            ),
        ));
    }
    let mut dicts = Vec::with_capacity(outputs.samples);
    for sample in 0..outputs.samples {
        let decoded = decode(
            &data[sample * steps * classes..(sample + 1) * steps * classes],
            classes,
            alphabet,
        );
        let dict = Dict::new();
        for key in keys {
            let tuple = match key.as_str() {
                "word" => Tuple::from_strings([decoded.word.as_str()])?,
                "word_confidence" => {
                    let mean = if decoded.confidences.is_empty() {
                        0.0
                    } else {
                        decoded.confidences.iter().sum::<f64>() / decoded.confidences.len() as f64
                    };
                    Tuple::single(Element::Real(mean))
                }
                _ => Tuple::from_elements(
                    decoded.confidences.iter().map(|&c| Element::Real(c)).collect(),
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
    fn greedy_ctc_collapses_repeats_and_drops_blanks() {
        let alphabet = Alphabet::from_internal(vec!["a".into(), "b".into()]);
        // steps: a, a, blank, a, b, b  -> "aab"
        let rows: [[f32; 3]; 6] = [
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.9, 0.05, 0.05],
            [0.1, 0.6, 0.3],
            [0.1, 0.2, 0.7],
            [0.1, 0.1, 0.8],
        ];
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let decoded = decode(&flat, 3, &alphabet);
        assert_eq!(decoded.word, "aab");
        assert_eq!(decoded.confidences, vec![0.8f32 as f64, 0.6f32 as f64, 0.7f32 as f64]);
        let mut restricted = alphabet.clone();
        restricted.restrict(&["b".into()]).unwrap();
        assert_eq!(decode(&flat, 3, &restricted).word, "b");
    }
}

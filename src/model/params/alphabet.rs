//! The alphabet of an OCR recognition model: which character each network class stands for.
//!
//! Class 0 is the CTC blank; class `c > 0` stands for `internal[mapping[c - 1]]`.
//! `'alphabet_internal'` is the network's own list, `'alphabet_mapping'` re-maps classes
//! without retraining, and setting `'alphabet'` to a subset restricts which characters
//! recognition may produce.

use crate::error::{
    H_ERR_DEEP_OCR_MODEL_ALPHABET_NOT_UNIQUE, H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET,
    H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_IDX,
    H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_LEN,
    H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_NO_ALPHABET, H_ERR_DEEP_OCR_MODEL_UNKNOWN_CHAR,
    HalconError, Result,
};

/// See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alphabet {
    internal: Vec<String>,
    mapping: Vec<usize>,
    /// Per internal index: whether recognition may produce it.
    allowed: Vec<bool>,
}

fn check_single_characters(name: &str, characters: &[String]) -> Result<()> {
    if let Some(bad) = characters.iter().find(|c| c.chars().count() != 1) {
        return Err(HalconError::new(
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET,
            format!("GenParamValue: every entry of '{name}' must be one character, got {bad:?}"),
        ));
    }
    Ok(())
}

impl Alphabet {
    /// An alphabet whose class `c > 0` is `characters[c - 1]`, unmapped and unrestricted.
    pub fn from_internal(characters: Vec<String>) -> Alphabet {
        let count = characters.len();
        Alphabet { internal: characters, mapping: (0..count).collect(), allowed: vec![true; count] }
    }

    /// Parses an ONNX `character` metadata entry (one character per line, as PaddleOCR
    /// exports it); a space is appended, as PaddleOCR's decoder does.
    pub fn from_character_list(text: &str) -> Alphabet {
        let mut characters: Vec<String> = text.lines().map(|line| line.to_string()).collect();
        characters.push(" ".to_string());
        Alphabet::from_internal(characters)
    }

    /// Whether any alphabet is set.
    pub fn is_empty(&self) -> bool {
        self.internal.is_empty()
    }

    /// Number of characters (network classes minus the blank).
    pub fn len(&self) -> usize {
        self.internal.len()
    }

    /// `'alphabet_internal'`.
    pub fn internal(&self) -> &[String] {
        &self.internal
    }

    /// `'alphabet_mapping'`.
    pub fn mapping(&self) -> Vec<i64> {
        self.mapping.iter().map(|&at| at as i64).collect()
    }

    /// `'alphabet'`: the distinct characters recognition may produce, in class order.
    pub fn alphabet(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        (0..self.internal.len())
            .filter(|&at| self.allowed[at])
            .map(|at| self.internal[self.mapping[at]].as_str())
            .filter(|character| seen.insert(*character))
            .collect()
    }

    /// The character of network class `class` (`None` for the blank or out of range).
    pub fn character(&self, class: usize) -> Option<&str> {
        let at = class.checked_sub(1)?;
        Some(self.internal[*self.mapping.get(at)?].as_str())
    }

    /// Whether recognition may produce network class `class` (the blank always).
    pub fn allows(&self, class: usize) -> bool {
        class == 0 || self.allowed.get(class - 1).copied().unwrap_or(false)
    }

    /// Sets `'alphabet_internal'` (resets mapping and restriction).
    pub fn set_internal(&mut self, characters: Vec<String>) -> Result<()> {
        check_single_characters("alphabet_internal", &characters)?;
        *self = Alphabet::from_internal(characters);
        Ok(())
    }

    /// Sets `'alphabet_mapping'`: one index into the internal alphabet per internal entry.
    pub fn set_mapping(&mut self, mapping: &[i64]) -> Result<()> {
        if self.internal.is_empty() {
            return Err(HalconError::new(
                H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_NO_ALPHABET,
                "'alphabet_mapping' needs an internal alphabet ('alphabet_internal') first",
            ));
        }
        if mapping.len() != self.internal.len() {
            return Err(HalconError::new(
                H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_LEN,
                format!(
                    "'alphabet_mapping' has {} entries, the internal alphabet {}",
                    mapping.len(),
                    self.internal.len()
                ),
            ));
        }
        if let Some(bad) = mapping.iter().find(|&&at| at < 0 || at as usize >= self.internal.len())
        {
            return Err(HalconError::new(
                H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_IDX,
                format!(
                    "'alphabet_mapping' index {bad} is outside 0 to {}",
                    self.internal.len() - 1
                ),
            ));
        }
        self.mapping = mapping.iter().map(|&at| at as usize).collect();
        Ok(())
    }

    /// Sets `'alphabet'`: recognition may only produce these characters, which must be
    /// single, unique characters of the internal alphabet.
    pub fn restrict(&mut self, characters: &[String]) -> Result<()> {
        check_single_characters("alphabet", characters)?;
        let mut seen = std::collections::HashSet::new();
        if let Some(duplicate) = characters.iter().find(|c| !seen.insert(c.as_str())) {
            return Err(HalconError::new(
                H_ERR_DEEP_OCR_MODEL_ALPHABET_NOT_UNIQUE,
                format!("'alphabet' contains {duplicate:?} more than once"),
            ));
        }
        let produced: Vec<&str> =
            (0..self.internal.len()).map(|at| self.internal[self.mapping[at]].as_str()).collect();
        if let Some(unknown) = characters.iter().find(|c| !produced.contains(&c.as_str())) {
            return Err(HalconError::new(
                H_ERR_DEEP_OCR_MODEL_UNKNOWN_CHAR,
                format!("'alphabet' character {unknown:?} is not in the model's alphabet"),
            ));
        }
        self.allowed = produced.iter().map(|c| seen.contains(c)).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abc() -> Alphabet {
        Alphabet::from_internal(vec!["a".into(), "b".into(), "c".into()])
    }

    #[test]
    fn classes_map_through_the_mapping_and_restriction() {
        let mut alphabet = abc();
        assert_eq!(alphabet.character(0), None);
        assert_eq!(alphabet.character(2), Some("b"));
        alphabet.set_mapping(&[0, 0, 2]).unwrap();
        assert_eq!(alphabet.character(2), Some("a"));
        assert_eq!(alphabet.alphabet(), vec!["a", "c"]);
        alphabet.restrict(&["c".into()]).unwrap();
        assert!(!alphabet.allows(1) && alphabet.allows(3) && alphabet.allows(0));
    }

    #[test]
    fn bad_alphabets_are_refused_with_halcon_numbers() {
        let mut alphabet = abc();
        assert_eq!(
            alphabet.restrict(&["ab".into()]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET
        );
        assert_eq!(
            alphabet.restrict(&["a".into(), "a".into()]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_ALPHABET_NOT_UNIQUE
        );
        assert_eq!(
            alphabet.restrict(&["z".into()]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_UNKNOWN_CHAR
        );
        assert_eq!(
            alphabet.set_mapping(&[0, 1]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_LEN
        );
        assert_eq!(
            alphabet.set_mapping(&[0, 1, 3]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_IDX
        );
        let mut empty = Alphabet::default();
        assert_eq!(
            empty.set_mapping(&[]).unwrap_err().code,
            H_ERR_DEEP_OCR_MODEL_INVALID_ALPHABET_MAPPING_NO_ALPHABET
        );
    }
}

//! Dictionaries (`create_dict` and friends): keys (strings or integers) mapped to tuples or
//! iconic objects, in insertion order.
//!
//! A dict is a handle object; tuples stored in it share the handles they contain (HALCON
//! semantics), so a dict may hold other dicts, images, models.
//!
//! Locking: each dict has its own reader-writer lock, held only while its map is read or
//! changed; values that a change displaces are dropped after the lock is released (dropping a
//! handle may destroy an object and run user code). Operations that walk nested dicts (deep
//! copy, files) first take a [`Dict::snapshot`] and never hold two dict locks at once.

mod copy;
pub mod files;
mod key;
mod nesting;

use crate::read_mostly_lock::ReadMostlyLock;
use indexmap::IndexMap;

pub use copy::{CopyOptions, UnserializablePolicy, copy_dict};
pub use key::{DictKey, KeyRef};

use crate::error::{
    H_ERR_DICT_INVALID_INDEX, H_ERR_DICT_KEY, H_ERR_DICT_TUPLE_LENGTH, H_ERR_WT_CTRL_EXPECTED,
    H_ERR_WT_ICONIC_EXPECTED, HalconError, Result,
};
use crate::handle::{HandleKind, HandleObject, HandleRef};
use crate::tuple::{Element, Tuple};

/// The largest tuple `set_dict_tuple_at` grows a tuple to (an index beyond is 2897).
pub const MAX_TUPLE_AT_LENGTH: usize = 1 << 27;

/// The maximum nesting depth of dicts in dicts that copies and files follow
/// (deeper gives `H_ERR_DICT_NESTED_TOO_DEEP`, 2899).
pub const MAX_NESTING_DEPTH: usize = 64;

/// What a key maps to.
#[derive(Clone, Debug)]
pub enum DictValue {
    /// A tuple of control values.
    Tuple(Tuple),
    /// An iconic object (an image handle).
    Object(HandleRef),
}

impl DictValue {
    /// HALCON's name of the value's kind, as `get_dict_param(..., 'key_data_type', ...)`
    /// reports it.
    pub fn data_type(&self) -> &'static str {
        match self {
            DictValue::Tuple(_) => "tuple",
            DictValue::Object(_) => "object",
        }
    }
}

/// A dictionary.
#[derive(Default)]
pub struct Dict {
    entries: ReadMostlyLock<IndexMap<DictKey, DictValue>>,
}

impl HandleObject for Dict {
    const KIND: HandleKind = HandleKind::Dict;
}

fn missing_key(key: KeyRef<'_>) -> HalconError {
    HalconError::new(H_ERR_DICT_KEY, format!("Key {key} does not exist in the dict"))
}

impl Dict {
    /// An empty dict.
    pub fn new() -> Dict {
        Dict::default()
    }

    /// A dict holding `entries` in order (later duplicates replace earlier ones).
    pub fn from_entries(entries: impl IntoIterator<Item = (DictKey, DictValue)>) -> Dict {
        Dict { entries: ReadMostlyLock::new(entries.into_iter().collect()) }
    }

    /// A shallow copy of the entries, in order: tuples are copied, handles shared.
    pub fn snapshot(&self) -> Vec<(DictKey, DictValue)> {
        self.entries.read().iter().map(|(key, value)| (key.clone(), value.clone())).collect()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether the dict has no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the tuple stored under `key`.
    ///
    /// Errors: `H_ERR_DICT_KEY` (2894) if the key is missing, `H_ERR_WT_CTRL_EXPECTED` (2460)
    /// if it holds an object.
    pub fn get_tuple(&self, key: KeyRef<'_>) -> Result<Tuple> {
        let entries = self.entries.read();
        match entries.get(&key) {
            Some(DictValue::Tuple(tuple)) => Ok(tuple.clone()),
            Some(DictValue::Object(_)) => Err(HalconError::new(
                H_ERR_WT_CTRL_EXPECTED,
                format!("key {key} holds an iconic object, not a tuple: use get_dict_object"),
            )),
            None => Err(missing_key(key)),
        }
    }

    /// Stores `tuple` under `key`, replacing what was there.
    pub fn set_tuple(&self, key: KeyRef<'_>, tuple: Tuple) {
        self.set_value(key, DictValue::Tuple(tuple));
    }

    /// Stores an iconic object under `key`, replacing what was there.
    pub fn set_object(&self, key: KeyRef<'_>, object: HandleRef) {
        self.set_value(key, DictValue::Object(object));
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn set_value(&self, key: KeyRef<'_>, value: DictValue) {
        let displaced = {
            let mut entries = self.entries.write();
            match entries.get_mut(&key) {
                Some(slot) => Some(std::mem::replace(slot, value)),
                None => {
                    entries.insert(key.to_owned_key(), value);
                    None
                }
            }
        };
        drop(displaced);
    }

    /// The object stored under `key`.
    ///
    /// Errors: 2894 if the key is missing, `H_ERR_WT_ICONIC_EXPECTED` (2461) if it holds a
    /// tuple.
    pub fn get_object(&self, key: KeyRef<'_>) -> Result<HandleRef> {
        let entries = self.entries.read();
        match entries.get(&key) {
            Some(DictValue::Object(object)) => Ok(object.clone()),
            Some(DictValue::Tuple(_)) => Err(HalconError::new(
                H_ERR_WT_ICONIC_EXPECTED,
                format!("key {key} holds a tuple, not an iconic object: use get_dict_tuple"),
            )),
            None => Err(missing_key(key)),
        }
    }

    /// Sets the elements at `indices` of the tuple under `key` to `values` (HALCON's
    /// `set_dict_tuple_at`): one value for all indices, or one value per index.
    ///
    /// A missing key, or a key holding an object, gets a new tuple. An index beyond the end
    /// extends the tuple; the gap is filled with the integer 0 (HDevelop's rule for tuple
    /// assignment). Errors, which change nothing: `H_ERR_DICT_INVALID_INDEX` (2897) for a
    /// negative index or one that would grow the tuple past [`MAX_TUPLE_AT_LENGTH`],
    /// `H_ERR_DICT_TUPLE_LENGTH` (2895) if `values` has neither 1 nor `indices.len()`
    /// elements.
    pub fn set_tuple_at(&self, key: KeyRef<'_>, indices: &[i64], values: &[Element]) -> Result<()> {
        if values.len() != 1 && values.len() != indices.len() {
            return Err(HalconError::new(
                H_ERR_DICT_TUPLE_LENGTH,
                format!(
                    "{} values for {} indices under key {key}: give one value, or one per index",
                    values.len(),
                    indices.len()
                ),
            ));
        }
        if let Some(&index) =
            indices.iter().find(|&&index| !(0..MAX_TUPLE_AT_LENGTH as i64).contains(&index))
        {
            return Err(HalconError::new(
                H_ERR_DICT_INVALID_INDEX,
                format!(
                    "index {index} under key {key} is invalid (allowed: 0 to {})",
                    MAX_TUPLE_AT_LENGTH - 1
                ),
            ));
        }
        let needed = indices.iter().map(|&index| index as usize + 1).max().unwrap_or(0);
        let mut displaced = Vec::with_capacity(indices.len() + 1);
        {
            let mut entries = self.entries.write();
            let slot = match entries.get_mut(&key) {
                Some(slot) => slot,
                None => {
                    let (at, _) =
                        entries.insert_full(key.to_owned_key(), DictValue::Tuple(Tuple::new()));
                    &mut entries[at]
                }
            };
            if let DictValue::Object(_) = slot {
                displaced.push(std::mem::replace(slot, DictValue::Tuple(Tuple::new())));
            }
            let DictValue::Tuple(tuple) = slot else { unreachable!("replaced above") };
            if needed > tuple.len() {
                let start = tuple.len();
                tuple.resize(needed)?;
                for index in start..needed {
                    tuple.replace(index as i64, Element::Integer(0))?;
                }
            }
            for (at, &index) in indices.iter().enumerate() {
                let value = values[if values.len() == 1 { 0 } else { at }].clone();
                displaced.push(DictValue::Tuple(Tuple::single(tuple.replace(index, value)?)));
            }
        }
        drop(displaced);
        Ok(())
    }

    /// Removes `keys`. Keys that are present are removed even if others are missing; a
    /// missing key is then reported as `H_ERR_DICT_KEY` (2894), as HALCON does.
    pub fn remove_keys(&self, keys: &[KeyRef<'_>]) -> Result<()> {
        let mut displaced = Vec::with_capacity(keys.len());
        let mut missing = None;
        {
            let mut entries = self.entries.write();
            for key in keys {
                match entries.shift_remove(key) {
                    Some(value) => displaced.push(value),
                    None => missing = missing.or(Some(*key)),
                }
            }
        }
        drop(displaced);
        match missing {
            Some(key) => Err(missing_key(key)),
            None => Ok(()),
        }
    }

    /// All keys in insertion order.
    pub fn keys(&self) -> Vec<DictKey> {
        self.entries.read().keys().cloned().collect()
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: KeyRef<'_>) -> bool {
        self.entries.read().contains_key(&key)
    }

    /// `'tuple'`, `'object'`, or `'none'` for a missing key.
    pub fn key_data_type(&self, key: KeyRef<'_>) -> &'static str {
        self.entries.read().get(&key).map_or("none", DictValue::data_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_and_replace_keep_insertion_order() {
        let dict = Dict::new();
        dict.set_tuple(KeyRef::String("b"), Tuple::from_integers([1]));
        dict.set_tuple(KeyRef::Integer(3), Tuple::from_integers([2]));
        dict.set_tuple(KeyRef::String("b"), Tuple::from_integers([5, 6]));
        assert_eq!(dict.keys(), vec![DictKey::String("b".into()), DictKey::Integer(3)]);
        assert_eq!(dict.get_tuple(KeyRef::String("b")).unwrap().to_string(), "[5, 6]");
        assert_eq!(dict.get_tuple(KeyRef::String("3")).unwrap_err().code, H_ERR_DICT_KEY);
    }

    #[test]
    fn set_tuple_at_extends_with_zeros_and_refuses_bad_input_without_changes() {
        let dict = Dict::new();
        let key = KeyRef::String("t");
        dict.set_tuple(key, Tuple::from_integers([5, 6]));
        dict.set_tuple_at(key, &[0, 3], &[Element::Integer(9)]).unwrap();
        assert_eq!(dict.get_tuple(key).unwrap().to_string(), "[9, 6, 0, 9]");
        let error = dict.set_tuple_at(key, &[1, -1], &[Element::Integer(7)]).unwrap_err();
        assert_eq!(error.code, H_ERR_DICT_INVALID_INDEX);
        let error = dict
            .set_tuple_at(key, &[1, 2, 3], &[Element::Integer(7), Element::Integer(8)])
            .unwrap_err();
        assert_eq!(error.code, H_ERR_DICT_TUPLE_LENGTH);
        assert_eq!(dict.get_tuple(key).unwrap().to_string(), "[9, 6, 0, 9]");
        dict.set_tuple_at(KeyRef::Integer(1), &[1], &[Element::Real(0.5)]).unwrap();
        assert_eq!(dict.get_tuple(KeyRef::Integer(1)).unwrap().to_string(), "[0, 0.5]");
    }

    #[test]
    fn remove_keys_removes_present_keys_and_reports_a_missing_one() {
        let dict = Dict::new();
        dict.set_tuple(KeyRef::String("a"), Tuple::new());
        dict.set_tuple(KeyRef::String("b"), Tuple::new());
        let error = dict.remove_keys(&[KeyRef::String("a"), KeyRef::String("x")]).unwrap_err();
        assert_eq!(error.code, H_ERR_DICT_KEY);
        assert_eq!(dict.keys(), vec![DictKey::String("b".into())]);
    }
}

//! Dict keys: strings or integers (HALCON allows both; the integer 1 and the string '1' are
//! different keys).

use std::fmt;

use indexmap::Equivalent;

use crate::error::Result;
use crate::tuple::Element;
use crate::tuple::params::Param;

/// A key stored in a dict.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DictKey {
    /// An integer key.
    Integer(i64),
    /// A string key.
    String(Box<str>),
}

/// A key to look up, borrowed from a tuple element; hashes exactly like [`DictKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    /// An integer key.
    Integer(i64),
    /// A string key.
    String(&'a str),
}

impl Equivalent<DictKey> for KeyRef<'_> {
    fn equivalent(&self, key: &DictKey) -> bool {
        match (self, key) {
            (KeyRef::Integer(a), DictKey::Integer(b)) => a == b,
            (KeyRef::String(a), DictKey::String(b)) => *a == &**b,
            _ => false,
        }
    }
}

impl KeyRef<'_> {
    /// An owned copy for storing.
    pub fn to_owned_key(self) -> DictKey {
        match self {
            KeyRef::Integer(value) => DictKey::Integer(value),
            KeyRef::String(text) => DictKey::String(text.into()),
        }
    }

    /// Reads a key from a tuple element: strings and integers are keys, anything else is a
    /// wrong-type error of `param`.
    pub fn from_element<'a>(param: &Param<'_>, element: &'a Element) -> Result<KeyRef<'a>> {
        match element {
            Element::Integer(value) => Ok(KeyRef::Integer(*value)),
            Element::String(text) => Ok(KeyRef::String(text.as_str())),
            other => Err(param.wrong_type(format_args!(
                "a dict key is a string or an integer, got {} {other}",
                other.type_name()
            ))),
        }
    }

    /// Reads the single key of `param` (exactly one value).
    pub fn single<'a>(param: &Param<'a>) -> Result<KeyRef<'a>> {
        Self::from_element(param, param.single()?)
    }
}

impl DictKey {
    /// The key borrowed for lookups.
    pub fn as_key_ref(&self) -> KeyRef<'_> {
        match self {
            DictKey::Integer(value) => KeyRef::Integer(*value),
            DictKey::String(text) => KeyRef::String(text),
        }
    }

    /// The key as a tuple element.
    pub fn to_element(&self) -> Element {
        match self {
            DictKey::Integer(value) => Element::Integer(*value),
            // Stored string keys came from tuple strings or checked files: no NUL inside.
            DictKey::String(text) => Element::string(text).unwrap_or_default(),
        }
    }
}

impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Integer(value) => write!(f, "{value}"),
            KeyRef::String(text) => write!(f, "'{text}'"),
        }
    }
}

impl fmt::Display for DictKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_key_ref().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, RandomState};

    #[test]
    fn borrowed_and_owned_keys_hash_alike() {
        let state = RandomState::new();
        for key in [DictKey::Integer(7), DictKey::String("seven".into())] {
            assert_eq!(state.hash_one(&key), state.hash_one(key.as_key_ref()));
        }
        assert!(!KeyRef::String("1").equivalent(&DictKey::Integer(1)));
    }
}

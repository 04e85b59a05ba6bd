//! Tuples: HALCON's control values. A tuple is an ordered list of elements, each an integer
//! (64-bit), a real (double), a UTF-8 string or a handle, freely mixed.

pub mod params;
mod string;

use std::fmt;

pub use string::TupleString;

use crate::error::{
    H_ERR_CTPL_WIDX, H_ERR_HANDLE_CLEARED, H_ERR_HANDLE_NULL, HalconError, Herror, Result,
};
use crate::handle::{HandleKind, HandleRef};

/// Element type codes, as `get_type` returns them (HALCON/C's values).
pub mod element_type {
    /// The element has no value yet (`create_tuple` makes such elements).
    pub const UNDEF_PAR: i32 = 0;
    /// A 64-bit signed integer.
    pub const LONG_PAR: i32 = 1;
    /// A double-precision real.
    pub const DOUBLE_PAR: i32 = 2;
    /// A UTF-8 string.
    pub const STRING_PAR: i32 = 4;
    /// A tuple whose elements have different types (a tuple-level type only).
    pub const MIXED_PAR: i32 = 8;
    /// A handle.
    pub const HANDLE_PAR: i32 = 16;
}

/// A handle as a tuple element: a counted reference, or a number that does not refer to a
/// live object (0, cleared, or never issued) together with the error its use reports.
#[derive(Clone, Debug)]
pub enum HandleValue {
    /// A reference to a handle (possibly cleared since).
    Live(HandleRef),
    /// A number that did not refer to a live object when it was stored.
    Invalid {
        /// The number as given.
        number: u64,
        /// The error using it reports (2453 NULL, 2454 cleared, 2450 unknown).
        code: Herror,
    },
}

impl HandleValue {
    /// Makes a handle element from a raw number C code passed in.
    pub fn from_number(number: u64) -> HandleValue {
        match HandleRef::from_number(number) {
            Ok(handle) => HandleValue::Live(handle),
            Err(error) => HandleValue::Invalid { number, code: error.code },
        }
    }

    /// The number C code sees.
    pub fn number(&self) -> u64 {
        match self {
            HandleValue::Live(handle) => handle.number(),
            HandleValue::Invalid { number, .. } => *number,
        }
    }

    /// Whether the handle refers to an object that has not been cleared.
    pub fn is_valid(&self) -> bool {
        matches!(self, HandleValue::Live(handle) if !handle.is_cleared())
    }

    /// The reference, or the error using this value reports.
    pub fn as_ref(&self) -> Result<&HandleRef> {
        match self {
            HandleValue::Live(handle) => Ok(handle),
            HandleValue::Invalid { number: 0, .. } => {
                Err(HalconError::new(H_ERR_HANDLE_NULL, "the handle is NULL (0)"))
            }
            HandleValue::Invalid { number, code } if *code == H_ERR_HANDLE_CLEARED => {
                Err(HalconError::new(
                    *code,
                    format!("handle {number:#x} was cleared (or its object was destroyed)"),
                ))
            }
            HandleValue::Invalid { number, code } => {
                Err(HalconError::new(*code, format!("{number:#x} is not a handle issued by dlopt")))
            }
        }
    }
}

/// One tuple element.
#[derive(Clone, Debug, Default)]
pub enum Element {
    /// No value yet (HALCON's `UNDEF_PAR`).
    #[default]
    Undefined,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// A UTF-8 string.
    String(TupleString),
    /// A handle.
    Handle(HandleValue),
}

impl Element {
    /// The element's type code (see [`element_type`]).
    pub fn type_code(&self) -> i32 {
        match self {
            Element::Undefined => element_type::UNDEF_PAR,
            Element::Integer(_) => element_type::LONG_PAR,
            Element::Real(_) => element_type::DOUBLE_PAR,
            Element::String(_) => element_type::STRING_PAR,
            Element::Handle(_) => element_type::HANDLE_PAR,
        }
    }

    /// A short name of the element's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Element::Undefined => "undefined",
            Element::Integer(_) => "integer",
            Element::Real(_) => "real",
            Element::String(_) => "string",
            Element::Handle(_) => "handle",
        }
    }

    /// A string element from Rust text (which must not contain NUL).
    pub fn string(text: &str) -> Result<Element> {
        TupleString::new(text).map(Element::String)
    }

    /// A handle element holding a reference.
    pub fn handle(handle: HandleRef) -> Element {
        Element::Handle(HandleValue::Live(handle))
    }

    /// The semantic type as `tuple_sem_type` reports it.
    pub fn semantic_type(&self) -> &'static str {
        match self {
            Element::Undefined => "any",
            Element::Integer(_) => "integer",
            Element::Real(_) => "real",
            Element::String(_) => "string",
            Element::Handle(HandleValue::Live(handle)) if !handle.is_cleared() => {
                handle.kind().semantic_type()
            }
            Element::Handle(_) => "handle",
        }
    }
}

impl fmt::Display for Element {
    /// Formats the element as HALCON prints control values: `42`, `0.5`, `'text'`, `H<...>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Undefined => write!(f, "<undefined>"),
            Element::Integer(value) => write!(f, "{value}"),
            Element::Real(value) => write!(f, "{value:?}"),
            Element::String(text) => {
                let text = text.as_str();
                if text.chars().count() > 64 {
                    let head: String = text.chars().take(61).collect();
                    write!(f, "'{head}...'")
                } else {
                    write!(f, "'{text}'")
                }
            }
            Element::Handle(handle) => write!(f, "H{:#x}", handle.number()),
        }
    }
}

/// A tuple of control values.
#[derive(Clone, Debug, Default)]
pub struct Tuple {
    elements: Vec<Element>,
}

impl Tuple {
    /// The empty tuple.
    pub fn new() -> Tuple {
        Tuple { elements: Vec::new() }
    }

    /// A tuple of `length` undefined elements (`create_tuple`).
    pub fn with_undefined(length: usize) -> Result<Tuple> {
        let mut elements = Vec::new();
        elements
            .try_reserve_exact(length)
            .map_err(|_| HalconError::out_of_memory("a tuple", length * size_of::<Element>()))?;
        elements.resize_with(length, Element::default);
        Ok(Tuple { elements })
    }

    /// A tuple of the given elements.
    pub fn from_elements(elements: Vec<Element>) -> Tuple {
        Tuple { elements }
    }

    /// A one-element tuple.
    pub fn single(element: Element) -> Tuple {
        Tuple { elements: vec![element] }
    }

    /// A tuple of integers.
    pub fn from_integers(values: impl IntoIterator<Item = i64>) -> Tuple {
        Tuple { elements: values.into_iter().map(Element::Integer).collect() }
    }

    /// A tuple of strings (each must not contain NUL).
    pub fn from_strings<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Result<Tuple> {
        let elements =
            values.into_iter().map(|text| Element::string(text.as_ref())).collect::<Result<_>>()?;
        Ok(Tuple { elements })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the tuple has no elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The elements.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// Consumes the tuple, giving its elements.
    pub fn into_elements(self) -> Vec<Element> {
        self.elements
    }

    /// The element at `index`, or `H_ERR_CTPL_WIDX` (2402) naming the index and the length.
    pub fn element(&self, index: i64) -> Result<&Element> {
        let at = self.checked_index(index)?;
        Ok(&self.elements[at])
    }

    /// Replaces the element at `index` (which must exist); returns the old one so the caller
    /// can drop it outside any lock.
    pub fn replace(&mut self, index: i64, element: Element) -> Result<Element> {
        let at = self.checked_index(index)?;
        Ok(std::mem::replace(&mut self.elements[at], element))
    }

    /// Appends an element.
    pub fn push(&mut self, element: Element) {
        self.elements.push(element);
    }

    /// Changes the length: new elements are undefined, removed ones are returned.
    pub fn resize(&mut self, length: usize) -> Result<Vec<Element>> {
        if length > self.elements.len() {
            let more = length - self.elements.len();
            self.elements
                .try_reserve_exact(more)
                .map_err(|_| HalconError::out_of_memory("a tuple", more * size_of::<Element>()))?;
            self.elements.resize_with(length, Element::default);
            Ok(Vec::new())
        } else {
            Ok(self.elements.split_off(length))
        }
    }

    fn checked_index(&self, index: i64) -> Result<usize> {
        usize::try_from(index).ok().filter(|&at| at < self.elements.len()).ok_or_else(|| {
            HalconError::new(
                H_ERR_CTPL_WIDX,
                format!("index {index} is out of range for a tuple of length {}", self.len()),
            )
        })
    }

    /// The tuple-level type: the common element type, `MIXED_PAR` if they differ,
    /// `UNDEF_PAR` if empty.
    pub fn type_code(&self) -> i32 {
        let mut types = self.elements.iter().map(Element::type_code);
        match types.next() {
            None => element_type::UNDEF_PAR,
            Some(first) => {
                if types.all(|other| other == first) {
                    first
                } else {
                    element_type::MIXED_PAR
                }
            }
        }
    }

    /// The elements as integers, or a message naming the first element that is not one.
    pub fn to_integers(&self) -> std::result::Result<Vec<i64>, String> {
        self.elements
            .iter()
            .enumerate()
            .map(|(at, element)| match element {
                Element::Integer(value) => Ok(*value),
                other => {
                    Err(format!("element {at} is {} {other}, not an integer", other.type_name()))
                }
            })
            .collect()
    }

    /// Whether any element refers to a handle of `kind` (used to decide on cycle checks).
    pub fn holds_handle_of_kind(&self, kind: HandleKind) -> bool {
        self.elements.iter().any(|element| {
            matches!(element, Element::Handle(HandleValue::Live(handle)) if handle.kind() == kind)
        })
    }
}

impl fmt::Display for Tuple {
    /// Formats as HALCON prints tuples: `[1, 'a', 0.5]` (at most 16 elements shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.elements.len() == 1 {
            return write!(f, "{}", self.elements[0]);
        }
        write!(f, "[")?;
        for (at, element) in self.elements.iter().take(16).enumerate() {
            if at > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{element}")?;
        }
        if self.elements.len() > 16 {
            write!(f, ", ... ({} elements)", self.elements.len())?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_type_is_common_or_mixed() {
        assert_eq!(Tuple::new().type_code(), element_type::UNDEF_PAR);
        assert_eq!(Tuple::from_integers([1, 2]).type_code(), element_type::LONG_PAR);
        let mixed = Tuple::from_elements(vec![Element::Integer(1), Element::Real(2.0)]);
        assert_eq!(mixed.type_code(), element_type::MIXED_PAR);
    }

    #[test]
    fn out_of_range_index_names_index_and_length() {
        let tuple = Tuple::from_integers([1, 2, 3]);
        let error = tuple.element(3).unwrap_err();
        assert_eq!(error.code, H_ERR_CTPL_WIDX);
        assert!(error.message.contains("index 3") && error.message.contains("length 3"));
        assert!(tuple.element(-1).is_err());
    }

    #[test]
    fn display_matches_halcon_notation() {
        let tuple = Tuple::from_elements(vec![
            Element::Integer(1),
            Element::string("a").unwrap(),
            Element::Real(0.5),
        ]);
        assert_eq!(tuple.to_string(), "[1, 'a', 0.5]");
    }
}

//! Reading operator parameters out of tuples with HALCON's error numbering.
//!
//! A [`Param`] is one control parameter of an operator: its tuple, its 1-based position
//! (HALCON numbers wrong type / value / count as 1200 / 1300 / 1400 + position) and its
//! HALCON name, which every message names together with the offending value.

use crate::error::{HalconError, Result};
use crate::handle::{HandleObject, HandleRef, ObjectGuard};

use super::{Element, Tuple};

/// One control parameter of an operator call.
#[derive(Clone, Copy)]
pub struct Param<'a> {
    /// The values passed.
    pub tuple: &'a Tuple,
    /// The 1-based position among the operator's control parameters.
    pub position: u32,
    /// The HALCON name of the parameter, e.g. `"DictHandle"`.
    pub name: &'static str,
}

impl<'a> Param<'a> {
    /// Describes parameter `position` named `name` holding `tuple`.
    pub fn new(tuple: &'a Tuple, position: u32, name: &'static str) -> Param<'a> {
        Param { tuple, position, name }
    }

    /// A wrong-value error (1300 + position) whose message names the parameter.
    pub fn wrong_value(&self, message: impl std::fmt::Display) -> HalconError {
        HalconError::wrong_value(self.position, format!("{}: {message}", self.name))
    }

    /// A wrong-type error (1200 + position) whose message names the parameter.
    pub fn wrong_type(&self, message: impl std::fmt::Display) -> HalconError {
        HalconError::wrong_type(self.position, format!("{}: {message}", self.name))
    }

    /// A wrong-count error (1400 + position) whose message names the parameter.
    pub fn wrong_count(&self, message: impl std::fmt::Display) -> HalconError {
        HalconError::wrong_count(self.position, format!("{}: {message}", self.name))
    }

    /// Requires exactly `count` values.
    pub fn expect_count(&self, count: usize) -> Result<()> {
        if self.tuple.len() != count {
            return Err(self.wrong_count(format_args!(
                "expected {count} value{}, got {} ({})",
                if count == 1 { "" } else { "s" },
                self.tuple.len(),
                self.tuple
            )));
        }
        Ok(())
    }

    /// The only value; a wrong-count error if there is not exactly one.
    pub fn single(&self) -> Result<&'a Element> {
        self.expect_count(1)?;
        Ok(&self.tuple.elements()[0])
    }

    /// The only value as a handle reference.
    pub fn handle(&self) -> Result<&'a HandleRef> {
        self.element_as_handle(self.single()?)
    }

    /// A value as a handle reference: wrong type if it is not a handle, the handle's error
    /// (2453 / 2454 / 2450) if it does not refer to a live object.
    pub fn element_as_handle(&self, element: &'a Element) -> Result<&'a HandleRef> {
        match element {
            Element::Handle(value) => value.as_ref().map_err(|error| error.context(self.name)),
            other => Err(self
                .wrong_type(format_args!("expected a handle, got {} {other}", other.type_name()))),
        }
    }

    /// The only value as a handle's object of type `T`, borrowed for a short operation.
    pub fn object<T: HandleObject>(&self) -> Result<ObjectGuard<T>> {
        self.handle()?.object::<T>().map_err(|error| error.context(self.name))
    }

    /// The only value as a handle's object of type `T`, held strongly for a long operation
    /// (a concurrent `clear_handle` then takes effect when it finishes).
    pub fn object_arc<T: HandleObject>(&self) -> Result<std::sync::Arc<T>> {
        self.handle()?.object_arc::<T>().map_err(|error| error.context(self.name))
    }

    /// The only value as a live handle to an object of type `T`, for operations that walk
    /// it later (errors name the parameter, as [`Self::object`]).
    pub fn handle_of<T: HandleObject>(&self) -> Result<&'a HandleRef> {
        let handle = self.handle()?;
        handle.object::<T>().map_err(|error| error.context(self.name))?;
        Ok(handle)
    }

    /// The only value as a string.
    pub fn string(&self) -> Result<&'a str> {
        self.element_as_string(self.single()?)
    }

    /// A value as a string; a wrong-type error otherwise.
    pub fn element_as_string(&self, element: &'a Element) -> Result<&'a str> {
        match element {
            Element::String(text) => Ok(text.as_str()),
            other => Err(self
                .wrong_type(format_args!("expected a string, got {} {other}", other.type_name()))),
        }
    }

    /// The only value as an integer (reals are refused, as HALCON does).
    pub fn integer(&self) -> Result<i64> {
        match self.single()? {
            Element::Integer(value) => Ok(*value),
            other => Err(self.wrong_type(format_args!(
                "expected an integer, got {} {other}",
                other.type_name()
            ))),
        }
    }

    /// All values as strings.
    pub fn strings(&self) -> Result<Vec<&'a str>> {
        self.tuple.elements().iter().map(|element| self.element_as_string(element)).collect()
    }
}

/// Output value for a generic-parameter style flag: HALCON accepts `'true'`/`'false'`.
pub fn parse_bool_value(param: &Param<'_>, element: &Element) -> Result<bool> {
    match element {
        Element::String(text) if text.as_str() == "true" => Ok(true),
        Element::String(text) if text.as_str() == "false" => Ok(false),
        Element::Integer(1) => Ok(true),
        Element::Integer(0) => Ok(false),
        other => Err(param.wrong_value(format_args!("expected 'true' or 'false', got {other}"))),
    }
}

/// Pairs HALCON generic parameters: `names` must be strings and `values` must have one
/// value per name (wrong type / count errors name the parameter).
pub fn gen_param_pairs<'a>(
    names: &Param<'a>,
    values: &Param<'a>,
) -> Result<Vec<(&'a str, &'a Element)>> {
    let names_list = names.strings()?;
    if values.tuple.len() != names_list.len() {
        return Err(values.wrong_count(format_args!(
            "{} values for {} names {}: give one value per name",
            values.tuple.len(),
            names_list.len(),
            names.tuple
        )));
    }
    Ok(names_list.into_iter().zip(values.tuple.elements()).collect())
}

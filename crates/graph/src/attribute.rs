//! Node attributes (ONNX `AttributeProto` values) with typed, checked access.

use std::collections::BTreeMap;

use crate::error::{GraphError, Result};
use crate::tensor::Tensor;

/// One attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A string (ONNX strings are bytes; dlopt requires UTF-8).
    String(String),
    /// A tensor.
    Tensor(Tensor),
    /// Floats.
    Floats(Vec<f32>),
    /// Integers.
    Ints(Vec<i64>),
    /// Strings.
    Strings(Vec<String>),
}

impl Attribute {
    fn kind(&self) -> &'static str {
        match self {
            Attribute::Float(_) => "float",
            Attribute::Int(_) => "int",
            Attribute::String(_) => "string",
            Attribute::Tensor(_) => "tensor",
            Attribute::Floats(_) => "floats",
            Attribute::Ints(_) => "ints",
            Attribute::Strings(_) => "strings",
        }
    }
}

/// The attributes of a node, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes {
    values: BTreeMap<String, Attribute>,
}

fn wrong_kind(name: &str, expected: &str, found: &Attribute) -> GraphError {
    GraphError::invalid(format!("attribute '{name}' must be {expected}, got {}", found.kind()))
}

impl Attributes {
    /// Sets (or replaces) an attribute.
    pub fn set(&mut self, name: impl Into<String>, value: Attribute) {
        self.values.insert(name.into(), value);
    }

    /// Removes an attribute.
    pub fn remove(&mut self, name: &str) -> Option<Attribute> {
        self.values.remove(name)
    }

    /// The attribute, if present.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.values.get(name)
    }

    /// All attributes by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Attribute)> {
        self.values.iter()
    }

    /// An integer attribute, if present (error if of another kind).
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Int(value)) => Ok(Some(*value)),
            Some(other) => Err(wrong_kind(name, "an int", other)),
        }
    }

    /// An integer attribute, or `default`.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A float attribute (an int is accepted), if present.
    pub fn float(&self, name: &str) -> Result<Option<f32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Float(value)) => Ok(Some(*value)),
            Some(Attribute::Int(value)) => Ok(Some(*value as f32)),
            Some(other) => Err(wrong_kind(name, "a float", other)),
        }
    }

    /// A float attribute, or `default`.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    /// A string attribute, if present.
    pub fn string(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::String(value)) => Ok(Some(value)),
            Some(other) => Err(wrong_kind(name, "a string", other)),
        }
    }

    /// A string attribute, or `default`.
    pub fn string_or<'a>(&'a self, name: &str, default: &'a str) -> Result<&'a str> {
        Ok(self.string(name)?.unwrap_or(default))
    }

    /// An integer list attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<&[i64]>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Ints(values)) => Ok(Some(values)),
            Some(other) => Err(wrong_kind(name, "ints", other)),
        }
    }

    /// A float list attribute, if present.
    pub fn floats(&self, name: &str) -> Result<Option<&[f32]>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Floats(values)) => Ok(Some(values)),
            Some(other) => Err(wrong_kind(name, "floats", other)),
        }
    }

    /// A string list attribute, if present.
    pub fn strings(&self, name: &str) -> Result<Option<&[String]>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Strings(values)) => Ok(Some(values)),
            Some(other) => Err(wrong_kind(name, "strings", other)),
        }
    }

    /// A tensor attribute, if present.
    pub fn tensor(&self, name: &str) -> Result<Option<&Tensor>> {
        match self.get(name) {
            None => Ok(None),
            Some(Attribute::Tensor(value)) => Ok(Some(value)),
            Some(other) => Err(wrong_kind(name, "a tensor", other)),
        }
    }
}

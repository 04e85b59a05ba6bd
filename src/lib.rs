//! dlopt: HALCON-style deep-learning deployment with a C ABI.
//!
//! The library exports HALCON's operators under their HALCON names (see `include/dlopt.h`):
//! opaque handles in a reentrant global table, tuples as control values, HALCON's error
//! numbers. This crate is organised in layers, top to bottom:
//!
//! - [`ffi`]: the `extern "C"` operators (one module per object type);
//! - objects: [`tuple`], [`handle`], [`dict`], [`image`], [`model`], [`device`];
//! - services: [`error`], [`file`];
//! - execution on AI² plugin devices: [`plugin`] (discovery, loading, the plugin host).

pub mod device;
pub mod dict;
pub mod error;
pub mod ffi;
pub mod file;
pub mod handle;
pub mod image;
pub mod model;
pub mod plugin;
pub mod read_mostly_lock;
pub mod tuple;

pub use error::{HalconError, Herror, Result};

//! The C ABI: `extern "C"` operators under their HALCON names.
//!
//! Every exported function goes through [`boundary::operator`]: panics are caught, every
//! pointer is checked (a NULL names the parameter), errors become HALCON numbers and the
//! calling thread's last error. Outputs are written only on success.
//!
//! # Safety (every exported function)
//!
//! The C caller guarantees what C cannot check: every pointer argument is NULL or valid for
//! the access its documentation describes; every `Htuple` argument was initialized
//! (`HTUPLE_INITIALIZER`, an operator, `create_tuple*`) and not destroyed; strings are
//! NUL-terminated; pixel pointers cover width x height pixels. NULL pointers, NULL tuple
//! storage and invalid handle numbers are detected and reported as errors.
#![allow(clippy::missing_safety_doc)] // the contract above holds for every function

pub mod boundary;
pub mod device_ops;
pub mod dict_ops;
pub mod error_ops;
pub mod handle_ops;
pub mod image_ops;
pub mod model_ops;
pub mod system_ops;
pub mod tuple_api;
pub mod types;

//! The C ABI: `extern "C"` operators under their HALCON names.
//!
//! Every exported function goes through [`boundary::operator`]: panics are caught, every
//! pointer is checked (a NULL names the parameter), errors become HALCON numbers and the
//! calling thread's last error. Outputs are written only on success.

pub mod boundary;
pub mod dict_ops;
pub mod error_ops;
pub mod handle_ops;
pub mod image_ops;
pub mod tuple_api;
pub mod types;

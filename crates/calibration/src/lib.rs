//! dlopt's int8 post-training-quantization statistics: pure functions and streaming
//! accumulators on f32 slices, with no graph types (the host decides which tensors to
//! observe and maps them to [`TensorObserver`]s).
//!
//! * [`histogram`]: the fixed-size, power-of-two-range [`Histogram`] that grows by
//!   merging bins, so its counts do not depend on how the values were chunked.
//! * [`observer`]: [`TensorObserver`], per-tensor streaming statistics (extremes,
//!   per-sample extremes averaged, non-finite count, histogram) in fixed memory.

#![warn(missing_docs)]

pub mod error;
pub mod histogram;
pub mod observer;
#[cfg(test)]
mod test_data;

pub use error::{CalibrationError, Result};
pub use histogram::Histogram;
pub use observer::{ObserverConfig, TensorObserver};

//! dlopt's int8 post-training-quantization statistics: pure functions and streaming
//! accumulators on f32 slices, with no graph types (the host decides which tensors to
//! observe and maps them to [`TensorObserver`]s).
//!
//! * [`histogram`]: the fixed-size, power-of-two-range [`Histogram`] that grows by
//!   merging bins, so its counts do not depend on how the values were chunked.
//! * [`observer`]: [`TensorObserver`], per-tensor streaming statistics (extremes,
//!   per-sample extremes averaged, non-finite count, histogram) in fixed memory.
//! * [`estimator`]: [`RangeEstimator`]s turning an observer into the [`Range`] to
//!   quantize over: max, mean/EMA of per-sample min/max, percentile, KL (TensorRT's
//!   entropy calibration) and MSE.
//! * [`params`]: [`QuantParams`] from a range, symmetric int8 or asymmetric uint8, with
//!   ONNX `QuantizeLinear` rounding.
//! * [`weights`]: per-channel symmetric int8 (or 7-bit) weight quantization.
//! * [`accumulate`]: channel means, SQNR, cosine similarity and top-1 agreement for
//!   reports and bias correction.
//! * [`bias_correction`]: the bias shift of fast bias correction.
//!
//! A calibration run, for each activation to quantize: make an observer, feed it the
//! tensor of every calibration batch ([`TensorObserver::observe`]), pick an estimator
//! ([`RangeEstimator::estimate`]) and turn the range into parameters
//! ([`QuantParams::from_range`]). Same inputs in the same order give bit-identical
//! results.

#![warn(missing_docs)]

pub mod accumulate;
pub mod bias_correction;
pub mod error;
pub mod estimator;
pub mod histogram;
pub mod observer;
pub mod params;
#[cfg(test)]
mod test_data;
pub mod weights;

pub use accumulate::{ChannelMeans, CosineSimilarity, Sqnr, Top1Agreement};
pub use bias_correction::{bias_shift, bias_shift_magnitude, corrected_bias};
pub use error::{CalibrationError, Result};
pub use estimator::{Range, RangeEstimator, Symmetry};
pub use histogram::Histogram;
pub use observer::{ObserverConfig, TensorObserver};
pub use params::QuantParams;
pub use weights::{
    PerChannelWeights, WeightLevels, WeightQuantReport, quantize_weights_per_channel,
    quantize_weights_per_output_channel,
};

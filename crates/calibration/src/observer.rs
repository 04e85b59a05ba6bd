//! Streaming statistics of one tensor over a calibration run: the host feeds every
//! batch of the tensor's values to a [`TensorObserver`], then asks an
//! [`estimator`](crate::estimator) for the range to quantize it with.
//!
//! Memory is fixed when the observer is made (the histogram's bins and a few scalars),
//! whatever the number of samples. Values are laid out sample-major: a call with
//! `batch` samples holds `values.len() / batch` values per sample.
//!
//! What depends on how the samples are split into calls: nothing. Global min/max, counts
//! and the histogram depend only on the multiset of values (see
//! [`histogram`](crate::histogram)); the per-sample averages depend on the sequence of
//! samples, which chunking does not change. Same values in the same order give
//! bit-identical statistics.
//!
//! NaN and infinite values are skipped everywhere and counted
//! ([`non_finite_count`](TensorObserver::non_finite_count)); a sample with no finite
//! value does not enter the per-sample averages.

use crate::error::{Result, ensure};
use crate::histogram::{DEFAULT_BINS, Histogram};

/// The default momentum of the per-sample exponential moving average (see
/// [`ObserverConfig::ema_momentum`]).
pub const DEFAULT_EMA_MOMENTUM: f64 = 0.9;

/// How a [`TensorObserver`] is set up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObserverConfig {
    /// Histogram bins over `[-R, R)`: a power of two, at least
    /// [`MIN_BINS`](crate::histogram::MIN_BINS); [`DEFAULT_BINS`] by default.
    pub bins: usize,
    /// `m` in the per-sample moving averages `ema = m * ema + (1 - m) * sample_min`
    /// (likewise for the maximum), started at the first sample's extremes; in `[0, 1]`,
    /// [`DEFAULT_EMA_MOMENTUM`] by default. 0 keeps only the last sample, 1 only the first.
    pub ema_momentum: f64,
}

impl Default for ObserverConfig {
    fn default() -> ObserverConfig {
        ObserverConfig { bins: DEFAULT_BINS, ema_momentum: DEFAULT_EMA_MOMENTUM }
    }
}

/// Per-tensor streaming statistics: global extremes, per-sample extremes averaged
/// (mean as OpenVINO's `mean` aggregator does, and an exponential moving average),
/// counts and a [`Histogram`].
#[derive(Clone, Debug, PartialEq)]
pub struct TensorObserver {
    histogram: Histogram,
    ema_momentum: f64,
    min: f32,
    max: f32,
    non_finite: u64,
    /// Samples that held at least one finite value.
    samples: u64,
    samples_without_finite: u64,
    sum_sample_min: f64,
    sum_sample_max: f64,
    ema_min: f64,
    ema_max: f64,
}

impl TensorObserver {
    /// An observer that has seen nothing, set up by `config`.
    pub fn new(config: ObserverConfig) -> Result<TensorObserver> {
        ensure((0.0..=1.0).contains(&config.ema_momentum), || {
            format!("ema_momentum is {}, must be in [0, 1]", config.ema_momentum)
        })?;
        Ok(TensorObserver {
            histogram: Histogram::new(config.bins)?,
            ema_momentum: config.ema_momentum,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            non_finite: 0,
            samples: 0,
            samples_without_finite: 0,
            sum_sample_min: 0.0,
            sum_sample_max: 0.0,
            ema_min: 0.0,
            ema_max: 0.0,
        })
    }

    /// Adds `batch` samples laid out one after the other in `values` (each
    /// `values.len() / batch` long). `Err` (and nothing added) unless `batch` divides
    /// `values.len()`; `batch == 0` is accepted only with no values.
    pub fn observe(&mut self, values: &[f32], batch: usize) -> Result<()> {
        if batch == 0 {
            return ensure(values.is_empty(), || {
                format!("batch is 0 but {} values were given", values.len())
            });
        }
        ensure(values.len() % batch == 0, || {
            format!("{} values do not split into {batch} samples of equal size", values.len())
        })?;
        let sample_len = values.len() / batch;
        if sample_len == 0 {
            return Ok(());
        }
        for sample in values.chunks_exact(sample_len) {
            self.observe_sample(sample);
        }
        let skipped = self.histogram.add(values);
        self.non_finite += skipped;
        Ok(())
    }

    /// Global and per-sample extremes of one sample.
    fn observe_sample(&mut self, sample: &[f32]) {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in sample.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            self.samples_without_finite += 1;
            return;
        }
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        if self.samples == 0 {
            (self.ema_min, self.ema_max) = (lo, hi);
        } else {
            let m = self.ema_momentum;
            self.ema_min = m * self.ema_min + (1.0 - m) * lo;
            self.ema_max = m * self.ema_max + (1.0 - m) * hi;
        }
        self.sum_sample_min += lo;
        self.sum_sample_max += hi;
        self.samples += 1;
    }

    /// The smallest finite value seen (`None` before the first one).
    pub fn min(&self) -> Option<f32> {
        (self.count() > 0).then_some(self.min)
    }

    /// The largest finite value seen (`None` before the first one).
    pub fn max(&self) -> Option<f32> {
        (self.count() > 0).then_some(self.max)
    }

    /// The largest `|x|` of the finite values seen (`None` before the first one).
    pub fn max_abs(&self) -> Option<f32> {
        (self.count() > 0).then(|| self.min.abs().max(self.max.abs()))
    }

    /// `(mean of the per-sample minima, mean of the per-sample maxima)` (`None` before
    /// the first sample with a finite value).
    pub fn mean_min_max(&self) -> Option<(f32, f32)> {
        let n = self.samples as f64;
        (self.samples > 0)
            .then(|| ((self.sum_sample_min / n) as f32, (self.sum_sample_max / n) as f32))
    }

    /// The exponential moving averages of the per-sample minimum and maximum (see
    /// [`ObserverConfig::ema_momentum`]; `None` before the first sample with a finite
    /// value).
    pub fn ema_min_max(&self) -> Option<(f32, f32)> {
        (self.samples > 0).then_some((self.ema_min as f32, self.ema_max as f32))
    }

    /// The number of finite values seen.
    pub fn count(&self) -> u64 {
        self.histogram.total()
    }

    /// The number of NaN and infinite values seen (and skipped).
    pub fn non_finite_count(&self) -> u64 {
        self.non_finite
    }

    /// The number of samples with at least one finite value (those in the per-sample
    /// averages).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The number of samples with no finite value at all (left out of the averages).
    pub fn samples_without_finite(&self) -> u64 {
        self.samples_without_finite
    }

    /// The histogram of the finite values seen.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{Rng, gaussian};

    fn observer() -> TensorObserver {
        TensorObserver::new(ObserverConfig { bins: 2048, ..ObserverConfig::default() }).unwrap()
    }

    #[test]
    fn tracks_extremes_per_sample_averages_and_non_finite_values() {
        let mut o = observer();
        // Two samples of three values, then one of three again in a separate call.
        o.observe(&[1.0, -2.0, 3.0, 0.5, f32::NAN, 1.5], 2).unwrap();
        o.observe(&[f32::INFINITY, -4.0, 2.0], 1).unwrap();
        o.observe(&[f32::NAN, f32::NAN, f32::NEG_INFINITY], 1).unwrap();
        assert_eq!(o.min(), Some(-4.0));
        assert_eq!(o.max(), Some(3.0));
        assert_eq!(o.max_abs(), Some(4.0));
        assert_eq!(o.count(), 7);
        assert_eq!(o.non_finite_count(), 5);
        assert_eq!(o.samples(), 3);
        assert_eq!(o.samples_without_finite(), 1);
        // Per-sample extremes: (-2, 3), (0.5, 1.5), (-4, 2).
        assert_eq!(o.mean_min_max(), Some((-5.5 / 3.0, 6.5 / 3.0)));
        // EMA with m = 0.9: start (-2, 3), then 0.9 * prev + 0.1 * new.
        let ema_min = 0.9 * (0.9 * -2.0 + 0.1 * 0.5) + 0.1 * -4.0;
        let ema_max = 0.9 * (0.9 * 3.0 + 0.1 * 1.5) + 0.1 * 2.0;
        assert_eq!(o.ema_min_max(), Some((ema_min as f32, ema_max as f32)));
    }

    #[test]
    fn rejects_batches_that_do_not_divide_the_values() {
        let mut o = observer();
        assert!(o.observe(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(o.observe(&[1.0], 0).is_err());
        assert!(o.observe(&[], 0).is_ok());
        assert_eq!(o.count(), 0);
        assert_eq!(o.min(), None);
        assert_eq!(o.mean_min_max(), None);
        assert!(
            TensorObserver::new(ObserverConfig { ema_momentum: 1.5, ..Default::default() })
                .is_err()
        );
    }

    #[test]
    fn chunking_samples_into_calls_changes_nothing() {
        let mut rng = Rng::new(3);
        let sample_len = 50;
        let values: Vec<f32> =
            (0..sample_len * 60).map(|i| gaussian(&mut rng) * (1.0 + (i / 500) as f32)).collect();
        let mut one_call = observer();
        one_call.observe(&values, 60).unwrap();
        let mut many_calls = observer();
        for chunk in values.chunks(sample_len * 7) {
            many_calls.observe(chunk, chunk.len() / sample_len).unwrap();
        }
        assert_eq!(one_call, many_calls);
    }

    #[test]
    fn histogram_memory_stays_fixed_after_a_million_values() {
        let mut o = observer();
        let mut rng = Rng::new(5);
        let batch: Vec<f32> = (0..10_000).map(|_| gaussian(&mut rng)).collect();
        for round in 0..100 {
            // Scale up over the run so the range keeps growing.
            let scaled: Vec<f32> = batch.iter().map(|v| v * (1 + round) as f32).collect();
            o.observe(&scaled, 10).unwrap();
            assert_eq!(o.histogram().bins(), 2048);
            assert_eq!(o.histogram().counts().len(), 2048);
        }
        assert_eq!(o.count(), 1_000_000);
        assert_eq!(o.histogram().total(), 1_000_000);
        assert_eq!(o.samples(), 1000);
    }
}

//! Streaming accumulators for calibration reports and bias correction, fed batch by
//! batch like the observers, with `f64` sums and fixed memory:
//!
//! * [`ChannelMeans`]: per-channel means of an `[N, C, rest...]` tensor.
//! * [`Sqnr`]: signal-to-quantization-noise ratio of a test tensor against a reference,
//!   `10 log10(sum r^2 / sum (r - t)^2)` dB.
//! * [`CosineSimilarity`]: `sum r t / sqrt(sum r^2 * sum t^2)`.
//! * [`Top1Agreement`]: how often the arg-max class of two logits tensors agrees.
//!
//! Values that are NaN or infinite (in either tensor, for the paired accumulators) are
//! skipped and counted, so one bad value does not turn a whole report into NaN.

use crate::error::{Result, ensure};

/// Per-channel means of tensors laid out `[N, C, rest...]`, accumulated over batches.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelMeans {
    sums: Vec<f64>,
    counts: Vec<u64>,
    non_finite: u64,
}

impl ChannelMeans {
    /// An accumulator for `channels` channels.
    pub fn new(channels: usize) -> ChannelMeans {
        ChannelMeans { sums: vec![0.0; channels], counts: vec![0; channels], non_finite: 0 }
    }

    /// Adds a tensor `[batch, C, rest...]` (`rest` is `values.len() / (batch * C)`).
    /// `Err` (nothing added) unless `batch * C` divides the length.
    pub fn add(&mut self, values: &[f32], batch: usize) -> Result<()> {
        let channels = self.sums.len();
        let planes = batch.checked_mul(channels).unwrap_or(0);
        ensure(planes > 0 && values.len() % planes == 0 || values.is_empty(), || {
            format!("{} values do not split into {batch} x {channels} channel planes", values.len())
        })?;
        if values.is_empty() {
            return Ok(());
        }
        let plane = values.len() / planes;
        for (index, chunk) in values.chunks_exact(plane).enumerate() {
            let c = index % channels;
            for &v in chunk {
                if v.is_finite() {
                    self.sums[c] += f64::from(v);
                    self.counts[c] += 1;
                } else {
                    self.non_finite += 1;
                }
            }
        }
        Ok(())
    }

    /// The mean of each channel (0 for a channel with no finite value yet).
    pub fn means(&self) -> Vec<f64> {
        self.sums
            .iter()
            .zip(&self.counts)
            .map(|(&s, &n)| if n == 0 { 0.0 } else { s / n as f64 })
            .collect()
    }

    /// The number of finite values of each channel.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of NaN and infinite values skipped.
    pub fn non_finite_count(&self) -> u64 {
        self.non_finite
    }
}

/// Checks that a reference and a test tensor have the same length.
fn same_length(reference: &[f32], test: &[f32]) -> Result<()> {
    ensure(reference.len() == test.len(), || {
        format!("reference holds {} values, test {}", reference.len(), test.len())
    })
}

/// Signal-to-quantization-noise ratio, accumulated over pairs of tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sqnr {
    signal: f64,
    noise: f64,
    skipped: u64,
}

impl Sqnr {
    /// An empty accumulator.
    pub fn new() -> Sqnr {
        Sqnr::default()
    }

    /// Adds `sum r^2` and `sum (r - t)^2` over the pairs; `Err` unless the lengths match.
    pub fn add(&mut self, reference: &[f32], test: &[f32]) -> Result<()> {
        same_length(reference, test)?;
        for (&r, &t) in reference.iter().zip(test) {
            if r.is_finite() && t.is_finite() {
                let (r, t) = (f64::from(r), f64::from(t));
                self.signal += r * r;
                self.noise += (r - t) * (r - t);
            } else {
                self.skipped += 1;
            }
        }
        Ok(())
    }

    /// `10 log10(signal / noise)` in dB: `+inf` when there is no noise (identical
    /// tensors, or nothing added), `-inf` for noise with no signal.
    pub fn db(&self) -> f64 {
        if self.noise == 0.0 { f64::INFINITY } else { 10.0 * (self.signal / self.noise).log10() }
    }

    /// `sum r^2` so far.
    pub fn signal_power(&self) -> f64 {
        self.signal
    }

    /// `sum (r - t)^2` so far.
    pub fn noise_power(&self) -> f64 {
        self.noise
    }

    /// Pairs skipped because a value was NaN or infinite.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Cosine similarity of a test tensor and a reference, accumulated over pairs of tensors
/// (as if all batches were one long vector).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CosineSimilarity {
    dot: f64,
    reference_norm2: f64,
    test_norm2: f64,
    skipped: u64,
}

impl CosineSimilarity {
    /// An empty accumulator.
    pub fn new() -> CosineSimilarity {
        CosineSimilarity::default()
    }

    /// Adds `sum r t`, `sum r^2`, `sum t^2`; `Err` unless the lengths match.
    pub fn add(&mut self, reference: &[f32], test: &[f32]) -> Result<()> {
        same_length(reference, test)?;
        for (&r, &t) in reference.iter().zip(test) {
            if r.is_finite() && t.is_finite() {
                let (r, t) = (f64::from(r), f64::from(t));
                self.dot += r * t;
                self.reference_norm2 += r * r;
                self.test_norm2 += t * t;
            } else {
                self.skipped += 1;
            }
        }
        Ok(())
    }

    /// `sum r t / sqrt(sum r^2 sum t^2)` in `[-1, 1]`; 1 if both are all zero (or nothing
    /// was added), 0 if only one is.
    pub fn similarity(&self) -> f64 {
        let norms = self.reference_norm2 * self.test_norm2;
        if norms == 0.0 {
            if self.reference_norm2 == self.test_norm2 { 1.0 } else { 0.0 }
        } else {
            (self.dot / norms.sqrt()).clamp(-1.0, 1.0)
        }
    }

    /// Pairs skipped because a value was NaN or infinite.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// How often the top-1 class of a test model agrees with the reference model's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Top1Agreement {
    agreed: u64,
    samples: u64,
}

impl Top1Agreement {
    /// An empty counter.
    pub fn new() -> Top1Agreement {
        Top1Agreement::default()
    }

    /// Compares the arg-max of each of `batch` samples (logits laid out sample-major,
    /// `len / batch` classes each; the first of equal maxima, NaN ignored). A sample with
    /// no finite logit in either tensor counts as a disagreement. `Err` unless the
    /// lengths match and `batch` divides them.
    pub fn add(&mut self, reference: &[f32], test: &[f32], batch: usize) -> Result<()> {
        same_length(reference, test)?;
        let splits = if batch == 0 {
            reference.is_empty()
        } else {
            reference.len() % batch == 0 && reference.len() >= batch
        };
        ensure(splits, || format!("{} logits do not split into {batch} samples", reference.len()))?;
        if batch == 0 {
            return Ok(());
        }
        let classes = reference.len() / batch;
        for (r, t) in reference.chunks_exact(classes).zip(test.chunks_exact(classes)) {
            let (r, t) = (arg_max(r), arg_max(t));
            self.agreed += u64::from(r.is_some() && r == t);
            self.samples += 1;
        }
        Ok(())
    }

    /// Samples whose top-1 classes agreed.
    pub fn agreed(&self) -> u64 {
        self.agreed
    }

    /// Samples compared.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// `agreed / samples` (1 when nothing was compared).
    pub fn rate(&self) -> f64 {
        if self.samples == 0 { 1.0 } else { self.agreed as f64 / self.samples as f64 }
    }
}

/// The index of the first largest finite value.
fn arg_max(values: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::Rng;

    #[test]
    fn channel_means_of_an_nchw_tensor() {
        // [2, 3, 2]: channel c of sample n holds (10 n + c, 10 n + c + 1).
        let values: Vec<f32> = (0..2)
            .flat_map(|n| (0..3).flat_map(move |c| [(10 * n + c) as f32, (10 * n + c + 1) as f32]))
            .collect();
        let mut means = ChannelMeans::new(3);
        means.add(&values[..6], 1).unwrap();
        means.add(&values[6..], 1).unwrap();
        assert_eq!(means.means(), vec![5.5, 6.5, 7.5]);
        let mut at_once = ChannelMeans::new(3);
        at_once.add(&values, 2).unwrap();
        assert_eq!(at_once, means);
        assert!(means.add(&values[..5], 1).is_err());
        means.add(&[f32::NAN, 1.0, 2.0], 1).unwrap();
        assert_eq!(means.non_finite_count(), 1);
        assert_eq!(means.counts(), &[4, 5, 5]);
    }

    #[test]
    fn sqnr_of_identical_tensors_is_infinite_and_of_added_noise_matches_the_analytic_value() {
        let mut rng = Rng::new(8);
        let x: Vec<f32> = (0..200_000).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut same = Sqnr::new();
        same.add(&x, &x).unwrap();
        assert_eq!(same.db(), f64::INFINITY);

        // Uniform noise of amplitude a: power a^2 / 3 against 1 / 3: -20 log10(a) dB.
        let a = 0.01f32;
        let noise: Vec<f32> = (0..x.len()).map(|_| rng.uniform(-a, a)).collect();
        let y: Vec<f32> = x.iter().zip(&noise).map(|(x, n)| x + n).collect();
        let mut sqnr = Sqnr::new();
        for (xc, yc) in x.chunks(4096).zip(y.chunks(4096)) {
            sqnr.add(xc, yc).unwrap();
        }
        assert!((sqnr.db() - 40.0).abs() < 0.05, "{}", sqnr.db());
        // And exactly the ratio of the sample powers.
        let signal: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        let measured_noise: f64 =
            x.iter().zip(&y).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
        assert!((sqnr.db() - 10.0 * (signal / measured_noise).log10()).abs() < 1e-9);
        assert!(sqnr.add(&x[..3], &y[..2]).is_err());
        sqnr.add(&[f32::NAN], &[0.0]).unwrap();
        assert_eq!(sqnr.skipped(), 1);
    }

    #[test]
    fn cosine_similarity_streams() {
        let mut cos = CosineSimilarity::new();
        cos.add(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        cos.add(&[0.0], &[0.0]).unwrap();
        assert!((cos.similarity() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        let mut opposite = CosineSimilarity::new();
        opposite.add(&[1.0, -2.0, 3.0], &[-2.0, 4.0, -6.0]).unwrap();
        assert_eq!(opposite.similarity(), -1.0);
        assert_eq!(CosineSimilarity::new().similarity(), 1.0);
        let mut one_zero = CosineSimilarity::new();
        one_zero.add(&[0.0, 0.0], &[1.0, 0.0]).unwrap();
        assert_eq!(one_zero.similarity(), 0.0);
    }

    #[test]
    fn top1_agreement_counts_matching_arg_maxes() {
        let mut top1 = Top1Agreement::new();
        let reference = [0.1, 0.9, 0.0, /**/ 0.5, 0.2, 0.3, /**/ 1.0, 1.0, 0.0];
        let test = [0.2, 0.7, 0.1, /**/ 0.1, 0.2, 0.7, /**/ 1.0, 1.0, f32::NAN];
        top1.add(&reference, &test, 3).unwrap();
        assert_eq!((top1.agreed(), top1.samples()), (2, 3));
        top1.add(&[f32::NAN, f32::NAN], &[f32::NAN, f32::NAN], 1).unwrap();
        assert_eq!((top1.agreed(), top1.samples()), (2, 4));
        assert_eq!(top1.rate(), 0.5);
        assert!(top1.add(&reference, &test, 2).is_err());
        assert!(top1.add(&reference, &test[..8], 3).is_err());
    }
}

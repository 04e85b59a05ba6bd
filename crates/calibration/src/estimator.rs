//! Range estimators: the `[lo, hi]` a tensor is quantized over, from a
//! [`TensorObserver`]'s statistics.
//!
//! With [`Symmetry::Symmetric`] every estimator returns `[-t, t]` (for symmetric int8);
//! with [`Symmetry::Asymmetric`], `[lo, hi]` for asymmetric uint8. Results never reach
//! beyond the observed extremes (`t <= max |x|`, `min <= lo`, `hi <= max`).
//!
//! | estimator         | symmetric `t`                         | asymmetric `[lo, hi]`               |
//! |-------------------|---------------------------------------|-------------------------------------|
//! | `Max`             | `max |x|`                             | `[min x, max x]`                    |
//! | `MeanMinMax`      | `max(|mean min_s|, |mean max_s|)`     | `[mean_s min_s, mean_s max_s]`      |
//! | `EmaMinMax`       | as above with the EMA                 | as above with the EMA               |
//! | `Percentile(p)`   | `Q_|x|(p / 100)`                      | `[Q_x(1 - p / 100), Q_x(p / 100)]`  |
//! | `Kl`              | KL search on the `|x|` histogram      | KL search per side                  |
//! | `Mse`             | `argmin_t E[(x - fq_t(x))^2]`         | `argmin_(lo,hi) E[(x - fq(x))^2]`   |
//!
//! `min_s`, `max_s` are the extremes of sample `s`; `Q(f)` is the value below which a
//! fraction `f` of the histogram lies, interpolated linearly inside its bin.
//!
//! # KL (entropy calibration, as TensorRT does)
//!
//! On a histogram `h` of `|x|` (symmetric) or of one side of zero (asymmetric; both
//! sides are searched independently), for every candidate bin count `i` from `L` to the
//! last nonempty bin:
//!
//! * the reference `P` is `h[0..i]` with the mass beyond, `sum h[i..]`, added to its last
//!   bin (what clipping at `i * w` does);
//! * the candidate `Q` is `h[0..i]` merged into `L` levels (level `j` takes bins
//!   `floor(j i / L) .. floor((j + 1) i / L)`) and expanded back, each level's mass spread
//!   evenly over its nonempty bins (empty bins stay empty);
//! * `KL(P || Q) = sum_k p_k ln(p_k / q_k)` over `p_k > 0`, both normalised; a bin with
//!   `p_k > 0 = q_k` counts `q_k = 1e-12` (a large finite penalty).
//!
//! The smallest `i` minimising the divergence gives `t = i * w`. `L` is 128 for the
//! symmetric case (the magnitudes 0..=127 of int8) and for each side of an asymmetric
//! range that has both signs (about half of uint8's levels each), and 256 (uint8's 0..=255)
//! for an asymmetric tensor of one sign, e.g. after a ReLU.
//!
//! # MSE
//!
//! The expected squared error of fake quantization with the parameters the range gives
//! ([`QuantParams`]: step `s`, clip limits `c_lo = (qmin - z) s`, `c_hi = (qmax - z) s`),
//! estimated from the histogram with the values of each bin `[a, b]` (clamped to the
//! observed extremes) spread uniformly:
//!
//! `E = sum_bins n / (b - a) * integral_a^b err(x)^2 dx`, where `err(x) = x - c_hi` above
//! `c_hi`, `x - c_lo` below `c_lo` (clipping error) and `x - s round(x / s)` in between
//! (rounding error, whose integral is `k s^3 / 12 + r^3 / 3` from 0 to `x = k s + r`,
//! `|r| <= s / 2`).
//!
//! Symmetric: `t` over a geometric grid `max |x| * 2^(-j/8)` down to one bin width, then
//! 32 steps between the best candidate's neighbours. Asymmetric: the same search for a
//! factor `f` scaling `[min, max]` (both widened to contain 0), then alternately for `hi`
//! with `lo` fixed and `lo` with `hi` fixed, up to eight rounds or until neither moves (an
//! end at zero, i.e. a side without values, stays there).
//! Clipping an outlier of size `M` to `t` costs `(M - t)^2`, while keeping it in range
//! costs each of the `n` values in range its rounding error, about `(t / 127)^2 / 12`
//! while the step is small against their spread (at most about their own square when it
//! is not). So MSE clips isolated outliers only when they are rare: roughly fewer than
//! one in `12 * 127^2 ~ 190 000` values, fewer still when `M` is so large that the full
//! range rounds most values to zero anyway. Percentile and KL clip regardless.

use crate::error::{CalibrationError, Result, ensure};
use crate::histogram::Histogram;
use crate::observer::TensorObserver;
use crate::params::QuantParams;

/// Whether a tensor is quantized symmetric int8 (zero point 0) or asymmetric uint8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symmetry {
    /// Range `[-t, t]`, symmetric int8.
    Symmetric,
    /// Range `[lo, hi]`, asymmetric uint8 (widened to contain 0 by the parameters).
    Asymmetric,
}

/// The range a tensor is quantized over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The lowest value represented; smaller values are clipped to it.
    pub lo: f32,
    /// The highest value represented; larger values are clipped to it.
    pub hi: f32,
}

/// How a range is estimated from a [`TensorObserver`] (formulas in the module
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeEstimator {
    /// The observed extremes.
    Max,
    /// The mean over samples of the per-sample extremes (OpenVINO's `mean` aggregator of
    /// per-sample min/max).
    MeanMinMax,
    /// The exponential moving average of the per-sample extremes.
    EmaMinMax,
    /// Percentile `p` (in `(50, 100]`, e.g. 99.99) of `|x|`, or of each tail.
    Percentile(f64),
    /// Entropy calibration: the threshold minimising the KL divergence between the clipped
    /// and the quantized histogram.
    Kl,
    /// The range minimising the expected squared quantization error, clipping included.
    Mse,
}

impl RangeEstimator {
    /// The range for the values `observer` saw. `Err` if it saw no finite value, or for
    /// a percentile outside `(50, 100]`.
    pub fn estimate(&self, observer: &TensorObserver, symmetry: Symmetry) -> Result<Range> {
        let (Some(min), Some(max)) = (observer.min(), observer.max()) else {
            return Err(CalibrationError::new("the observer saw no finite value"));
        };
        let data = Extremes { min, max };
        let histogram = observer.histogram();
        let range = match *self {
            RangeEstimator::Max => data.range_of(min, max, symmetry),
            RangeEstimator::MeanMinMax => {
                let (lo, hi) = observer.mean_min_max().unwrap_or((min, max));
                data.range_of(lo, hi, symmetry)
            }
            RangeEstimator::EmaMinMax => {
                let (lo, hi) = observer.ema_min_max().unwrap_or((min, max));
                data.range_of(lo, hi, symmetry)
            }
            RangeEstimator::Percentile(p) => {
                ensure(p > 50.0 && p <= 100.0, || format!("percentile {p} is not in (50, 100]"))?;
                percentile_range(histogram, data, p / 100.0, symmetry)
            }
            RangeEstimator::Kl => kl_range(histogram, data, symmetry),
            RangeEstimator::Mse => mse_range(histogram, data, symmetry),
        };
        Ok(data.clamp(range, symmetry))
    }
}

/// The observed extremes, which bound every estimate.
#[derive(Clone, Copy, Debug)]
struct Extremes {
    min: f32,
    max: f32,
}

impl Extremes {
    fn max_abs(&self) -> f32 {
        self.min.abs().max(self.max.abs())
    }

    /// `[lo, hi]`, or `[-t, t]` with `t = max(|lo|, |hi|)`.
    fn range_of(&self, lo: f32, hi: f32, symmetry: Symmetry) -> Range {
        match symmetry {
            Symmetry::Symmetric => symmetric(lo.abs().max(hi.abs())),
            Symmetry::Asymmetric => Range { lo, hi },
        }
    }

    /// `range` brought within the observed extremes (and ordered).
    fn clamp(&self, range: Range, symmetry: Symmetry) -> Range {
        match symmetry {
            Symmetry::Symmetric => symmetric(range.hi.abs().min(self.max_abs())),
            Symmetry::Asymmetric => {
                let lo = range.lo.clamp(self.min, self.max);
                Range { lo, hi: range.hi.clamp(lo, self.max) }
            }
        }
    }
}

fn symmetric(t: f32) -> Range {
    Range { lo: -t, hi: t }
}

/// The bins on each side of zero: `positive[j]` covers `[j w, (j + 1) w)`, `negative[j]`
/// covers `[-(j + 1) w, -j w)`.
fn sides(histogram: &Histogram) -> (Vec<u64>, Vec<u64>) {
    let half = histogram.bins() / 2;
    let counts = histogram.counts();
    (counts[half..].to_vec(), counts[..half].iter().rev().copied().collect())
}

// ---------------------------------------------------------------------------------------
// Percentile

fn percentile_range(
    histogram: &Histogram,
    data: Extremes,
    fraction: f64,
    symmetry: Symmetry,
) -> Range {
    let w = histogram.bin_width();
    if w == 0.0 {
        return data.range_of(data.min, data.max, symmetry);
    }
    match symmetry {
        Symmetry::Symmetric => {
            symmetric(quantile(&histogram.abs_counts(), 0.0, w, fraction) as f32)
        }
        Symmetry::Asymmetric => {
            let first_edge = histogram.bin_lower_edge(0);
            let counts = histogram.counts();
            Range {
                lo: quantile(counts, first_edge, w, 1.0 - fraction) as f32,
                hi: quantile(counts, first_edge, w, fraction) as f32,
            }
        }
    }
}

/// The value below which a fraction `fraction` of the counts lies, bin `i` covering
/// `[first_edge + i w, first_edge + (i + 1) w)` with its values spread evenly.
fn quantile(counts: &[u64], first_edge: f64, w: f64, fraction: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    let target = fraction * total as f64;
    let mut below = 0.0;
    let mut top = first_edge;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let count = count as f64;
        if below + count >= target {
            let inside = ((target - below) / count).clamp(0.0, 1.0);
            return first_edge + (i as f64 + inside) * w;
        }
        below += count;
        top = first_edge + (i + 1) as f64 * w;
    }
    top
}

// ---------------------------------------------------------------------------------------
// KL

/// KL levels of the magnitudes of int8, and of one side of an asymmetric range.
const KL_LEVELS_SIGNED: usize = 128;
/// KL levels of uint8, for an asymmetric tensor of one sign.
const KL_LEVELS_UNSIGNED: usize = 256;
/// `q` of a bin the candidate leaves empty where the reference is not.
const KL_EMPTY_BIN_PROBABILITY: f64 = 1e-12;

fn kl_range(histogram: &Histogram, data: Extremes, symmetry: Symmetry) -> Range {
    let w = histogram.bin_width();
    if w == 0.0 {
        return data.range_of(data.min, data.max, symmetry);
    }
    let threshold = |counts: &[u64], levels: usize| kl_threshold_bins(counts, levels) as f64 * w;
    match symmetry {
        Symmetry::Symmetric => {
            symmetric(threshold(&histogram.abs_counts(), KL_LEVELS_SIGNED) as f32)
        }
        Symmetry::Asymmetric => {
            let (positive, negative) = sides(histogram);
            if data.min >= 0.0 {
                Range { lo: 0.0, hi: threshold(&positive, KL_LEVELS_UNSIGNED) as f32 }
            } else if data.max <= 0.0 {
                Range { lo: -threshold(&negative, KL_LEVELS_UNSIGNED) as f32, hi: 0.0 }
            } else {
                Range {
                    lo: -threshold(&negative, KL_LEVELS_SIGNED) as f32,
                    hi: threshold(&positive, KL_LEVELS_SIGNED) as f32,
                }
            }
        }
    }
}

/// The number of bins `i` of `counts` (a one-sided histogram) to keep: the smallest
/// minimising `KL(P_i || Q_i)`, searched from `levels` to the last nonempty bin (all
/// nonempty bins when there are no more than `levels`).
fn kl_threshold_bins(counts: &[u64], levels: usize) -> usize {
    let end = counts.iter().rposition(|&c| c != 0).map_or(0, |last| last + 1);
    if end <= levels {
        return end;
    }
    let mut beyond = counts[..end].iter().sum::<u64>() - counts[..levels].iter().sum::<u64>();
    let mut candidate = vec![0.0f64; end];
    let mut best = (f64::INFINITY, end);
    for i in levels..=end {
        let kl = kl_divergence(&counts[..i], beyond, levels, &mut candidate[..i]);
        if kl < best.0 {
            best = (kl, i);
        }
        if i < end {
            beyond -= counts[i];
        }
    }
    best.1
}

/// `KL(P || Q)` for the kept bins `kept` and the count `beyond` clipped into the last,
/// `Q` being `kept` merged into `levels` levels and expanded (written to `candidate`).
fn kl_divergence(kept: &[u64], beyond: u64, levels: usize, candidate: &mut [f64]) -> f64 {
    let i = kept.len();
    for level in 0..levels {
        let (start, stop) = (level * i / levels, (level + 1) * i / levels);
        let bins = &kept[start..stop];
        let mass: u64 = bins.iter().sum();
        let nonempty = bins.iter().filter(|&&c| c != 0).count();
        let share = if nonempty == 0 { 0.0 } else { mass as f64 / nonempty as f64 };
        for (q, &c) in candidate[start..stop].iter_mut().zip(bins) {
            *q = if c == 0 { 0.0 } else { share };
        }
    }
    let kept_total: u64 = kept.iter().sum();
    if kept_total == 0 {
        return f64::INFINITY;
    }
    let (p_total, q_total) = ((kept_total + beyond) as f64, kept_total as f64);
    let mut kl = 0.0;
    for (k, (&c, &q)) in kept.iter().zip(candidate.iter()).enumerate() {
        let count = if k == i - 1 { c + beyond } else { c };
        if count == 0 {
            continue;
        }
        let p = count as f64 / p_total;
        let q = if q == 0.0 { KL_EMPTY_BIN_PROBABILITY } else { q / q_total };
        kl += p * (p / q).ln();
    }
    kl
}

// ---------------------------------------------------------------------------------------
// MSE

/// Geometric candidates per octave in the MSE search.
const MSE_STEPS_PER_OCTAVE: i32 = 8;
/// Linear refinement steps around the best geometric candidate.
const MSE_REFINE_STEPS: usize = 32;
/// Rounds of the alternating `hi` / `lo` search for asymmetric ranges.
const MSE_ASYMMETRIC_ROUNDS: usize = 8;

/// A nonempty histogram bin `[a, b]` (clamped to the observed extremes) and its count.
#[derive(Clone, Copy, Debug)]
struct Bin {
    a: f64,
    b: f64,
    count: f64,
}

fn mse_range(histogram: &Histogram, data: Extremes, symmetry: Symmetry) -> Range {
    let w = histogram.bin_width();
    if w == 0.0 {
        return data.range_of(data.min, data.max, symmetry);
    }
    match symmetry {
        Symmetry::Symmetric => {
            let max_abs = f64::from(data.max_abs());
            let bins = nonempty_bins(&histogram.abs_counts(), 0.0, w, 0.0, max_abs);
            let error = |t: f64| {
                let s = t / 127.0;
                bins.iter().map(|bin| bin.count * mean_squared_error(bin, s, -t, t)).sum()
            };
            symmetric(search_magnitude(max_abs, w, error) as f32)
        }
        Symmetry::Asymmetric => {
            let (min, max) = (f64::from(data.min), f64::from(data.max));
            let bins = nonempty_bins(histogram.counts(), histogram.bin_lower_edge(0), w, min, max);
            let error = |lo: f64, hi: f64| {
                let Ok(p) = QuantParams::asymmetric_uint8(Range { lo: lo as f32, hi: hi as f32 })
                else {
                    return f64::INFINITY;
                };
                let s = f64::from(p.scale);
                let (c_lo, c_hi) =
                    (f64::from(p.qmin - p.zero_point) * s, f64::from(p.qmax - p.zero_point) * s);
                bins.iter()
                    .map(|bin| bin.count * mean_squared_error(bin, s, c_lo, c_hi))
                    .sum::<f64>()
            };
            let (lo0, hi0) = (min.min(0.0), max.max(0.0));
            // Both ends scaled together first, then each end alone.
            let f = search_magnitude(1.0, w / lo0.abs().max(hi0), |f| error(f * lo0, f * hi0));
            let (mut lo, mut hi) = (f * lo0, f * hi0);
            for _ in 0..MSE_ASYMMETRIC_ROUNDS {
                let before = (lo, hi);
                if max > 0.0 {
                    hi = search_magnitude(max, w, |h| error(lo, h));
                }
                if min < 0.0 {
                    lo = -search_magnitude(-min, w, |l| error(-l, hi));
                }
                if (lo, hi) == before {
                    break;
                }
            }
            Range { lo: lo as f32, hi: hi as f32 }
        }
    }
}

/// The nonempty bins of `counts` (bin `i` covering `[first_edge + i w, first_edge + (i + 1) w)`)
/// clamped to `[min, max]`.
fn nonempty_bins(counts: &[u64], first_edge: f64, w: f64, min: f64, max: f64) -> Vec<Bin> {
    counts
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != 0)
        .map(|(i, &c)| {
            let a = (first_edge + i as f64 * w).clamp(min, max);
            let b = (first_edge + (i + 1) as f64 * w).clamp(min, max);
            Bin { a, b, count: c as f64 }
        })
        .collect()
}

/// The magnitude in `(0, limit]` minimising `error`: geometric candidates
/// `limit * 2^(-j / 8)` down to `floor`, then linear steps between the best one's
/// neighbours. `limit` itself is always a candidate, so the result is never worse than it.
fn search_magnitude(limit: f64, floor: f64, error: impl Fn(f64) -> f64) -> f64 {
    let mut best = (error(limit), limit);
    let mut j = 1;
    loop {
        let t = limit * 2f64.powf(-f64::from(j) / f64::from(MSE_STEPS_PER_OCTAVE));
        if t < floor {
            break;
        }
        let e = error(t);
        if e < best.0 {
            best = (e, t);
        }
        j += 1;
    }
    let step = 2f64.powf(1.0 / f64::from(MSE_STEPS_PER_OCTAVE));
    let (from, to) = (best.1 / step, (best.1 * step).min(limit));
    for k in 0..=MSE_REFINE_STEPS {
        let t = from + (to - from) * k as f64 / MSE_REFINE_STEPS as f64;
        let e = error(t);
        if e < best.0 {
            best = (e, t);
        }
    }
    best.1
}

/// The mean squared error of fake-quantizing values spread evenly over `[bin.a, bin.b]`
/// onto the multiples of `s` within `[c_lo, c_hi]` (`c_lo <= 0 <= c_hi`, multiples of `s`).
fn mean_squared_error(bin: &Bin, s: f64, c_lo: f64, c_hi: f64) -> f64 {
    let (a, b) = (bin.a, bin.b);
    if b <= a {
        // A point mass (a bin clamped to an extreme).
        let x = a;
        let e = if x > c_hi {
            x - c_hi
        } else if x < c_lo {
            x - c_lo
        } else {
            x - s * (x / s).round_ties_even()
        };
        return e * e;
    }
    let cube = |v: f64| v * v * v;
    let mut integral = 0.0;
    if a < c_lo {
        integral += (cube(c_lo - a) - cube(c_lo - b.min(c_lo))) / 3.0;
    }
    if b > c_hi {
        integral += (cube(b - c_hi) - cube(a.max(c_hi) - c_hi)) / 3.0;
    }
    let (inside_a, inside_b) = (a.max(c_lo), b.min(c_hi));
    if inside_b > inside_a {
        integral += rounding_error_integral(inside_b, s) - rounding_error_integral(inside_a, s);
    }
    integral / (b - a)
}

/// `integral_0^x (u - s round(u / s))^2 du = k s^3 / 12 + r^3 / 3` for `x = k s + r`.
fn rounding_error_integral(x: f64, s: f64) -> f64 {
    let k = (x / s).round();
    let r = x - k * s;
    k * s * s * s / 12.0 + r * r * r / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::ObserverConfig;
    use crate::test_data::{Rng, gaussian, gaussian_with_outliers};

    fn observe(values: &[f32], bins: usize) -> TensorObserver {
        let mut o =
            TensorObserver::new(ObserverConfig { bins, ..ObserverConfig::default() }).unwrap();
        for chunk in values.chunks(1000) {
            o.observe(chunk, 10).unwrap();
        }
        o
    }

    /// The measured mean squared error of fake-quantizing `values` over `range`.
    fn measured_mse(values: &[f32], range: Range, symmetry: Symmetry) -> f64 {
        let p = QuantParams::from_range(range, symmetry).unwrap();
        values.iter().map(|&v| f64::from(v - p.fake_quantize(v)).powi(2)).sum::<f64>()
            / values.len() as f64
    }

    #[test]
    fn max_and_percentile_of_a_uniform_distribution_match_its_quantiles() {
        let mut rng = Rng::new(1);
        let values: Vec<f32> = (0..200_000).map(|_| rng.uniform(-1.0, 3.0)).collect();
        let o = observe(&values, 2048);
        let max = RangeEstimator::Max.estimate(&o, Symmetry::Asymmetric).unwrap();
        assert_eq!(max, Range { lo: o.min().unwrap(), hi: o.max().unwrap() });
        assert!(max.lo < -0.9999 && max.hi > 2.9999);
        assert_eq!(
            RangeEstimator::Max.estimate(&o, Symmetry::Symmetric).unwrap(),
            Range { lo: -max.hi, hi: max.hi }
        );

        // Quantiles of U(-1, 3): Q(f) = -1 + 4 f. Tolerance: sampling noise (~0.01 at
        // these tails) plus a bin (4 / 1024 wide here).
        let p = RangeEstimator::Percentile(99.0).estimate(&o, Symmetry::Asymmetric).unwrap();
        assert!((p.lo - -0.96).abs() < 0.01, "{p:?}");
        assert!((p.hi - 2.96).abs() < 0.01, "{p:?}");
        // |x| of U(-1, 3): P(|x| <= t) = t / 2 for t <= 1, (t + 1) / 4 above; 90% at 2.6.
        let s = RangeEstimator::Percentile(90.0).estimate(&o, Symmetry::Symmetric).unwrap();
        assert!((s.hi - 2.6).abs() < 0.02, "{s:?}");
        // Percentile 100 is the maximum.
        let all = RangeEstimator::Percentile(100.0).estimate(&o, Symmetry::Asymmetric).unwrap();
        assert_eq!(all, max);
        assert!(RangeEstimator::Percentile(40.0).estimate(&o, Symmetry::Symmetric).is_err());
    }

    #[test]
    fn mean_min_max_averages_per_sample_extremes() {
        let mut o = TensorObserver::new(ObserverConfig { bins: 2048, ..ObserverConfig::default() })
            .unwrap();
        o.observe(&[-1.0, 2.0, -3.0, 4.0], 2).unwrap();
        let r = RangeEstimator::MeanMinMax.estimate(&o, Symmetry::Asymmetric).unwrap();
        assert_eq!(r, Range { lo: -2.0, hi: 3.0 });
        let s = RangeEstimator::MeanMinMax.estimate(&o, Symmetry::Symmetric).unwrap();
        assert_eq!(s, Range { lo: -3.0, hi: 3.0 });
        let e = RangeEstimator::EmaMinMax.estimate(&o, Symmetry::Asymmetric).unwrap();
        assert_eq!(e, Range { lo: -1.2, hi: 2.2 });
    }

    #[test]
    fn kl_percentile_and_mse_clip_rare_huge_outliers_while_max_does_not() {
        // One million standard normal values, two of them replaced by +-100.
        let values = gaussian_with_outliers(9, 1_000_000, 500_000, 100.0);
        let o = observe(&values, 8192);
        assert_eq!(o.max_abs(), Some(100.0));
        let max = RangeEstimator::Max.estimate(&o, Symmetry::Symmetric).unwrap();
        assert_eq!(max.hi, 100.0);
        for symmetry in [Symmetry::Symmetric, Symmetry::Asymmetric] {
            let percentile = RangeEstimator::Percentile(99.99).estimate(&o, symmetry).unwrap();
            assert!(percentile.hi > 3.0 && percentile.hi < 5.0, "{percentile:?}");
            assert!(percentile.lo < -3.0 && percentile.lo > -5.0, "{percentile:?}");
            let kl = RangeEstimator::Kl.estimate(&o, symmetry).unwrap();
            // The search starts at 128 bins of 1/32: t >= 4, far below 100.
            assert!(kl.hi >= 4.0 && kl.hi < 10.0, "{kl:?}");
            assert!(kl.lo <= -4.0 && kl.lo > -10.0, "{kl:?}");
            let mse = RangeEstimator::Mse.estimate(&o, symmetry).unwrap();
            // Minimising n (t / 127)^2 / 12 + 2 (100 - t)^2 (rounding error of a million
            // values in range, clipping error of the two outliers) gives t = 27.9.
            assert!((mse.hi - 27.9).abs() < 2.0, "{mse:?}");
            assert!((mse.lo + 27.9).abs() < 2.0, "{mse:?}");
            // Clipping pays: the measured error is lower than with the full range.
            assert!(measured_mse(&values, mse, symmetry) < measured_mse(&values, max, symmetry));
        }
    }

    #[test]
    fn kl_keeps_the_full_range_of_a_compact_distribution() {
        // Uniform data has no tail to clip: the best threshold is (about) the maximum.
        let mut rng = Rng::new(4);
        let values: Vec<f32> = (0..200_000).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let o = observe(&values, 2048);
        let kl = RangeEstimator::Kl.estimate(&o, Symmetry::Symmetric).unwrap();
        assert!(kl.hi > 1.95, "{kl:?}");
        // One-sided data takes the unsigned search.
        let relu: Vec<f32> = values.iter().map(|v| v.max(0.0)).collect();
        let o = observe(&relu, 2048);
        let kl = RangeEstimator::Kl.estimate(&o, Symmetry::Asymmetric).unwrap();
        assert_eq!(kl.lo, 0.0);
        assert!(kl.hi > 1.95, "{kl:?}");
    }

    #[test]
    fn mse_beats_max_on_heavy_tailed_data() {
        // Student's t with 3 degrees of freedom: z / sqrt(chi2_3 / 3), tails ~ |x|^-4.
        let mut rng = Rng::new(17);
        let values: Vec<f32> = (0..200_000)
            .map(|_| {
                let z = gaussian(&mut rng);
                let chi2: f32 = (0..3).map(|_| gaussian(&mut rng).powi(2)).sum();
                z / (chi2 / 3.0).sqrt()
            })
            .collect();
        let o = observe(&values, 8192);
        for symmetry in [Symmetry::Symmetric, Symmetry::Asymmetric] {
            let max = RangeEstimator::Max.estimate(&o, symmetry).unwrap();
            let mse = RangeEstimator::Mse.estimate(&o, symmetry).unwrap();
            let (e_max, e_mse) =
                (measured_mse(&values, max, symmetry), measured_mse(&values, mse, symmetry));
            assert!(mse.hi < 0.9 * max.hi, "{mse:?} vs {max:?}");
            assert!(e_mse < 0.8 * e_max, "{symmetry:?}: mse {e_mse} vs max {e_max}");
        }
        // And the symmetric range is (close to) the best a brute-force search of measured
        // errors finds.
        let max_abs = o.max_abs().unwrap();
        let best_measured = (1..=60)
            .map(|k| {
                measured_mse(&values, symmetric(max_abs * k as f32 / 60.0), Symmetry::Symmetric)
            })
            .fold(f64::INFINITY, f64::min);
        let mse = RangeEstimator::Mse.estimate(&o, Symmetry::Symmetric).unwrap();
        let e_mse = measured_mse(&values, mse, Symmetry::Symmetric);
        assert!(e_mse < 1.02 * best_measured, "{e_mse} vs brute force {best_measured}");
    }

    #[test]
    fn mse_error_model_matches_measurement() {
        // The histogram estimate of the error at a given range agrees with the measured one.
        let mut rng = Rng::new(23);
        let values: Vec<f32> = (0..200_000).map(|_| gaussian(&mut rng)).collect();
        let o = observe(&values, 8192);
        let h = o.histogram();
        let bins = nonempty_bins(
            &h.abs_counts(),
            0.0,
            h.bin_width(),
            0.0,
            f64::from(o.max_abs().unwrap()),
        );
        for t in [1.0f64, 2.5, 4.0] {
            let s = f64::from(QuantParams::symmetric_int8(symmetric(t as f32)).unwrap().scale);
            let estimated: f64 = bins
                .iter()
                .map(|b| b.count * mean_squared_error(b, s, -127.0 * s, 127.0 * s))
                .sum::<f64>()
                / 200_000.0;
            let measured = measured_mse(&values, symmetric(t as f32), Symmetry::Symmetric);
            assert!(
                (estimated / measured - 1.0).abs() < 0.05,
                "t = {t}: {estimated} vs {measured}"
            );
        }
    }

    #[test]
    fn rounding_error_integral_matches_a_numeric_integral() {
        let s = 0.3;
        for x in [0.1, 0.15, 0.7, 2.0, -1.33] {
            let n = 100_000;
            let dx = x / n as f64;
            let numeric: f64 = (0..n)
                .map(|i| {
                    let u = (i as f64 + 0.5) * dx;
                    let e = u - s * (u / s).round();
                    e * e * dx
                })
                .sum();
            assert!((rounding_error_integral(x, s) - numeric).abs() < 1e-8, "{x}");
        }
    }

    #[test]
    fn estimates_are_deterministic() {
        let values = gaussian_with_outliers(31, 100_000, 1000, 50.0);
        let estimators = [
            RangeEstimator::Max,
            RangeEstimator::MeanMinMax,
            RangeEstimator::EmaMinMax,
            RangeEstimator::Percentile(99.9),
            RangeEstimator::Kl,
            RangeEstimator::Mse,
        ];
        let run = || {
            let o = observe(&values, 2048);
            let mut bits = Vec::new();
            for e in estimators {
                for symmetry in [Symmetry::Symmetric, Symmetry::Asymmetric] {
                    let r = e.estimate(&o, symmetry).unwrap();
                    bits.extend([r.lo.to_bits(), r.hi.to_bits()]);
                }
            }
            (bits, o)
        };
        let (first, o1) = run();
        let (second, o2) = run();
        assert_eq!(first, second);
        assert_eq!(o1, o2);
    }

    #[test]
    fn all_zero_and_unobserved_tensors() {
        let o = observe(&[0.0; 100], 2048);
        for e in [
            RangeEstimator::Kl,
            RangeEstimator::Mse,
            RangeEstimator::Percentile(99.0),
            RangeEstimator::Max,
        ] {
            assert_eq!(e.estimate(&o, Symmetry::Asymmetric).unwrap(), Range { lo: 0.0, hi: 0.0 });
        }
        let empty = TensorObserver::new(ObserverConfig::default()).unwrap();
        assert!(RangeEstimator::Max.estimate(&empty, Symmetry::Symmetric).is_err());
    }
}

//! A fixed-size histogram over `[-R, R)` whose half range `R` is a power of two and
//! grows by merging bins, so that the counts depend only on the multiset of values added.
//!
//! # Layout
//!
//! `bins = N` (a power of two) bins of width `w = 2R / N`; bin `i` covers
//! `[(i - N/2) * w, (i - N/2 + 1) * w)`, so bin `N/2` starts at zero and zero never moves.
//! `R` is always the smallest power of two with `|x| < R` for every value seen (before
//! the first nonzero value there is no range yet; zeros are counted in bin `N/2`).
//!
//! # Growing the range
//!
//! A value `x` lands in bin `N/2 + floor(x / w)`. Because `w` is a power of two,
//! `x / w` is exact (computed in `f64`), and doubling `R` doubles `w`, which sends bin
//! `N/2 + s` to `N/2 + floor(s / 2)`: exactly where each of its values would have landed
//! with the wider range. Growing by `k` doublings at once shifts by `k`. Hence a histogram
//! that started small and grew holds exactly the counts of one built with its final range
//! from the start, whatever the order and chunking of the values: memory is `N` counters,
//! independent of the number of values.

use crate::error::{Result, ensure};

/// The bin count of [`Histogram`]s made by default: 8192 bins over `[-R, R)`, i.e. 4096
/// bins for `|x|`, of which at least 2048 hold data (`max |x| >= R / 2`), the resolution
/// TensorRT's entropy calibration uses between zero and the maximum.
pub const DEFAULT_BINS: usize = 8192;

/// The fewest bins a [`Histogram`] may have: 2048 (at least 512 bins of `|x|` hold data,
/// enough for the KL search, which starts at 128 or 256 bins).
pub const MIN_BINS: usize = 2048;

/// The most bins a [`Histogram`] may have (2^24, 128 MiB of counters).
pub const MAX_BINS: usize = 1 << 24;

/// Counts of finite `f32` values in `bins` equal bins over `[-R, R)`, `R` a power of two
/// that grows with the data (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    /// `e` with `R = 2^e`; `None` while only zeros have been added.
    range_exponent: Option<i32>,
    /// log2 of the bin count.
    bins_log2: u32,
    total: u64,
}

impl Histogram {
    /// An empty histogram of `bins` bins: a power of two in
    /// [`MIN_BINS`]`..=`[`MAX_BINS`].
    pub fn new(bins: usize) -> Result<Histogram> {
        ensure(bins.is_power_of_two() && (MIN_BINS..=MAX_BINS).contains(&bins), || {
            format!("histogram bins is {bins}, must be a power of two in {MIN_BINS}..={MAX_BINS}")
        })?;
        Ok(Histogram {
            counts: vec![0; bins],
            range_exponent: None,
            bins_log2: bins.trailing_zeros(),
            total: 0,
        })
    }

    /// An empty histogram of `bins` bins whose range already covers `|x| <= max_abs` (a
    /// finite `max_abs`): it ends with the same counts as one that grew to that range.
    pub fn covering(bins: usize, max_abs: f32) -> Result<Histogram> {
        ensure(max_abs.is_finite(), || format!("max_abs is {max_abs}, must be finite"))?;
        let mut histogram = Histogram::new(bins)?;
        histogram.cover(max_abs.abs());
        Ok(histogram)
    }

    /// The number of bins `N`.
    pub fn bins(&self) -> usize {
        self.counts.len()
    }

    /// The count of each bin, bin 0 first (lowest values).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of values counted (the sum of [`counts`](Self::counts)).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `R`: the histogram covers `[-R, R)`. 0 while only zeros have been added.
    pub fn half_range(&self) -> f64 {
        self.range_exponent.map_or(0.0, pow2)
    }

    /// The width of every bin, `2R / N` (0 while only zeros have been added).
    pub fn bin_width(&self) -> f64 {
        self.range_exponent.map_or(0.0, |e| pow2(self.width_exponent(e)))
    }

    /// The lower edge of bin `index` (`index == N` gives the upper edge of the last bin).
    pub fn bin_lower_edge(&self, index: usize) -> f64 {
        (index as f64 - (self.bins() / 2) as f64) * self.bin_width()
    }

    /// Counts the finite values of `values` (growing the range first if needed) and
    /// returns how many were skipped as NaN or infinite.
    pub fn add(&mut self, values: &[f32]) -> u64 {
        let max_abs = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
        self.cover(max_abs);
        let mut skipped = 0;
        let half = (self.bins() / 2) as i64;
        // The bin scale once per call (index_of per value, hoisted): exact, a power of two.
        let scale = self.range_exponent.map(|e| pow2(-self.width_exponent(e)));
        for &v in values {
            if v.is_finite() {
                let index = match scale {
                    None => half as usize,
                    Some(scale) => {
                        // floor() without the libm call: truncate, then step down for
                        // negative non-integers (the product is exact).
                        let scaled = f64::from(v) * scale;
                        let truncated = scaled as i64;
                        let floor = truncated - i64::from((truncated as f64) > scaled);
                        (floor + half) as usize
                    }
                };
                self.counts[index] += 1;
                self.total += 1;
            } else {
                skipped += 1;
            }
        }
        skipped
    }

    /// Counts of `|x|`: `N / 2` bins, bin `j` covering `[j * w, (j + 1) * w]` (a negative
    /// value `x` in `[-(j + 1) * w, -j * w)` counts in bin `j`).
    pub fn abs_counts(&self) -> Vec<u64> {
        let half = self.bins() / 2;
        let (negative, positive) = self.counts.split_at(half);
        positive.iter().zip(negative.iter().rev()).map(|(p, n)| p + n).collect()
    }

    /// Widens the range (merging bins) until it covers `|x| <= max_abs`.
    pub(crate) fn cover(&mut self, max_abs: f32) {
        if max_abs == 0.0 {
            return;
        }
        // The smallest power of two strictly above max_abs: 2^(floor(log2 max_abs) + 1),
        // read from the exponent of the f64 (every f32, subnormals included, is normal
        // as an f64).
        let needed = f64_exponent(f64::from(max_abs)) + 1;
        match self.range_exponent {
            None => self.range_exponent = Some(needed),
            Some(current) if needed > current => {
                self.merge_doublings((needed - current) as u32);
                self.range_exponent = Some(needed);
            }
            Some(_) => {}
        }
    }

    /// Re-bins for a range `2^doublings` times wider: signed bin `s` goes to
    /// `floor(s / 2^doublings)` (an arithmetic shift).
    fn merge_doublings(&mut self, doublings: u32) {
        let half = (self.bins() / 2) as i64;
        let shift = doublings.min(63);
        let mut merged = vec![0u64; self.bins()];
        for (index, &count) in self.counts.iter().enumerate() {
            if count != 0 {
                let signed = index as i64 - half;
                merged[((signed >> shift) + half) as usize] += count;
            }
        }
        self.counts = merged;
    }

    /// `log2(w)` for `R = 2^range_exponent`: `w = 2^(e + 1) / 2^bins_log2`.
    fn width_exponent(&self, range_exponent: i32) -> i32 {
        range_exponent + 1 - self.bins_log2 as i32
    }
}

/// `2^e` for `e` in f64's normal exponent range (`-1022..=1023`), built from its bits.
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// `floor(log2(v))` of a positive normal `f64`.
fn f64_exponent(v: f64) -> i32 {
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{Rng, gaussian};

    #[test]
    fn rejects_bin_counts_that_are_not_powers_of_two_or_too_small() {
        assert!(Histogram::new(3000).is_err());
        assert!(Histogram::new(1024).is_err());
        assert!(Histogram::new(2048).is_ok());
    }

    #[test]
    fn range_is_the_smallest_power_of_two_above_the_largest_magnitude() {
        let mut h = Histogram::new(2048).unwrap();
        h.add(&[0.0, 0.0]);
        assert_eq!(h.half_range(), 0.0);
        assert_eq!(h.counts()[1024], 2);
        h.add(&[0.75]);
        assert_eq!(h.half_range(), 1.0);
        h.add(&[-1.0]);
        assert_eq!(h.half_range(), 2.0);
        h.add(&[3.0, f32::NAN, f32::INFINITY]);
        assert_eq!(h.half_range(), 4.0);
        assert_eq!(h.total(), 5);
        // Zeros stay in the bin starting at zero however the range grew.
        assert_eq!(h.counts()[1024], 2);
        assert_eq!(h.bin_lower_edge(1024), 0.0);
        assert_eq!(h.bin_width(), 8.0 / 2048.0);
    }

    #[test]
    fn a_grown_histogram_equals_one_built_with_its_final_range() {
        let mut rng = Rng::new(7);
        // Magnitudes growing over many octaves, so the range doubles many times.
        let values: Vec<f32> =
            (0..20_000).map(|i| gaussian(&mut rng) * (1.0 + i as f32 * 0.05) * 1e-3).collect();
        let mut grown = Histogram::new(2048).unwrap();
        for chunk in values.chunks(97) {
            grown.add(chunk);
        }
        let max_abs = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let mut preset = Histogram::covering(2048, max_abs).unwrap();
        preset.add(&values);
        assert_eq!(grown, preset);
        assert!(
            grown.half_range() > f64::from(max_abs)
                && grown.half_range() <= 2.0 * f64::from(max_abs)
        );

        // And every value sits in the bin a direct computation with the final range gives.
        let (r, w) = (preset.half_range(), preset.bin_width());
        let mut direct = vec![0u64; 2048];
        for &v in &values {
            let index = ((f64::from(v) + r) / w).floor() as usize;
            direct[index.min(2047)] += 1;
        }
        // Exactly, here: a direct (x + R) / w could only differ by a rounding that moves
        // a value to a neighbouring bin, and none does.
        assert_eq!(grown.counts(), &direct[..]);
    }

    #[test]
    fn chunking_and_order_do_not_change_the_counts() {
        let mut rng = Rng::new(11);
        let values: Vec<f32> = (0..10_000).map(|_| gaussian(&mut rng) * 3.0).collect();
        let mut whole = Histogram::new(4096).unwrap();
        whole.add(&values);
        let mut reversed_chunks = Histogram::new(4096).unwrap();
        for chunk in values.chunks(13).rev() {
            reversed_chunks.add(chunk);
        }
        assert_eq!(whole, reversed_chunks);
    }

    #[test]
    fn abs_counts_fold_negative_bins_onto_positive_ones() {
        let mut h = Histogram::covering(2048, 1.0).unwrap();
        // R = 2, w = 2 / 1024.
        let w = h.bin_width() as f32;
        h.add(&[0.5 * w, -0.5 * w, 3.5 * w, -3.5 * w, -4.0 * w]);
        let abs = h.abs_counts();
        assert_eq!(abs.len(), 1024);
        assert_eq!(abs[0], 2);
        assert_eq!(abs[3], 3);
        assert_eq!(abs.iter().sum::<u64>(), 5);
    }
}

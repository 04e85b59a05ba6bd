//! Deterministic test data: a splitmix64 generator and the distributions the tests draw
//! from (no `rand` dependency; the same seed gives the same values on every run).

/// splitmix64: a 64-bit state advanced by a constant and mixed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        (f64::from(lo) + self.unit() * f64::from(hi - lo)) as f32
    }
}

/// A standard normal value (Box-Muller, one of the pair).
pub(crate) fn gaussian(rng: &mut Rng) -> f32 {
    let u1 = 1.0 - rng.unit(); // (0, 1]
    let u2 = rng.unit();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `n` standard normal values with every `outlier_every`-th value replaced by
/// `±outlier` (alternating signs).
pub(crate) fn gaussian_with_outliers(
    seed: u64,
    n: usize,
    outlier_every: usize,
    outlier: f32,
) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let g = gaussian(&mut rng);
            if (i + 1) % outlier_every == 0 {
                if (i / outlier_every) % 2 == 0 { outlier } else { -outlier }
            } else {
                g
            }
        })
        .collect()
}

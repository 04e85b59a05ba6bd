//! f32 functions written so that loops over slices vectorise: no calls into the C math
//! library and no data-dependent branches (choices are selects), for the activations that
//! dominate real models (Exp, Sigmoid, Tanh and what is built on them).
//!
//! * [`exp`]: `e^x = 2^n * e^r` with `n = round(x / ln 2)` and `|r| <= ln(2) / 2`; `ln 2` is
//!   split into a short high part (exact products with `n`) and a low part, and `e^r` is its
//!   Taylor polynomial of degree 7 (evaluated by Estrin's scheme), whose truncation error is
//!   below `0.35^8 / 8! < 1e-8` relative. `2^n` is built from exponent bits, in two halves so
//!   that results near the ends of the range (overflow to infinity, subnormals) come out
//!   right. Measured error: below 3e-7 relative over the whole range (tests compare with f64).
//! * [`tanh`]: an odd Taylor polynomial of degree 11 below `|x| = 0.3` (truncation error
//!   below 1e-8 relative), else `(1 - e^(-2|x|)) / (1 + e^(-2|x|))` with the sign of x.
//! * [`sigmoid`]: `1 / (1 + e^(-x))`, accurate to a few ulp for all x.
//! * [`erf`] and [`erfc`]: below `|x| = 1`, `erf(x) = x * P(x^2)`; from 1 on,
//!   `erfc(x) = e^(-x^2) * R(1/x)`, and `erf = 1 - erfc`. P (degree 6) and R (degree 10 in
//!   `1/x - 0.55`, for x up to 10; beyond, `e^(-x^2)` carries the decay) are weighted
//!   least-squares fits to the relative error, made for dlopt with numpy against f64 erf/erfc
//!   on Chebyshev nodes; their own errors are 5e-9 and 5e-8 relative. Evaluated in f32, erf is
//!   within 3e-7 relative everywhere and erfc within 1e-6 up to x = 4 (beyond, the rounding
//!   of `x^2` in the exponent dominates, on values below 1e-8).

/// `log2(e)`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// The high part of `ln 2` (0.693359375): 9 significant bits, so `n * LN2_HIGH` is exact.
const LN2_HIGH: f32 = 355.0 / 512.0;
/// `ln 2 - LN2_HIGH`.
const LN2_LOW: f32 = -2.121_944_4e-4;
/// `1.5 * 2^23`: adding it rounds a float of magnitude below `2^22` to an integer, which
/// then sits in the low mantissa bits.
const ROUNDER: f32 = 12_582_912.0;

/// `e^x` (see the module documentation): NaN for NaN, infinity above about 88.72, 0 below
/// about -103.9.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-104.0, 88.8);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    // The Taylor polynomial by Estrin's scheme: shorter dependency chains than Horner's.
    let r2 = r * r;
    let r4 = r2 * r2;
    let p = (1.0 + r)
        + r2 * (1.0 / 2.0 + r * (1.0 / 6.0))
        + r4 * ((1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0)));
    // n as an integer: the mantissa difference (NaN gives garbage bits, but p is NaN then).
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let half = k >> 1;
    let rest = k.wrapping_sub(half);
    let first = f32::from_bits((half.wrapping_add(127) << 23) as u32);
    let second = f32::from_bits((rest.wrapping_add(127) << 23) as u32);
    p * first * second
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The hyperbolic tangent (see the module documentation).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let x2 = x * x;
    let small = x + x
        * x2
        * (-1.0 / 3.0
            + x2 * (2.0 / 15.0
                + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155_925.0)))));
    let t = exp(-2.0 * x.abs());
    let large = ((1.0 - t) / (1.0 + t)).copysign(x);
    if x.abs() < 0.3 { small } else { large }
}

/// Coefficients of P: `erf(x) / x` as a polynomial in `x^2` on `[0, 1]`, lowest first.
const ERF_SMALL: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI, // the fit gives exactly this f32
    -0.376_126_35,
    0.112_836_82,
    -0.026_858_004,
    0.005_196_598_4,
    -0.000_808_563_4,
    8.112_205e-5,
];

/// Coefficients of R: `erfc(x) * e^(x^2)` as a polynomial in `1/x - 0.55` on `[1, 10]`,
/// lowest first.
const ERFC_SCALED: [f32; 11] = [
    0.276_294_38,
    0.408_834_16,
    -0.181_234_36,
    0.033_726_69,
    0.044_957_355,
    -0.069_347_85,
    0.057_088_323,
    -0.025_411_028,
    -0.019_836_975,
    0.062_372_424,
    -0.048_048_686,
];

/// Horner evaluation of `coefficients` (lowest first) at `v`.
#[inline(always)]
fn polynomial<const N: usize>(coefficients: &[f32; N], v: f32) -> f32 {
    coefficients.iter().rev().fold(0.0, |sum, &c| sum * v + c)
}

/// `erf(x)` for `|x| < 1`.
#[inline(always)]
fn erf_small(x: f32) -> f32 {
    x * polynomial(&ERF_SMALL, x * x)
}

/// `erfc(a)` for `a >= 1` (NaN for NaN, 0 for infinity).
#[inline(always)]
fn erfc_large(a: f32) -> f32 {
    let t = 1.0 / a.clamp(1.0, 10.0) - 0.55;
    exp(-a * a) * polynomial(&ERFC_SCALED, t)
}

/// The error function (see the module documentation).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let small = erf_small(x);
    let large = (1.0 - erfc_large(a)).copysign(x);
    if a < 1.0 { small } else { large }
}

/// The complementary error function `1 - erf(x)`, accurate also where it is tiny (see the
/// module documentation).
#[inline(always)]
pub(crate) fn erfc(x: f32) -> f32 {
    let a = x.abs();
    let near = 1.0 - erf_small(x);
    let tail = erfc_large(a);
    let far = if x < 0.0 { 2.0 - tail } else { tail };
    if a < 1.0 { near } else { far }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative_error(got: f32, expected: f64) -> f64 {
        if expected == 0.0 { got.abs() as f64 } else { ((got as f64 - expected) / expected).abs() }
    }

    /// Points spread over [from, to] plus the ends.
    fn points(from: f32, to: f32, count: usize) -> impl Iterator<Item = f32> {
        (0..=count).map(move |i| from + (to - from) * i as f32 / count as f32)
    }

    #[test]
    fn exp_is_accurate_over_its_whole_range() {
        let mut worst = 0.0f64;
        for x in points(-87.0, 88.7, 200_000) {
            worst = worst.max(relative_error(exp(x), (x as f64).exp()));
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(88.8), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        // Subnormal results keep a sensible value.
        let tiny = exp(-100.0) as f64;
        assert!((tiny - (-100f64).exp()).abs() < 1e-44, "{tiny}");
    }

    #[test]
    fn tanh_and_sigmoid_are_accurate() {
        let mut worst_tanh = 0.0f64;
        let mut worst_sigmoid = 0.0f64;
        for x in points(-12.0, 12.0, 100_001).chain(points(-0.01, 0.01, 1001)) {
            let wide = x as f64;
            worst_tanh = worst_tanh.max(relative_error(tanh(x), wide.tanh()));
            worst_sigmoid =
                worst_sigmoid.max(relative_error(sigmoid(x), 1.0 / (1.0 + (-wide).exp())));
        }
        assert!(worst_tanh < 5e-7, "tanh: worst relative error {worst_tanh}");
        assert!(worst_sigmoid < 5e-7, "sigmoid: worst relative error {worst_sigmoid}");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(sigmoid(-200.0), 0.0);
    }

    #[test]
    fn erf_and_erfc_meet_one_in_a_million() {
        // Reference: the f64 series erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)),
        // which converges in f64 to ~1e-15 for |x| <= 3.
        fn series(x: f64) -> f64 {
            let mut term = x;
            let mut sum = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        }
        let mut worst = 0.0f64;
        for x in points(-3.0, 3.0, 60_001) {
            worst = worst.max(relative_error(erf(x), series(x as f64)));
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(0.0), 0.0);
        assert!(erf(f32::NAN).is_nan());

        let mut worst_complement = 0.0f64;
        for x in points(-3.0, 3.0, 60_001) {
            worst_complement =
                worst_complement.max(relative_error(erfc(x), 1.0 - series(x as f64)));
        }
        assert!(worst_complement < 1e-6, "erfc: worst relative error {worst_complement}");
        // Tail values (f64 references).
        for (x, expected) in [
            (4.0, 1.541_725_790_028_002e-8),
            (6.0, 2.151_973_671_249_891_6e-17),
            (9.0, 4.137_031_746_513_81e-37),
        ] {
            let tolerance = if x <= 4.0 { 1e-6 } else { 1e-5 };
            assert!(relative_error(erfc(x), expected) < tolerance, "erfc({x}) = {}", erfc(x));
        }
        assert_eq!(erfc(f32::INFINITY), 0.0);
        assert_eq!(erfc(f32::NEG_INFINITY), 2.0);
        assert!(erfc(f32::NAN).is_nan());
    }
}

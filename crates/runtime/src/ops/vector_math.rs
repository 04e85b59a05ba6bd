//! f32 building blocks of the normalization family: an `exp` the compiler can vectorize,
//! sums and extrema over slices with independent lanes (vectorizable, and more accurate
//! than one running sum), `multiversion!` to compile such loops for the widest vector
//! instructions of the CPU, and a row loop that spreads rows over the rayon pool when
//! there is enough work.
//!
//! The results do not depend on the vector width or the thread count: lanes are explicit
//! and no multiply-add is fused.

use rayon::prelude::*;

/// Lanes of the slice reductions: eight independent accumulators.
const LANES: usize = 8;

/// Elements below which a kernel stays on its thread.
pub(crate) const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

/// e^x with a relative error of about 1e-7 (a few ulp), written so that loops over it
/// vectorize: x = n·ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial,
/// 2^n from exponent bits (in two halves, so that every n of the range is a normal
/// float). x below -87.33 gives 0 (e^x would be below the smallest normal f32), x above
/// 88.72 gives infinity, NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LOW: f32 = -87.33;
    const HIGH: f32 = 88.72;
    // ln 2 split in a part with few mantissa bits (exact products with n) and the rest.
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    // Not f32::clamp: that would turn NaN into a bound instead of keeping it.
    #[allow(clippy::manual_clamp)]
    let clamped = if x < LOW {
        LOW
    } else if x > HIGH {
        HIGH
    } else {
        x
    };
    let shifted = clamped * LOG2_E + ROUND;
    let n = shifted - ROUND;
    // The integer n sits in the low mantissa bits of `shifted` (a float-to-int conversion
    // would keep the loop from vectorizing).
    let whole = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = (clamped - n * LN2_HIGH) - n * LN2_LOW;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let half = whole >> 1;
    let first = f32::from_bits(((half + 127) << 23) as u32);
    let second = f32::from_bits(((whole - half + 127) << 23) as u32);
    let value = p * first * second;
    if x < LOW {
        0.0
    } else if x > HIGH {
        f32::INFINITY
    } else {
        value
    }
}

/// The sum of `map(x)` over `values`, in eight lanes.
#[inline(always)]
pub(crate) fn sum_map(values: &[f32], map: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += map(value);
        }
    }
    let mut total = 0.0;
    for &value in rest {
        total += map(value);
    }
    let pairs =
        [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
    total + ((pairs[0] + pairs[2]) + (pairs[1] + pairs[3]))
}

/// The sum of `values`.
#[inline(always)]
pub(crate) fn sum(values: &[f32]) -> f32 {
    sum_map(values, |value| value)
}

/// The larger of two values; NaN wins (and stays once it is the accumulator).
#[inline(always)]
pub(crate) fn max_nan(accumulator: f32, value: f32) -> f32 {
    if value > accumulator || value.is_nan() { value } else { accumulator }
}

/// The smaller of two values; NaN wins (and stays once it is the accumulator).
#[inline(always)]
pub(crate) fn min_nan(accumulator: f32, value: f32) -> f32 {
    if value < accumulator || value.is_nan() { value } else { accumulator }
}

/// Folds `values` with `combine` in eight lanes starting from `init` (for max, min, product).
#[inline(always)]
pub(crate) fn fold_lanes(values: &[f32], init: f32, combine: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = combine(*lane, value);
        }
    }
    let mut result = rest.iter().fold(init, |accumulator, &value| combine(accumulator, value));
    for lane in lanes {
        result = combine(result, lane);
    }
    result
}

/// The largest value (NaN if any is NaN; -inf for no values).
#[inline(always)]
pub(crate) fn max(values: &[f32]) -> f32 {
    fold_lanes(values, f32::NEG_INFINITY, max_nan)
}

/// The mean and the population variance of `values` (two passes: the variance of the
/// centred values does not cancel catastrophically). NaN for no values.
#[inline(always)]
pub(crate) fn mean_variance(values: &[f32]) -> (f32, f32) {
    let count = values.len() as f32;
    let mean = sum(values) / count;
    let variance = sum_map(values, |value| (value - mean) * (value - mean)) / count;
    (mean, variance)
}

/// Defines a function whose body is compiled three times (x86-64 baseline, AVX2 with FMA,
/// AVX-512) and runs the widest version the CPU supports (detected once by
/// `dlopt_kernels::cpu`), so that its loops over the `#[inline(always)]` helpers of this
/// module vectorize as wide as the machine allows. The function cannot be generic.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body

            /// The body compiled with AVX-512.
            ///
            /// # Safety
            /// The CPU must support AVX-512F, AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            /// The body compiled with AVX2.
            ///
            /// # Safety
            /// The CPU must support AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            match dlopt_kernels::cpu::simd_level() {
                // SAFETY: the level was detected at run time, so the CPU has the features.
                #[cfg(target_arch = "x86_64")]
                dlopt_kernels::cpu::SimdLevel::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                dlopt_kernels::cpu::SimdLevel::Avx2 => unsafe { avx2($($arg),*) },
                _ => portable($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

/// Calls `work(row_index, input_row, output_row)` for the rows of `input` (length
/// `input_row`) and `output` (length `output_row`), in parallel when `threads > 1` and
/// the output is large. Both must hold the same number of rows.
pub(crate) fn for_each_row<F>(
    threads: usize,
    input: &[f32],
    input_row: usize,
    output: &mut [f32],
    output_row: usize,
    work: F,
) where
    F: Fn(usize, &[f32], &mut [f32]) + Send + Sync,
{
    if input_row == 0 || output_row == 0 {
        // Rows of nothing: still give each output row its call (it may need filling).
        let rows = output.len().checked_div(output_row).unwrap_or(0);
        for (at, out) in output.chunks_mut(output_row.max(1)).take(rows).enumerate() {
            work(at, &[], out);
        }
        return;
    }
    let parallel = threads > 1 && output.len().max(input.len()) >= PARALLEL_MIN_ELEMENTS;
    if parallel {
        output
            .par_chunks_mut(output_row)
            .zip(input.par_chunks(input_row))
            .enumerate()
            .for_each(|(at, (out, row))| work(at, row, out));
    } else {
        for (at, (out, row)) in
            output.chunks_mut(output_row).zip(input.chunks(input_row)).enumerate()
        {
            work(at, row, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_float_range() {
        let mut worst = 0.0f64;
        let mut x = -87.3f32;
        while x < 88.7 {
            let exact = (x as f64).exp();
            let relative = ((exp(x) as f64 - exact) / exact).abs();
            worst = worst.max(relative);
            x += 0.0137;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn lane_reductions_match_plain_ones() {
        let values: Vec<f32> = (0..37).map(|v| (v as f32 * 0.37).sin()).collect();
        let plain: f32 = values.iter().sum();
        assert!((sum(&values) - plain).abs() < 1e-5);
        let largest = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(max(&values), largest);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
        assert!(max(&[1.0, f32::NAN, 2.0]).is_nan());
        let (mean, variance) = mean_variance(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((mean, variance), (2.5, 1.25));
    }

    #[test]
    fn rows_are_visited_once_each() {
        let input: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut output = vec![0.0; 4];
        for_each_row(4, &input, 3, &mut output, 1, |_, row, out| out[0] = row.iter().sum());
        assert_eq!(output, [3.0, 12.0, 21.0, 30.0]);
        let mut large = vec![0.0; PARALLEL_MIN_ELEMENTS * 2];
        let source = vec![1.0; PARALLEL_MIN_ELEMENTS * 2];
        for_each_row(4, &source, 64, &mut large, 64, |at, row, out| {
            out.iter_mut().zip(row).for_each(|(o, &x)| *o = x + at as f32)
        });
        assert_eq!(large[64 * 5 + 3], 6.0);
    }
}

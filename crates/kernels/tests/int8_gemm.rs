//! `gemm_u8i8` against the i64 / f64 reference: random shapes (odd M, K not a multiple
//! of 4, N not a multiple of 16), zero points 0 / 128 / 255, extreme weights, every
//! output mode and activation, every ISA path of this machine, 1 and 2 threads.

mod common;
mod int8_ref;

use common::{Rng, all_activations};
use dlopt_kernels::Activation;
use dlopt_kernels::int8::{
    InputQuant, Int8Output, Int8Path, PackedInt8Weights, WeightLevels, gemm_u8i8,
};
use int8_ref::{MODES, Mode, Quant, Reference, bytes, check_mode, paths, weights};

fn gemm_ref(m: usize, k: usize, n: usize, w: &[i8], a: &[u8], za: u8) -> Reference {
    let mut acc = Vec::with_capacity(m * n);
    let mut channel = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            acc.push((0..k).map(|p| (a[p * n + j] as i64 - za as i64) * w[i * k + p] as i64).sum());
            channel.push(i);
        }
    }
    Reference { acc, channel }
}

/// Checks one shape on every path, both thread counts and the given modes.
#[allow(clippy::too_many_arguments)]
fn check_shape(
    rng: &mut Rng,
    (m, k, n): (usize, usize, usize),
    za: u8,
    levels: WeightLevels,
    modes: &[Mode],
    acts: &[Activation],
    case: usize,
) {
    let w = weights(rng, m * k, levels);
    let a = bytes(rng, k * n);
    let q = Quant::random(rng, m, za);
    let packed = PackedInt8Weights::new(m, k, &w, &q.scales, Some(&q.bias)).unwrap();
    assert_eq!(packed.levels(), levels);
    let r = gemm_ref(m, k, n, &w, &a, za);
    for (pi, &path) in paths(levels).iter().enumerate() {
        for threads in [1, 2] {
            for (mi, &mode) in modes.iter().enumerate() {
                let act = match mode {
                    Mode::I32 => Activation::None,
                    _ => acts[(case + pi + mi + threads) % acts.len()],
                };
                let what =
                    format!("[{m}x{k}x{n}] za {za} {path:?} threads {threads} {mode:?} {act:?}");
                check_mode(&r, &q, act, mode, &what, |out| {
                    gemm_u8i8(&packed, &a, n, q.input, act, out, Some(path), threads).unwrap()
                });
            }
        }
    }
}

#[test]
fn int8_gemm_random_shapes() {
    let mut rng = Rng::new(81);
    let acts = all_activations();
    for case in 0..120 {
        let m = rng.range(1, 37);
        let k = rng.range(1, 150);
        let n = rng.range(1, 130);
        let za = [0, 128, 255, rng.range(1, 254) as u8][case % 4];
        let levels = if case % 3 == 0 { WeightLevels::Bits7 } else { WeightLevels::Bits8 };
        check_shape(&mut rng, (m, k, n), za, levels, &MODES, &acts, case);
    }
}

#[test]
fn int8_gemm_listed_shapes() {
    let mut rng = Rng::new(82);
    let acts = all_activations();
    let shapes = [
        (1, 1, 1),
        (8, 4, 16),
        (9, 5, 17),
        (17, 3, 49),
        (64, 288, 47),
        // Several pixel tiles (K = 1000: 240-pixel tiles) and a partial last one.
        (19, 1001, 997),
        // Many row blocks on few pixels (split over threads by row blocks).
        (131, 67, 20),
    ];
    for (case, &shape) in shapes.iter().enumerate() {
        let modes = [Mode::I32, Mode::F32, Mode::U8(128)];
        for levels in [WeightLevels::Bits7, WeightLevels::Bits8] {
            check_shape(&mut rng, shape, [0, 255, 128][case % 3], levels, &modes, &acts, case);
        }
    }
}

/// Extreme values: every activation 255 (za 0) or 0 (za 255) against weights of ±127
/// over the largest reduction, so the i32 sums come close to overflowing.
#[test]
fn int8_gemm_extremes() {
    let (m, k, n) = (9, 65536, 17);
    for (fill, za, wv) in [(255u8, 0u8, 127i8), (0, 255, -127), (255, 0, -128)] {
        let w = vec![wv; m * k];
        let a = vec![fill; k * n];
        let packed = PackedInt8Weights::new(m, k, &w, &[1.0], None).unwrap();
        let want = (fill as i64 - za as i64) * wv as i64 * k as i64;
        assert!(want.abs() < i32::MAX as i64);
        for path in paths(packed.levels()) {
            let mut got = vec![0i32; m * n];
            let input = InputQuant { scale: 1.0, zero_point: za };
            let out = Int8Output::I32(&mut got);
            gemm_u8i8(&packed, &a, n, input, Activation::None, out, Some(path), 2).unwrap();
            assert!(got.iter().all(|&g| g as i64 == want), "{path:?}: {} vs {want}", got[0]);
        }
    }
}

#[test]
fn int8_gemm_errors() {
    let w = vec![100i8; 8 * 8];
    let packed = PackedInt8Weights::new(8, 8, &w, &[0.1], None).unwrap();
    assert_eq!(packed.levels(), WeightLevels::Bits8);
    assert!(!Int8Path::Avx2.supports(packed.levels()));
    assert_ne!(Int8Path::best(packed.levels()), Int8Path::Avx2);
    let a = vec![0u8; 8 * 4];
    let input = InputQuant { scale: 0.1, zero_point: 0 };
    let mut out = vec![0f32; 8 * 4];
    if Int8Path::Avx2.is_available() {
        let r = gemm_u8i8(
            &packed,
            &a,
            4,
            input,
            Activation::None,
            Int8Output::F32(&mut out),
            Some(Int8Path::Avx2),
            1,
        );
        assert!(r.unwrap_err().message.contains("7-bit"));
    }
    // Short buffers, i32 output with an activation, bad scales, K = 0 and too large.
    assert!(
        gemm_u8i8(
            &packed,
            &a[..31],
            4,
            input,
            Activation::None,
            Int8Output::F32(&mut out),
            None,
            1
        )
        .is_err()
    );
    let mut short = vec![0f32; 31];
    assert!(
        gemm_u8i8(&packed, &a, 4, input, Activation::None, Int8Output::F32(&mut short), None, 1)
            .is_err()
    );
    let mut acc = vec![0i32; 32];
    let i32_out = Int8Output::I32(&mut acc);
    assert!(gemm_u8i8(&packed, &a, 4, input, Activation::Relu, i32_out, None, 1).is_err());
    let bad = InputQuant { scale: 0.0, zero_point: 0 };
    assert!(
        gemm_u8i8(&packed, &a, 4, bad, Activation::None, Int8Output::F32(&mut out), None, 1)
            .is_err()
    );
    assert!(PackedInt8Weights::new(1, 0, &[], &[1.0], None).is_err());
    assert!(PackedInt8Weights::new(1, 65537, &vec![0; 65537], &[1.0], None).is_err());
    assert!(PackedInt8Weights::new(2, 2, &[0; 4], &[1.0, 1.0, 1.0], None).is_err());
}

//! `quantize_u8` / `dequantize_u8`: round half to even, saturation, NaN, on every
//! vector level (`DLOPT_KERNELS_SIMD` reruns).

mod common;

use common::{Rng, rerun_with_simd_caps};
use dlopt_kernels::int8::{dequantize_u8, quantize_u8};

#[test]
fn int8_quantize_round_trip() {
    let mut rng = Rng::new(71);
    for (scale, zp) in [(0.5f32, 0u8), (0.02, 128), (0.1, 255), (1.0 / 3.0, 17)] {
        // Exact ties (k + 1/2) · scale, out-of-range values and random ones, odd length.
        let mut x: Vec<f32> = (-300..300).map(|k| (k as f32 + 0.5) * scale).collect();
        x.extend((0..1001).map(|_| rng.f32() * 300.0 * scale));
        x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e30, -1e30]);
        let mut q = vec![0u8; x.len()];
        quantize_u8(&x, scale, zp, &mut q).unwrap();
        for (i, (&v, &g)) in x.iter().zip(&q).enumerate() {
            let want = if v.is_nan() {
                0.0
            } else {
                ((v / scale).round_ties_even() + zp as f32).clamp(0.0, 255.0)
            };
            assert_eq!(g as f32, want, "element {i}: {v} / {scale} + {zp}");
        }
        let mut back = vec![0f32; q.len()];
        dequantize_u8(&q, scale, zp, &mut back).unwrap();
        for (&g, &b) in q.iter().zip(&back) {
            assert_eq!(b, (g as i32 - zp as i32) as f32 * scale);
        }
    }
    assert!(quantize_u8(&[1.0], 0.0, 0, &mut [0]).is_err());
    assert!(quantize_u8(&[1.0, 2.0], 1.0, 0, &mut [0]).is_err());
    assert!(dequantize_u8(&[1, 2], 1.0, 0, &mut [0.0]).is_err());
}

#[test]
fn int8_quantize_simd_levels() {
    rerun_with_simd_caps("int8_quantize_round_trip");
}

//! Quantize / dequantize uint8 tensors at graph boundaries (per-tensor scale and zero
//! point, ONNX `QuantizeLinear` / `DequantizeLinear` semantics), compiled for AVX-512
//! and AVX2 as well and chosen at run time.

use crate::cpu::{SimdLevel, simd_level};
use crate::error::{Result, ensure, ensure_len};

fn check_scale(scale: f32) -> Result<()> {
    ensure(scale.is_finite() && scale > 0.0, || {
        format!("int8: scale {scale} must be positive and finite")
    })
}

/// `out[i] = clamp(round_half_even(x[i] / scale) + zero_point, 0, 255)` (NaN gives 0).
pub fn quantize_u8(x: &[f32], scale: f32, zero_point: u8, out: &mut [u8]) -> Result<()> {
    check_scale(scale)?;
    ensure_len("quantize_u8: output", out.len(), x.len())?;
    let out = &mut out[..x.len()];
    match simd_level() {
        // SAFETY: the CPU has these features (run-time detection).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { quantize_avx512(x, scale, zero_point, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => unsafe { quantize_avx2(x, scale, zero_point, out) },
        _ => quantize_generic(x, scale, zero_point, out),
    }
    Ok(())
}

/// `out[i] = scale · (q[i] − zero_point)`.
pub fn dequantize_u8(q: &[u8], scale: f32, zero_point: u8, out: &mut [f32]) -> Result<()> {
    ensure(scale.is_finite(), || format!("int8: scale {scale} must be finite"))?;
    ensure_len("dequantize_u8: output", out.len(), q.len())?;
    let out = &mut out[..q.len()];
    match simd_level() {
        // SAFETY: the CPU has these features (run-time detection).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { dequantize_avx512(q, scale, zero_point, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => unsafe { dequantize_avx2(q, scale, zero_point, out) },
        _ => dequantize_generic(q, scale, zero_point, out),
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn quantize_avx512(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    quantize_generic(x, scale, zp, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn quantize_avx2(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    quantize_generic(x, scale, zp, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn dequantize_avx512(q: &[u8], scale: f32, zp: u8, out: &mut [f32]) {
    dequantize_generic(q, scale, zp, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dequantize_avx2(q: &[u8], scale: f32, zp: u8, out: &mut [f32]) {
    dequantize_generic(q, scale, zp, out);
}

/// Branch-free so that it vectorises (`round_ties_even` is one `vroundps` with AVX).
#[inline(always)]
fn quantize_generic(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    let zp = zp as f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let t = (v / scale).round_ties_even() + zp;
        // NaN stays NaN through the clamp and converts to 0.
        *o = t.clamp(0.0, 255.0) as u8;
    }
}

#[inline(always)]
fn dequantize_generic(q: &[u8], scale: f32, zp: u8, out: &mut [f32]) {
    let zp = zp as i32;
    for (o, &v) in out.iter_mut().zip(q) {
        *o = (v as i32 - zp) as f32 * scale;
    }
}

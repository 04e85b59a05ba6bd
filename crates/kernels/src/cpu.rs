//! Run-time CPU feature detection for the hand-vectorised kernels.
//!
//! The crate is compiled for baseline x86-64; kernels that profit from wider vectors
//! (direct convolution, im2col, activations, pooling) are compiled a second and a
//! third time with `#[target_feature]` and chosen here once per process.

use std::sync::OnceLock;

/// The widest vector instruction set the kernels may use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Portable code only (any architecture, or x86-64 without AVX2/FMA).
    Scalar,
    /// AVX2 with FMA: 8 f32 lanes.
    Avx2,
    /// AVX-512F (with AVX2 and FMA): 16 f32 lanes.
    Avx512,
}

/// The vector level detected for this CPU; detected once and cached.
///
/// Setting the environment variable `DLOPT_KERNELS_SIMD` to `scalar` or `avx2` before the
/// first call caps the level (for testing the fallbacks); it can never raise it above
/// what the CPU supports.
pub fn simd_level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("DLOPT_KERNELS_SIMD").as_deref() {
            Ok("scalar") => SimdLevel::Scalar,
            Ok("avx2") => SimdLevel::Avx2,
            _ => SimdLevel::Avx512,
        };
        detect().min(cap)
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> SimdLevel {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    if avx2 && is_x86_feature_detected!("avx512f") {
        SimdLevel::Avx512
    } else if avx2 {
        SimdLevel::Avx2
    } else {
        SimdLevel::Scalar
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> SimdLevel {
    SimdLevel::Scalar
}

/// Makes the calling thread flush denormal floats to zero (x86 MXCSR flags FTZ and DAZ).
///
/// Denormals (magnitudes below 1.2e-38) make x86 arithmetic up to ~100 times slower; a
/// network's products of small weights and activations produce them depending on the input,
/// which made the same model run twice as slow on some images. They carry no information a
/// network's output depends on, so inference threads flush them, as TensorRT and OpenVINO
/// do. Call it on every thread that runs kernels (e.g. a thread pool's start handler).
pub fn flush_denormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        const FLUSH_TO_ZERO: u32 = 1 << 15;
        const DENORMALS_ARE_ZERO: u32 = 1 << 6;
        let mut control: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut control, options(nostack));
        control |= FLUSH_TO_ZERO | DENORMALS_ARE_ZERO;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &control, options(nostack));
    }
}

#[cfg(test)]
mod denormal_tests {
    #[test]
    fn flushing_turns_denormal_results_into_zero() {
        std::thread::spawn(|| {
            let tiny = std::hint::black_box(1e-30f32);
            assert!((tiny * 1e-10).is_subnormal());
            super::flush_denormals_on_this_thread();
            assert_eq!(std::hint::black_box(tiny) * std::hint::black_box(1e-10f32), 0.0);
        })
        .join()
        .unwrap();
    }
}

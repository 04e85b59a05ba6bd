//! Quantized (int8) GEMM and convolution for QDQ graphs: uint8 activations (per tensor,
//! with a zero point), int8 weights (symmetric, one scale per output channel), i32
//! accumulation and a fused requantizing epilogue.
//!
//! # Arithmetic
//!
//! For output channel `m` the kernels accumulate `acc = Σ a·w` exactly in i32 and finish
//! with `Σ (a − za)·w = acc − za·rowsum[m]` (`rowsum[m] = Σ_k w[m, k]`, computed at
//! packing time), so the zero point costs one subtraction per output. Then, in f32:
//!
//! `y = act((acc − za·rowsum[m]) · (sa·sw[m]) + bias[m])`
//!
//! and [`Int8Output`] stores `y` as f32, or requantized as
//! `clamp(round_half_even(y · (1/so)) + zo, 0, 255)` (uint8; int8: `[-128, 127]`), or the
//! raw compensated i32 sums. The multiplication by the reciprocal of the output scale
//! (instead of a division) may move a value that lies within an ulp of a rounding tie to
//! the neighbouring level: results are within 1 LSB of the exact `round(y / so)`.
//! Reductions are limited to `K <= 65536` so that no i32 sum can overflow
//! (`255 · 128 · 65536 < 2^31`).
//!
//! # Weight layout and ISA paths ([`Int8Path`])
//!
//! [`PackedInt8Weights`] stores the weights as `[M / 8][K / 4][8][4]` (i8, row blocks of
//! [`MR`] = 8 output channels, K in groups of 4, both zero-padded): one 32-bit word holds
//! four consecutive `k` of one row, the operand `vpdpbusd` broadcasts. Activations are
//! repacked per tile into `[K / 4][N][4]` (u8, four consecutive `k` of one pixel in a
//! 32-bit lane), either straight from the NCHW input (1x1 convolution, plain GEMM) or
//! from a u8 im2col whose padding is the activation zero point. Vector lanes run over
//! pixels, so a row of accumulators is a contiguous run of an NCHW output row.
//!
//! * [`Int8Path::Avx512Vnni`]: `vpdpbusd` on zmm, 8 rows x 48 pixels (24 accumulators),
//!   epilogue in registers. Any int8 weights.
//! * [`Int8Path::AvxVnni`]: the same on ymm (`vpdpbusd` with the VEX encoding, Intel
//!   Alder Lake and later, also Zen 5), 4 rows x 16 pixels per inner call. Any weights.
//! * [`Int8Path::Avx2`]: `vpmaddubsw` (u8 x i8 pairs summed into saturating i16), then
//!   `vpmaddwd` with ones into i32. Exact only if `2 · 255 · |w| <= 32767`, i.e. for
//!   7-bit weights `|w| <= 63` ([`WeightLevels::Bits7`]); it is never chosen
//!   automatically for other weights and forcing it returns an error.
//! * [`Int8Path::Scalar`]: portable Rust, any weights, any architecture.
//!
//! [`Int8Path::best`] picks the fastest path the CPU has (capped like the f32 kernels by
//! `DLOPT_KERNELS_SIMD`, see [`crate::cpu::simd_level`]); every entry point takes
//! `path: Option<Int8Path>` (`None` = best) so that tests can force each available path.
//! Depthwise convolution has an AVX-512 VNNI kernel; the other paths run its portable
//! kernel (compiled for AVX2 when the path is an AVX2 one).
//!
//! # Threads
//!
//! As everywhere in the crate (see the crate docs): `threads <= 1` runs on the calling
//! thread, more starts at most `threads` jobs on the current rayon pool. GEMM and
//! convolutions split into (batch, tile of pixels, range of row blocks) items, depthwise
//! into (batch, channel, band of output rows) items.
//!
//! # Benchmark
//!
//! `cargo run --release -p dlopt-kernels --example int8_bench [-- avx2|avxvnni|scalar]`:
//! int8 convolution (u8 in, requantized u8 out, fused activation) against the f32
//! [`crate::conv2d`] on PP-OCR detection layer shapes, GOP/s (2 ops per multiply-add),
//! best of repeated runs within 0.4 s. AMD EPYC Zen 5, 2 cores shared with other
//! engineers' builds (load average 2.6-3.0 during the run; runs on this machine varied by
//! up to ±30%, the 2-thread columns most, as the second core was often busy):
//!
//! | layer (input)                     | f32 1T | int8 1T | x    | f32 2T | int8 2T | x    |
//! |-----------------------------------|-------:|--------:|-----:|-------:|--------:|-----:|
//! | 3x3 32->64 (32x184x248)           |  147.3 |   412.5 | 2.80 |  149.8 |   595.3 | 3.97 |
//! | 1x1 64->128 (64x92x124)           |  177.6 |   369.5 | 2.08 |  252.2 |   234.9 | 0.93 |
//! | 3x3 128->128 (128x46x62)          |  176.2 |   465.7 | 2.64 |  265.2 |   717.4 | 2.70 |
//! | 3x3 s2 64->128 (64x184x248)       |  118.6 |   244.4 | 2.06 |  106.2 |   222.1 | 2.09 |
//! | 1x1 256->512 (256x23x31)          |  224.6 |   687.5 | 3.06 |  387.6 |   843.6 | 2.18 |
//! | dw3x3 (64x184x248)                |   20.9 |    39.3 | 1.88 |   22.9 |    37.3 | 1.63 |
//! | dw3x3 (128x92x124)                |   50.1 |    41.0 | 0.82 |   50.6 |    39.4 | 0.78 |
//! | dw3x3 s2 (128x92x124)             |   28.1 |    28.8 | 1.02 |   28.4 |    29.9 | 1.05 |
//!
//! (AVX-512 VNNI path.) The 3x3 and deep 1x1 layers are 2-3x faster than f32; the 1x1
//! 64->128 layer (K = 64) is epilogue-bound (one requantized store per 16 `vpdpbusd`)
//! and measured 1.3-2.1x on one thread. Depthwise int8 is about as fast as f32:
//! 3 loads + 3 `vpdpbusd` per 16 outputs of a 3x3 kernel, but the plane copy, the
//! quads and the epilogue cost as much. The forced AVX2 path (per-element scalar
//! epilogue) ran at 0.1-0.8x of f32 in the same session: a correctness fallback, not
//! yet tuned.

mod conv;
mod depthwise;
mod epilogue;
mod gemm;
mod pack;
mod quant;
mod weights;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use conv::{PackedInt8Conv, conv2d_u8};
pub use gemm::gemm_u8i8;
pub use quant::{dequantize_u8, quantize_u8};
pub use weights::{MR, PackedInt8Weights, WeightLevels};

use crate::error::{KernelError, Result};

/// Quantization of a uint8 activation tensor: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputQuant {
    /// Scale `sa` (positive, finite).
    pub scale: f32,
    /// Zero point `za`.
    pub zero_point: u8,
}

/// Where and how an int8 kernel stores its `[.., M, P]` output.
#[derive(Debug)]
pub enum Int8Output<'a> {
    /// The compensated sums `Σ (a − za)·w` (no scale, bias or activation; the activation
    /// must be [`crate::Activation::None`]).
    I32(&'a mut [i32]),
    /// `y` as f32 (dequantized, for a graph output or a float consumer).
    F32(&'a mut [f32]),
    /// `clamp(round_half_even(y / scale) + zero_point, 0, 255)`.
    U8 {
        /// Output buffer.
        data: &'a mut [u8],
        /// Output scale `so`.
        scale: f32,
        /// Output zero point `zo`.
        zero_point: u8,
    },
    /// `clamp(round_half_even(y / scale) + zero_point, -128, 127)`.
    I8 {
        /// Output buffer.
        data: &'a mut [i8],
        /// Output scale `so`.
        scale: f32,
        /// Output zero point `zo`.
        zero_point: i8,
    },
}

impl Int8Output<'_> {
    /// Elements of the buffer.
    pub fn len(&self) -> usize {
        match self {
            Int8Output::I32(d) => d.len(),
            Int8Output::F32(d) => d.len(),
            Int8Output::U8 { data, .. } => data.len(),
            Int8Output::I8 { data, .. } => data.len(),
        }
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An instruction-set path of the int8 kernels (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Int8Path {
    /// Portable Rust.
    Scalar,
    /// AVX2 `vpmaddubsw` + `vpmaddwd`: 7-bit weights only (`|w| <= 63`).
    Avx2,
    /// AVX-VNNI (256-bit `vpdpbusd`).
    AvxVnni,
    /// AVX-512 VNNI (512-bit `vpdpbusd`, with AVX-512F/BW/VL).
    Avx512Vnni,
}

impl Int8Path {
    /// Every path, slowest first.
    pub const ALL: [Int8Path; 4] =
        [Int8Path::Scalar, Int8Path::Avx2, Int8Path::AvxVnni, Int8Path::Avx512Vnni];

    /// Whether this CPU can run the path (within the `DLOPT_KERNELS_SIMD` cap).
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::cpu::{SimdLevel, simd_level};
            let level = simd_level();
            match self {
                Int8Path::Scalar => true,
                Int8Path::Avx2 => level >= SimdLevel::Avx2,
                Int8Path::AvxVnni => {
                    level >= SimdLevel::Avx2 && std::arch::is_x86_feature_detected!("avxvnni")
                }
                Int8Path::Avx512Vnni => {
                    level >= SimdLevel::Avx512
                        && std::arch::is_x86_feature_detected!("avx512bw")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                        && std::arch::is_x86_feature_detected!("avx512vnni")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Int8Path::Scalar
        }
    }

    /// Whether the path computes exact sums for weights of `levels`.
    pub fn supports(self, levels: WeightLevels) -> bool {
        self != Int8Path::Avx2 || levels == WeightLevels::Bits7
    }

    /// The paths this CPU can run, slowest first (for tests).
    pub fn available() -> Vec<Int8Path> {
        Int8Path::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// The fastest available path that is exact for weights of `levels`.
    pub fn best(levels: WeightLevels) -> Int8Path {
        Int8Path::ALL
            .into_iter()
            .rev()
            .find(|p| p.is_available() && p.supports(levels))
            .unwrap_or(Int8Path::Scalar)
    }

    /// `path`, or the best one for `levels`; `Err` if a forced path is unavailable or
    /// inexact for these weights.
    pub(crate) fn resolve(path: Option<Int8Path>, levels: WeightLevels) -> Result<Int8Path> {
        let Some(path) = path else { return Ok(Int8Path::best(levels)) };
        if !path.is_available() {
            return Err(KernelError::new(format!("int8: path {path:?} not available on this CPU")));
        }
        if !path.supports(levels) {
            return Err(KernelError::new(format!(
                "int8: path {path:?} needs 7-bit weights (|w| <= 63); these use 8 bits"
            )));
        }
        Ok(path)
    }
}

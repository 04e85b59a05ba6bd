//! `MatMul` / `matmul` against the definition, on random shapes, transposes, strides,
//! alpha/beta and batches, with 1 to 3 threads.

mod common;

use common::{Rng, assert_close, matmul_ref};
use dlopt_kernels::{Batch, MatMul, matmul};

/// Random operands for `mm`, the kernel's result and the reference's.
fn check(mm: &MatMul, rng: &mut Rng, threads: usize) {
    let a = rng.vec(mm.a_len().unwrap());
    let b = rng.vec(mm.b_len().unwrap());
    let c0 = rng.vec(mm.c_len().unwrap() + 3);
    let mut got = c0.clone();
    mm.run(&a, &b, &mut got, threads).unwrap();
    let mut want = c0.clone();
    matmul_ref(
        (mm.m, mm.k, mm.n),
        &a,
        (mm.trans_a, mm.lda),
        &b,
        (mm.trans_b, mm.ldb),
        &mut want,
        mm.ldc,
        mm.alpha,
        mm.beta,
    );
    // Elements between rows (ldc > n) and past the end must be untouched.
    for i in 0..mm.m {
        for j in mm.n..mm.ldc {
            if i * mm.ldc + j < c0.len() {
                want[i * mm.ldc + j] = c0[i * mm.ldc + j];
            }
        }
    }
    assert_close(&got, &want, &format!("{mm:?} threads {threads}"));
}

#[test]
fn random_shapes_transposes_strides_and_scales() {
    let mut rng = Rng::new(1);
    for case in 0..300 {
        let (m, k, n) = (rng.range(1, 70), rng.range(1, 70), rng.range(1, 70));
        let mut mm = MatMul::new(m, k, n).with_trans_a(rng.bool()).with_trans_b(rng.bool());
        if rng.bool() {
            mm = mm
                .with_lda(mm.lda + rng.range(0, 5))
                .with_ldb(mm.ldb + rng.range(0, 5))
                .with_ldc(n + rng.range(0, 5));
        }
        mm = match case % 4 {
            0 => mm,
            1 => mm.with_beta(1.0),
            2 => mm.with_alpha(-0.5).with_beta(0.25),
            _ => mm.with_alpha(2.0),
        };
        check(&mm, &mut rng, 1 + case % 3);
    }
}

#[test]
fn model_sized_shapes_on_two_threads() {
    let mut rng = Rng::new(2);
    for (m, k, n) in [(640, 512, 128), (64, 288, 1000), (1, 480, 6625), (97, 1, 33), (128, 64, 515)]
    {
        check(&MatMul::new(m, k, n), &mut rng, 2);
        check(&MatMul::new(m, k, n).with_trans_b(true).with_beta(1.0), &mut rng, 2);
    }
}

#[test]
fn beta_zero_ignores_nan_in_c_and_k_zero_scales_c() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [1.0, 0.0, 0.0, 1.0];
    let mut c = [f32::NAN; 4];
    matmul(&a, &b, &mut c, 2, 2, 2, 1).unwrap();
    assert_eq!(c, a);
    let mut c = [1.0, 2.0, 3.0];
    MatMul::new(1, 0, 3).with_beta(2.0).run(&[], &[], &mut c, 1).unwrap();
    assert_eq!(c, [2.0, 4.0, 6.0]);
    MatMul::new(1, 0, 3).run(&[], &[], &mut c, 1).unwrap();
    assert_eq!(c, [0.0; 3]);
}

#[test]
fn batched_with_broadcast_operands() {
    let mut rng = Rng::new(3);
    for case in 0..60 {
        let (m, k, n) = (rng.range(1, 40), rng.range(1, 40), rng.range(1, 40));
        let mm = MatMul::new(m, k, n).with_trans_b(case % 2 == 1);
        let count = rng.range(1, 7);
        let (al, bl, cl) = (mm.a_len().unwrap(), mm.b_len().unwrap(), mm.c_len().unwrap());
        let batch = Batch {
            count,
            stride_a: if case % 3 == 0 { 0 } else { al },
            stride_b: if case % 3 == 1 { 0 } else { bl },
            stride_c: cl + case % 2,
        };
        let a = rng.vec(al * count);
        let b = rng.vec(bl * count);
        let mut got = vec![0.0; batch.stride_c * count];
        mm.run_batched(batch, &a, &b, &mut got, 1 + case % 3).unwrap();
        let mut want = vec![0.0; batch.stride_c * count];
        for i in 0..count {
            matmul_ref(
                (m, k, n),
                &a[i * batch.stride_a..],
                (false, mm.lda),
                &b[i * batch.stride_b..],
                (mm.trans_b, mm.ldb),
                &mut want[i * batch.stride_c..],
                mm.ldc,
                1.0,
                0.0,
            );
        }
        assert_close(&got, &want, &format!("batched {mm:?} {batch:?}"));
    }
}

#[test]
fn bad_arguments_are_errors() {
    let mm = MatMul::new(2, 3, 4);
    let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 12], vec![0.0; 8]);
    assert!(mm.run(&a[..5], &b, &mut c, 1).is_err());
    assert!(mm.run(&a, &b[..11], &mut c, 1).is_err());
    assert!(mm.run(&a, &b, &mut c[..7], 1).is_err());
    assert!(mm.with_ldc(3).run(&a, &b, &mut c, 1).is_err());
    let overlapping = Batch { count: 2, stride_a: 0, stride_b: 0, stride_c: 4 };
    assert!(mm.run_batched(overlapping, &a, &b, &mut [0.0; 16], 1).is_err());
    let short = Batch { count: 2, stride_a: 6, stride_b: 0, stride_c: 8 };
    assert!(mm.run_batched(short, &a, &b, &mut [0.0; 16], 1).is_err());
    assert!(matmul(&a, &b, &mut c, usize::MAX, 2, 2, 1).is_err());
}

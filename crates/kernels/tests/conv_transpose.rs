//! `conv_transpose2d` against the scatter definition: strides, pads, output padding,
//! dilations, groups, batches, activations and 1-3 threads.

mod common;

use common::{Rng, all_activations, assert_close, conv_transpose2d_ref};
use dlopt_kernels::{ConvTranspose2d, PackedConvTransposeWeights, conv_transpose2d};

fn check(ct: &ConvTranspose2d, case: usize, rng: &mut Rng) {
    let x = rng.vec(ct.batch * ct.in_channels * ct.in_h * ct.in_w);
    let w = rng.vec(ct.weight_len());
    let bias = case.is_multiple_of(2).then(|| rng.vec(ct.out_channels));
    let act = all_activations()[case % 9];
    let packed = PackedConvTransposeWeights::new(ct, &w, bias.as_deref()).unwrap();
    let mut got = vec![f32::NAN; ct.output_shape().iter().product()];
    let threads = 1 + case % 3;
    conv_transpose2d(ct, &x, &packed, act, &mut got, threads).unwrap();
    let want = conv_transpose2d_ref(ct, &x, &w, bias.as_deref(), act);
    assert_close(&got, &want, &format!("{ct:?} {act:?} threads {threads}"));
}

#[test]
fn conv_transpose_listed_cases() {
    let mut rng = Rng::new(21);
    let cases = [
        // DB head: 2x2 stride 2 upsampling.
        ConvTranspose2d::new([1, 6, 9, 13], 6, [2, 2]).with_strides([2, 2]),
        ConvTranspose2d::new([2, 4, 7, 5], 1, [2, 2]).with_strides([2, 2]),
        // Overlapping windows, pads, output padding.
        ConvTranspose2d::new([1, 3, 6, 7], 5, [3, 3])
            .with_strides([2, 2])
            .with_pads([1, 1, 1, 1])
            .with_output_padding([1, 1]),
        ConvTranspose2d::new([1, 4, 5, 8], 4, [4, 4]).with_strides([2, 2]).with_pads([1, 1, 1, 1]),
        // Asymmetric pads, rectangular kernel, dilation.
        ConvTranspose2d::new([1, 2, 6, 5], 3, [3, 2])
            .with_strides([1, 3])
            .with_pads([0, 2, 1, 0])
            .with_dilations([2, 1]),
        // Groups and batch 2.
        ConvTranspose2d::new([2, 6, 5, 6], 9, [3, 3])
            .with_groups(3)
            .with_strides([2, 1])
            .with_pads([1, 0, 0, 1]),
        // Depthwise-style (groups == channels) and 1x1.
        ConvTranspose2d::new([1, 4, 6, 6], 4, [3, 3])
            .with_groups(4)
            .with_strides([2, 2])
            .with_output_padding([1, 0]),
        ConvTranspose2d::new([1, 5, 4, 9], 3, [1, 1]),
        // Large enough for several channel blocks in the GEMM.
        ConvTranspose2d::new([1, 24, 20, 31], 24, [2, 2]).with_strides([2, 2]),
    ];
    for (i, ct) in cases.iter().enumerate() {
        for t in 0..3 {
            check(ct, i * 3 + t, &mut rng);
        }
    }
}

#[test]
fn conv_transpose_random_shapes() {
    let mut rng = Rng::new(22);
    for case in 0..80 {
        let groups = rng.range(1, 3);
        let kernel = [rng.range(1, 4), rng.range(1, 4)];
        let strides = [rng.range(1, 3), rng.range(1, 3)];
        let dil = [rng.range(1, 2), rng.range(1, 2)];
        let out_pad =
            [rng.range(0, strides[0].max(dil[0]) - 1), rng.range(0, strides[1].max(dil[1]) - 1)];
        let ct = ConvTranspose2d::new(
            [rng.range(1, 2), groups * rng.range(1, 3), rng.range(1, 8), rng.range(1, 12)],
            groups * rng.range(1, 3),
            kernel,
        )
        .with_strides(strides)
        .with_dilations(dil)
        .with_pads([rng.range(0, 1), rng.range(0, 1), rng.range(0, 1), rng.range(0, 1)])
        .with_output_padding(out_pad)
        .with_groups(groups);
        if ct.validate().is_err() {
            continue;
        }
        check(&ct, case, &mut rng);
    }
}

#[test]
fn conv_transpose_bad_arguments_are_errors() {
    let ct = ConvTranspose2d::new([1, 4, 3, 3], 2, [2, 2]).with_strides([2, 2]);
    let w = vec![0.0; ct.weight_len()];
    assert_eq!(ct.output_shape(), [1, 2, 6, 6]);
    assert!(PackedConvTransposeWeights::new(&ct, &w[1..], None).is_err());
    assert!(PackedConvTransposeWeights::new(&ct.with_groups(3), &w, None).is_err());
    assert!(PackedConvTransposeWeights::new(&ct.with_pads([3, 0, 3, 0]), &w, None).is_err());
    let packed = PackedConvTransposeWeights::new(&ct, &w, None).unwrap();
    let mut y = vec![0.0; 72];
    assert!(conv_transpose2d(&ct, &[0.0; 35], &packed, Default::default(), &mut y, 1).is_err());
    assert!(
        conv_transpose2d(&ct, &[0.0; 36], &packed, Default::default(), &mut y[..71], 1).is_err()
    );
    assert!(
        conv_transpose2d(
            &ct.with_strides([1, 1]),
            &[0.0; 36],
            &packed,
            Default::default(),
            &mut y,
            1
        )
        .is_ok()
    );
}

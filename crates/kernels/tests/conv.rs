//! `conv2d` against the definition: GEMM path (im2col and 1x1 direct), depthwise kernel,
//! every activation, groups, strides, dilations, asymmetric pads, batches, 1-3 threads.

mod common;

use common::{Rng, all_activations, assert_close, conv2d_ref, rerun_with_simd_caps};
use dlopt_kernels::{Activation, Conv2d, PackedConvWeights, conv2d, conv2d_with_scratch};

/// Runs `conv` on random data with `threads` and compares with the reference; returns
/// whether the direct kernel (rather than im2col + GEMM) ran.
fn check(conv: &Conv2d, act: Activation, with_bias: bool, threads: usize, rng: &mut Rng) -> bool {
    let x = rng.vec(conv.batch * conv.in_channels * conv.in_h * conv.in_w);
    let w = rng.vec(conv.weight_len());
    let bias = with_bias.then(|| rng.vec(conv.out_channels));
    let packed = PackedConvWeights::new(conv, &w, bias.as_deref()).unwrap();
    let mut got = vec![f32::NAN; conv.output_shape().iter().product()];
    conv2d(conv, &x, &packed, act, &mut got, threads).unwrap();
    let want = conv2d_ref(conv, &x, &w, bias.as_deref(), act);
    assert_close(&got, &want, &format!("{conv:?} {act:?} threads {threads}"));
    packed.is_direct()
}

/// Runs every case with 1, 2 and 3 threads, asserting which algorithm each one takes.
fn check_all(cases: &[Conv2d], direct: bool, rng: &mut Rng) {
    for (i, conv) in cases.iter().enumerate() {
        for threads in [1, 2, 3] {
            let act = all_activations()[(i + threads) % 9];
            assert_eq!(check(conv, act, (i + threads) % 2 == 0, threads, rng), direct, "{conv:?}");
        }
    }
}

#[test]
fn conv_listed_cases_gemm() {
    let mut rng = Rng::new(11);
    let cases = [
        // 3x3 same padding, odd sizes.
        Conv2d::new([1, 7, 13, 17], 5, [3, 3]).with_pads([1, 1, 1, 1]),
        // Stride 2, asymmetric pads (TF "SAME" style).
        Conv2d::new([1, 8, 15, 12], 6, [3, 3]).with_strides([2, 2]).with_pads([0, 1, 1, 0]),
        // Dilation 2.
        Conv2d::new([1, 6, 16, 14], 4, [3, 3]).with_dilations([2, 2]).with_pads([2, 2, 2, 2]),
        // 1x1 on the input itself, batch 2.
        Conv2d::new([2, 16, 9, 11], 24, [1, 1]),
        // 1x1 with stride 2 and 1x1 with padding (im2col).
        Conv2d::new([1, 8, 9, 9], 4, [1, 1]).with_strides([2, 2]),
        Conv2d::new([1, 8, 5, 6], 4, [1, 1]).with_pads([1, 0, 0, 2]),
        // Groups (not depthwise), batch 2.
        Conv2d::new([2, 20, 10, 7], 12, [3, 3]).with_groups(4).with_pads([1, 1, 1, 1]),
        Conv2d::new([1, 12, 8, 8], 6, [1, 1]).with_groups(2),
        // Rectangular kernels and mixed strides, as in text recognisers.
        Conv2d::new([1, 5, 12, 40], 7, [3, 3]).with_strides([2, 1]).with_pads([1, 0, 1, 0]),
        Conv2d::new([1, 5, 6, 20], 3, [1, 7]).with_pads([0, 3, 0, 3]),
        // Kernel as large as the padded input; one output pixel.
        Conv2d::new([1, 2, 4, 4], 3, [5, 5]).with_pads([1, 0, 0, 1]),
        // Few input channels but many output channels.
        Conv2d::new([1, 3, 9, 10], 40, [3, 3]).with_strides([2, 2]).with_pads([1, 1, 1, 1]),
    ];
    check_all(&cases, false, &mut rng);
}

#[test]
fn conv_listed_cases_direct() {
    let mut rng = Rng::new(16);
    let cases = [
        // Depthwise 3x3 / 5x5, stride 1 / 2, batch 2.
        Conv2d::new([1, 8, 13, 19], 8, [3, 3]).with_groups(8).with_pads([1, 1, 1, 1]),
        Conv2d::new([2, 6, 14, 15], 6, [3, 3])
            .with_groups(6)
            .with_strides([2, 2])
            .with_pads([1, 1, 1, 1]),
        Conv2d::new([1, 5, 17, 23], 5, [5, 5]).with_groups(5).with_pads([2, 2, 2, 2]),
        Conv2d::new([2, 4, 16, 37], 4, [5, 5])
            .with_groups(4)
            .with_strides([2, 2])
            .with_pads([2, 2, 2, 2]),
        // Depthwise with a channel multiplier, asymmetric pads, dilation, odd kernels.
        Conv2d::new([1, 3, 11, 12], 6, [3, 3]).with_groups(3).with_pads([0, 1, 2, 0]),
        Conv2d::new([1, 4, 15, 40], 4, [3, 3])
            .with_groups(4)
            .with_dilations([2, 2])
            .with_pads([2, 2, 2, 2]),
        Conv2d::new([1, 4, 9, 33], 8, [2, 7])
            .with_groups(4)
            .with_strides([1, 3])
            .with_pads([1, 3, 0, 2]),
        Conv2d::new([1, 3, 7, 7], 3, [1, 1]).with_groups(3).with_strides([2, 2]),
        // RGB stems: 3 -> 16, 3x3, stride 2, and batch 2 with a tall image (several bands).
        Conv2d::new([1, 3, 37, 50], 16, [3, 3]).with_strides([2, 2]).with_pads([1, 1, 1, 1]),
        Conv2d::new([2, 3, 150, 21], 8, [3, 3]).with_strides([2, 2]).with_pads([0, 0, 1, 1]),
        // Grouped with two channels per group, 2x2.
        Conv2d::new([1, 4, 9, 70], 6, [2, 2]).with_groups(2).with_strides([1, 2]),
    ];
    check_all(&cases, true, &mut rng);
}

#[test]
fn conv_every_activation_in_the_epilogue() {
    let mut rng = Rng::new(12);
    for act in all_activations() {
        assert!(!check(
            &Conv2d::new([1, 5, 6, 7], 5, [3, 3]).with_pads([1, 1, 1, 1]),
            act,
            true,
            1,
            &mut rng
        ));
        assert!(check(
            &Conv2d::new([1, 4, 6, 7], 4, [3, 3]).with_groups(4).with_pads([1, 1, 1, 1]),
            act,
            true,
            2,
            &mut rng
        ));
        assert!(check(
            &Conv2d::new([1, 3, 6, 7], 4, [3, 3]).with_strides([2, 2]).with_pads([1, 1, 1, 1]),
            act,
            true,
            2,
            &mut rng
        ));
    }
}

#[test]
fn conv_random_shapes() {
    let mut rng = Rng::new(13);
    let mut direct = 0;
    for case in 0..150 {
        let groups = [1, 1, 2, 3][rng.range(0, 3)];
        let depthwise = case % 4 == 0;
        let c = if depthwise { rng.range(1, 6) } else { groups * rng.range(1, 8) };
        let (groups, m) =
            if depthwise { (c, c * rng.range(1, 2)) } else { (groups, groups * rng.range(1, 4)) };
        let kernel = [rng.range(1, 5), rng.range(1, 5)];
        let dil = [rng.range(1, 2), rng.range(1, 2)];
        let pads = [rng.range(0, 2), rng.range(0, 2), rng.range(0, 2), rng.range(0, 2)];
        let min_h = (kernel[0] - 1) * dil[0] + 1;
        let min_w = (kernel[1] - 1) * dil[1] + 1;
        let conv = Conv2d::new(
            [rng.range(1, 2), c, rng.range(min_h, min_h + 12), rng.range(min_w, min_w + 20)],
            m,
            kernel,
        )
        .with_strides([rng.range(1, 3), rng.range(1, 3)])
        .with_dilations(dil)
        .with_pads(pads)
        .with_groups(groups);
        let act = all_activations()[case % 9];
        let bias = rng.bool();
        direct += usize::from(check(&conv, act, bias, 1 + case % 3, &mut rng));
    }
    // Both algorithms were exercised.
    assert!((30..=120).contains(&direct), "{direct} of 150 random cases ran the direct kernel");
}

#[test]
fn conv_large_layers_split_into_tiles() {
    // Large enough for several im2col tiles and channel blocks per thread.
    let mut rng = Rng::new(14);
    check(
        &Conv2d::new([1, 32, 30, 41], 40, [3, 3]).with_pads([1, 1, 1, 1]),
        Activation::Relu,
        true,
        2,
        &mut rng,
    );
    check(
        &Conv2d::new([1, 64, 3, 5], 96, [3, 3]).with_pads([1, 1, 1, 1]),
        Activation::HardSwish,
        true,
        2,
        &mut rng,
    );
    check(&Conv2d::new([1, 48, 33, 70], 20, [1, 1]), Activation::None, true, 3, &mut rng);
}

#[test]
fn conv_reuses_packed_weights_across_input_sizes_and_scratch() {
    let mut rng = Rng::new(15);
    let base = Conv2d::new([1, 6, 10, 10], 4, [3, 3]).with_pads([1, 1, 1, 1]);
    let w = rng.vec(base.weight_len());
    let packed = PackedConvWeights::new(&base, &w, None).unwrap();
    let mut scratch = Vec::new();
    for (h, wd) in [(10, 10), (5, 31), (17, 3), (10, 10)] {
        let conv = Conv2d { in_h: h, in_w: wd, ..base };
        let x = rng.vec(6 * h * wd);
        let mut got = vec![0.0; conv.output_shape().iter().product()];
        conv2d_with_scratch(&conv, &x, &packed, Activation::None, &mut got, 2, &mut scratch)
            .unwrap();
        assert_close(
            &got,
            &conv2d_ref(&conv, &x, &w, None, Activation::None),
            &format!("{h}x{wd}"),
        );
    }
}

#[test]
fn conv_bad_arguments_are_errors() {
    let conv = Conv2d::new([1, 4, 8, 8], 6, [3, 3]);
    let w = vec![0.0; conv.weight_len()];
    assert!(PackedConvWeights::new(&conv, &w[1..], None).is_err());
    assert!(PackedConvWeights::new(&conv, &w, Some(&[0.0; 5])).is_err());
    assert!(PackedConvWeights::new(&conv.with_groups(4), &w, None).is_err());
    assert!(PackedConvWeights::new(&conv.with_strides([0, 1]), &w, None).is_err());
    assert!(PackedConvWeights::new(&Conv2d::new([1, 4, 2, 8], 6, [3, 3]), &w, None).is_err());
    let packed = PackedConvWeights::new(&conv, &w, None).unwrap();
    let (x, mut y) = (vec![0.0; 4 * 64], vec![0.0; 6 * 36]);
    assert!(conv2d(&conv, &x[1..], &packed, Activation::None, &mut y, 1).is_err());
    assert!(conv2d(&conv, &x, &packed, Activation::None, &mut y[1..], 1).is_err());
    let other = Conv2d::new([1, 4, 8, 8], 5, [3, 3]);
    assert!(conv2d(&other, &x, &packed, Activation::None, &mut y, 1).is_err());
    assert!(conv2d(&conv, &x, &packed, Activation::None, &mut y, 1).is_ok());
}

#[test]
fn conv_direct_simd_fallbacks() {
    rerun_with_simd_caps("conv_listed_cases_direct");
}

#[test]
fn conv_depthwise_row_blocks() {
    // The AVX-512 row-block kernel (kernel height 3, 5, 7; vertical stride 1, 2): band
    // heights around its block sizes (4, 8, 16 rows), widths around whole vectors, a
    // channel multiplier, horizontal dilation and stride 3, 1 to 3 threads. Without
    // AVX-512 the same cases run the pitched-run kernel.
    let mut rng = Rng::new(17);
    let mut cases = Vec::new();
    for (k, s) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (7, 2)] {
        for (h, w) in [(1, 1), (3, 5), (7, 7), (14, 14), (9, 16), (17, 33), (40, 18)] {
            let pad = k / 2;
            if h + 2 * pad < k || w + 2 * pad < k {
                continue;
            }
            cases.push(
                Conv2d::new([1, 3, h, w], 3, [k, k])
                    .with_groups(3)
                    .with_strides([s, s])
                    .with_pads([pad; 4]),
            );
        }
    }
    cases.extend([
        Conv2d::new([2, 4, 12, 20], 8, [3, 3]).with_groups(4).with_pads([1, 0, 2, 1]),
        Conv2d::new([1, 2, 30, 29], 2, [5, 3])
            .with_groups(2)
            .with_dilations([1, 2])
            .with_pads([2, 2, 2, 2]),
        Conv2d::new([1, 2, 21, 40], 2, [3, 3])
            .with_groups(2)
            .with_strides([1, 3])
            .with_pads([1; 4]),
        // Large enough for several bands per plane.
        Conv2d::new([1, 2, 150, 140], 2, [3, 3]).with_groups(2).with_pads([1; 4]),
        Conv2d::new([1, 1, 99, 180], 1, [5, 5])
            .with_groups(1)
            .with_strides([2, 2])
            .with_pads([2; 4]),
    ]);
    check_all(&cases, true, &mut rng);
}

#[test]
fn conv_stems_row_blocks() {
    // Stems through the row-block kernel: all output channels of a block run on the same
    // loaded inputs.
    let mut rng = Rng::new(18);
    let cases = [
        Conv2d::new([1, 3, 64, 70], 16, [3, 3]).with_strides([2, 2]).with_pads([1; 4]),
        Conv2d::new([2, 3, 33, 17], 8, [3, 3]).with_strides([2, 2]).with_pads([0, 1, 1, 0]),
        Conv2d::new([1, 1, 50, 50], 4, [5, 5]).with_strides([2, 2]).with_pads([2; 4]),
        Conv2d::new([1, 2, 50, 50], 4, [3, 3]).with_strides([2, 2]).with_pads([1; 4]),
        Conv2d::new([1, 1, 20, 31], 3, [7, 7]).with_strides([2, 2]).with_pads([3; 4]),
    ];
    check_all(&cases, true, &mut rng);
}

#[test]
fn conv_pointwise_kernel() {
    // 1x1 convolutions through the AVX-512 pointwise kernel: output channels around its
    // block of 8, pixels around its panel of 48 and vector of 16, a single pixel (the
    // matrix-vector product, input channels around 16), batches, every activation. (One
    // input channel is the direct kernel's.)
    let mut rng = Rng::new(19);
    let mut cases = Vec::new();
    for (c, m) in [(2, 1), (3, 7), (16, 8), (17, 9), (64, 24), (33, 40), (256, 70)] {
        for (h, w) in [(1, 1), (1, 5), (4, 4), (7, 7), (3, 16), (1, 48), (7, 9), (14, 14), (10, 31)]
        {
            cases.push(Conv2d::new([1 + (c + h) % 2, c, h, w], m, [1, 1]));
        }
    }
    // Few input channels on a large image: several column chunks.
    cases.push(Conv2d::new([1, 16, 70, 80], 9, [1, 1]));
    cases.push(Conv2d::new([2, 3, 65, 129], 20, [1, 1]));
    check_all(&cases, false, &mut rng);
    for act in all_activations() {
        for threads in [1, 2] {
            assert!(!check(&Conv2d::new([1, 20, 7, 7], 19, [1, 1]), act, true, threads, &mut rng));
            assert!(!check(&Conv2d::new([2, 40, 1, 1], 21, [1, 1]), act, true, threads, &mut rng));
        }
    }
}

#[test]
fn conv_new_kernels_simd_fallbacks() {
    rerun_with_simd_caps("conv_depthwise_row_blocks");
    rerun_with_simd_caps("conv_stems_row_blocks");
    rerun_with_simd_caps("conv_pointwise_kernel");
}

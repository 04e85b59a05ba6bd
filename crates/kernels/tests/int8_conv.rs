//! `conv2d_u8` against the i64 / f64 reference: 1x1, 3x3 / 5x5 with strides, pads and
//! dilations (padding is the zero point), depthwise 3x3 / 5x5 stride 1 / 2 (and 3), on
//! every ISA path of this machine with 1 and 2 threads.

mod common;
mod int8_ref;

use common::{Rng, all_activations};
use dlopt_kernels::int8::{InputQuant, Int8Output, PackedInt8Conv, WeightLevels, conv2d_u8};
use dlopt_kernels::{Activation, Conv2d};
use int8_ref::{Mode, Quant, bytes, check_mode, conv_ref, paths, weights};

fn check(conv: &Conv2d, za: u8, levels: WeightLevels, case: usize, rng: &mut Rng) {
    let x = bytes(rng, conv.batch * conv.in_channels * conv.in_h * conv.in_w);
    let w = weights(rng, conv.weight_len(), levels);
    let q = Quant::random(rng, conv.out_channels, za);
    let packed = PackedInt8Conv::new(conv, &w, &q.scales, Some(&q.bias)).unwrap();
    assert_eq!(packed.is_depthwise(), conv.groups > 1);
    let r = conv_ref(conv, &x, za, &w);
    let acts = all_activations();
    let modes = [Mode::I32, Mode::F32, Mode::U8(za), Mode::I8(0)];
    for (pi, &path) in paths(levels).iter().enumerate() {
        for threads in [1, 2] {
            for (mi, &mode) in modes.iter().enumerate() {
                let act = match mode {
                    Mode::I32 => Activation::None,
                    _ => acts[(case + pi + mi + threads) % acts.len()],
                };
                let what = format!("{conv:?} za {za} {path:?} threads {threads} {mode:?} {act:?}");
                check_mode(&r, &q, act, mode, &what, |out| {
                    conv2d_u8(conv, &x, q.input, &packed, act, out, Some(path), threads).unwrap()
                });
            }
        }
    }
}

#[test]
fn int8_conv_gemm_cases() {
    let mut rng = Rng::new(91);
    let cases = [
        // Pointwise (the GEMM reads the input rows), batch 2, odd sizes.
        Conv2d::new([2, 13, 9, 11], 21, [1, 1]),
        Conv2d::new([1, 64, 7, 19], 24, [1, 1]),
        // 3x3 stride 1 / 2 with padding.
        Conv2d::new([1, 7, 13, 17], 5, [3, 3]).with_pads([1; 4]),
        Conv2d::new([2, 8, 15, 12], 17, [3, 3]).with_strides([2, 2]).with_pads([0, 1, 1, 0]),
        Conv2d::new([1, 32, 20, 23], 64, [3, 3]).with_strides([2, 2]).with_pads([1; 4]),
        // Dilation, 5x5, rectangular kernel, strided / padded 1x1 (im2col).
        Conv2d::new([1, 6, 16, 14], 4, [3, 3]).with_dilations([2, 2]).with_pads([2; 4]),
        Conv2d::new([1, 3, 12, 10], 9, [5, 5]).with_pads([2; 4]),
        Conv2d::new([1, 5, 6, 20], 3, [1, 7]).with_pads([0, 3, 0, 3]),
        Conv2d::new([1, 8, 9, 9], 4, [1, 1]).with_strides([2, 2]),
        Conv2d::new([1, 8, 5, 6], 4, [1, 1]).with_pads([1, 0, 0, 2]),
    ];
    for (case, conv) in cases.iter().enumerate() {
        let za = [0, 128, 255, 37][case % 4];
        let levels = if case % 2 == 0 { WeightLevels::Bits8 } else { WeightLevels::Bits7 };
        check(conv, za, levels, case, &mut rng);
    }
}

#[test]
fn int8_conv_depthwise_cases() {
    let mut rng = Rng::new(92);
    let dw = |c: usize, h: usize, w: usize, k: usize| {
        Conv2d::new([1, c, h, w], c, [k, k]).with_groups(c).with_pads([k / 2; 4])
    };
    let cases = [
        dw(5, 13, 19, 3),
        dw(3, 14, 70, 3).with_strides([2, 2]),
        dw(4, 17, 23, 5),
        dw(6, 16, 37, 5).with_strides([2, 2]),
        // Batch 2, asymmetric pads, dilation, stride 3 (portable kernel), wide rows.
        Conv2d::new([2, 4, 9, 11], 4, [3, 3]).with_groups(4).with_pads([0, 1, 2, 0]),
        dw(3, 15, 40, 3).with_dilations([2, 2]).with_pads([2; 4]),
        dw(2, 13, 29, 3).with_strides([3, 3]),
        dw(2, 5, 131, 3).with_strides([1, 2]),
    ];
    for (case, conv) in cases.iter().enumerate() {
        let za = [0, 128, 255, 200][case % 4];
        let levels = if case % 2 == 0 { WeightLevels::Bits8 } else { WeightLevels::Bits7 };
        check(conv, za, levels, case, &mut rng);
    }
}

/// An input equal to the zero point everywhere is real zero, padding included: every
/// compensated sum is exactly 0 (a border padded with 0 instead would not be).
#[test]
fn int8_conv_padding_is_the_zero_point() {
    let mut rng = Rng::new(93);
    for conv in [
        Conv2d::new([1, 5, 8, 9], 7, [3, 3]).with_pads([1; 4]),
        Conv2d::new([1, 6, 8, 9], 6, [5, 5]).with_groups(6).with_pads([2; 4]).with_strides([2, 2]),
    ] {
        for za in [1u8, 128, 255] {
            let x = vec![za; conv.in_channels * 8 * 9];
            let w = weights(&mut rng, conv.weight_len(), WeightLevels::Bits8);
            let packed = PackedInt8Conv::new(&conv, &w, &[0.5], None).unwrap();
            for path in paths(WeightLevels::Bits8) {
                let mut got = vec![1i32; conv.output_shape().iter().product()];
                let input = InputQuant { scale: 0.1, zero_point: za };
                let out = Int8Output::I32(&mut got);
                conv2d_u8(&conv, &x, input, &packed, Activation::None, out, Some(path), 2).unwrap();
                assert!(got.iter().all(|&v| v == 0), "{conv:?} za {za} {path:?}");
            }
        }
    }
}

#[test]
fn int8_conv_rejects_grouped() {
    let conv = Conv2d::new([1, 8, 5, 5], 8, [3, 3]).with_groups(2);
    assert!(PackedInt8Conv::new(&conv, &vec![0; conv.weight_len()], &[1.0], None).is_err());
    let conv = Conv2d::new([1, 4, 5, 5], 8, [3, 3]).with_groups(4);
    assert!(PackedInt8Conv::new(&conv, &vec![0; conv.weight_len()], &[1.0], None).is_err());
}

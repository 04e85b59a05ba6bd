//! Every activation against its textbook formula, in place and with a bias, over the
//! whole useful input range (and far outside it for the exp-based ones).

mod common;

use common::{Rng, act_ref, all_activations, assert_close, rerun_with_simd_caps};
use dlopt_kernels::Activation;
use dlopt_kernels::activation::exp_approx;

fn inputs() -> Vec<f32> {
    let mut rng = Rng::new(7);
    let mut x: Vec<f32> = (0..3001).map(|i| (i as f32 - 1500.0) / 100.0).collect();
    x.extend((0..500).map(|_| rng.f32() * 100.0));
    x.extend([
        0.0, -0.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.124, 0.126, 88.0, -88.0, 200.0, -200.0, 3.0, -3.0,
        6.0,
    ]);
    x
}

#[test]
fn activations_match_their_definitions() {
    let x = inputs();
    for act in all_activations() {
        for bias in [0.0, 0.75] {
            let mut got = x.clone();
            act.apply_with_bias(&mut got, bias);
            let want: Vec<f32> = x.iter().map(|&v| act_ref(act, v + bias)).collect();
            assert_close(&got, &want, &format!("{act:?} bias {bias}"));
            let scalar: Vec<f32> = x.iter().map(|&v| act.apply_scalar(v + bias)).collect();
            assert_close(&scalar, &want, &format!("{act:?} scalar bias {bias}"));
        }
        // Odd lengths exercise the vector loops' tails.
        for len in [0, 1, 7, 15, 17, 33] {
            let mut got = x[..len].to_vec();
            act.apply(&mut got);
            let want: Vec<f32> = x[..len].iter().map(|&v| act_ref(act, v)).collect();
            assert_close(&got, &want, &format!("{act:?} length {len}"));
        }
    }
}

#[test]
fn exp_approx_is_accurate_in_range() {
    for i in -8700..=8830 {
        let x = i as f32 / 100.0;
        let (got, want) = (exp_approx(x), x.exp());
        assert!((got - want).abs() <= 4e-7 * want, "exp({x}): got {got}, want {want}");
    }
    assert!(exp_approx(1000.0).is_finite() && exp_approx(-1000.0) >= 0.0);
}

#[test]
fn default_is_identity() {
    let mut x = vec![1.5, -2.0];
    Activation::default().apply(&mut x);
    assert_eq!(x, [1.5, -2.0]);
}

#[test]
fn activations_simd_fallbacks() {
    rerun_with_simd_caps("activations_match");
}

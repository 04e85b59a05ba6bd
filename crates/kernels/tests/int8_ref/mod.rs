//! Naive int8 references (i64 accumulation, f64 epilogue) and the checks shared by the
//! int8 tests.

#![allow(dead_code)]

use dlopt_kernels::int8::{InputQuant, Int8Output, Int8Path, WeightLevels};
use dlopt_kernels::{Activation, Conv2d};

use crate::common::Rng;

/// The activation in f64, by its textbook formula.
pub fn act64(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::Clip { min, max } => x.max(min as f64).min(max as f64),
        Activation::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
        Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                alpha as f64 * x
            }
        }
        Activation::Silu => x / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
    }
}

/// Random int8 weights of `levels`, with the extreme values present.
pub fn weights(rng: &mut Rng, n: usize, levels: WeightLevels) -> Vec<i8> {
    let max = if levels == WeightLevels::Bits7 { 63 } else { 127 };
    let mut w: Vec<i8> =
        (0..n).map(|_| (rng.range(0, 2 * max) as i32 - max as i32) as i8).collect();
    for i in (0..n).step_by(7) {
        w[i] = if rng.bool() { max as i8 } else { -(max as i8) };
    }
    w
}

/// `n` random bytes, with 0 and 255 present.
pub fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut a: Vec<u8> = (0..n).map(|_| rng.range(0, 255) as u8).collect();
    for i in (0..n).step_by(11) {
        a[i] = if rng.bool() { 255 } else { 0 };
    }
    a
}

/// The compensated sums of a problem (`[.., M, P]`), per output channel `ch(i)`.
pub struct Reference {
    pub acc: Vec<i64>,
    pub channel: Vec<usize>,
}

/// Epilogue parameters of one test problem.
pub struct Quant {
    pub input: InputQuant,
    pub scales: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Quant {
    pub fn random(rng: &mut Rng, m: usize, za: u8) -> Quant {
        Quant {
            input: InputQuant { scale: 0.01 + 0.02 * (rng.f32() + 1.0), zero_point: za },
            scales: (0..m).map(|_| (0.5 + rng.f32().abs()) / 127.0).collect(),
            bias: (0..m).map(|_| rng.f32()).collect(),
        }
    }

    /// `y` in f64 for the reference sums.
    pub fn y(&self, r: &Reference, act: Activation) -> Vec<f64> {
        r.acc
            .iter()
            .zip(&r.channel)
            .map(|(&acc, &m)| {
                let s = self.input.scale as f64 * self.scales[m] as f64;
                act64(act, acc as f64 * s + self.bias[m] as f64)
            })
            .collect()
    }
}

/// An output mode under test.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    I32,
    F32,
    U8(u8),
    I8(i8),
}

pub const MODES: [Mode; 6] =
    [Mode::I32, Mode::F32, Mode::U8(0), Mode::U8(128), Mode::U8(255), Mode::I8(-3)];

/// Runs `call` (which fills an [`Int8Output`]) in `mode` and checks the result against
/// the reference: i32 exact, f32 within 1e-5 relative, u8 / i8 within 1 LSB.
pub fn check_mode(
    r: &Reference,
    q: &Quant,
    act: Activation,
    mode: Mode,
    what: &str,
    call: impl FnOnce(Int8Output<'_>),
) {
    let n = r.acc.len();
    match mode {
        Mode::I32 => {
            let mut got = vec![i32::MIN; n];
            call(Int8Output::I32(&mut got));
            for (i, (&g, &w)) in got.iter().zip(&r.acc).enumerate() {
                assert_eq!(g as i64, w, "{what}: i32 element {i}");
            }
        }
        Mode::F32 => {
            let mut got = vec![f32::NAN; n];
            call(Int8Output::F32(&mut got));
            let want = q.y(r, act);
            let pre = q.y(r, Activation::None);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let m = r.channel[i];
                let terms = pre[i].abs() + q.bias[m].abs() as f64;
                let tol = 1e-5 * w.abs() + 3e-5 * terms + 1e-6;
                assert!((g as f64 - w).abs() <= tol, "{what}: f32 element {i}: got {g}, want {w}");
            }
        }
        Mode::U8(zo) => {
            let want = q.y(r, act);
            let so = out_scale(&want);
            let mut got = vec![0u8; n];
            call(Int8Output::U8 { data: &mut got, scale: so, zero_point: zo });
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let exact = ((w / so as f64).round_ties_even() + zo as f64).clamp(0.0, 255.0);
                assert!(
                    (g as f64 - exact).abs() <= 1.0,
                    "{what}: u8 element {i}: got {g}, want {exact} (y {w})"
                );
            }
        }
        Mode::I8(zo) => {
            let want = q.y(r, act);
            let so = out_scale(&want);
            let mut got = vec![0i8; n];
            call(Int8Output::I8 { data: &mut got, scale: so, zero_point: zo });
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let exact = ((w / so as f64).round_ties_even() + zo as f64).clamp(-128.0, 127.0);
                assert!(
                    (g as f64 - exact).abs() <= 1.0,
                    "{what}: i8 element {i}: got {g}, want {exact} (y {w})"
                );
            }
        }
    }
}

/// An output scale that maps the values to about ±100 levels.
fn out_scale(y: &[f64]) -> f32 {
    let max = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    (max / 100.0).max(1e-6) as f32
}

/// The paths this machine can run that are exact for `levels`.
pub fn paths(levels: WeightLevels) -> Vec<Int8Path> {
    Int8Path::available().into_iter().filter(|p| p.supports(levels)).collect()
}

/// `Σ (x − za)·w` by the definition for a convolution (padding contributes 0), with
/// the channel of every output.
pub fn conv_ref(c: &Conv2d, x: &[u8], za: u8, w: &[i8]) -> Reference {
    let [n, m, oh, ow] = c.output_shape();
    let (cg, mg) = (c.in_channels / c.groups, m / c.groups);
    let [kh, kw] = c.kernel;
    let mut acc = Vec::with_capacity(n * m * oh * ow);
    let mut channel = Vec::with_capacity(n * m * oh * ow);
    for b in 0..n {
        for mo in 0..m {
            let g = mo / mg;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut s = 0i64;
                    for ci in 0..cg {
                        let cin = g * cg + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * c.strides[0] + ky * c.dilations[0]) as isize
                                    - c.pads[0] as isize;
                                let ix = (xo * c.strides[1] + kx * c.dilations[1]) as isize
                                    - c.pads[1] as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= c.in_h as isize
                                    || ix >= c.in_w as isize
                                {
                                    continue;
                                }
                                let xv = x[((b * c.in_channels + cin) * c.in_h + iy as usize)
                                    * c.in_w
                                    + ix as usize];
                                let wv = w[((mo * cg + ci) * kh + ky) * kw + kx];
                                s += (xv as i64 - za as i64) * wv as i64;
                            }
                        }
                    }
                    acc.push(s);
                    channel.push(mo);
                }
            }
        }
    }
    Reference { acc, channel }
}

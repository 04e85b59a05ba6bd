//! Shared test support: a tiny deterministic PRNG, tolerance checks and naive reference
//! implementations written as plainly as possible (f64 accumulation, one loop per index).

#![allow(dead_code)]

use dlopt_kernels::{Activation, Conv2d, ConvTranspose2d, Pool2d};

/// xorshift64*: deterministic, no dependencies.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Uniform in `[-1, 1)`.
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values uniform in `[-1, 1)`.
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }

    /// True with probability 1/2.
    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// Asserts `|got - want| <= 1e-5 + 1e-4 |want|` element-wise (infinities must match).
pub fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_infinite() { g == w } else { (g - w).abs() <= 1e-5 + 1e-4 * w.abs() };
        assert!(ok, "{what}: element {i}: got {g}, want {w}");
    }
}

/// The activation, by its textbook formula with std's `exp` / `tanh`.
pub fn act_ref(act: Activation, x: f32) -> f32 {
    match act {
        Activation::None => x,
        Activation::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Activation::Clip { min, max } => x.clamp(min, max),
        Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
        Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                alpha * x
            }
        }
        Activation::Silu => x / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
    }
}

/// Every activation variant, with typical parameters.
pub fn all_activations() -> Vec<Activation> {
    vec![
        Activation::None,
        Activation::Relu,
        Activation::Clip { min: -0.25, max: 0.5 },
        Activation::HardSigmoid { alpha: 0.2, beta: 0.5 },
        Activation::HardSwish,
        Activation::Sigmoid,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Silu,
        Activation::Tanh,
    ]
}

/// `C = alpha * op(A) op(B) + beta * C` by the definition.
#[allow(clippy::too_many_arguments)]
pub fn matmul_ref(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (trans_a, lda): (bool, usize),
    b: &[f32],
    (trans_b, ldb): (bool, usize),
    c: &mut [f32],
    ldc: usize,
    alpha: f32,
    beta: f32,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                let av = if trans_a { a[p * lda + i] } else { a[i * lda + p] };
                let bv = if trans_b { b[j * ldb + p] } else { b[p * ldb + j] };
                acc += av as f64 * bv as f64;
            }
            let old = if beta == 0.0 { 0.0 } else { beta as f64 * c[i * ldc + j] as f64 };
            c[i * ldc + j] = (alpha as f64 * acc + old) as f32;
        }
    }
}

/// Convolution by its definition: every output sums every in-image tap.
pub fn conv2d_ref(
    c: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) -> Vec<f32> {
    let [n, m, oh, ow] = c.output_shape();
    let (cg, mg) = (c.in_channels / c.groups, m / c.groups);
    let [kh, kw] = c.kernel;
    let mut out = vec![0.0; n * m * oh * ow];
    for b in 0..n {
        for mo in 0..m {
            let g = mo / mg;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bias.map_or(0.0, |bv| bv[mo] as f64);
                    for ci in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let ih = (y * c.strides[0] + ky * c.dilations[0]) as isize
                                    - c.pads[0] as isize;
                                let iw = (xo * c.strides[1] + kx * c.dilations[1]) as isize
                                    - c.pads[1] as isize;
                                if ih < 0
                                    || iw < 0
                                    || ih >= c.in_h as isize
                                    || iw >= c.in_w as isize
                                {
                                    continue;
                                }
                                let xi = ((b * c.in_channels + g * cg + ci) * c.in_h + ih as usize)
                                    * c.in_w
                                    + iw as usize;
                                let wi = ((mo * cg + ci) * kh + ky) * kw + kx;
                                acc += x[xi] as f64 * w[wi] as f64;
                            }
                        }
                    }
                    out[((b * m + mo) * oh + y) * ow + xo] = act_ref(act, acc as f32);
                }
            }
        }
    }
    out
}

/// Transposed convolution by its definition: every input value times every weight tap is
/// added at `o = i * stride + k * dilation - pad_begin`, if that lands in the output.
pub fn conv_transpose2d_ref(
    c: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) -> Vec<f32> {
    let [n, m, oh, ow] = c.output_shape();
    let (cg, mg) = (c.in_channels / c.groups, m / c.groups);
    let [kh, kw] = c.kernel;
    let mut acc = vec![0.0f64; n * m * oh * ow];
    for b in 0..n {
        for ci in 0..c.in_channels {
            let g = ci / cg;
            for ih in 0..c.in_h {
                for iw in 0..c.in_w {
                    let xv = x[((b * c.in_channels + ci) * c.in_h + ih) * c.in_w + iw] as f64;
                    for mi in 0..mg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let y = (ih * c.strides[0] + ky * c.dilations[0]) as isize
                                    - c.pads[0] as isize;
                                let xo = (iw * c.strides[1] + kx * c.dilations[1]) as isize
                                    - c.pads[1] as isize;
                                if y < 0 || xo < 0 || y >= oh as isize || xo >= ow as isize {
                                    continue;
                                }
                                let mo = g * mg + mi;
                                let wv = w[((ci * mg + mi) * kh + ky) * kw + kx] as f64;
                                acc[((b * m + mo) * oh + y as usize) * ow + xo as usize] += xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    acc.iter()
        .enumerate()
        .map(|(i, &v)| {
            let mo = (i / (oh * ow)) % m;
            act_ref(act, (v + bias.map_or(0.0, |bv| bv[mo] as f64)) as f32)
        })
        .collect()
}

/// Pooling by its definition; `avg` is `None` for max, else `Some(count_include_pad)`.
pub fn pool_ref(p: &Pool2d, x: &[f32], avg: Option<bool>) -> Vec<f32> {
    let [n, c, oh, ow] = p.output_shape();
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for y in 0..oh {
            for xo in 0..ow {
                let (mut best, mut sum, mut count) = (f32::NEG_INFINITY, 0.0f64, 0usize);
                for ky in 0..p.kernel[0] {
                    for kx in 0..p.kernel[1] {
                        let ih =
                            (y * p.strides[0] + ky * p.dilations[0]) as isize - p.pads[0] as isize;
                        let iw =
                            (xo * p.strides[1] + kx * p.dilations[1]) as isize - p.pads[1] as isize;
                        let inside =
                            ih >= 0 && iw >= 0 && ih < p.in_h as isize && iw < p.in_w as isize;
                        let in_padded = ih >= -(p.pads[0] as isize)
                            && iw >= -(p.pads[1] as isize)
                            && ih < (p.in_h + p.pads[2]) as isize
                            && iw < (p.in_w + p.pads[3]) as isize;
                        if inside {
                            let v = x[(plane * p.in_h + ih as usize) * p.in_w + iw as usize];
                            best = best.max(v);
                            sum += v as f64;
                        }
                        if inside || (avg == Some(true) && in_padded) {
                            count += 1;
                        }
                    }
                }
                out.push(match avg {
                    None => best,
                    Some(_) if count == 0 => 0.0,
                    Some(_) => (sum / count as f64) as f32,
                });
            }
        }
    }
    out
}

/// Re-runs this test binary with `DLOPT_KERNELS_SIMD` capped to `scalar` and to `avx2`,
/// running the tests whose names contain `filter`, so that the fallback code paths are
/// checked against the same references. Returns at once inside such a child run.
pub fn rerun_with_simd_caps(filter: &str) {
    if std::env::var_os("DLOPT_KERNELS_SIMD").is_some() {
        return;
    }
    for level in ["scalar", "avx2"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("DLOPT_KERNELS_SIMD", level)
            .args([filter, "--test-threads", "2", "--quiet"])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "tests matching '{filter}' failed with DLOPT_KERNELS_SIMD={level}"
        );
    }
}

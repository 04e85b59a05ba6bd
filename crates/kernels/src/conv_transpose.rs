//! 2-D transposed convolution (ONNX `ConvTranspose`), NCHW, as GEMM + col2im.
//!
//! Work items are (batch element, group, band of output rows). An item computes
//! `col[Mg * kh * kw, P] = W_g^T * X_g[Cg, P]` for the `P` input positions of the input
//! rows that reach its band (a few rows are computed by two neighbouring bands when the
//! kernel is taller than the stride), then for each output channel fills its band rows
//! with the bias, adds each column's `kh * kw` values where they land (col2im) and applies
//! the activation while the band is in cache. Bands are disjoint, so items never write
//! the same output element, and each runs a single-threaded GEMM.

use crate::activation::Activation;
use crate::error::{Result, checked_product, ensure, ensure_len};
use crate::gemm::{MatPtr, gemm_raw};
use crate::parallel::{SharedMut, for_each_item, workers_for};

/// The shape of one transposed convolution: input `[batch, in_channels, in_h, in_w]`,
/// weights `[in_channels, out_channels / groups, kernel[0], kernel[1]]`, output
/// `[batch, out_channels, out_h, out_w]` with
/// `out = (in - 1) * stride + dilation * (kernel - 1) + 1 + output_padding - pad_begin - pad_end`.
/// Pairs are `[height, width]`; `pads` is `[top, left, bottom, right]`. A model's
/// `output_shape` attribute is turned into pads by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2d {
    /// N.
    pub batch: usize,
    /// C.
    pub in_channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// M.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[stride_h, stride_w]`.
    pub strides: [usize; 2],
    /// `[dilation_h, dilation_w]`.
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]`: cropped from the full output.
    pub pads: [usize; 4],
    /// `[h, w]` extra rows / columns at the bottom / right.
    pub output_padding: [usize; 2],
    /// Groups; divides both channel counts.
    pub groups: usize,
}

impl ConvTranspose2d {
    /// A transposed convolution of an NCHW input of shape `input` to `out_channels`
    /// with a `[kh, kw]` kernel; strides and dilations 1, no padding, one group.
    pub fn new(input: [usize; 4], out_channels: usize, kernel: [usize; 2]) -> ConvTranspose2d {
        let [batch, in_channels, in_h, in_w] = input;
        ConvTranspose2d {
            batch,
            in_channels,
            in_h,
            in_w,
            out_channels,
            kernel,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            output_padding: [0, 0],
            groups: 1,
        }
    }

    /// Sets the strides `[h, w]`.
    pub fn with_strides(mut self, strides: [usize; 2]) -> ConvTranspose2d {
        self.strides = strides;
        self
    }

    /// Sets the dilations `[h, w]`.
    pub fn with_dilations(mut self, dilations: [usize; 2]) -> ConvTranspose2d {
        self.dilations = dilations;
        self
    }

    /// Sets the pads `[top, left, bottom, right]`.
    pub fn with_pads(mut self, pads: [usize; 4]) -> ConvTranspose2d {
        self.pads = pads;
        self
    }

    /// Sets the output padding `[h, w]`.
    pub fn with_output_padding(mut self, output_padding: [usize; 2]) -> ConvTranspose2d {
        self.output_padding = output_padding;
        self
    }

    /// Sets the group count.
    pub fn with_groups(mut self, groups: usize) -> ConvTranspose2d {
        self.groups = groups;
        self
    }

    fn out_size(&self, axis: usize) -> usize {
        let size = [self.in_h, self.in_w][axis];
        let full = size.saturating_sub(1).saturating_mul(self.strides[axis])
            + self.dilations[axis].saturating_mul(self.kernel[axis].saturating_sub(1))
            + 1
            + self.output_padding[axis];
        full.saturating_sub(self.pads[axis] + self.pads[axis + 2])
    }

    /// Output height (0 if the geometry is invalid).
    pub fn out_h(&self) -> usize {
        self.out_size(0)
    }

    /// Output width (0 if the geometry is invalid).
    pub fn out_w(&self) -> usize {
        self.out_size(1)
    }

    /// `[batch, out_channels, out_h, out_w]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_channels, self.out_h(), self.out_w()]
    }

    /// Elements of the weight tensor `[C, M / groups, kh, kw]`.
    pub fn weight_len(&self) -> usize {
        self.in_channels
            * (self.out_channels / self.groups.max(1))
            * self.kernel[0]
            * self.kernel[1]
    }

    /// Multiply-add count times 2.
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.in_h * self.in_w) as f64 * self.weight_len() as f64
    }

    /// Checks the geometry: nonzero sizes, strides, dilations and groups, divisible
    /// channel counts, a nonempty output and sizes that fit `usize`.
    pub fn validate(&self) -> Result<()> {
        ensure(self.groups >= 1 && self.in_channels >= 1 && self.out_channels >= 1, || {
            "ConvTranspose: groups and channel counts must be at least 1".into()
        })?;
        ensure(
            self.kernel.iter().chain(&self.strides).chain(&self.dilations).all(|&v| v >= 1),
            || {
                format!(
                    "ConvTranspose: kernel {:?}, strides {:?} and dilations {:?} must be at least 1",
                    self.kernel, self.strides, self.dilations
                )
            },
        )?;
        ensure(
            self.in_channels.is_multiple_of(self.groups)
                && self.out_channels.is_multiple_of(self.groups),
            || {
                format!(
                    "ConvTranspose: channels {} -> {} not divisible by groups {}",
                    self.in_channels, self.out_channels, self.groups
                )
            },
        )?;
        ensure(self.in_h >= 1 && self.in_w >= 1, || "ConvTranspose: empty input".into())?;
        for axis in 0..2 {
            let size = [self.in_h, self.in_w][axis];
            let full = checked_product("ConvTranspose: output", &[size - 1, self.strides[axis]])?
                .checked_add(checked_product(
                    "ConvTranspose: kernel",
                    &[self.dilations[axis], self.kernel[axis] - 1],
                )?)
                .and_then(|v| v.checked_add(1 + self.output_padding[axis]));
            let pads = self.pads[axis] + self.pads[axis + 2];
            ensure(full.is_some_and(|f| f > pads), || {
                format!("ConvTranspose: pads {pads} leave no output on axis {}", axis + 2)
            })?;
        }
        checked_product(
            "ConvTranspose: input",
            &[self.batch, self.in_channels, self.in_h, self.in_w],
        )?;
        checked_product("ConvTranspose: output", &self.output_shape())?;
        checked_product(
            "ConvTranspose: col",
            &[self.weight_len() / self.in_channels, self.in_h, self.in_w],
        )?;
        Ok(())
    }
}

/// Transposed-convolution weights (and bias) checked and copied once for repeated calls.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedConvTransposeWeights {
    in_channels: usize,
    out_channels: usize,
    kernel: [usize; 2],
    groups: usize,
    weights: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl PackedConvTransposeWeights {
    /// Checks and keeps `weights` (`[C, M / groups, kh, kw]`) and the optional `bias`
    /// (`[M]`) for transposed convolutions shaped like `ct`.
    pub fn new(
        ct: &ConvTranspose2d,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<PackedConvTransposeWeights> {
        ct.validate()?;
        ensure(weights.len() == ct.weight_len(), || {
            format!(
                "ConvTranspose: weights hold {} elements, {} expected",
                weights.len(),
                ct.weight_len()
            )
        })?;
        if let Some(bias) = bias {
            ensure(bias.len() == ct.out_channels, || {
                format!(
                    "ConvTranspose: bias holds {} elements, {} output channels",
                    bias.len(),
                    ct.out_channels
                )
            })?;
        }
        Ok(PackedConvTransposeWeights {
            in_channels: ct.in_channels,
            out_channels: ct.out_channels,
            kernel: ct.kernel,
            groups: ct.groups,
            weights: weights.to_vec(),
            bias: bias.map(<[f32]>::to_vec),
        })
    }
}

/// Bytes of `col` a work item aims for (about half of Zen 5's 1 MiB L2).
const TILE_BYTES: usize = 512 * 1024;

/// `output = activation(conv_transpose(input, weights) + bias)` on up to `threads`
/// threads. `input` is `[N, C, H, W]`, `output` `[N, M, OH, OW]`.
pub fn conv_transpose2d(
    ct: &ConvTranspose2d,
    input: &[f32],
    weights: &PackedConvTransposeWeights,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
) -> Result<()> {
    ct.validate()?;
    ensure(
        (weights.in_channels, weights.out_channels, weights.kernel, weights.groups)
            == (ct.in_channels, ct.out_channels, ct.kernel, ct.groups),
        || "ConvTranspose: weights were packed for other channels, kernel or groups".into(),
    )?;
    let (h, w) = (ct.in_h, ct.in_w);
    let [n, m, oh, ow] = ct.output_shape();
    ensure_len("ConvTranspose: input", input.len(), n * ct.in_channels * h * w)?;
    ensure_len("ConvTranspose: output", output.len(), n * m * oh * ow)?;
    let (cg, mg) = (ct.in_channels / ct.groups, m / ct.groups);
    let rows = mg * ct.kernel[0] * ct.kernel[1];
    // Output rows per band: as many as keep the band's `col` near TILE_BYTES, but at
    // least two bands per thread when the output is tall enough.
    let in_rows_budget = (TILE_BYTES / 4 / (rows * w)).max(1);
    let mut band = (in_rows_budget * ct.strides[0]).clamp(1, oh);
    let outer = n * ct.groups;
    if threads > 1 && outer * oh.div_ceil(band) < 2 * threads {
        band = oh.div_ceil((2 * threads).div_ceil(outer)).max(1);
    }
    let bands = oh.div_ceil(band);
    let items = outer * bands;
    let mut cols: Vec<Vec<f32>> = (0..workers_for(threads, items)).map(|_| Vec::new()).collect();
    let out = SharedMut::new(&mut output[..n * m * oh * ow]);
    for_each_item(&mut cols, items, |item, col| {
        let (ng, b) = (item / bands, item % bands);
        let (batch, group) = (ng / ct.groups, ng % ct.groups);
        let (oh0, oh1) = (b * band, ((b + 1) * band).min(oh));
        let (ih0, ih1) = input_rows(ct, oh0, oh1);
        let x = &input[(batch * ct.in_channels + group * cg) * h * w..][..cg * h * w];
        let wg = &weights.weights[group * cg * rows..][..cg * rows];
        let len = (ih1 - ih0) * w;
        col.resize(rows * len, 0.0);
        if len > 0 {
            let lhs = MatPtr { ptr: wg.as_ptr(), row_stride: 1, col_stride: rows };
            let rhs = MatPtr { ptr: x[ih0 * w..].as_ptr(), row_stride: h * w, col_stride: 1 };
            // SAFETY: lhs is wg^T (rows x cg, element (r, c) at c * rows + r < cg * rows);
            // rhs is cg rows of `len` elements from input row ih0 (ih1 <= h); the
            // destination is this worker's own `col` of rows * len elements.
            unsafe { gemm_raw(rows, cg, len, col.as_mut_ptr(), len, lhs, rhs, 1.0, 0.0, 1) };
        }
        for mi in 0..mg {
            let channel = group * mg + mi;
            // SAFETY: rows oh0..oh1 of this output channel belong to this item only
            // (items differ in batch, group or band).
            let dst =
                unsafe { out.slice(((batch * m + channel) * oh + oh0) * ow, (oh1 - oh0) * ow) };
            dst.fill(weights.bias.as_ref().map_or(0.0, |bias| bias[channel]));
            let taps = ct.kernel[0] * ct.kernel[1];
            col2im(ct, &col[mi * taps * len..(mi + 1) * taps * len], (ih0, ih1), oh0, dst);
            activation.apply(dst);
        }
    });
    Ok(())
}

/// The input rows that contribute to output rows `oh0..oh1`: those with
/// `oh0 <= ih * stride + ky * dilation - pad_top < oh1` for some `ky`.
fn input_rows(ct: &ConvTranspose2d, oh0: usize, oh1: usize) -> (usize, usize) {
    let (s, span) = (ct.strides[0], (ct.kernel[0] - 1) * ct.dilations[0]);
    let lo = (oh0 + ct.pads[0]).saturating_sub(span).div_ceil(s);
    let hi = ((oh1 - 1 + ct.pads[0]) / s + 1).min(ct.in_h);
    (lo.min(hi), hi)
}

/// Adds one output channel's columns (`[kh * kw, (ih1 - ih0) * W]`) into its output rows
/// `oh0..oh0 + band.len() / OW` (`band`).
fn col2im(
    ct: &ConvTranspose2d,
    col: &[f32],
    (ih0, ih1): (usize, usize),
    oh0: usize,
    band: &mut [f32],
) {
    let [kh, kw] = ct.kernel;
    let (w, ow) = (ct.in_w, ct.out_w());
    let band_rows = (band.len() / ow) as isize;
    let (sh, sw) = (ct.strides[0], ct.strides[1]);
    let len = (ih1 - ih0) * w;
    // Upsampling by 2 without overlap (the DB head's 2x2 stride-2 layers): both taps of a
    // kernel row fill an output row's even and odd columns, one interleaving pass.
    let pairs = kw == 2 && sw == 2 && ct.dilations[1] == 1 && ct.pads[1] == 0 && 2 * w <= ow;
    for ky in 0..kh {
        if pairs {
            let (c0, c1) = (&col[2 * ky * len..][..len], &col[(2 * ky + 1) * len..][..len]);
            for ih in ih0..ih1 {
                let y =
                    (ih * sh + ky * ct.dilations[0]) as isize - ct.pads[0] as isize - oh0 as isize;
                if y < 0 || y >= band_rows {
                    continue;
                }
                let r = (ih - ih0) * w;
                let dst = &mut band[y as usize * ow..][..2 * w];
                for ((d, a), b) in dst.chunks_exact_mut(2).zip(&c0[r..r + w]).zip(&c1[r..r + w]) {
                    d[0] += a;
                    d[1] += b;
                }
            }
            continue;
        }
        for kx in 0..kw {
            let c = &col[(ky * kw + kx) * len..][..len];
            let x_off = (kx * ct.dilations[1]) as isize - ct.pads[1] as isize;
            // iw with 0 <= iw * sw + x_off < ow.
            let lo = if x_off >= 0 { 0 } else { ((-x_off) as usize).div_ceil(sw) }.min(w);
            let hi = if (ow as isize) <= x_off { 0 } else { (ow as isize - x_off) as usize }
                .div_ceil(sw)
                .clamp(lo, w);
            if hi == lo {
                continue;
            }
            for ih in ih0..ih1 {
                let y =
                    (ih * sh + ky * ct.dilations[0]) as isize - ct.pads[0] as isize - oh0 as isize;
                if y < 0 || y >= band_rows {
                    continue;
                }
                let r = ih - ih0;
                let src = &c[r * w + lo..r * w + hi];
                let start = (lo * sw) as isize + x_off;
                let dst = &mut band[y as usize * ow + start as usize..];
                if sw == 1 {
                    dst[..src.len()].iter_mut().zip(src).for_each(|(d, s)| *d += s);
                } else {
                    dst.iter_mut().step_by(sw).zip(src).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}

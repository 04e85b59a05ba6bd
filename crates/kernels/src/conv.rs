//! 2-D convolution, NCHW, with a fused bias + activation epilogue.
//!
//! * Weights are packed once ([`PackedConvWeights::new`]) because the runtime runs the
//!   same convolution many times; packing validates the shapes, picks the algorithm and
//!   keeps a copy of the weights and bias.
//! * Depthwise convolutions (`groups == in_channels`, any channel multiplier) and
//!   convolutions with a tiny reduction and few output channels per group (an RGB stem)
//!   use the direct kernel in `direct/`: a GEMM would have `k = C/g * kh * kw` of 9 to
//!   32, far too small to be efficient.
//! * Pointwise convolutions (1x1, stride 1, unpadded, one group) on AVX-512 CPUs use the
//!   kernel in `pointwise.rs` (weights packed in blocks of 8 output channels, the input
//!   read in place, bias + activation in registers) on the shapes where it measured
//!   faster than the `gemm` crate (`pointwise::prefers`: small images, few input
//!   channels); a single pixel is a matrix-vector product over the unpacked weights.
//! * Everything else is GEMM per group: `out[Mg, P] = W[Mg, K] * col[K, P]` with
//!   `K = C/groups * kh * kw` and `P = OH * OW`. A 1x1, stride-1, unpadded convolution
//!   multiplies the input directly; otherwise `col` is built by im2col
//!   (`im2col.rs`), one tile of output positions at a time so that the tile stays
//!   in L2 while the GEMM reads it, and the bias + activation epilogue runs on each
//!   output tile right after its GEMM, while it is still in cache.
//! * Threads: work items are (batch, group, tile of positions, block of output
//!   channels), sized so there are at least as many items as threads and they divide
//!   evenly; each item runs a single-threaded GEMM.

use std::cell::RefCell;

use crate::activation::Activation;
use crate::direct;
use crate::error::{Result, checked_product, ensure, ensure_len};
use crate::gemm::{MatPtr, gemm_raw};
use crate::im2col::im2col_tile;
use crate::parallel::{SharedMut, for_each_item, workers_for};
use crate::pointwise::{self, PackedPointwise};

/// The shape of one 2-D convolution: input `[batch, in_channels, in_h, in_w]`, weights
/// `[out_channels, in_channels / groups, kernel[0], kernel[1]]`, output
/// `[batch, out_channels, out_h, out_w]`. Pairs are `[height, width]`; `pads` is ONNX's
/// order `[top, left, bottom, right]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
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
    /// `[stride_h, stride_w]`, each at least 1.
    pub strides: [usize; 2],
    /// `[dilation_h, dilation_w]`, each at least 1.
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]` zero padding.
    pub pads: [usize; 4],
    /// Groups; divides both channel counts.
    pub groups: usize,
}

impl Conv2d {
    /// A convolution of an NCHW input of shape `input` to `out_channels` with a
    /// `[kh, kw]` kernel; strides and dilations 1, no padding, one group.
    pub fn new(input: [usize; 4], out_channels: usize, kernel: [usize; 2]) -> Conv2d {
        let [batch, in_channels, in_h, in_w] = input;
        Conv2d {
            batch,
            in_channels,
            in_h,
            in_w,
            out_channels,
            kernel,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            groups: 1,
        }
    }

    /// Sets the strides `[h, w]`.
    pub fn with_strides(mut self, strides: [usize; 2]) -> Conv2d {
        self.strides = strides;
        self
    }

    /// Sets the dilations `[h, w]`.
    pub fn with_dilations(mut self, dilations: [usize; 2]) -> Conv2d {
        self.dilations = dilations;
        self
    }

    /// Sets the pads `[top, left, bottom, right]`.
    pub fn with_pads(mut self, pads: [usize; 4]) -> Conv2d {
        self.pads = pads;
        self
    }

    /// Sets the group count.
    pub fn with_groups(mut self, groups: usize) -> Conv2d {
        self.groups = groups;
        self
    }

    /// Output height (0 if the geometry is invalid).
    pub fn out_h(&self) -> usize {
        out_size(
            self.in_h,
            self.pads[0] + self.pads[2],
            self.kernel[0],
            self.dilations[0],
            self.strides[0],
        )
    }

    /// Output width (0 if the geometry is invalid).
    pub fn out_w(&self) -> usize {
        out_size(
            self.in_w,
            self.pads[1] + self.pads[3],
            self.kernel[1],
            self.dilations[1],
            self.strides[1],
        )
    }

    /// `[batch, out_channels, out_h, out_w]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_channels, self.out_h(), self.out_w()]
    }

    /// Input channels per group.
    pub fn in_channels_per_group(&self) -> usize {
        self.in_channels / self.groups.max(1)
    }

    /// Elements of the weight tensor.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels_per_group() * self.kernel[0] * self.kernel[1]
    }

    /// Multiply-add count times 2 (the usual FLOP count of a convolution).
    pub fn flops(&self) -> f64 {
        let [n, m, oh, ow] = self.output_shape();
        2.0 * (n * m * oh * ow) as f64
            * (self.in_channels_per_group() * self.kernel[0] * self.kernel[1]) as f64
    }

    /// Checks the geometry: nonzero sizes, strides, dilations and groups, channel counts
    /// divisible by `groups`, a kernel that fits the padded input, and sizes that fit
    /// `usize`.
    pub fn validate(&self) -> Result<()> {
        ensure(self.groups >= 1, || "Conv: groups must be at least 1".into())?;
        ensure(
            self.kernel.iter().chain(&self.strides).chain(&self.dilations).all(|&v| v >= 1),
            || {
                format!(
                    "Conv: kernel {:?}, strides {:?} and dilations {:?} must be at least 1",
                    self.kernel, self.strides, self.dilations
                )
            },
        )?;
        ensure(
            self.in_channels.is_multiple_of(self.groups)
                && self.out_channels.is_multiple_of(self.groups),
            || {
                format!(
                    "Conv: channels {} -> {} not divisible by groups {}",
                    self.in_channels, self.out_channels, self.groups
                )
            },
        )?;
        ensure(self.in_channels >= 1 && self.out_channels >= 1, || {
            "Conv: channel counts must be at least 1".into()
        })?;
        for axis in 0..2 {
            let (size, pad) = ([self.in_h, self.in_w][axis], self.pads[axis] + self.pads[axis + 2]);
            let span = checked_product(
                "Conv: dilated kernel",
                &[self.dilations[axis], self.kernel[axis] - 1],
            )?;
            ensure(size + pad > span, || {
                format!(
                    "Conv: dilated kernel extent {} exceeds padded input {} on axis {}",
                    span + 1,
                    size + pad,
                    axis + 2
                )
            })?;
        }
        checked_product("Conv: input", &[self.batch, self.in_channels, self.in_h, self.in_w])?;
        let [n, m, oh, ow] = self.output_shape();
        checked_product("Conv: output", &[n, m, oh, ow])?;
        checked_product(
            "Conv: weights",
            &[m, self.in_channels_per_group(), self.kernel[0], self.kernel[1]],
        )?;
        Ok(())
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4]
    }
}

/// `floor((size + pads - dilation * (kernel - 1) - 1) / stride) + 1`, or 0 if the kernel
/// does not fit.
pub(crate) fn out_size(
    size: usize,
    pads: usize,
    kernel: usize,
    dilation: usize,
    stride: usize,
) -> usize {
    let span = dilation.saturating_mul(kernel.saturating_sub(1)) + 1;
    match (size + pads).checked_sub(span) {
        Some(rest) if stride > 0 && kernel > 0 => rest / stride + 1,
        _ => 0,
    }
}

/// Which algorithm packed weights are laid out for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// im2col (or direct input) + GEMM per group; weights `[M, K]` row-major.
    Gemm,
    /// Direct kernel (depthwise, small stems); weights `[M, C/g, kh, kw]`.
    Direct,
}

/// Convolution weights (and bias) checked and laid out once for repeated [`conv2d`] calls.
///
/// Only the channel counts, kernel and groups of the [`Conv2d`] are fixed by the packing;
/// the input size, strides, dilations and padding may change between calls (dynamic
/// input shapes). The weights are kept in the ONNX layout, which the direct kernel and the
/// GEMM path read directly (the `gemm` crate packs its operands itself and accepts no
/// pre-packed panels); 1x1 single-group weights are also packed for the pointwise
/// kernel (on AVX-512 CPUs), which doubles their memory.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedConvWeights {
    out_channels: usize,
    in_channels: usize,
    kernel: [usize; 2],
    groups: usize,
    algorithm: Algorithm,
    weights: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// The weights packed for the AVX-512 pointwise kernel (1x1, one group), used when a
    /// call is also stride 1 and unpadded.
    pointwise: Option<PackedPointwise>,
}

impl PackedConvWeights {
    /// Packs `weights` (`[M, C / groups, kh, kw]`, row-major) and the optional `bias`
    /// (`[M]`) for convolutions shaped like `conv`.
    pub fn new(conv: &Conv2d, weights: &[f32], bias: Option<&[f32]>) -> Result<PackedConvWeights> {
        conv.validate()?;
        ensure(weights.len() == conv.weight_len(), || {
            format!(
                "Conv: weights hold {} elements, [{}, {}, {}, {}] = {} expected",
                weights.len(),
                conv.out_channels,
                conv.in_channels_per_group(),
                conv.kernel[0],
                conv.kernel[1],
                conv.weight_len()
            )
        })?;
        if let Some(bias) = bias {
            ensure(bias.len() == conv.out_channels, || {
                format!(
                    "Conv: bias holds {} elements, {} output channels",
                    bias.len(),
                    conv.out_channels
                )
            })?;
        }
        let algorithm = if direct::suits(conv) { Algorithm::Direct } else { Algorithm::Gemm };
        let pointwise = (algorithm == Algorithm::Gemm && pointwise::suits(conv))
            .then(|| PackedPointwise::new(conv.out_channels, conv.in_channels, weights));
        Ok(PackedConvWeights {
            out_channels: conv.out_channels,
            in_channels: conv.in_channels,
            kernel: conv.kernel,
            groups: conv.groups,
            algorithm,
            weights: weights.to_vec(),
            bias: bias.map(<[f32]>::to_vec),
            pointwise,
        })
    }

    /// Whether these weights run through the direct kernel (depthwise layers and small
    /// stems) rather than im2col + GEMM.
    pub fn is_direct(&self) -> bool {
        self.algorithm == Algorithm::Direct
    }

    fn check_matches(&self, conv: &Conv2d) -> Result<()> {
        ensure(
            self.out_channels == conv.out_channels
                && self.in_channels == conv.in_channels
                && self.kernel == conv.kernel
                && self.groups == conv.groups,
            || {
                format!(
                    "Conv: weights packed for {} -> {} channels, kernel {:?}, {} groups; called with {} -> {}, kernel {:?}, {} groups",
                    self.in_channels,
                    self.out_channels,
                    self.kernel,
                    self.groups,
                    conv.in_channels,
                    conv.out_channels,
                    conv.kernel,
                    conv.groups
                )
            },
        )
    }

    fn bias(&self, channel: usize) -> f32 {
        self.bias.as_ref().map_or(0.0, |b| b[channel])
    }
}

thread_local! {
    /// im2col scratch reused across [`conv2d`] calls on the same thread, so that steady
    /// state inference does not allocate (and page-fault) megabytes per layer.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `output = activation(conv(input, weights) + bias)` with scratch memory kept per
/// calling thread. See [`conv2d_with_scratch`].
pub fn conv2d(
    conv: &Conv2d,
    input: &[f32],
    weights: &PackedConvWeights,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
) -> Result<()> {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            conv2d_with_scratch(conv, input, weights, activation, output, threads, &mut scratch)
        }
        // Re-entered from inside a convolution on this thread (a rayon worker that
        // stole work): use a fresh buffer.
        Err(_) => {
            conv2d_with_scratch(conv, input, weights, activation, output, threads, &mut Vec::new())
        }
    })
}

/// `output = activation(conv(input, weights) + bias)` on up to `threads` threads, using
/// (and growing as needed) the caller's `scratch` for im2col tiles.
///
/// `input` is `[N, C, H, W]` and `output` `[N, M, OH, OW]`, both row-major and exactly
/// as long as `conv` says.
pub fn conv2d_with_scratch(
    conv: &Conv2d,
    input: &[f32],
    weights: &PackedConvWeights,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
    scratch: &mut Vec<f32>,
) -> Result<()> {
    conv.validate()?;
    weights.check_matches(conv)?;
    let input_len = conv.batch * conv.in_channels * conv.in_h * conv.in_w;
    let [n, m, oh, ow] = conv.output_shape();
    ensure_len("Conv: input", input.len(), input_len)?;
    ensure_len("Conv: output", output.len(), n * m * oh * ow)?;
    let (input, output) = (&input[..input_len], &mut output[..n * m * oh * ow]);
    match weights.algorithm {
        Algorithm::Direct => {
            direct::run(
                conv,
                input,
                &weights.weights,
                weights.bias.as_deref(),
                activation,
                output,
                threads,
            );
        }
        #[cfg(target_arch = "x86_64")]
        Algorithm::Gemm
            if weights.pointwise.is_some() && conv.is_pointwise() && pointwise::prefers(conv) =>
        {
            let packed = weights.pointwise.as_ref().unwrap();
            let bias = weights.bias.as_deref();
            let w = &weights.weights;
            pointwise::run(conv, input, packed, w, bias, activation, output, threads);
        }
        Algorithm::Gemm => run_gemm(conv, input, weights, activation, output, threads, scratch)?,
    }
    Ok(())
}

/// Bytes of im2col tile a work item aims for: half of Zen 5's 1 MiB L2, leaving room for
/// the GEMM's packed panels and the output tile.
const TILE_BYTES: usize = 512 * 1024;

/// How the GEMM path splits a convolution into work items.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Output positions per tile (the last tile may be shorter).
    tile: usize,
    tiles: usize,
    /// Output channels (within a group) per block (the last may be shorter).
    mblock: usize,
    mblocks: usize,
}

fn plan(conv: &Conv2d, threads: usize) -> Plan {
    let p = conv.out_h() * conv.out_w();
    let k = conv.in_channels_per_group() * conv.kernel[0] * conv.kernel[1];
    let mg = conv.out_channels / conv.groups;
    let outer = conv.batch * conv.groups;
    let target = (TILE_BYTES / 4 / k).clamp(64, 8192) / 16 * 16;
    let mut tiles = p.div_ceil(target);
    if threads > 1 {
        let base = outer * tiles;
        if base < 4 * threads && !base.is_multiple_of(threads) {
            let want = base.next_multiple_of(threads).div_ceil(outer);
            if p / want >= 16 {
                tiles = want;
            }
        }
    }
    let tile = p.div_ceil(tiles).next_multiple_of(16).min(p);
    let tiles = p.div_ceil(tile);
    let items = outer * tiles;
    let mut mblocks = 1;
    if threads > items {
        mblocks = threads.div_ceil(items).min(mg.div_ceil(16)).max(1);
    }
    let mblock = mg.div_ceil(mblocks);
    Plan { tile, tiles, mblock, mblocks: mg.div_ceil(mblock) }
}

fn run_gemm(
    conv: &Conv2d,
    input: &[f32],
    weights: &PackedConvWeights,
    activation: Activation,
    output: &mut [f32],
    threads: usize,
    scratch: &mut Vec<f32>,
) -> Result<()> {
    let plan = plan(conv, threads);
    let (cg, mg) = (conv.in_channels_per_group(), conv.out_channels / conv.groups);
    let k = cg * conv.kernel[0] * conv.kernel[1];
    let p = conv.out_h() * conv.out_w();
    let hw = conv.in_h * conv.in_w;
    let pointwise = conv.is_pointwise();
    let items = conv.batch * conv.groups * plan.tiles * plan.mblocks;
    let workers = workers_for(threads, items);
    let per_worker = if pointwise { 0 } else { k * plan.tile };
    let scratch_len = checked_product("Conv: scratch", &[per_worker, workers])?;
    if scratch.len() < scratch_len {
        scratch.resize(scratch_len, 0.0);
    }
    let mut states: Vec<(&mut [f32], Option<usize>)> = if per_worker == 0 {
        (0..workers).map(|_| (&mut [][..], None)).collect()
    } else {
        scratch[..scratch_len].chunks_mut(per_worker).map(|c| (c, None)).collect()
    };
    let out = SharedMut::new(output);
    let w = &weights.weights;
    for_each_item(&mut states, items, |item, (col, last_tile)| {
        let mb = item % plan.mblocks;
        let tile_key = item / plan.mblocks;
        let t = tile_key % plan.tiles;
        let ng = tile_key / plan.tiles;
        let (batch, group) = (ng / conv.groups, ng % conv.groups);
        let p0 = t * plan.tile;
        let len = plan.tile.min(p - p0);
        let m0 = mb * plan.mblock;
        let rows = plan.mblock.min(mg - m0);
        let in_base = (batch * conv.in_channels + group * cg) * hw;
        let rhs = if pointwise {
            MatPtr { ptr: input[in_base + p0..].as_ptr(), row_stride: hw, col_stride: 1 }
        } else {
            if *last_tile != Some(tile_key) {
                im2col_tile(conv, &input[in_base..in_base + cg * hw], p0, len, &mut col[..k * len]);
                *last_tile = Some(tile_key);
            }
            MatPtr { ptr: col.as_ptr(), row_stride: len, col_stride: 1 }
        };
        let channel0 = group * mg + m0;
        let out_base = (batch * conv.out_channels + channel0) * p + p0;
        let lhs = MatPtr { ptr: w[channel0 * k..].as_ptr(), row_stride: k, col_stride: 1 };
        // SAFETY: lhs rows channel0..channel0+rows of W ([M, K]) and rhs (the K x len
        // tile of `col`, or K input channels of `hw` elements from p0) are in bounds; the
        // destination block (rows x len at out_base, row stride p) is in bounds and is
        // written by this item only: items differ in batch, channel block or position
        // tile, which are disjoint blocks of the output.
        unsafe { gemm_raw(rows, k, len, out.ptr_at(out_base), p, lhs, rhs, 1.0, 0.0, 1) };
        for r in 0..rows {
            // SAFETY: the same disjoint block as above, one row at a time.
            let row = unsafe { out.slice(out_base + r * p, len) };
            activation.apply_with_bias(row, weights.bias(channel0 + r));
        }
    });
    Ok(())
}

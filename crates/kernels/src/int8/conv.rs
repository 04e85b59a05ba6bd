//! Int8 convolution entry points on NCHW uint8 activations: 1x1 (the GEMM reads the
//! input rows in place, interleaving them into panels), general `kh × kw` through a u8
//! im2col padded with the activation zero point (one group), and depthwise.

use super::depthwise;
use super::epilogue::Epi;
use super::gemm::{Source, drive};
use super::weights::{PackedInt8Weights, WeightLevels};
use super::{InputQuant, Int8Output, Int8Path};
use crate::activation::Activation;
use crate::conv::Conv2d;
use crate::error::{Result, checked_product, ensure, ensure_len};

/// Int8 convolution weights, checked and packed once.
///
/// Either one group (`[M, C, kh, kw]` packed as a `[M, C · kh · kw]` GEMM operand) or
/// depthwise (`groups == C == M`, weights `[C, 1, kh, kw]` kept as they are for the
/// direct kernel). As for [`crate::PackedConvWeights`], the input size, strides,
/// dilations and pads may change between calls.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedInt8Conv {
    out_channels: usize,
    in_channels: usize,
    kernel: [usize; 2],
    groups: usize,
    packed: PackedInt8Weights,
    /// Depthwise weights `[C][kh · kw]`.
    depthwise: Option<Vec<i8>>,
}

impl PackedInt8Conv {
    /// Packs `weights` (`[M, C / groups, kh, kw]`, row-major, symmetric int8) with
    /// per-output-channel `scales` (`M` values or one) and an optional real-valued `bias`
    /// (`M`) for convolutions shaped like `conv` (one group, or depthwise).
    pub fn new(
        conv: &Conv2d,
        weights: &[i8],
        scales: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<PackedInt8Conv> {
        conv.validate()?;
        let depthwise =
            conv.groups > 1 && conv.groups == conv.in_channels && conv.groups == conv.out_channels;
        ensure(conv.groups == 1 || depthwise, || {
            format!(
                "int8 Conv: {} groups for {} -> {} channels: only one group or depthwise",
                conv.groups, conv.in_channels, conv.out_channels
            )
        })?;
        ensure(weights.len() == conv.weight_len(), || {
            format!(
                "int8 Conv: weights hold {} elements, {} expected",
                weights.len(),
                conv.weight_len()
            )
        })?;
        let k = conv.in_channels_per_group() * conv.kernel[0] * conv.kernel[1];
        let packed = PackedInt8Weights::new(conv.out_channels, k, weights, scales, bias)?;
        Ok(PackedInt8Conv {
            out_channels: conv.out_channels,
            in_channels: conv.in_channels,
            kernel: conv.kernel,
            groups: conv.groups,
            packed,
            depthwise: depthwise.then(|| weights.to_vec()),
        })
    }

    /// Whether the direct depthwise kernel runs these weights.
    pub fn is_depthwise(&self) -> bool {
        self.depthwise.is_some()
    }

    /// The packed GEMM weights (row sums, scales, bias, levels).
    pub fn weights(&self) -> &PackedInt8Weights {
        &self.packed
    }
}

/// `output = epilogue(conv(input, weights))`: `input` is `[N, C, H, W]` uint8 quantized
/// by `input_quant`, the output `[N, M, OH, OW]` is stored as [`Int8Output`] says (after
/// the activation). Padding reads as the input zero point (real 0). `path` forces an ISA
/// path (`None`: the best for these weights); work runs on up to `threads` threads.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_u8(
    conv: &Conv2d,
    input: &[u8],
    input_quant: InputQuant,
    weights: &PackedInt8Conv,
    activation: Activation,
    output: Int8Output<'_>,
    path: Option<Int8Path>,
    threads: usize,
) -> Result<()> {
    conv.validate()?;
    ensure(
        weights.out_channels == conv.out_channels
            && weights.in_channels == conv.in_channels
            && weights.kernel == conv.kernel
            && weights.groups == conv.groups,
        || {
            format!(
                "int8 Conv: weights packed for {} -> {} channels, kernel {:?}, {} groups; called with {} -> {}, kernel {:?}, {} groups",
                weights.in_channels,
                weights.out_channels,
                weights.kernel,
                weights.groups,
                conv.in_channels,
                conv.out_channels,
                conv.kernel,
                conv.groups
            )
        },
    )?;
    let input_len =
        checked_product("int8 Conv: input", &[conv.batch, conv.in_channels, conv.in_h, conv.in_w])?;
    ensure_len("int8 Conv: input", input.len(), input_len)?;
    let input = &input[..input_len];
    let [n, m, oh, ow] = conv.output_shape();
    let epi = Epi::new(&weights.packed, input_quant, activation, output, n * m * oh * ow)?;
    if let Some(dw) = &weights.depthwise {
        // The direct kernel sums in i32 exactly on every path.
        let path = Int8Path::resolve(path, WeightLevels::Bits7)?;
        depthwise::run(conv, input, input_quant.zero_point, dw, &epi, path, threads);
        return Ok(());
    }
    let path = Int8Path::resolve(path, weights.packed.levels())?;
    let pointwise = conv.kernel == [1, 1] && conv.strides == [1, 1] && conv.pads == [0; 4];
    let src = if pointwise {
        Source::Rows(input)
    } else {
        Source::Im2col { conv, input, pad: input_quant.zero_point }
    };
    drive(&weights.packed, conv.batch, oh * ow, src, &epi, path, threads)
}

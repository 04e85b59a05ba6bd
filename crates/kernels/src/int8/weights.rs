//! [`PackedInt8Weights`]: int8 weights in the micro-kernels' layout, with the per-row
//! sums, scales and bias the epilogue needs.

use crate::error::{Result, ensure};

/// Output channels per row block of the packed weights (and of the micro-kernels).
pub const MR: usize = 8;

/// Largest reduction length: every i32 sum stays exact (`255 · 128 · 65536 < 2^31`).
pub(crate) const MAX_K: usize = 65536;

/// How many bits the weights' magnitudes need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLevels {
    /// Every `|w| <= 63`: safe for the AVX2 `vpmaddubsw` path.
    Bits7,
    /// Some `|w| > 63` (up to 128): VNNI or portable paths only.
    Bits8,
}

/// Int8 weights `[M, K]` packed once for the int8 GEMM, with their epilogue parameters.
///
/// Layout: `[M.div_ceil(8)][K.div_ceil(4)][8][4]` i8, zero-padded in both `M` and `K`:
/// the 32-bit word `(block, g, r)` holds `w[8·block + r, 4g .. 4g + 4]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedInt8Weights {
    m: usize,
    k: usize,
    data: Vec<i8>,
    row_sums: Vec<i32>,
    scales: Vec<f32>,
    bias: Vec<f32>,
    max_abs: u8,
}

impl PackedInt8Weights {
    /// Packs `weights` (`[m, k]` row-major) with per-row `scales` (`m` values, or one for
    /// the whole tensor) and an optional `bias` (`m` values, in real units: added after
    /// scaling).
    pub fn new(
        m: usize,
        k: usize,
        weights: &[i8],
        scales: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<PackedInt8Weights> {
        ensure(m >= 1 && (1..=MAX_K).contains(&k), || {
            format!("int8 weights: [{m}, {k}] must have m >= 1 and 1 <= k <= {MAX_K}")
        })?;
        ensure(weights.len() == m * k, || {
            format!("int8 weights: {} elements, [{m}, {k}] expected", weights.len())
        })?;
        ensure(scales.len() == m || scales.len() == 1, || {
            format!("int8 weights: {} scales for {m} rows (1 or {m} expected)", scales.len())
        })?;
        ensure(scales.iter().all(|s| s.is_finite()), || "int8 weights: non-finite scale".into())?;
        if let Some(bias) = bias {
            ensure(bias.len() == m, || {
                format!("int8 weights: bias holds {} elements, {m} expected", bias.len())
            })?;
        }
        let k4 = k.div_ceil(4);
        let mut data = vec![0i8; m.div_ceil(MR) * k4 * MR * 4];
        for (row, w) in weights.chunks_exact(k).enumerate() {
            let (block, r) = (row / MR, row % MR);
            for (kk, &v) in w.iter().enumerate() {
                data[((block * k4 + kk / 4) * MR + r) * 4 + kk % 4] = v;
            }
        }
        let row_sums = weights.chunks_exact(k).map(|w| w.iter().map(|&v| v as i32).sum()).collect();
        let scales = if scales.len() == 1 { vec![scales[0]; m] } else { scales.to_vec() };
        let max_abs = weights.iter().map(|&v| v.unsigned_abs()).max().unwrap_or(0);
        Ok(PackedInt8Weights {
            m,
            k,
            data,
            row_sums,
            scales,
            bias: bias.map_or_else(|| vec![0.0; m], <[f32]>::to_vec),
            max_abs,
        })
    }

    /// Rows `M` (output channels).
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Reduction length `K`.
    pub fn depth(&self) -> usize {
        self.k
    }

    /// `K.div_ceil(4)`: 4-element groups per row.
    pub(crate) fn groups4(&self) -> usize {
        self.k.div_ceil(4)
    }

    /// The largest `|w|` (0 to 128).
    pub fn max_abs_weight(&self) -> u8 {
        self.max_abs
    }

    /// Whether the weights fit 7 bits (required by [`super::Int8Path::Avx2`]).
    pub fn levels(&self) -> WeightLevels {
        if self.max_abs <= 63 { WeightLevels::Bits7 } else { WeightLevels::Bits8 }
    }

    /// `Σ_k w[m, k]` per row.
    pub fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }

    /// Weight scale per row.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Bias per row (zeros if none was given).
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The packed words of row block `block`: `[K / 4][8][4]`.
    pub(crate) fn block(&self, block: usize) -> &[i8] {
        let len = self.groups4() * MR * 4;
        &self.data[block * len..(block + 1) * len]
    }
}

//! Windowed pooling over any number of spatial axes and for element types other than f32:
//! a direct loop over each output position's window taps. It serves what the 2-D f32
//! kernels of `dlopt-kernels` do not (3-D pooling, MaxPool on i8 / u8); conventions are
//! the same (see `pooling.rs`).

use std::cmp::Ordering;

use dlopt_graph::{GraphError, Result};

/// The geometry of one pooling: input `[N, C, spatial...]`, per spatial axis the window,
/// strides, dilations, pads at both ends and the output size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PoolNd {
    /// N * C.
    pub planes: usize,
    /// Spatial input sizes.
    pub sizes: Vec<usize>,
    /// Window size per axis.
    pub kernel: Vec<usize>,
    /// Stride per axis.
    pub strides: Vec<usize>,
    /// Dilation per axis.
    pub dilations: Vec<usize>,
    /// Padding before each axis.
    pub pads_begin: Vec<usize>,
    /// Padding after each axis.
    pub pads_end: Vec<usize>,
    /// Spatial output sizes.
    pub out: Vec<usize>,
}

/// Advances a row-major multi-index over `bounds`; false once it wraps around to zeros.
fn advance(index: &mut [usize], bounds: &[usize]) -> bool {
    for axis in (0..index.len()).rev() {
        index[axis] += 1;
        if index[axis] < bounds[axis] {
            return true;
        }
        index[axis] = 0;
    }
    false
}

impl PoolNd {
    /// Input position of tap `t` of output index `o` on `axis` (may be in the padding).
    fn position(&self, axis: usize, o: usize, t: usize) -> isize {
        (o * self.strides[axis] + t * self.dilations[axis]) as isize
            - self.pads_begin[axis] as isize
    }

    /// Calls `visit(output_offset, taps)` for every output position of one plane, with the
    /// in-image input offsets (within the plane) of its window taps and the number of taps
    /// that count for an average (`count_pad`: those inside the padded extent).
    fn for_each_window(&self, count_pad: bool, mut visit: impl FnMut(usize, &[usize], usize)) {
        let rank = self.sizes.len();
        let mut strides_in = vec![1usize; rank];
        for axis in (0..rank.saturating_sub(1)).rev() {
            strides_in[axis] = strides_in[axis + 1] * self.sizes[axis + 1];
        }
        let mut out_index = vec![0usize; rank];
        let mut taps = Vec::new();
        let mut output = 0;
        if self.out.contains(&0) {
            return;
        }
        loop {
            taps.clear();
            let mut counted = 0;
            let mut tap = vec![0usize; rank];
            loop {
                let mut offset = 0usize;
                let mut inside = true;
                let mut in_padded = true;
                for axis in 0..rank {
                    let position = self.position(axis, out_index[axis], tap[axis]);
                    let size = self.sizes[axis] as isize;
                    inside &= position >= 0 && position < size;
                    in_padded &= position >= -(self.pads_begin[axis] as isize)
                        && position < size + self.pads_end[axis] as isize;
                    if inside {
                        offset += position as usize * strides_in[axis];
                    }
                }
                if inside {
                    taps.push(offset);
                }
                if (count_pad && in_padded) || inside {
                    counted += 1;
                }
                if !advance(&mut tap, &self.kernel) {
                    break;
                }
            }
            visit(output, &taps, counted);
            output += 1;
            if !advance(&mut out_index, &self.out) {
                break;
            }
        }
    }

    fn plane_lens(&self) -> (usize, usize) {
        (self.sizes.iter().product(), self.out.iter().product())
    }

    /// Fails unless `x` and `y` hold exactly the elements this geometry describes.
    pub(crate) fn check_lens(&self, x: usize, y: usize) -> Result<()> {
        let (in_len, out_len) = self.plane_lens();
        if x == self.planes * in_len && y == self.planes * out_len {
            return Ok(());
        }
        Err(GraphError::shape(format!(
            "pooling buffers of {x} and {y} elements do not fit {} planes of {in_len} -> {out_len}",
            self.planes
        )))
    }
}

/// MaxPool: the largest in-image tap of each window, `lowest` for a window entirely in
/// the padding. `x` and `y` hold `planes` planes.
pub(crate) fn max_pool_nd<T: Copy + PartialOrd>(
    p: &PoolNd,
    x: &[T],
    y: &mut [T],
    lowest: T,
) -> Result<()> {
    p.check_lens(x.len(), y.len())?;
    let (in_len, out_len) = p.plane_lens();
    for plane in 0..p.planes {
        let (source, target) =
            (&x[plane * in_len..][..in_len], &mut y[plane * out_len..][..out_len]);
        p.for_each_window(false, |at, taps, _| {
            target[at] = taps.iter().map(|&t| source[t]).fold(lowest, |best, v| {
                match v.partial_cmp(&best) {
                    // NaN is skipped, as `f32::max` in the 2-D kernel does.
                    Some(Ordering::Greater) => v,
                    _ => best,
                }
            });
        });
    }
    Ok(())
}

/// AveragePool: the sum of the in-image taps divided by the counted taps (in-image ones,
/// plus padding ones when `count_include_pad`); 0 for a window with none.
pub(crate) fn avg_pool_nd(
    p: &PoolNd,
    count_include_pad: bool,
    x: &[f32],
    y: &mut [f32],
) -> Result<()> {
    p.check_lens(x.len(), y.len())?;
    let (in_len, out_len) = p.plane_lens();
    for plane in 0..p.planes {
        let (source, target) =
            (&x[plane * in_len..][..in_len], &mut y[plane * out_len..][..out_len]);
        p.for_each_window(count_include_pad, |at, taps, counted| {
            let sum: f32 = taps.iter().map(|&t| source[t]).sum();
            target[at] = if counted > 0 { sum / counted as f32 } else { 0.0 };
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(sizes: &[usize], kernel: &[usize], pads: usize, out: &[usize]) -> PoolNd {
        let rank = sizes.len();
        PoolNd {
            planes: 1,
            sizes: sizes.to_vec(),
            kernel: kernel.to_vec(),
            strides: vec![1; rank],
            dilations: vec![1; rank],
            pads_begin: vec![pads; rank],
            pads_end: vec![pads; rank],
            out: out.to_vec(),
        }
    }

    #[test]
    fn three_d_windows_reduce_all_taps() {
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let p = geometry(&[2, 2, 2], &[2, 2, 2], 0, &[1, 1, 1]);
        let mut y = [0.0f32];
        max_pool_nd(&p, &x, &mut y, f32::NEG_INFINITY).unwrap();
        assert_eq!(y, [7.0]);
        avg_pool_nd(&p, false, &x, &mut y).unwrap();
        assert_eq!(y, [3.5]);
    }

    #[test]
    fn padding_counts_only_when_asked() {
        // 1-D [1, 2] with a window of 2 and one pad each side: windows [pad,1], [1,2], [2,pad].
        let p = geometry(&[2], &[2], 1, &[3]);
        let mut y = [0.0f32; 3];
        avg_pool_nd(&p, false, &[1.0, 2.0], &mut y).unwrap();
        assert_eq!(y, [1.0, 1.5, 2.0]);
        avg_pool_nd(&p, true, &[1.0, 2.0], &mut y).unwrap();
        assert_eq!(y, [0.5, 1.5, 1.0]);
        let mut bytes = [0u8; 3];
        max_pool_nd(&p, &[7u8, 3], &mut bytes, u8::MIN).unwrap();
        assert!(max_pool_nd(&p, &[7u8], &mut bytes, u8::MIN).is_err());
        assert_eq!(bytes, [7, 7, 3]);
    }
}

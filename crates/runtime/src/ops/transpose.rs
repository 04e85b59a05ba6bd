//! Transpose, and DepthToSpace / SpaceToDepth (transposes of a 6-d view of the input).
//!
//! When the plan is built, a permutation is simplified: axes of size 1 are dropped and axes
//! that stay neighbours merge. What remains picks the kernel: a plain copy; a (batched)
//! 2-d matrix transpose, done in cache-sized tiles (this covers 2-d, the last two axes,
//! and NCHW <-> NHWC, which are `[N, C, HW] -> [N, HW, C]` and back); row copies when the
//! last axis stays last; otherwise tiles crossing the input's contiguous axis with the
//! output's last one.

use dlopt_graph::{GraphError, Node, Result};

use super::Registry;
use super::data_movement::{
    Element, copy_slice, for_each_chunk, typed_input, typed_output, with_element_type,
    worth_parallel,
};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds Transpose, DepthToSpace and SpaceToDepth.
pub fn register(registry: &mut Registry) {
    registry.add("Transpose", build_transpose as BuildFn);
    registry.add("DepthToSpace", build_depth_to_space as BuildFn);
    registry.add("SpaceToDepth", build_space_to_depth as BuildFn);
}

/// Side of the square tiles of the matrix transpose.
const TILE: usize = 32;

/// How a simplified permutation is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// The data keeps its order.
    Copy,
    /// `batch` matrices of `rows` x `cols`, each transposed.
    Matrix { batch: usize, rows: usize, cols: usize },
    /// Contiguous rows of `row` elements; the outer output axes read input strides.
    Rows { outer_dims: Vec<usize>, outer_strides: Vec<usize>, row: usize },
    /// Tiles crossing output axis `p`, the input's contiguous axis (`p_dim` long, its
    /// entries `p_stride` apart in the output), with the last output axis (`last_dim` long,
    /// its entries `last_step` apart in the input). The output axes before `p` (`outer`) and
    /// between `p` and the last (`middle`) loop around the tiles.
    Tiled {
        outer_dims: Vec<usize>,
        outer_strides: Vec<usize>,
        middle_dims: Vec<usize>,
        middle_in: Vec<usize>,
        middle_out: Vec<usize>,
        p_dim: usize,
        p_stride: usize,
        last_dim: usize,
        last_step: usize,
    },
}

/// A transpose compiled for one input shape.
#[derive(Clone, Debug)]
pub(crate) struct TransposePlan {
    kind: Kind,
    len: usize,
}

impl TransposePlan {
    /// Plans `output axis i = input axis perm[i]` for an input of `shape` (`perm` must be a
    /// permutation of the axes).
    pub(crate) fn new(shape: &[usize], perm: &[usize]) -> TransposePlan {
        let len = shape.iter().product();
        // Drop axes of size 1 and renumber.
        let kept: Vec<usize> = (0..shape.len()).filter(|&axis| shape[axis] != 1).collect();
        let renumber = |axis: usize| kept.iter().position(|&k| k == axis);
        let perm: Vec<usize> = perm.iter().filter_map(|&axis| renumber(axis)).collect();
        let dims: Vec<usize> = kept.iter().map(|&axis| shape[axis]).collect();
        // Merge runs of input axes that stay adjacent: groups in output order.
        let mut groups: Vec<(usize, usize)> = Vec::new(); // (first input axis, last input axis)
        for &axis in &perm {
            match groups.last_mut() {
                Some(group) if group.1 + 1 == axis => group.1 = axis,
                _ => groups.push((axis, axis)),
            }
        }
        let mut by_input: Vec<usize> = (0..groups.len()).collect();
        by_input.sort_by_key(|&group| groups[group].0);
        let merged_dims: Vec<usize> = by_input
            .iter()
            .map(|&group| dims[groups[group].0..=groups[group].1].iter().product())
            .collect();
        // Output position `o` holds group `groups[o]`, which is merged input axis `input_of[o]`.
        let input_of: Vec<usize> = (0..groups.len())
            .map(|o| by_input.iter().position(|&group| group == o).unwrap_or(0))
            .collect();
        let rank = merged_dims.len();
        let mut strides = vec![1; rank];
        for axis in (0..rank.saturating_sub(1)).rev() {
            strides[axis] = strides[axis + 1] * merged_dims[axis + 1];
        }
        let kind = if rank <= 1 {
            Kind::Copy
        } else if input_of == [1, 0] {
            Kind::Matrix { batch: 1, rows: merged_dims[0], cols: merged_dims[1] }
        } else if input_of == [0, 2, 1] {
            Kind::Matrix { batch: merged_dims[0], rows: merged_dims[1], cols: merged_dims[2] }
        } else if input_of[rank - 1] == rank - 1 {
            Kind::Rows {
                outer_dims: input_of[..rank - 1].iter().map(|&axis| merged_dims[axis]).collect(),
                outer_strides: input_of[..rank - 1].iter().map(|&axis| strides[axis]).collect(),
                row: merged_dims[rank - 1],
            }
        } else {
            let p = input_of.iter().position(|&axis| axis == rank - 1).unwrap_or(0);
            let out_dims: Vec<usize> = input_of.iter().map(|&axis| merged_dims[axis]).collect();
            let mut out_strides = vec![1; rank];
            for axis in (0..rank - 1).rev() {
                out_strides[axis] = out_strides[axis + 1] * out_dims[axis + 1];
            }
            let in_strides = |range: std::ops::Range<usize>| -> Vec<usize> {
                input_of[range].iter().map(|&axis| strides[axis]).collect()
            };
            Kind::Tiled {
                outer_dims: out_dims[..p].to_vec(),
                outer_strides: in_strides(0..p),
                middle_dims: out_dims[p + 1..rank - 1].to_vec(),
                middle_in: in_strides(p + 1..rank - 1),
                middle_out: out_strides[p + 1..rank - 1].to_vec(),
                p_dim: out_dims[p],
                p_stride: out_strides[p],
                last_dim: out_dims[rank - 1],
                last_step: strides[input_of[rank - 1]],
            }
        };
        TransposePlan { kind, len }
    }

    /// Writes the transpose of `input` into `output`.
    pub(crate) fn run<T: Element>(
        &self,
        input: &[T],
        output: &mut [T],
        parallel: bool,
    ) -> Result<()> {
        if input.len() != self.len || output.len() != self.len {
            return Err(GraphError::invalid(format!(
                "transpose of {} elements got {} in, {} out",
                self.len,
                input.len(),
                output.len()
            )));
        }
        match &self.kind {
            Kind::Copy => copy_slice(output, input, parallel),
            &Kind::Matrix { batch, rows, cols } => {
                let plane = rows * cols;
                if parallel && batch >= 4 {
                    for_each_chunk(output, plane, true, |b, destination| {
                        transpose_bands(
                            &input[b * plane..(b + 1) * plane],
                            destination,
                            rows,
                            cols,
                            false,
                        )
                    });
                } else {
                    for (b, destination) in output.chunks_mut(plane.max(1)).enumerate() {
                        transpose_bands(
                            &input[b * plane..(b + 1) * plane],
                            destination,
                            rows,
                            cols,
                            parallel,
                        );
                    }
                }
            }
            Kind::Rows { outer_dims, outer_strides, row } => {
                let row = *row;
                for_each_chunk(output, row, parallel, |index, destination| {
                    let from = offset_of(index, outer_dims, outer_strides);
                    destination.copy_from_slice(&input[from..from + row]);
                });
            }
            Kind::Tiled { outer_dims, outer_strides, p_dim, p_stride, .. } => {
                let (block, band) = (p_dim * p_stride, TILE * p_stride);
                let outer_count: usize = outer_dims.iter().product();
                let split_bands = parallel && outer_count < 4;
                for_each_chunk(output, block, parallel && !split_bands, |index, chunk| {
                    let base = offset_of(index, outer_dims, outer_strides);
                    for_each_chunk(chunk, band, split_bands, |band, part| {
                        self.tile_band(input, part, base + band * TILE);
                    });
                });
            }
        }
        Ok(())
    }
}

impl TransposePlan {
    /// Writes `part`: up to TILE consecutive entries of axis `p` (the first reading input
    /// offset `base`) with everything after them, tile by tile.
    fn tile_band<T: Element>(&self, input: &[T], part: &mut [T], base: usize) {
        let Kind::Tiled {
            middle_dims, middle_in, middle_out, p_stride, last_dim, last_step, ..
        } = &self.kind
        else {
            return;
        };
        let (p_stride, last_dim, last_step) = (*p_stride, *last_dim, *last_step);
        let rows = part.len() / p_stride;
        let combos: usize = middle_dims.iter().product();
        for combo in 0..combos {
            let from = base + offset_of(combo, middle_dims, middle_in);
            let to = offset_of(combo, middle_dims, middle_out);
            for first in (0..last_dim).step_by(TILE) {
                let last = (first + TILE).min(last_dim);
                for row in 0..rows {
                    let source = from + row;
                    let destination =
                        &mut part[row * p_stride + to + first..row * p_stride + to + last];
                    for (j, value) in (first..last).zip(destination.iter_mut()) {
                        *value = input[source + j * last_step];
                    }
                }
            }
        }
    }
}

/// The input offset of output row `index` (row-major over `dims`).
fn offset_of(mut index: usize, dims: &[usize], strides: &[usize]) -> usize {
    let mut offset = 0;
    for (&dim, &stride) in dims.iter().zip(strides).rev() {
        offset += (index % dim) * stride;
        index /= dim;
    }
    offset
}

/// `destination[c][r] = source[r][c]` for a `rows` x `cols` source, in bands of TILE output
/// rows (spread over threads when `parallel`), each walked in TILE x TILE tiles.
fn transpose_bands<T: Element>(
    source: &[T],
    destination: &mut [T],
    rows: usize,
    cols: usize,
    parallel: bool,
) {
    for_each_chunk(destination, TILE * rows, parallel, |band, chunk| {
        let first_col = band * TILE;
        let band_cols = chunk.len() / rows;
        for first_row in (0..rows).step_by(TILE) {
            let last_row = (first_row + TILE).min(rows);
            for c in 0..band_cols {
                let column = first_col + c;
                let out = &mut chunk[c * rows + first_row..c * rows + last_row];
                for (r, value) in out.iter_mut().enumerate() {
                    *value = source[(first_row + r) * cols + column];
                }
            }
        }
    });
}

/// A kernel transposing input 0 by `plan`.
fn transpose_kernel(
    data_type: dlopt_graph::DataType,
    plan: TransposePlan,
) -> Box<dyn crate::op::Kernel> {
    kernel(move |inputs, outputs, context| {
        with_element_type!(data_type, T => {
            let input = typed_input::<T>(inputs, 0)?;
            let output = typed_output::<T>(outputs)?;
            let parallel = worth_parallel::<T>(output.len(), context);
            plan.run(input, output, parallel)
        })
    })
}

/// Transpose (opset 1-21): output axis `i` is input axis `perm[i]`; `perm` defaults to the
/// reversed axes and must be a permutation of `0..rank`.
fn build_transpose(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let rank = data.shape.len();
    let perm: Vec<usize> = match node.attributes.ints("perm")? {
        None => (0..rank).rev().collect(),
        Some(perm) => {
            let mut seen = vec![false; rank];
            let valid = perm.len() == rank
                && perm.iter().all(|&axis| {
                    (0..rank as i64).contains(&axis)
                        && !std::mem::replace(&mut seen[axis as usize], true)
                });
            if !valid {
                return Err(GraphError::invalid(format!(
                    "attribute 'perm' {perm:?} is not a permutation of the {rank} axes"
                )));
            }
            perm.iter().map(|&axis| axis as usize).collect()
        }
    };
    let shape = perm.iter().map(|&axis| data.shape[axis]).collect();
    Ok(BuiltOp {
        kernel: transpose_kernel(data.data_type, TransposePlan::new(data.shape, &perm)),
        outputs: vec![OutputInfo::new(data.data_type, shape)],
    })
}

/// The 4-d input and the positive `blocksize` of DepthToSpace / SpaceToDepth.
fn block_input<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
) -> Result<(InputInfo<'a>, usize)> {
    let data = required(node, inputs, 0)?;
    if data.shape.len() != 4 {
        return Err(GraphError::shape(format!(
            "the input must be 4-d (NCHW), got shape {:?}",
            data.shape
        )));
    }
    let block = node
        .attributes
        .int("blocksize")?
        .ok_or_else(|| GraphError::invalid("attribute 'blocksize' is required"))?;
    if block <= 0 {
        return Err(GraphError::invalid(format!(
            "attribute 'blocksize' is {block}; must be positive"
        )));
    }
    Ok((data, block as usize))
}

/// DepthToSpace (opset 1-13): moves channel blocks into `blocksize` x `blocksize` spatial
/// blocks, `[N, C, H, W] -> [N, C / b^2, H b, W b]`. Mode DCR (default) takes the block
/// offsets from the outer channel bits, CRD from the inner ones.
fn build_depth_to_space(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let (data, b) = block_input(node, inputs)?;
    let [n, c, h, w] = [data.shape[0], data.shape[1], data.shape[2], data.shape[3]];
    if c % (b * b) != 0 {
        return Err(GraphError::shape(format!(
            "channels {c} are not a multiple of blocksize^2 = {}",
            b * b
        )));
    }
    let depth = c / (b * b);
    let (view, perm) = match node.attributes.string_or("mode", "DCR")? {
        "DCR" => ([n, b, b, depth, h, w], [0, 3, 4, 1, 5, 2]),
        "CRD" => ([n, depth, b, b, h, w], [0, 1, 4, 2, 5, 3]),
        other => {
            return Err(GraphError::invalid(format!(
                "attribute 'mode' is '{other}'; must be DCR or CRD"
            )));
        }
    };
    Ok(BuiltOp {
        kernel: transpose_kernel(data.data_type, TransposePlan::new(&view, &perm)),
        outputs: vec![OutputInfo::new(data.data_type, vec![n, depth, h * b, w * b])],
    })
}

/// SpaceToDepth (opset 1-13): the inverse of DepthToSpace in DCR mode,
/// `[N, C, H, W] -> [N, C b^2, H / b, W / b]`.
fn build_space_to_depth(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let (data, b) = block_input(node, inputs)?;
    let [n, c, h, w] = [data.shape[0], data.shape[1], data.shape[2], data.shape[3]];
    if h % b != 0 || w % b != 0 {
        return Err(GraphError::shape(format!(
            "height {h} and width {w} must be multiples of blocksize {b}"
        )));
    }
    let view = [n, c, h / b, b, w / b, b];
    Ok(BuiltOp {
        kernel: transpose_kernel(data.data_type, TransposePlan::new(&view, &[0, 3, 5, 1, 2, 4])),
        outputs: vec![OutputInfo::new(data.data_type, vec![n, c * b * b, h / b, w / b])],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward reference: output index by output index.
    fn naive(shape: &[usize], perm: &[usize], input: &[i32]) -> Vec<i32> {
        let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
        let mut strides = vec![1; shape.len()];
        for a in (0..shape.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * shape[a + 1];
        }
        (0..input.len())
            .map(|mut index| {
                let mut from = 0;
                for o in (0..out_shape.len()).rev() {
                    from += (index % out_shape[o]) * strides[perm[o]];
                    index /= out_shape[o];
                }
                input[from]
            })
            .collect()
    }

    #[test]
    fn simplification_picks_the_fast_kernels() {
        let kind = |shape: &[usize], perm: &[usize]| TransposePlan::new(shape, perm).kind;
        assert_eq!(kind(&[2, 3], &[1, 0]), Kind::Matrix { batch: 1, rows: 2, cols: 3 });
        assert_eq!(
            kind(&[2, 3, 4, 5], &[0, 2, 3, 1]),
            Kind::Matrix { batch: 2, rows: 3, cols: 20 }
        );
        assert_eq!(
            kind(&[2, 3, 4, 5], &[0, 3, 1, 2]),
            Kind::Matrix { batch: 2, rows: 12, cols: 5 }
        );
        assert_eq!(kind(&[1, 3, 1, 5], &[1, 0, 2, 3]), Kind::Copy);
        assert!(matches!(kind(&[2, 3, 4], &[1, 0, 2]), Kind::Rows { row: 4, .. }));
        assert!(matches!(kind(&[2, 3, 4], &[2, 0, 1]), Kind::Matrix { .. }));
        assert!(matches!(kind(&[2, 3, 4], &[1, 2, 0]), Kind::Matrix { .. }));
        assert!(matches!(kind(&[2, 3, 4], &[2, 1, 0]), Kind::Tiled { p_dim: 4, last_dim: 2, .. }));
    }

    #[test]
    fn every_kernel_matches_the_definition() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[37, 70], &[1, 0]),
            (&[3, 33, 65], &[0, 2, 1]),
            (&[2, 3, 4, 5], &[3, 1, 0, 2]),
            (&[2, 3, 4, 5], &[1, 0, 2, 3]),
            (&[2, 3, 4, 5], &[2, 1, 0, 3]),
            (&[4, 1, 3, 2], &[3, 2, 1, 0]),
            (&[2, 0, 3], &[2, 1, 0]),
            (&[40, 3, 70], &[2, 1, 0]),
            (&[2, 3, 4, 5, 6], &[4, 0, 3, 1, 2]),
            (&[5, 2, 3, 35, 2, 33], &[0, 3, 4, 1, 5, 2]),
            (&[3, 4, 70, 5], &[2, 1, 3, 0]),
        ];
        for &(shape, perm) in cases {
            let len: usize = shape.iter().product();
            let input: Vec<i32> = (0..len as i32).collect();
            for parallel in [false, true] {
                let mut output = vec![-1; len];
                TransposePlan::new(shape, perm).run(&input, &mut output, parallel).unwrap();
                assert_eq!(output, naive(shape, perm, &input), "{shape:?} {perm:?}");
            }
        }
    }
}

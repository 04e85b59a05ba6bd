//! Copies described by one index map per axis: output coordinate `o` along axis `a` reads
//! input coordinate `maps[a][o]`, or a fill value where that is `None`. Slice (start and
//! step), Pad (crop, fill, reflect, edge, wrap) and Tile (modulo) are all such maps, so
//! they share this engine.
//!
//! The maps are compiled once, when the plan is built: trailing axes the map leaves alone
//! merge into contiguous blocks, the innermost remaining axis becomes runs of contiguous
//! copies and fills, and the outer axes become offset tables. A run then copies output
//! rows independently (in parallel when large).

use dlopt_graph::{GraphError, Result};

use super::data_movement::{Element, copy_slice, for_each_chunk, product};

/// One run of the innermost mapped axis: `length` output positions from `output`, read from
/// `input` onwards, or filled where `input` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    output: usize,
    length: usize,
    input: Option<usize>,
}

/// A compiled per-axis index-map copy.
#[derive(Clone, Debug)]
pub(crate) struct AxisMapCopy {
    /// For each outer axis, the input offset (in elements) of each output coordinate.
    outer_offsets: Vec<Vec<Option<usize>>>,
    /// Output sizes of the outer axes.
    outer_dims: Vec<usize>,
    /// Runs along the innermost mapped axis, in its units.
    segments: Vec<Segment>,
    /// Elements per unit of the innermost mapped axis (the merged untouched axes).
    block: usize,
    /// Output elements per row (one index of the outer axes).
    row: usize,
    /// Input elements.
    input_len: usize,
}

impl AxisMapCopy {
    /// Compiles `maps` (one per axis of `input_shape`; `maps[a].len()` is the output size
    /// of axis `a`, entries index axis `a` of the input). Fails on an entry out of range.
    pub(crate) fn new(input_shape: &[usize], maps: &[Vec<Option<usize>>]) -> Result<AxisMapCopy> {
        if maps.len() != input_shape.len() {
            return Err(GraphError::invalid(format!(
                "{} axis maps for a rank-{} input",
                maps.len(),
                input_shape.len()
            )));
        }
        for (axis, (map, &dim)) in maps.iter().zip(input_shape).enumerate() {
            if let Some(bad) = map.iter().flatten().find(|&&at| at >= dim) {
                return Err(GraphError::invalid(format!(
                    "axis {axis} reads index {bad} of an axis of size {dim}"
                )));
            }
        }
        let input_len = product(input_shape)?;
        let output_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
        product(&output_shape)?;
        // Trailing axes copied unchanged merge into the block.
        let mut kept = maps.len();
        let mut block = 1;
        while kept > 0 {
            let map = &maps[kept - 1];
            let identity = map.len() == input_shape[kept - 1]
                && map.iter().enumerate().all(|(o, &i)| i == Some(o));
            if !identity {
                break;
            }
            block *= input_shape[kept - 1];
            kept -= 1;
        }
        if kept == 0 {
            return Ok(AxisMapCopy {
                outer_offsets: Vec::new(),
                outer_dims: Vec::new(),
                segments: vec![Segment { output: 0, length: 1, input: Some(0) }],
                block,
                row: block,
                input_len,
            });
        }
        let inner = kept - 1;
        let mut segments: Vec<Segment> = Vec::new();
        for (o, &source) in maps[inner].iter().enumerate() {
            if let Some(last) = segments.last_mut() {
                let extends = match (last.input, source) {
                    (None, None) => true,
                    (Some(start), Some(at)) => start + last.length == at,
                    _ => false,
                };
                if extends {
                    last.length += 1;
                    continue;
                }
            }
            segments.push(Segment { output: o, length: 1, input: source });
        }
        let mut strides = vec![block; kept];
        for axis in (0..inner).rev() {
            strides[axis] = strides[axis + 1] * input_shape[axis + 1];
        }
        let outer_offsets = (0..inner)
            .map(|axis| {
                maps[axis].iter().map(|source| source.map(|at| at * strides[axis])).collect()
            })
            .collect();
        Ok(AxisMapCopy {
            outer_offsets,
            outer_dims: output_shape[..inner].to_vec(),
            segments,
            block,
            row: maps[inner].len() * block,
            input_len,
        })
    }

    /// Writes every element of `output` from `input` (`fill` where the maps say so).
    pub(crate) fn run<T: Element>(
        &self,
        input: &[T],
        output: &mut [T],
        fill: T,
        parallel: bool,
    ) -> Result<()> {
        if input.len() != self.input_len {
            return Err(GraphError::invalid(format!(
                "the input has {} elements, the plan expects {}",
                input.len(),
                self.input_len
            )));
        }
        let block = self.block;
        if self.outer_offsets.is_empty()
            && self.segments.len() == 1
            && self.segments[0].input == Some(0)
        {
            copy_slice(output, &input[..output.len()], parallel);
            return Ok(());
        }
        for_each_chunk(output, self.row, parallel, |mut index, row| {
            let mut base = 0;
            for (offsets, &dim) in self.outer_offsets.iter().zip(&self.outer_dims).rev() {
                match offsets[index % dim] {
                    Some(offset) => base += offset,
                    None => {
                        row.fill(fill);
                        return;
                    }
                }
                index /= dim;
            }
            for segment in &self.segments {
                let destination =
                    &mut row[segment.output * block..(segment.output + segment.length) * block];
                match segment.input {
                    Some(start) => {
                        let from = base + start * block;
                        destination.copy_from_slice(&input[from..from + destination.len()]);
                    }
                    None => destination.fill(fill),
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_compile_to_blocks_and_runs() {
        // [2, 3, 4] -> take rows 2,1 of axis 1, pad axis 0 by one fill row; axis 2 unchanged.
        let maps =
            vec![vec![None, Some(0), Some(1)], vec![Some(2), Some(1)], (0..4).map(Some).collect()];
        let copy = AxisMapCopy::new(&[2, 3, 4], &maps).unwrap();
        assert_eq!(copy.block, 4);
        assert_eq!(copy.segments.len(), 2, "2 then 1 are not contiguous");
        let input: Vec<i32> = (0..24).collect();
        let mut output = vec![0; 3 * 2 * 4];
        copy.run(&input, &mut output, -1, false).unwrap();
        let expected: Vec<i32> =
            [vec![-1; 8], (8..12).chain(4..8).collect(), (20..24).chain(16..20).collect()].concat();
        assert_eq!(output, expected);
    }

    #[test]
    fn out_of_range_maps_and_wrong_inputs_are_errors() {
        assert!(AxisMapCopy::new(&[2], &[vec![Some(2)]]).is_err());
        assert!(AxisMapCopy::new(&[2], &[]).is_err());
        let copy = AxisMapCopy::new(&[2], &[vec![Some(1), Some(0)]]).unwrap();
        let mut output = [0u8; 2];
        assert!(copy.run(&[1u8, 2, 3], &mut output, 0, false).is_err());
        copy.run(&[1u8, 2], &mut output, 0, true).unwrap();
        assert_eq!(output, [2, 1]);
    }
}

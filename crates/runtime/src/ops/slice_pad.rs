//! Slice, Pad and Tile: copies that read each output coordinate from one input coordinate
//! per axis (or a fill value), compiled into an [`AxisMapCopy`] when the plan is built.

use dlopt_graph::{DataType, ErrorKind, GraphError, Node, Result, Tensor, TensorData};

use super::Registry;
use super::axis_map::AxisMapCopy;
use super::data_movement::{
    Element, integer_values, normalize_axes, try_vec, typed, typed_input, typed_output,
    with_element_type, worth_parallel,
};
use crate::op::{
    BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, constant_input, kernel, required,
};

/// Adds Slice, Pad and Tile.
pub fn register(registry: &mut Registry) {
    registry.add("Slice", build_slice as BuildFn);
    registry.add("Pad", build_pad as BuildFn);
    registry.add("Tile", build_tile as BuildFn);
}

/// An axis map of `length` entries `entry(o)`.
fn axis_map(length: usize, entry: impl Fn(usize) -> Option<usize>) -> Result<Vec<Option<usize>>> {
    let mut map = try_vec(length, "axis map entries")?;
    map.extend((0..length).map(entry));
    Ok(map)
}

/// The identity maps of an input of `shape`.
fn identity_maps(shape: &[usize]) -> Result<Vec<Vec<Option<usize>>>> {
    shape.iter().map(|&dim| axis_map(dim, Some)).collect()
}

/// A kernel copying input 0 through `copy`, filling with `fill` where the maps say so.
fn map_kernel(data_type: DataType, copy: AxisMapCopy, fill: Fill) -> Box<dyn crate::op::Kernel> {
    kernel(move |inputs, outputs, context| {
        with_element_type!(data_type, T => {
            let input = typed_input::<T>(inputs, 0)?;
            let fill = fill.value::<T>(inputs)?;
            let output = typed_output::<T>(outputs)?;
            let parallel = worth_parallel::<T>(output.len(), context);
            copy.run(input, output, fill, parallel)
        })
    })
}

/// Where a kernel's fill value comes from.
#[derive(Clone, Debug)]
enum Fill {
    /// Zero (false).
    Zero,
    /// A scalar given as an attribute, already of the data's type.
    Constant(Tensor),
    /// The first element of a run-time input (zero if it is empty).
    Input(usize),
}

impl Fill {
    fn value<T: Element>(&self, inputs: &[Option<crate::view::TensorView<'_>>]) -> Result<T> {
        Ok(match self {
            Fill::Zero => T::default(),
            Fill::Constant(tensor) => {
                T::of_tensor(tensor.data()).and_then(|v| v.first().copied()).unwrap_or_default()
            }
            Fill::Input(index) => match inputs.get(*index).and_then(Option::as_ref) {
                Some(view) => typed::<T>(view)?.first().copied().unwrap_or_default(),
                None => T::default(),
            },
        })
    }
}

/// Integer input `index` if the node has it; it must be constant when the plan is built.
fn optional_integers(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    index: usize,
    name: &str,
) -> Result<Option<Vec<i64>>> {
    match inputs.get(index).copied().flatten() {
        None => Ok(None),
        Some(_) => integer_values(constant_input(node, inputs, index)?, &format!("input '{name}'"))
            .map(Some),
    }
}

// ---------------------------------------------------------------------------------------
// Slice.

/// The first index and length of a slice of an axis of size `dim`, clamped as ONNX Slice
/// specifies: negative starts and ends count from the back, then both are clamped to
/// `[0, dim]` for positive steps and `[0, dim - 1]` / `[-1, dim - 1]` for negative ones.
fn slice_range(start: i64, end: i64, step: i64, dim: usize) -> (usize, usize) {
    if dim == 0 {
        return (0, 0);
    }
    let size = dim as i128;
    let (mut start, mut end, step) = (start as i128, end as i128, step as i128);
    if start < 0 {
        start += size;
    }
    if end < 0 {
        end += size;
    }
    let length = if step > 0 {
        start = start.clamp(0, size);
        end = end.clamp(0, size);
        if end > start { (end - start + step - 1) / step } else { 0 }
    } else {
        start = start.clamp(0, size - 1);
        end = end.clamp(-1, size - 1);
        if start > end { (start - end - step - 1) / -step } else { 0 }
    };
    (start as usize, length as usize)
}

/// Slice (opset 1-13): takes `starts[i]..ends[i]` with `steps[i]` (default 1, negative
/// walks backwards) along `axes[i]` (default all, negative counts from the back). From
/// opset 10 these are inputs, which must be constant when the plan is built; before, they
/// are attributes. Out-of-range bounds are clamped as ONNX specifies.
fn build_slice(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let rank = data.shape.len();
    let (starts, ends, axes, steps) = match node.attributes.ints("starts")? {
        Some(starts) => {
            let ends = node
                .attributes
                .ints("ends")?
                .ok_or_else(|| GraphError::invalid("attribute 'ends' is required"))?;
            (
                starts.to_vec(),
                ends.to_vec(),
                node.attributes.ints("axes")?.map(<[i64]>::to_vec),
                None,
            )
        }
        None => (
            integer_values(constant_input(node, inputs, 1)?, "input 'starts'")?,
            integer_values(constant_input(node, inputs, 2)?, "input 'ends'")?,
            optional_integers(node, inputs, 3, "axes")?,
            optional_integers(node, inputs, 4, "steps")?,
        ),
    };
    let count = starts.len();
    if ends.len() != count {
        return Err(GraphError::invalid(format!(
            "'starts' has {count} values, 'ends' has {}",
            ends.len()
        )));
    }
    let axes = match axes {
        Some(axes) if axes.len() != count => {
            return Err(GraphError::invalid(format!(
                "'starts' has {count} values, 'axes' has {}",
                axes.len()
            )));
        }
        Some(axes) => normalize_axes(&axes, rank, "'axes'")?,
        None if count > rank => {
            return Err(GraphError::invalid(format!(
                "'starts' has {count} values for a rank-{rank} input"
            )));
        }
        None => (0..count).collect(),
    };
    let steps = match steps {
        Some(steps) if steps.len() != count => {
            return Err(GraphError::invalid(format!(
                "'starts' has {count} values, 'steps' has {}",
                steps.len()
            )));
        }
        Some(steps) => steps,
        None => vec![1; count],
    };
    let mut maps = identity_maps(data.shape)?;
    for at in 0..count {
        if steps[at] == 0 {
            return Err(GraphError::invalid(format!(
                "'steps' value {at} is 0; steps must not be 0"
            )));
        }
        let axis = axes[at];
        let (first, length) = slice_range(starts[at], ends[at], steps[at], data.shape[axis]);
        let step = steps[at] as i128;
        maps[axis] = axis_map(length, |o| Some((first as i128 + o as i128 * step) as usize))?;
    }
    let shape = maps.iter().map(Vec::len).collect();
    let copy = AxisMapCopy::new(data.shape, &maps)?;
    Ok(BuiltOp {
        kernel: map_kernel(data.data_type, copy, Fill::Zero),
        outputs: vec![OutputInfo::new(data.data_type, shape)],
    })
}

// ---------------------------------------------------------------------------------------
// Pad.

/// How Pad fills the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// The map of one padded axis: `begin`/`end` add (or, negative, remove) positions; the
/// border of the (cropped) axis is filled per `mode`.
fn pad_map(
    dim: usize,
    begin: i64,
    end: i64,
    mode: PadMode,
    axis: usize,
) -> Result<Vec<Option<usize>>> {
    let size = dim as i128;
    let (begin, end) = (begin as i128, end as i128);
    let output = size + begin + end;
    if output < 0 {
        return Err(GraphError::shape(format!(
            "pads {begin} and {end} leave axis {axis} of size {dim} with size {output}"
        )));
    }
    if output > usize::MAX as i128 / 2 {
        return Err(GraphError::new(
            ErrorKind::TooLarge,
            format!("pads make axis {axis} too long ({output})"),
        ));
    }
    let low = (-begin).max(0);
    let high = size - (-end).max(0);
    let kept = (high - low).max(0);
    if kept == 0 && output > 0 && mode != PadMode::Constant {
        return Err(GraphError::invalid(format!(
            "mode '{}' cannot pad axis {axis}, which is empty after cropping",
            format!("{mode:?}").to_lowercase()
        )));
    }
    let shift = begin.max(0);
    axis_map(output as usize, |o| {
        let at = o as i128 - shift;
        let inside = if (0..kept).contains(&at) {
            Some(at)
        } else {
            match mode {
                PadMode::Constant => None,
                PadMode::Edge => Some(at.clamp(0, kept - 1)),
                PadMode::Wrap => Some(at.rem_euclid(kept)),
                PadMode::Reflect if kept == 1 => Some(0),
                PadMode::Reflect => {
                    let period = 2 * (kept - 1);
                    let folded = at.rem_euclid(period);
                    Some(if folded >= kept { period - folded } else { folded })
                }
            }
        };
        inside.map(|at| (low + at) as usize)
    })
}

/// Pad (opset 1-21): adds `pads` (begins of every padded axis, then ends; negative values
/// crop) around the input. From opset 11 `pads`, `constant_value` and (opset 18) `axes`
/// are inputs, `pads` and `axes` constant when the plan is built; before, `pads` (or
/// `paddings`) and `value` are attributes. Modes: constant (default), reflect (mirror
/// without repeating the edge), edge (repeat the edge), wrap (opset 19, periodic). Borders
/// of cropped axes reflect, repeat or wrap what remains after cropping.
fn build_pad(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let rank = data.shape.len();
    let mode = match node.attributes.string_or("mode", "constant")? {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => {
            return Err(GraphError::unsupported(format!(
                "attribute 'mode' is '{other}'; Pad supports constant, reflect, edge and wrap"
            )));
        }
    };
    let attribute_pads = match node.attributes.ints("pads")? {
        Some(pads) => Some(pads),
        None => node.attributes.ints("paddings")?,
    };
    let (pads, fill) = match attribute_pads {
        Some(pads) => {
            let value = node.attributes.float_or("value", 0.0)?;
            let scalar = Tensor::scalar(TensorData::F32(vec![value]))?.cast(data.data_type);
            (pads.to_vec(), Fill::Constant(scalar))
        }
        None => {
            let pads = integer_values(constant_input(node, inputs, 1)?, "input 'pads'")?;
            let fill = match inputs.get(2).copied().flatten() {
                Some(value) if value.data_type != data.data_type => {
                    return Err(GraphError::invalid(format!(
                        "input 'constant_value' is {}, the data is {}",
                        value.data_type, data.data_type
                    )));
                }
                Some(_) => Fill::Input(2),
                None => Fill::Zero,
            };
            (pads, fill)
        }
    };
    let axes = match optional_integers(node, inputs, 3, "axes")? {
        Some(axes) => normalize_axes(&axes, rank, "input 'axes'")?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(GraphError::invalid(format!(
            "'pads' has {} values, {} are needed (begin and end for each of {} axes)",
            pads.len(),
            2 * axes.len(),
            axes.len()
        )));
    }
    let mut maps = identity_maps(data.shape)?;
    for (at, &axis) in axes.iter().enumerate() {
        maps[axis] = pad_map(data.shape[axis], pads[at], pads[at + axes.len()], mode, axis)?;
    }
    let shape = maps.iter().map(Vec::len).collect();
    let copy = AxisMapCopy::new(data.shape, &maps)?;
    Ok(BuiltOp {
        kernel: map_kernel(data.data_type, copy, fill),
        outputs: vec![OutputInfo::new(data.data_type, shape)],
    })
}

// ---------------------------------------------------------------------------------------
// Tile.

/// Tile (opset 6-13): repeats the input `repeats[i]` times along axis `i`; `repeats` is a
/// constant int64 input with one non-negative value per axis.
fn build_tile(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let data = required(node, inputs, 0)?;
    let repeats = integer_values(constant_input(node, inputs, 1)?, "input 'repeats'")?;
    if repeats.len() != data.shape.len() {
        return Err(GraphError::invalid(format!(
            "input 'repeats' has {} values for a rank-{} input",
            repeats.len(),
            data.shape.len()
        )));
    }
    let maps = data
        .shape
        .iter()
        .zip(&repeats)
        .enumerate()
        .map(|(axis, (&dim, &times))| {
            if times < 0 {
                return Err(GraphError::invalid(format!(
                    "input 'repeats' is {times} for axis {axis}; must be >= 0"
                )));
            }
            let length = dim
                .checked_mul(times as usize)
                .filter(|&length| length <= usize::MAX / 2)
                .ok_or_else(|| {
                    GraphError::new(
                        ErrorKind::TooLarge,
                        format!("repeating axis {axis} {times} times is too long"),
                    )
                })?;
            axis_map(length, |o| Some(o % dim))
        })
        .collect::<Result<Vec<Vec<Option<usize>>>>>()?;
    let shape = maps.iter().map(Vec::len).collect();
    let copy = AxisMapCopy::new(data.shape, &maps)?;
    Ok(BuiltOp {
        kernel: map_kernel(data.data_type, copy, Fill::Zero),
        outputs: vec![OutputInfo::new(data.data_type, shape)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_ranges_clamp_as_onnx_specifies() {
        assert_eq!(slice_range(1, 3, 1, 5), (1, 2));
        assert_eq!(slice_range(-2, i64::MAX, 1, 5), (3, 2));
        assert_eq!(slice_range(i64::MIN, i64::MAX, 1, 5), (0, 5));
        assert_eq!(slice_range(-1, i64::MIN, -1, 5), (4, 5));
        assert_eq!(slice_range(20, 0, -2, 5), (4, 2));
        assert_eq!(slice_range(3, 1, 1, 5), (3, 0));
        assert_eq!(slice_range(0, 5, 1, 0), (0, 0));
        assert_eq!(slice_range(0, 5, 3, 5), (0, 2));
    }

    #[test]
    fn pad_maps_fill_reflect_edge_wrap_and_crop() {
        let some = |values: &[usize]| values.iter().map(|&v| Some(v)).collect::<Vec<_>>();
        assert_eq!(
            pad_map(3, 1, 1, PadMode::Constant, 0).unwrap(),
            vec![None, Some(0), Some(1), Some(2), None]
        );
        assert_eq!(pad_map(3, 2, 2, PadMode::Reflect, 0).unwrap(), some(&[2, 1, 0, 1, 2, 1, 0]));
        assert_eq!(pad_map(3, 2, 1, PadMode::Edge, 0).unwrap(), some(&[0, 0, 0, 1, 2, 2]));
        assert_eq!(pad_map(3, 2, 1, PadMode::Wrap, 0).unwrap(), some(&[1, 2, 0, 1, 2, 0]));
        assert_eq!(pad_map(4, -1, -2, PadMode::Constant, 0).unwrap(), some(&[1]));
        // Crop the end by 3, then reflect the two that remain on the begin side.
        assert_eq!(pad_map(5, 3, -3, PadMode::Reflect, 0).unwrap(), some(&[1, 0, 1, 0, 1]));
        assert!(pad_map(2, -2, -1, PadMode::Constant, 0).is_err());
        assert!(pad_map(2, -1, -1, PadMode::Edge, 0).unwrap().is_empty());
        assert!(pad_map(0, 1, 0, PadMode::Edge, 0).is_err());
        assert_eq!(pad_map(1, 2, 1, PadMode::Reflect, 0).unwrap(), some(&[0, 0, 0, 0]));
    }
}

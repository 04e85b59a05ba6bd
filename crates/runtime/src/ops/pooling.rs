//! Operators of the pooling family: MaxPool, AveragePool, GlobalAveragePool and
//! GlobalMaxPool.
//!
//! Windowed pools take `kernel_shape` (required), `strides`, `dilations`, `pads`,
//! `auto_pad` and `ceil_mode`; the output size per spatial axis is
//! `floor((in + pads - dilation * (kernel - 1) - 1) / stride) + 1` (`ceil` with
//! `ceil_mode`, dropping a last window that would start in the end padding), or
//! `ceil(in / stride)` for the SAME modes. Padding never wins a max, and counts in an
//! average only with AveragePool's `count_include_pad`.
//!
//! 1-D and 2-D f32 pools run on the kernels of `dlopt-kernels` (1-D as height 1); 3-D
//! pools and MaxPool on i8 / u8 run the direct loop of `pool_nd.rs`. MaxPool's optional
//! `Indices` output is not supported.

use dlopt_graph::{DataType, GraphError, Node, Result};
use dlopt_kernels::{Pool2d, avg_pool2d, global_avg_pool, global_max_pool, max_pool2d};

use super::Registry;
use super::element::{check_type, input_slice, output_slice};
use super::kernel_call::{kernel_error, require_f32};
use super::pool_nd::{PoolNd, avg_pool_nd, max_pool_nd};
use super::spatial::{AutoPad, check_sizes, forward_pads, pads4, pair, positive_list, span};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("MaxPool", build_max_pool as BuildFn);
    registry.add("AveragePool", build_average_pool as BuildFn);
    registry.add("GlobalAveragePool", build_global_average_pool as BuildFn);
    registry.add("GlobalMaxPool", build_global_max_pool as BuildFn);
}

/// A windowed pool's geometry, with the 2-D kernel's form when the kernels can run it.
struct Window {
    geometry: PoolNd,
    /// The 2-D kernel's geometry for 1-D and 2-D pools.
    two_d: Option<Pool2d>,
    /// The output shape `[N, C, out...]`.
    shape: Vec<usize>,
}

/// An int attribute that must be 0 or 1 (default 0).
fn flag(node: &Node, name: &str) -> Result<bool> {
    match node.attributes.int_or(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        other => {
            Err(GraphError::invalid(format!("attribute '{name}' is {other}, expected 0 or 1")))
        }
    }
}

/// Output size of one axis, or an error if the window does not fit the padded input.
fn out_size(
    size: usize,
    begin: usize,
    end: usize,
    extent: usize,
    stride: usize,
    ceil: bool,
    axis: usize,
) -> Result<usize> {
    let rest = (size + begin + end).checked_sub(extent).ok_or_else(|| {
        GraphError::shape(format!(
            "the window spans {extent} on spatial axis {axis}, more than the padded input ({size} plus pads {begin} and {end})"
        ))
    })?;
    let mut out = if ceil { rest.div_ceil(stride) + 1 } else { rest / stride + 1 };
    if ceil && (out - 1) * stride >= size + begin {
        out -= 1;
    }
    Ok(out)
}

/// Reads and checks the window attributes for input shape `shape`.
fn window(node: &Node, shape: &[usize]) -> Result<Window> {
    if shape.len() < 3 {
        return Err(GraphError::shape(format!(
            "input 'X' must be [N, C, spatial...], got shape {shape:?}"
        )));
    }
    let spatial = shape.len() - 2;
    check_sizes("X", shape)?;
    if node.attributes.ints("kernel_shape")?.is_none() {
        return Err(GraphError::invalid("attribute 'kernel_shape' is required"));
    }
    let kernel = positive_list(node, "kernel_shape", spatial, 1)?;
    let strides = positive_list(node, "strides", spatial, 1)?;
    let dilations = positive_list(node, "dilations", spatial, 1)?;
    let auto_pad = AutoPad::of(node)?;
    // ceil_mode only matters for explicit pads: SAME and VALID fix the output size.
    let ceil = flag(node, "ceil_mode")? && auto_pad == AutoPad::NotSet;
    let sizes = shape[2..].to_vec();
    let pads = forward_pads(node, auto_pad, &sizes, &kernel, &strides, &dilations)?;
    let (pads_begin, pads_end) = (pads[..spatial].to_vec(), pads[spatial..].to_vec());
    let out = (0..spatial)
        .map(|axis| {
            let extent = span(kernel[axis], dilations[axis]);
            out_size(
                sizes[axis],
                pads_begin[axis],
                pads_end[axis],
                extent,
                strides[axis],
                ceil,
                axis,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let (batch, channels) = (shape[0], shape[1]);
    let mut out_shape = vec![batch, channels];
    out_shape.extend(&out);
    let two_d = (spatial <= 2).then(|| {
        let [in_h, in_w] = pair(&sizes, 1);
        Pool2d::new([batch, channels, in_h, in_w], pair(&kernel, 1))
            .with_strides(pair(&strides, 1))
            .with_dilations(pair(&dilations, 1))
            .with_pads(pads4(&pads))
            .with_ceil_mode(ceil)
    });
    // Use the kernel only where it agrees with the sizes computed here.
    let two_d = two_d.filter(|pool| pool.output_shape()[2..] == pair(&out, 1));
    let geometry = PoolNd {
        planes: batch * channels,
        sizes,
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        out,
    };
    Ok(Window { geometry, two_d, shape: out_shape })
}

/// MaxPool: the largest element of each window (f32, i8, u8).
fn build_max_pool(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    if node.outputs.len() > 1 {
        return Err(GraphError::unsupported(
            "MaxPool's optional output 'Indices' is not supported",
        ));
    }
    let x = required(node, inputs, 0)?;
    check_type("MaxPool", "input 'X'", x.data_type, &[DataType::F32, DataType::I8, DataType::U8])?;
    let Window { geometry, two_d, shape } = window(node, x.shape)?;
    let empty = shape.contains(&0);
    let kernel = match (x.data_type, two_d) {
        (DataType::F32, Some(pool)) => kernel(move |inputs, outputs, context| {
            let (x, y) = (input_slice::<f32>(inputs, 0)?, output_slice::<f32>(outputs, 0)?);
            if empty {
                return Ok(());
            }
            max_pool2d(&pool, x, y, context.threads).map_err(kernel_error)
        }),
        (DataType::F32, None) => kernel(move |inputs, outputs, _| {
            max_pool_nd(
                &geometry,
                input_slice::<f32>(inputs, 0)?,
                output_slice::<f32>(outputs, 0)?,
                f32::NEG_INFINITY,
            )
        }),
        (DataType::I8, _) => kernel(move |inputs, outputs, _| {
            max_pool_nd(
                &geometry,
                input_slice::<i8>(inputs, 0)?,
                output_slice::<i8>(outputs, 0)?,
                i8::MIN,
            )
        }),
        _ => kernel(move |inputs, outputs, _| {
            max_pool_nd(
                &geometry,
                input_slice::<u8>(inputs, 0)?,
                output_slice::<u8>(outputs, 0)?,
                u8::MIN,
            )
        }),
    };
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(x.data_type, shape)] })
}

/// AveragePool: the mean of each window's elements (f32); `count_include_pad` (default 0)
/// counts the padding in the divisor.
fn build_average_pool(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let x = required(node, inputs, 0)?;
    require_f32(node, "X", x.data_type)?;
    let count_include_pad = flag(node, "count_include_pad")?;
    let Window { geometry, two_d, shape } = window(node, x.shape)?;
    let empty = shape.contains(&0);
    let kernel = match two_d {
        Some(pool) => kernel(move |inputs, outputs, context| {
            let (x, y) = (input_slice::<f32>(inputs, 0)?, output_slice::<f32>(outputs, 0)?);
            if empty {
                return Ok(());
            }
            avg_pool2d(&pool, count_include_pad, x, y, context.threads).map_err(kernel_error)
        }),
        None => kernel(move |inputs, outputs, _| {
            avg_pool_nd(
                &geometry,
                count_include_pad,
                input_slice::<f32>(inputs, 0)?,
                output_slice::<f32>(outputs, 0)?,
            )
        }),
    };
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(x.data_type, shape)] })
}

/// The planes (N * C), plane length and output shape `[N, C, 1, ...]` of a global pool.
fn global_geometry(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
) -> Result<(usize, usize, Vec<usize>)> {
    let x = required(node, inputs, 0)?;
    require_f32(node, "X", x.data_type)?;
    if x.shape.len() < 3 {
        return Err(GraphError::shape(format!(
            "input 'X' must be [N, C, spatial...], got shape {:?}",
            x.shape
        )));
    }
    let plane_len: usize = x.shape[2..].iter().product();
    if plane_len == 0 {
        return Err(GraphError::shape(format!(
            "input 'X' {:?} has an empty spatial axis",
            x.shape
        )));
    }
    let mut shape = x.shape.to_vec();
    shape[2..].fill(1);
    Ok((x.shape[0] * x.shape[1], plane_len, shape))
}

/// GlobalAveragePool: the mean over all spatial axes, `[N, C, 1, ...]` (f32).
fn build_global_average_pool(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let (planes, plane_len, shape) = global_geometry(node, inputs)?;
    let kernel = kernel(move |inputs, outputs, context| {
        let (x, y) = (input_slice::<f32>(inputs, 0)?, output_slice::<f32>(outputs, 0)?);
        global_avg_pool(planes, plane_len, x, y, context.threads).map_err(kernel_error)
    });
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(DataType::F32, shape)] })
}

/// GlobalMaxPool: the maximum over all spatial axes, `[N, C, 1, ...]` (f32).
fn build_global_max_pool(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let (planes, plane_len, shape) = global_geometry(node, inputs)?;
    let kernel = kernel(move |inputs, outputs, context| {
        let (x, y) = (input_slice::<f32>(inputs, 0)?, output_slice::<f32>(outputs, 0)?);
        global_max_pool(planes, plane_len, x, y, context.threads).map_err(kernel_error)
    });
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(DataType::F32, shape)] })
}

#[cfg(test)]
mod tests {
    use dlopt_graph::Attribute;

    use super::*;

    fn node(attributes: &[(&str, Attribute)]) -> Node {
        let mut node =
            Node { name: "pool".into(), op_type: "MaxPool".into(), ..Default::default() };
        for (name, value) in attributes {
            node.attributes.set(*name, value.clone());
        }
        node
    }

    #[test]
    fn one_and_two_d_windows_take_the_kernel_path() {
        let ints = |values: &[i64]| Attribute::Ints(values.to_vec());
        let cases = [
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[3, 3])),
                    ("pads", ints(&[1, 1, 1, 1])),
                    ("ceil_mode", Attribute::Int(1)),
                ],
                vec![1, 2, 7, 8],
            ),
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[2, 2])),
                    ("auto_pad", Attribute::String("SAME_LOWER".into())),
                ],
                vec![1, 2, 7, 8],
            ),
            (vec![("kernel_shape", ints(&[2, 2])), ("dilations", ints(&[2, 3]))], vec![1, 2, 7, 9]),
            (
                vec![
                    ("kernel_shape", ints(&[3])),
                    ("strides", ints(&[2])),
                    ("pads", ints(&[1, 0])),
                ],
                vec![2, 3, 20],
            ),
        ];
        for (attributes, shape) in cases {
            let window = window(&node(&attributes), &shape).unwrap();
            assert!(window.two_d.is_some(), "{attributes:?} on {shape:?}");
        }
        let three_d =
            window(&node(&[("kernel_shape", ints(&[2, 2, 2]))]), &[1, 1, 4, 4, 4]).unwrap();
        assert!(three_d.two_d.is_none());
        assert_eq!(three_d.shape, vec![1, 1, 3, 3, 3]);
    }
}

//! Window attributes shared by the spatial operators (Conv, ConvTranspose, MaxPool,
//! AveragePool): `kernel_shape`, `strides`, `dilations`, `pads` and `auto_pad`, checked
//! against the number of spatial axes, and the padding `auto_pad` implies.
//!
//! The kernels are 2-D; a 1-D operator runs as 2-D with height 1, so this file also lifts
//! per-axis lists to `[height, width]` pairs and ONNX pads (`[begin..., end...]`) to the
//! kernels' `[top, left, bottom, right]`.

use dlopt_graph::{GraphError, Node, Result};

/// ONNX `auto_pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AutoPad {
    /// Explicit `pads` (default 0).
    NotSet,
    /// Output size `ceil(in / stride)`, odd padding at the end.
    SameUpper,
    /// Output size `ceil(in / stride)`, odd padding at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    /// The node's `auto_pad` attribute (default `NOTSET`).
    pub(crate) fn of(node: &Node) -> Result<AutoPad> {
        match node.attributes.string_or("auto_pad", "NOTSET")? {
            "NOTSET" => Ok(AutoPad::NotSet),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            "VALID" => Ok(AutoPad::Valid),
            other => Err(GraphError::invalid(format!(
                "attribute 'auto_pad' is '{other}', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID"
            ))),
        }
    }

    /// Whether this is one of the SAME modes.
    pub(crate) fn is_same(self) -> bool {
        matches!(self, AutoPad::SameUpper | AutoPad::SameLower)
    }
}

/// The largest spatial size, window size, stride, dilation, pad or group count accepted
/// (2^31): sums and products of a few of them then never overflow.
pub(crate) const LIMIT: usize = 1 << 31;

/// Checks that the spatial sizes of input `what` (`shape[2..]`) are at most [`LIMIT`].
pub(crate) fn check_sizes(what: &str, shape: &[usize]) -> Result<()> {
    if shape.iter().skip(2).any(|&size| size > LIMIT) {
        return Err(GraphError::new(
            dlopt_graph::ErrorKind::TooLarge,
            format!(
                "input '{what}' has shape {shape:?}; spatial sizes above {LIMIT} are not supported"
            ),
        ));
    }
    Ok(())
}

/// The number of spatial axes of an input of shape `shape` (`[N, C, spatial...]`): 1 or
/// 2; 3 and more are unsupported, fewer than 1 invalid. `what` names the input.
pub(crate) fn spatial_rank(node: &Node, what: &str, shape: &[usize]) -> Result<usize> {
    match shape.len() {
        3 | 4 => check_sizes(what, shape).map(|()| shape.len() - 2),
        rank if rank > 4 => Err(GraphError::unsupported(format!(
            "{} supports 1-D and 2-D inputs ([N, C, W] or [N, C, H, W]); input '{what}' has shape {shape:?} \
             ({} spatial axes)",
            node.op_type,
            rank - 2
        ))),
        _ => Err(GraphError::shape(format!(
            "input '{what}' must be [N, C, W] or [N, C, H, W], got shape {shape:?}"
        ))),
    }
}

/// The integer list attribute `name` with one entry per spatial axis, each in
/// `1..=LIMIT` (kernel_shape, strides, dilations); `default` fills every axis if it is absent.
pub(crate) fn positive_list(
    node: &Node,
    name: &str,
    spatial: usize,
    default: usize,
) -> Result<Vec<usize>> {
    let Some(values) = node.attributes.ints(name)? else { return Ok(vec![default; spatial]) };
    if values.len() != spatial {
        return Err(GraphError::invalid(format!(
            "attribute '{name}' has {} entries {values:?}, the input has {spatial} spatial axes",
            values.len()
        )));
    }
    values
        .iter()
        .map(|&value| {
            usize::try_from(value).ok().filter(|&v| (1..=LIMIT).contains(&v)).ok_or_else(|| {
                GraphError::invalid(format!(
                    "attribute '{name}' is {values:?}; every entry must be at least 1 and at most {LIMIT}"
                ))
            })
        })
        .collect()
}

/// The integer list attribute `name` with `count` entries in `0..=LIMIT` (pads,
/// output_padding), or zeros if it is absent.
pub(crate) fn non_negative_list(node: &Node, name: &str, count: usize) -> Result<Vec<usize>> {
    let Some(values) = node.attributes.ints(name)? else { return Ok(vec![0; count]) };
    if values.len() != count {
        return Err(GraphError::invalid(format!(
            "attribute '{name}' has {} entries {values:?}, {count} expected",
            values.len()
        )));
    }
    values
        .iter()
        .map(|&value| {
            let value = usize::try_from(value).map_err(|_| {
                GraphError::unsupported(format!(
                    "attribute '{name}' is {values:?}; negative entries are not supported"
                ))
            })?;
            if value > LIMIT {
                return Err(GraphError::invalid(format!(
                    "attribute '{name}' is {values:?}; entries above {LIMIT} are not supported"
                )));
            }
            Ok(value)
        })
        .collect()
}

/// The extent of a dilated window: `dilation * (kernel - 1) + 1`.
pub(crate) fn span(kernel: usize, dilation: usize) -> usize {
    dilation.saturating_mul(kernel - 1).saturating_add(1)
}

/// The padding (`[begin..., end...]`) of a convolution or pooling with the given window
/// over the spatial sizes `sizes`: the `pads` attribute for `NOTSET`, none for `VALID`,
/// and for the SAME modes the least padding that gives `ceil(size / stride)` outputs, the
/// odd element at the end (`SAME_UPPER`) or the beginning (`SAME_LOWER`).
pub(crate) fn forward_pads(
    node: &Node,
    auto_pad: AutoPad,
    sizes: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
) -> Result<Vec<usize>> {
    let spatial = sizes.len();
    match auto_pad {
        AutoPad::NotSet => non_negative_list(node, "pads", 2 * spatial),
        AutoPad::Valid => Ok(vec![0; 2 * spatial]),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut pads = vec![0; 2 * spatial];
            for axis in 0..spatial {
                let out = sizes[axis].div_ceil(strides[axis]);
                let needed = (out.saturating_sub(1) * strides[axis]
                    + span(kernel[axis], dilations[axis]))
                .saturating_sub(sizes[axis]);
                let (small, large) = (needed / 2, needed - needed / 2);
                let (begin, end) =
                    if auto_pad == AutoPad::SameUpper { (small, large) } else { (large, small) };
                pads[axis] = begin;
                pads[axis + spatial] = end;
            }
            Ok(pads)
        }
    }
}

/// A per-axis list of 1 or 2 entries as `[height, width]`; a 1-D list gets `fill` as its
/// height.
pub(crate) fn pair(values: &[usize], fill: usize) -> [usize; 2] {
    match values {
        [width] => [fill, *width],
        [height, width, ..] => [*height, *width],
        [] => [fill, fill],
    }
}

/// ONNX pads `[begin..., end...]` of 1 or 2 axes as `[top, left, bottom, right]`.
pub(crate) fn pads4(pads: &[usize]) -> [usize; 4] {
    match pads {
        [begin, end] => [0, *begin, 0, *end],
        [top, left, bottom, right] => [*top, *left, *bottom, *right],
        _ => [0; 4],
    }
}

/// An `[N, C, W]` or `[N, C, H, W]` shape as `[N, C, H, W]` (height 1 for 1-D).
pub(crate) fn shape4(shape: &[usize]) -> [usize; 4] {
    match shape {
        [n, c, w] => [*n, *c, 1, *w],
        [n, c, h, w] => [*n, *c, *h, *w],
        _ => [0; 4],
    }
}

/// The kernel's `[N, C, H, W]` output shape in the input's rank (drops the height of a 1-D
/// operator).
pub(crate) fn output_shape(shape: [usize; 4], spatial: usize) -> Vec<usize> {
    if spatial == 1 { vec![shape[0], shape[1], shape[3]] } else { shape.to_vec() }
}

#[cfg(test)]
mod tests {
    use dlopt_graph::Attribute;

    use super::*;

    fn node(attributes: &[(&str, Attribute)]) -> Node {
        let mut node = Node { name: "n".into(), op_type: "Conv".into(), ..Default::default() };
        for (name, value) in attributes {
            node.attributes.set(*name, value.clone());
        }
        node
    }

    #[test]
    fn same_padding_puts_the_odd_element_where_the_mode_says() {
        // Height 5, kernel 3, stride 2: 3 outputs need (3 - 1) * 2 + 3 - 5 = 2 pads; width 6,
        // kernel 2, stride 1: 6 outputs need 5 + 2 - 6 = 1.
        let upper =
            forward_pads(&node(&[]), AutoPad::SameUpper, &[5, 6], &[3, 2], &[2, 1], &[1, 1])
                .unwrap();
        assert_eq!(upper, vec![1, 0, 1, 1]);
        let lower =
            forward_pads(&node(&[]), AutoPad::SameLower, &[5, 6], &[3, 2], &[2, 1], &[1, 1])
                .unwrap();
        assert_eq!(lower, vec![1, 1, 1, 0]);
        let valid = forward_pads(&node(&[]), AutoPad::Valid, &[5], &[3], &[1], &[1]).unwrap();
        assert_eq!(valid, vec![0, 0]);
    }

    #[test]
    fn lists_are_checked_against_the_spatial_rank() {
        let n = node(&[("strides", Attribute::Ints(vec![2, 2, 2]))]);
        let error = positive_list(&n, "strides", 2, 1).unwrap_err();
        assert!(error.message.contains("attribute 'strides' has 3 entries"), "{}", error.message);
        let n = node(&[("dilations", Attribute::Ints(vec![0, 1]))]);
        assert!(positive_list(&n, "dilations", 2, 1).unwrap_err().message.contains("at least 1"));
        let n = node(&[("pads", Attribute::Ints(vec![1, -1, 0, 0]))]);
        assert!(non_negative_list(&n, "pads", 4).unwrap_err().message.contains("negative"));
        let n = node(&[("auto_pad", Attribute::String("SAME".into()))]);
        assert!(AutoPad::of(&n).unwrap_err().message.contains("'auto_pad' is 'SAME'"));
    }

    #[test]
    fn one_dimensional_geometry_lifts_to_height_one() {
        assert_eq!(pair(&[3], 1), [1, 3]);
        assert_eq!(pads4(&[1, 2]), [0, 1, 0, 2]);
        assert_eq!(shape4(&[2, 3, 7]), [2, 3, 1, 7]);
        assert_eq!(output_shape([2, 4, 1, 5], 1), vec![2, 4, 5]);
    }
}

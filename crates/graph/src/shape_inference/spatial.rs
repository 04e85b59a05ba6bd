//! Inference for operators over spatial axes `[N, C, D1, D2, ...]`: convolutions,
//! pooling, resizing and padding. Unknown spatial sizes give derived symbols (`H/2`).

use crate::error::{GraphError, Result};
use crate::graph::Node;
use crate::shape::{Dim, SymbolicShape};
use crate::shape_inference::dims::Symbols;
use crate::shape_inference::elements::of_input;
use crate::shape_inference::params::{int_values, ints_or, normalize_axes};
use crate::shape_inference::{Inferred, Known};

/// Dispatches the spatial operators.
pub(crate) fn infer(
    node: &Node,
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
) -> Result<Vec<Inferred>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let data_type = input(0).and_then(|known| known.data_type);
    let Some(x) = input(0).and_then(|known| known.shape) else {
        return Ok(Vec::new());
    };
    let shape = match node.op_type.as_str() {
        "Conv" => conv(node, x, input(1).and_then(|k| k.shape), symbols)?,
        "ConvTranspose" => conv_transpose(node, x, input(1).and_then(|k| k.shape), symbols)?,
        "MaxPool" | "AveragePool" | "LpPool" => pool(node, x, symbols)?,
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => (x.len() >= 2).then(|| {
            x[..2].iter().cloned().chain(std::iter::repeat_n(Dim::Fixed(1), x.len() - 2)).collect()
        }),
        "Resize" => resize(node, x, inputs, symbols)?,
        "Pad" => pad(x, inputs, symbols),
        _ => None,
    };
    let mut outputs = vec![Inferred::new(shape.clone(), data_type)];
    if node.op_type == "MaxPool" {
        outputs.push(Inferred::new(shape, Some(crate::data_type::DataType::I64)));
    }
    Ok(outputs)
}

/// Kernel, strides, dilations, pads and auto_pad of a window operator with `spatial` axes.
struct Window {
    kernel: Vec<i64>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads: Vec<i64>,
    auto_pad: String,
}

impl Window {
    fn read(node: &Node, spatial: usize, kernel: Option<Vec<i64>>) -> Result<Option<Window>> {
        let kernel = match node.attributes.ints("kernel_shape")? {
            Some(kernel) => kernel.to_vec(),
            None => match kernel {
                Some(kernel) => kernel,
                None => return Ok(None),
            },
        };
        let window = Window {
            strides: ints_or(node, "strides", vec![1; spatial]).unwrap_or_default(),
            dilations: ints_or(node, "dilations", vec![1; spatial]).unwrap_or_default(),
            pads: ints_or(node, "pads", vec![0; 2 * spatial]).unwrap_or_default(),
            auto_pad: node.attributes.string_or("auto_pad", "NOTSET")?.to_string(),
            kernel,
        };
        let sizes_fit = window.kernel.len() == spatial
            && window.strides.len() == spatial
            && window.dilations.len() == spatial
            && window.pads.len() == 2 * spatial;
        let positive =
            window.kernel.iter().chain(&window.strides).chain(&window.dilations).all(|&v| v > 0);
        Ok((sizes_fit && positive).then_some(window))
    }

    /// The extent of the dilated kernel on `axis`.
    fn extent(&self, axis: usize) -> i64 {
        (self.kernel[axis] - 1) * self.dilations[axis] + 1
    }

    /// The output size of spatial `axis` of input size `dim` (floor or ceil mode).
    fn output(&self, dim: &Dim, axis: usize, ceil: bool, symbols: &mut Symbols) -> Option<Dim> {
        let stride = self.strides[axis];
        match self.auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => symbols.scaled(dim, 1, stride - 1, stride, false),
            "VALID" => symbols.scaled(dim, 1, stride - self.extent(axis), stride, false),
            _ => {
                let padding = self.pads[axis] + self.pads[axis + self.kernel.len()];
                let steps = symbols.scaled(dim, 1, padding - self.extent(axis), stride, ceil)?;
                symbols.plus(&steps, 1)
            }
        }
    }
}

/// Conv: `[N, M, out...]` with M from the weights' first dimension.
fn conv(
    node: &Node,
    x: &[Dim],
    w: Option<&[Dim]>,
    symbols: &mut Symbols,
) -> Result<Option<SymbolicShape>> {
    let Some(w) = w else { return Ok(None) };
    if x.len() < 3 || w.len() != x.len() {
        return Ok(None);
    }
    let group = node.attributes.int_or("group", 1)?;
    if let (Dim::Fixed(channels), Dim::Fixed(per_group)) = (&x[1], &w[1]) {
        if group > 0 && *channels as i64 != *per_group as i64 * group {
            return Err(GraphError::shape(format!(
                "input X {x:?} has {channels} channels, but weights W {w:?} with group {group} expect {}",
                *per_group as i64 * group
            )));
        }
    }
    let spatial = x.len() - 2;
    let kernel: Option<Vec<i64>> = w[2..].iter().map(|d| d.fixed().map(|s| s as i64)).collect();
    let Some(window) = Window::read(node, spatial, kernel)? else { return Ok(None) };
    let mut shape = vec![x[0].clone(), w[0].clone()];
    for axis in 0..spatial {
        match window.output(&x[axis + 2], axis, false, symbols) {
            Some(dim) => shape.push(dim),
            None => return Ok(None),
        }
    }
    Ok(Some(shape))
}

/// ConvTranspose: `[N, W[1] * group, out...]`.
fn conv_transpose(
    node: &Node,
    x: &[Dim],
    w: Option<&[Dim]>,
    symbols: &mut Symbols,
) -> Result<Option<SymbolicShape>> {
    let Some(w) = w else { return Ok(None) };
    if x.len() < 3 || w.len() != x.len() {
        return Ok(None);
    }
    let spatial = x.len() - 2;
    let group = node.attributes.int_or("group", 1)?;
    let channels = match &w[1] {
        Dim::Fixed(size) if group > 0 => Dim::Fixed(size * group as usize),
        Dim::Fixed(_) => return Ok(None),
        symbol if group == 1 => symbol.clone(),
        _ => return Ok(None),
    };
    let mut shape = vec![x[0].clone(), channels];
    if let Some(output_shape) = node.attributes.ints("output_shape")? {
        let sizes: Option<Vec<Dim>> =
            output_shape.iter().map(|&size| usize::try_from(size).ok().map(Dim::Fixed)).collect();
        return Ok(sizes
            .filter(|sizes| sizes.len() == spatial)
            .map(|sizes| [shape, sizes].concat()));
    }
    let kernel: Option<Vec<i64>> = w[2..].iter().map(|d| d.fixed().map(|s| s as i64)).collect();
    let Some(window) = Window::read(node, spatial, kernel)? else { return Ok(None) };
    let output_padding = ints_or(node, "output_padding", vec![0; spatial]).unwrap_or_default();
    if output_padding.len() != spatial {
        return Ok(None);
    }
    for axis in 0..spatial {
        let stride = window.strides[axis];
        let dim = match window.auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => symbols.scaled(&x[axis + 2], stride, 0, 1, false),
            _ => {
                let pads = if window.auto_pad == "VALID" {
                    0
                } else {
                    window.pads[axis] + window.pads[axis + spatial]
                };
                let added = output_padding[axis] + window.extent(axis) - pads - stride;
                symbols.scaled(&x[axis + 2], stride, added, 1, false)
            }
        };
        match dim {
            Some(dim) => shape.push(dim),
            None => return Ok(None),
        }
    }
    Ok(Some(shape))
}

/// MaxPool, AveragePool, LpPool: `[N, C, out...]`.
fn pool(node: &Node, x: &[Dim], symbols: &mut Symbols) -> Result<Option<SymbolicShape>> {
    if x.len() < 3 {
        return Ok(None);
    }
    let Some(window) = Window::read(node, x.len() - 2, None)? else { return Ok(None) };
    let ceil = node.attributes.int_or("ceil_mode", 0)? != 0;
    let mut shape = x[..2].to_vec();
    for axis in 0..x.len() - 2 {
        match window.output(&x[axis + 2], axis, ceil, symbols) {
            Some(dim) => shape.push(dim),
            None => return Ok(None),
        }
    }
    Ok(Some(shape))
}

/// A positive scale as a small fraction `p / q`, if it is one.
fn fraction(scale: f64) -> Option<(i64, i64)> {
    (1..=16).find_map(|q| {
        let p = scale * q as f64;
        let rounded = p.round();
        ((p - rounded).abs() < 1e-6 && rounded >= 1.0).then_some((rounded as i64, q))
    })
}

/// Resize (opset 11+: X, roi, scales, sizes): sizes if given, else `floor(dim * scale)`.
fn resize(
    node: &Node,
    x: &[Dim],
    inputs: &[Option<Known<'_>>],
    symbols: &mut Symbols,
) -> Result<Option<SymbolicShape>> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    if node.attributes.string_or("keep_aspect_ratio_policy", "stretch")? != "stretch" {
        return Ok(None);
    }
    let axes = match node.attributes.ints("axes")? {
        Some(axes) => match normalize_axes(axes, x.len()) {
            Some(axes) => axes,
            None => return Ok(None),
        },
        None => (0..x.len()).collect(),
    };
    let mut shape = x.to_vec();
    if let Some(sizes) = of_input(input(3)).filter(|sizes| !sizes.is_empty()) {
        if sizes.len() != axes.len() {
            return Ok(None);
        }
        for (&axis, size) in axes.iter().zip(&sizes) {
            match size.to_dim() {
                Some(dim) => shape[axis] = dim,
                None => return Ok(None),
            }
        }
        return Ok(Some(shape));
    }
    // Resize-10 takes the scales as input 1.
    let scales_input = if node.inputs.len() == 2 { 1 } else { 2 };
    let Some(scales) = input(scales_input).and_then(|known| known.constant) else {
        return Ok(None);
    };
    if scales.is_empty() || !scales.data_type().is_float() || scales.len() != axes.len() {
        return Ok(None);
    }
    for (&axis, scale) in axes.iter().zip(scales.data().to_f64_vec()) {
        if !(scale > 0.0 && scale.is_finite()) {
            return Ok(None);
        }
        let dim = match &shape[axis] {
            Dim::Fixed(size) => Some(Dim::Fixed((*size as f64 * scale).floor() as usize)),
            symbol => match fraction(scale) {
                Some((p, q)) => symbols.scaled(symbol, p, 0, q, false),
                None => Some(symbols.opaque(format!("floor({symbol:?}*{scale})"))),
            },
        };
        match dim {
            Some(dim) => shape[axis] = dim,
            None => return Ok(None),
        }
    }
    Ok(Some(shape))
}

/// Pad (opset 11+: data, pads, constant_value, axes): each axis grows by its pads.
fn pad(x: &[Dim], inputs: &[Option<Known<'_>>], symbols: &mut Symbols) -> Option<SymbolicShape> {
    let input = |index: usize| inputs.get(index).copied().flatten();
    let pads = int_values(input(1)?)?;
    let axes = match input(3) {
        Some(axes) => normalize_axes(&int_values(axes)?, x.len())?,
        None => (0..x.len()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return None;
    }
    let mut shape = x.to_vec();
    for (at, &axis) in axes.iter().enumerate() {
        shape[axis] = symbols.plus(&shape[axis], pads[at] + pads[at + axes.len()])?;
    }
    Some(shape)
}

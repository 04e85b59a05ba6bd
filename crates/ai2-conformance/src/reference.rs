//! Expected outputs of the kit's own graphs, computed by a plain interpreter in f64 for the
//! few operators those graphs use (Gemm, MatMul, Relu, Add, Softmax, Flatten, Reshape,
//! Conv), independent of dlopt's runtime and of the plugin under test.

use crate::graph_view::{AttrSpec, GraphSpec, NodeSpec};

/// A tensor of the interpreter.
#[derive(Clone, Debug)]
struct Array {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn int_attr(node: &NodeSpec, name: &str, default: i64) -> i64 {
    match node.attribute(name) {
        Some(AttrSpec::Int(value)) => *value,
        _ => default,
    }
}

fn real_attr(node: &NodeSpec, name: &str, default: f64) -> f64 {
    match node.attribute(name) {
        Some(AttrSpec::Real(value)) => *value,
        Some(AttrSpec::Int(value)) => *value as f64,
        _ => default,
    }
}

fn ints_attr(node: &NodeSpec, name: &str, default: Vec<i64>) -> Vec<i64> {
    match node.attribute(name) {
        Some(AttrSpec::Ints(values)) => values.clone(),
        _ => default,
    }
}

/// Y = A' B' (2-D), A' / B' optionally transposed.
fn matmul(a: &Array, b: &Array, trans_a: bool, trans_b: bool) -> Result<Array, String> {
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return Err("the reference multiplies 2-D matrices only".into());
    }
    let (m, k) = if trans_a { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
    let (k2, n) = if trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
    if k != k2 {
        return Err(format!("inner dimensions {k} and {k2} differ"));
    }
    let at = |i: usize, j: usize| if trans_a { a.data[j * m + i] } else { a.data[i * k + j] };
    let bt = |i: usize, j: usize| if trans_b { b.data[j * k + i] } else { b.data[i * n + j] };
    let mut data = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            data[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
        }
    }
    Ok(Array { shape: vec![m, n], data })
}

/// The numpy broadcast of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|d| {
            let da = if d + a.len() >= rank { a[d + a.len() - rank] } else { 1 };
            let db = if d + b.len() >= rank { b[d + b.len() - rank] } else { 1 };
            match (da, db) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

/// The element of `array` that position `index` of `shape` reads under broadcasting.
fn broadcast_at(array: &Array, shape: &[usize], mut index: usize) -> f64 {
    let mut offset = 0;
    let mut stride = 1;
    for d in (0..shape.len()).rev() {
        let coordinate = index % shape[d];
        index /= shape[d];
        let own = d + array.shape.len();
        if own >= shape.len() {
            let dim = array.shape[own - shape.len()];
            offset += if dim == 1 { 0 } else { coordinate * stride };
            stride *= dim;
        }
    }
    array.data[offset]
}

fn add(a: &Array, b: &Array) -> Result<Array, String> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let count: usize = shape.iter().product();
    let data =
        (0..count).map(|i| broadcast_at(a, &shape, i) + broadcast_at(b, &shape, i)).collect();
    Ok(Array { shape, data })
}

/// Softmax over rows of `width` elements.
fn softmax(x: &Array, width: usize) -> Array {
    let mut data = x.data.clone();
    if width > 0 {
        for row in data.chunks_mut(width) {
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
            for v in row.iter_mut() {
                *v = (*v - max).exp() / sum;
            }
        }
    }
    Array { shape: x.shape.clone(), data }
}

/// 2-D convolution, NCHW, one group, no dilation.
fn conv(x: &Array, w: &Array, bias: Option<&Array>, node: &NodeSpec) -> Result<Array, String> {
    if x.shape.len() != 4 || w.shape.len() != 4 || int_attr(node, "group", 1) != 1 {
        return Err("the reference convolves 4-D inputs with one group only".into());
    }
    let pads = ints_attr(node, "pads", vec![0; 4]);
    let strides = ints_attr(node, "strides", vec![1, 1]);
    let [n, c, h, wd] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let [m, _, kh, kw] = [w.shape[0], w.shape[1], w.shape[2], w.shape[3]];
    let (pt, pl) = (pads[0] as isize, pads[1] as isize);
    let (sh, sw) = (strides[0] as usize, strides[1] as usize);
    let oh = (h as isize + pt + pads[2] as isize - kh as isize) as usize / sh + 1;
    let ow = (wd as isize + pl + pads[3] as isize - kw as isize) as usize / sw + 1;
    let mut data = vec![0.0; n * m * oh * ow];
    for b in 0..n {
        for o in 0..m {
            for y in 0..oh {
                for z in 0..ow {
                    let mut sum = bias.map_or(0.0, |bias| bias.data[o]);
                    for i in 0..c {
                        for dy in 0..kh {
                            for dz in 0..kw {
                                let sy = (y * sh + dy) as isize - pt;
                                let sz = (z * sw + dz) as isize - pl;
                                if sy < 0 || sz < 0 || sy >= h as isize || sz >= wd as isize {
                                    continue;
                                }
                                let xv = x.data[((b * c + i) * h + sy as usize) * wd + sz as usize];
                                sum += xv * w.data[((o * c + i) * kh + dy) * kw + dz];
                            }
                        }
                    }
                    data[((b * m + o) * oh + y) * ow + z] = sum;
                }
            }
        }
    }
    Ok(Array { shape: vec![n, m, oh, ow], data })
}

/// Applies a fused activation (`dlopt_activation`), Relu only.
fn fused(node: &NodeSpec, mut y: Array) -> Result<Array, String> {
    match node.attribute("dlopt_activation") {
        None => Ok(y),
        Some(AttrSpec::Str(name)) if name == "Relu" => {
            y.data.iter_mut().for_each(|v| *v = v.max(0.0));
            Ok(y)
        }
        Some(other) => Err(format!("the reference has no fused activation {other:?}")),
    }
}

fn run_node(
    node: &NodeSpec,
    inputs: &[Option<&Array>],
    out_shape: &[usize],
    opset: i64,
) -> Result<Array, String> {
    let input = |at: usize| -> Result<&Array, String> {
        inputs
            .get(at)
            .copied()
            .flatten()
            .ok_or_else(|| format!("{}: input {at} missing", node.name))
    };
    match node.op_type.as_str() {
        "Gemm" => {
            let mut y = matmul(
                input(0)?,
                input(1)?,
                int_attr(node, "transA", 0) != 0,
                int_attr(node, "transB", 0) != 0,
            )?;
            let alpha = real_attr(node, "alpha", 1.0);
            y.data.iter_mut().for_each(|v| *v *= alpha);
            if let Some(c) = inputs.get(2).copied().flatten() {
                let beta = real_attr(node, "beta", 1.0);
                let scaled = Array {
                    shape: c.shape.clone(),
                    data: c.data.iter().map(|v| v * beta).collect(),
                };
                y = add(&y, &scaled)?;
            }
            fused(node, y)
        }
        "MatMul" => fused(node, matmul(input(0)?, input(1)?, false, false)?),
        "Relu" => {
            let x = input(0)?;
            Ok(Array { shape: x.shape.clone(), data: x.data.iter().map(|v| v.max(0.0)).collect() })
        }
        "Add" => add(input(0)?, input(1)?),
        "Softmax" => {
            let x = input(0)?;
            let rank = x.shape.len() as i64;
            let axis = int_attr(node, "axis", if opset >= 13 { -1 } else { 1 });
            let axis = if axis < 0 { axis + rank } else { axis } as usize;
            if opset < 13 {
                Ok(softmax(x, x.shape[axis..].iter().product()))
            } else if axis + 1 == x.shape.len() {
                Ok(softmax(x, x.shape[axis]))
            } else {
                Err("the reference computes Softmax over the last axis only".into())
            }
        }
        "Flatten" | "Reshape" => {
            let x = input(0)?;
            Ok(Array { shape: out_shape.to_vec(), data: x.data.clone() })
        }
        "Conv" => fused(node, conv(input(0)?, input(1)?, inputs.get(2).copied().flatten(), node)?),
        other => Err(format!("the reference has no operator {other}")),
    }
}

/// The graph's outputs for float32 `inputs`, in f64 rounded to f32.
pub fn evaluate(graph: &GraphSpec, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
    let mut values: Vec<Option<Array>> = graph
        .values
        .iter()
        .map(|value| {
            let data = value.data.as_ref()?;
            let bytes = data.as_slice();
            let data = match value.dtype {
                1 => bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                    .collect(),
                7 => bytes
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                    .collect(),
                _ => return None,
            };
            Some(Array { shape: value.shape.iter().map(|&d| d as usize).collect(), data })
        })
        .collect();
    for (&at, input) in graph.inputs.iter().zip(inputs) {
        let shape = graph.values[at as usize].shape.iter().map(|&d| d as usize).collect();
        values[at as usize] =
            Some(Array { shape, data: input.iter().map(|&v| v as f64).collect() });
    }
    for node in &graph.nodes {
        let inputs: Vec<Option<&Array>> = node
            .inputs
            .iter()
            .map(|&at| if at < 0 { None } else { values[at as usize].as_ref() })
            .collect();
        let out = node.outputs[0] as usize;
        let out_shape: Vec<usize> = graph.values[out].shape.iter().map(|&d| d as usize).collect();
        let result = run_node(node, &inputs, &out_shape, graph.opset)?;
        if result.shape != out_shape {
            return Err(format!(
                "node {}: the reference gives shape {:?}, the graph says {out_shape:?}",
                node.name, result.shape
            ));
        }
        values[out] = Some(result);
    }
    graph
        .outputs
        .iter()
        .map(|&at| {
            values[at as usize]
                .as_ref()
                .map(|array| array.data.iter().map(|&v| v as f32).collect())
                .ok_or_else(|| format!("output {at} was not computed"))
        })
        .collect()
}

/// Relative tolerance of every comparison with expected values.
pub const RELATIVE_TOLERANCE: f64 = 1e-5;
/// Absolute floor of the tolerance (values near zero after cancellation).
pub const ABSOLUTE_TOLERANCE: f64 = 1e-6;

/// Compares outputs: `|actual - expected| <= 1e-5 |expected| + 1e-6` everywhere (NaN never
/// matches). Returns the largest relative error seen, or the first mismatch.
pub fn compare(actual: &[Vec<f32>], expected: &[Vec<f32>]) -> Result<f64, String> {
    if actual.len() != expected.len() {
        return Err(format!("{} outputs, expected {}", actual.len(), expected.len()));
    }
    let mut worst: f64 = 0.0;
    for (output, (a, e)) in actual.iter().zip(expected).enumerate() {
        if a.len() != e.len() {
            return Err(format!("output {output} has {} elements, expected {}", a.len(), e.len()));
        }
        for (index, (&a, &e)) in a.iter().zip(e).enumerate() {
            let (a, e) = (a as f64, e as f64);
            let error = (a - e).abs();
            if error.is_nan() || error > RELATIVE_TOLERANCE * e.abs() + ABSOLUTE_TOLERANCE {
                return Err(format!("output {output} element {index} is {a}, expected {e}"));
            }
            if e.abs() > ABSOLUTE_TOLERANCE {
                worst = worst.max(error / e.abs());
            }
        }
    }
    Ok(worst)
}

/// Deterministic pseudo-random values in [-1, 1) (a linear congruential sequence).
pub fn noise(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize], data: &[f64]) -> Array {
        Array { shape: shape.to_vec(), data: data.to_vec() }
    }

    #[test]
    fn matmul_transposes() {
        let a = array(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = array(&[2, 2], &[5.0, 6.0, 7.0, 8.0]);
        assert_eq!(matmul(&a, &b, false, false).unwrap().data, [19.0, 22.0, 43.0, 50.0]);
        assert_eq!(matmul(&a, &b, true, false).unwrap().data, [26.0, 30.0, 38.0, 44.0]);
        assert_eq!(matmul(&a, &b, false, true).unwrap().data, [17.0, 23.0, 39.0, 53.0]);
    }

    #[test]
    fn add_broadcasts_like_numpy() {
        let a = array(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let column = array(&[2, 1], &[10.0, 20.0]);
        let row = array(&[3], &[100.0, 200.0, 300.0]);
        assert_eq!(add(&a, &column).unwrap().data, [10.0, 11.0, 12.0, 23.0, 24.0, 25.0]);
        assert_eq!(add(&row, &a).unwrap().data, [100.0, 201.0, 302.0, 103.0, 204.0, 305.0]);
        assert!(add(&a, &array(&[2], &[1.0, 2.0])).is_err());
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let y = softmax(&array(&[2, 2], &[0.0, 0.0, 1000.0, 0.0]), 2);
        assert_eq!(y.data, [0.5, 0.5, 1.0, 0.0]);
    }

    #[test]
    fn a_padded_convolution_with_a_centre_kernel_is_the_identity() {
        let node = NodeSpec {
            name: "conv".into(),
            op_type: "Conv".into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec![],
            attributes: vec![("pads".into(), AttrSpec::Ints(vec![1, 1, 1, 1]))],
        };
        let x = array(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let mut kernel = vec![0.0; 9];
        kernel[4] = 1.0;
        let y =
            conv(&x, &array(&[1, 1, 3, 3], &kernel), Some(&array(&[1], &[0.5])), &node).unwrap();
        assert_eq!(y.shape, [1, 1, 2, 2]);
        assert_eq!(y.data, [1.5, 2.5, 3.5, 4.5]);
    }

    #[test]
    fn comparisons_use_relative_and_absolute_tolerance() {
        assert!(compare(&[vec![1.0, 0.0]], &[vec![1.000_005, 0.000_000_5]]).is_ok());
        assert!(compare(&[vec![1.0]], &[vec![1.000_1]]).is_err());
        assert!(compare(&[vec![f32::NAN]], &[vec![f32::NAN]]).is_err());
    }
}

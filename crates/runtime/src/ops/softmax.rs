//! Softmax and LogSoftmax (f32), numerically stable (the maximum is subtracted first).
//!
//! Opset 13 and later normalize along attribute `axis` (default -1). Opsets 11 and 12
//! coerce the input to 2-D at `axis` (default 1) and normalize each row of that matrix.
//! The semantics follow the graph's opset ([`BuildOptions::opset`]); the attribute
//! `dlopt_legacy_coerce_2d` (1 or 0), if present, overrides it (for passes that move nodes
//! between graphs). Both give the same result when `axis` is the last axis, the usual case.

use dlopt_graph::{DataType, GraphError, Node, Result};

use super::Registry;
use super::axes::normalize_axis;
use super::vector_math::{exp, for_each_row, max, max_nan, multiversion, sum, sum_map};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// The attribute that chooses the 2-D coercion semantics of opsets 11-12 (1) or the
/// per-axis semantics of opset 13 (0) regardless of the graph's opset.
pub const LEGACY_COERCE_2D: &str = "dlopt_legacy_coerce_2d";

/// Adds Softmax and LogSoftmax.
pub fn register(registry: &mut Registry) {
    registry.add("Softmax", build_softmax as BuildFn);
    registry.add("LogSoftmax", build_log_softmax as BuildFn);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Softmax,
    LogSoftmax,
}

multiversion! {
/// Softmax of one contiguous row.
fn softmax_row(row: &[f32], out: &mut [f32]) {
    let largest = max(row);
    for (o, &x) in out.iter_mut().zip(row) {
        *o = exp(x - largest);
    }
    let scale = 1.0 / sum(out);
    for o in out.iter_mut() {
        *o *= scale;
    }
}
}

multiversion! {
/// LogSoftmax of one contiguous row.
fn log_softmax_row(row: &[f32], out: &mut [f32]) {
    let largest = max(row);
    let log_sum = sum_map(row, |x| exp(x - largest)).ln();
    // (x - max) first: it is exact, while max + log_sum would round away the digits of
    // log_sum when the inputs are large.
    for (o, &x) in out.iter_mut().zip(row) {
        *o = (x - largest) - log_sum;
    }
}
}

multiversion! {
/// (Log)Softmax along the rows of a block of `length` rows of `inner` elements each (the
/// normalized axis is the row index); `buffer` holds 2·inner elements.
fn softmax_columns(
    variant: Variant,
    block: &[f32],
    out: &mut [f32],
    inner: usize,
    buffer: &mut [f32],
) {
    let (maxima, sums) = buffer.split_at_mut(inner);
    maxima.fill(f32::NEG_INFINITY);
    for row in block.chunks_exact(inner) {
        for (m, &x) in maxima.iter_mut().zip(row) {
            *m = max_nan(*m, x);
        }
    }
    sums.fill(0.0);
    match variant {
        Variant::Softmax => {
            for (row, out_row) in block.chunks_exact(inner).zip(out.chunks_exact_mut(inner)) {
                let columns = out_row.iter_mut().zip(row).zip(maxima.iter());
                for (((o, &x), &m), s) in columns.zip(sums.iter_mut()) {
                    *o = exp(x - m);
                    *s += *o;
                }
            }
            sums.iter_mut().for_each(|s| *s = 1.0 / *s);
            for out_row in out.chunks_exact_mut(inner) {
                out_row.iter_mut().zip(sums.iter()).for_each(|(o, &scale)| *o *= scale);
            }
        }
        Variant::LogSoftmax => {
            for row in block.chunks_exact(inner) {
                for ((&x, &m), s) in row.iter().zip(maxima.iter()).zip(sums.iter_mut()) {
                    *s += exp(x - m);
                }
            }
            sums.iter_mut().for_each(|s| *s = s.ln());
            for (row, out_row) in block.chunks_exact(inner).zip(out.chunks_exact_mut(inner)) {
                let columns = out_row.iter_mut().zip(row).zip(maxima.iter());
                for (((o, &x), &m), &log_sum) in columns.zip(sums.iter()) {
                    *o = (x - m) - log_sum;
                }
            }
        }
    }
}
}

fn build(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
    variant: Variant,
) -> Result<BuiltOp> {
    let input = required(node, inputs, 0)?;
    if input.data_type != DataType::F32 {
        return Err(GraphError::unsupported(format!(
            "input 'input' is {}; only f32 is supported",
            input.data_type
        )));
    }
    let legacy = match node.attributes.int(LEGACY_COERCE_2D)? {
        Some(flag) => flag != 0,
        None => options.opset < 13,
    };
    let axis = node.attributes.int_or("axis", if legacy { 1 } else { -1 })?;
    let shape = input.shape;
    let axis = normalize_axis(axis, shape.len(), "attribute 'axis'")?;
    let (length, inner) = if legacy {
        (shape[axis..].iter().product::<usize>(), 1)
    } else {
        (shape[axis], shape[axis + 1..].iter().product::<usize>())
    };
    Ok(BuiltOp {
        kernel: kernel(move |inputs, outputs, context| {
            let x = crate::op::input(inputs, 0)?.f32()?;
            let y = outputs[0].f32()?;
            if inner == 1 {
                for_each_row(
                    context.threads,
                    x,
                    length,
                    y,
                    length,
                    |_, input, output| match variant {
                        Variant::Softmax => softmax_row(input, output),
                        Variant::LogSoftmax => log_softmax_row(input, output),
                    },
                );
            } else {
                let block = length * inner;
                if block == 0 {
                    return Ok(());
                }
                let buffer = context.scratch.f32(2 * inner);
                for (input, output) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
                    softmax_columns(variant, input, output, inner, buffer);
                }
            }
            Ok(())
        }),
        outputs: vec![OutputInfo::new(DataType::F32, shape.to_vec())],
    })
}

/// Softmax: `exp(x - max) / sum(exp(x - max))` along `axis` (see the module documentation
/// for opsets before 13).
fn build_softmax(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    build(node, inputs, options, Variant::Softmax)
}

/// LogSoftmax: `x - max - ln(sum(exp(x - max)))` along `axis` (see the module
/// documentation for opsets before 13).
fn build_log_softmax(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    options: &BuildOptions,
) -> Result<BuiltOp> {
    build(node, inputs, options, Variant::LogSoftmax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_columns_agree() {
        // A 3x2 block normalized along its 3 rows equals the transposed rows normalized.
        let block = [1.0, -2.0, 2.0, 0.5, 3.0, 0.0];
        for variant in [Variant::Softmax, Variant::LogSoftmax] {
            let mut columns = [0.0; 6];
            softmax_columns(variant, &block, &mut columns, 2, &mut [0.0; 4]);
            for column in 0..2 {
                let row: Vec<f32> = (0..3).map(|r| block[r * 2 + column]).collect();
                let mut out = [0.0; 3];
                match variant {
                    Variant::Softmax => softmax_row(&row, &mut out),
                    Variant::LogSoftmax => log_softmax_row(&row, &mut out),
                }
                for r in 0..3 {
                    assert!((columns[r * 2 + column] - out[r]).abs() < 1e-6, "{variant:?}");
                }
            }
        }
    }
}

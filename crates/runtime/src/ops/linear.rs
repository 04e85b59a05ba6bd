//! Operators of the linear family: MatMul and Gemm (f32), on the GEMM of `dlopt-kernels`,
//! with an optional activation fused by a graph pass (see `fused_activation.rs`).
//!
//! MatMul follows numpy: a 1-D A is a row `[1, K]` and a 1-D B a column `[K, 1]` (the
//! added dimension is dropped from the result), and the batch dimensions (all but the
//! last two) broadcast. How the batch is computed is decided when the plan is built:
//! * B without batch (e.g. `x @ W` in a transformer block): A's batch is folded into the
//!   rows, one GEMM of `[batch * M, K] x [K, N]`;
//! * batches whose matrices lie at constant strides (including a broadcast operand, stride
//!   0): one batched call, which spreads small matrices over the threads;
//! * any other broadcast: one GEMM per output matrix, each on all threads.

use dlopt_graph::{GraphError, Node, Result};
use dlopt_kernels::{Activation, Batch, MatMul};

use super::Registry;
use super::broadcast::{Broadcast, broadcast_into, broadcast_shapes, check_unidirectional};
use super::element::{input_slice, output_slice};
use super::fused_activation::fused_activation;
use super::kernel_call::{kernel_error, require_f32};
use crate::op::{BuildFn, BuildOptions, BuiltOp, InputInfo, OutputInfo, kernel, required};

/// Adds this family's operators.
pub fn register(registry: &mut Registry) {
    registry.add("MatMul", build_matmul as BuildFn);
    registry.add("Gemm", build_gemm as BuildFn);
}

/// How a MatMul walks its batch.
#[derive(Clone, Debug)]
enum BatchWalk {
    /// One GEMM (the batch folded into the rows, or no batch at all).
    Single,
    /// One batched call with constant strides (in elements).
    Strided(Batch),
    /// One GEMM per output matrix, A and B at these element offsets.
    Offsets(Vec<(usize, usize)>),
}

/// The matrix index of `batch` (a broadcast operand's batch shape, right-aligned with
/// `out`) for each output matrix, in order.
fn matrix_indices(batch: &[usize], out: &[usize]) -> Vec<usize> {
    let count: usize = out.iter().product();
    let skip = out.len() - batch.len();
    // Strides in matrices of the operand's batch dims, 0 where broadcast.
    let mut strides = vec![0usize; out.len()];
    let mut running = 1;
    for axis in (0..batch.len()).rev() {
        if batch[axis] != 1 {
            strides[axis + skip] = running;
        }
        running *= batch[axis];
    }
    let mut index = vec![0usize; out.len()];
    let mut offset = 0;
    let mut indices = Vec::with_capacity(count);
    for _ in 0..count {
        indices.push(offset);
        for axis in (0..out.len()).rev() {
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < out[axis] {
                break;
            }
            offset -= strides[axis] * out[axis];
            index[axis] = 0;
        }
    }
    indices
}

/// The constant step of `values` (`values[i] = i * step`), if there is one.
fn constant_step(values: &[usize]) -> Option<usize> {
    let step = values.get(1).map_or(0, |second| second - values[0]);
    values.iter().enumerate().all(|(at, &value)| value == at * step).then_some(step)
}

/// The matrix shape `(rows, cols)` and batch shape of a MatMul operand; a 1-D operand is
/// a row (`row == true`) or a column.
fn operand(shape: &[usize], row: bool) -> ((usize, usize), &[usize]) {
    match shape.len() {
        1 if row => ((1, shape[0]), &[]),
        1 => ((shape[0], 1), &[]),
        rank => ((shape[rank - 2], shape[rank - 1]), &shape[..rank - 2]),
    }
}

/// MatMul: `Y = A @ B` with numpy semantics (see the module documentation); f32.
fn build_matmul(
    node: &Node,
    inputs: &[Option<InputInfo<'_>>],
    _: &BuildOptions,
) -> Result<BuiltOp> {
    let a = required(node, inputs, 0)?;
    let b = required(node, inputs, 1)?;
    require_f32(node, "A", a.data_type)?;
    require_f32(node, "B", b.data_type)?;
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err(GraphError::shape(format!(
            "inputs must have at least one dimension, got A {:?} and B {:?}",
            a.shape, b.shape
        )));
    }
    let ((m, k), a_batch) = operand(a.shape, true);
    let ((k_b, n), b_batch) = operand(b.shape, false);
    if k != k_b {
        return Err(GraphError::shape(format!(
            "A {:?} has {k} columns but B {:?} has {k_b} rows",
            a.shape, b.shape
        )));
    }
    let out_batch = broadcast_shapes(&[a_batch, b_batch]).map_err(|error| {
        GraphError::shape(format!(
            "the batch dimensions of A {:?} and B {:?} do not broadcast: {}",
            a.shape, b.shape, error.message
        ))
    })?;
    let mut shape = out_batch.clone();
    if a.shape.len() > 1 {
        shape.push(m);
    }
    if b.shape.len() > 1 {
        shape.push(n);
    }
    let count = dlopt_graph::tensor::element_count(&out_batch)?;
    let b_count: usize = b_batch.iter().product();
    let (walk, gemm) = if b_count == 1 {
        // A's matrices are consecutive rows: fold them into one GEMM.
        (BatchWalk::Single, MatMul::new(count * m, k, n))
    } else {
        let a_at = matrix_indices(a_batch, &out_batch);
        let b_at = matrix_indices(b_batch, &out_batch);
        let walk = match (constant_step(&a_at), constant_step(&b_at)) {
            (Some(step_a), Some(step_b)) => BatchWalk::Strided(Batch {
                count,
                stride_a: step_a * m * k,
                stride_b: step_b * k * n,
                stride_c: m * n,
            }),
            _ => BatchWalk::Offsets(
                a_at.iter().zip(&b_at).map(|(&i, &j)| (i * m * k, j * k * n)).collect(),
            ),
        };
        (walk, MatMul::new(m, k, n))
    };
    let activation = fused_activation(node)?;
    let kernel = kernel(move |inputs, outputs, context| {
        let a = input_slice::<f32>(inputs, 0)?;
        let b = input_slice::<f32>(inputs, 1)?;
        let y = output_slice::<f32>(outputs, 0)?;
        let threads = context.threads;
        match &walk {
            BatchWalk::Single => gemm.run(a, b, y, threads).map_err(kernel_error)?,
            BatchWalk::Strided(batch) => {
                gemm.run_batched(*batch, a, b, y, threads).map_err(kernel_error)?
            }
            BatchWalk::Offsets(offsets) => {
                let size = gemm.m * gemm.n;
                for (at, &(a_at, b_at)) in offsets.iter().enumerate() {
                    let (a, b) =
                        (a.get(a_at..).unwrap_or_default(), b.get(b_at..).unwrap_or_default());
                    let c = y.get_mut(at * size..(at + 1) * size).unwrap_or_default();
                    gemm.run(a, b, c, threads).map_err(kernel_error)?;
                }
            }
        }
        if activation != Activation::None {
            activation.apply(y);
        }
        Ok(())
    });
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(a.data_type, shape)] })
}

/// An int attribute that must be 0 or 1.
fn flag(node: &Node, name: &str) -> Result<bool> {
    match node.attributes.int_or(name, 0)? {
        0 => Ok(false),
        1 => Ok(true),
        other => {
            Err(GraphError::invalid(format!("attribute '{name}' is {other}, expected 0 or 1")))
        }
    }
}

/// Gemm: `Y = act(alpha * op(A) @ op(B) + beta * C)` with `op` transposing when `transA` /
/// `transB` is 1; A and B 2-D, C optional and unidirectionally broadcast to `[M, N]`; f32.
fn build_gemm(node: &Node, inputs: &[Option<InputInfo<'_>>], _: &BuildOptions) -> Result<BuiltOp> {
    let a = required(node, inputs, 0)?;
    let b = required(node, inputs, 1)?;
    require_f32(node, "A", a.data_type)?;
    require_f32(node, "B", b.data_type)?;
    let (&[a0, a1], &[b0, b1]) = (a.shape, b.shape) else {
        return Err(GraphError::shape(format!(
            "inputs A {:?} and B {:?} must be matrices (2-D)",
            a.shape, b.shape
        )));
    };
    let (trans_a, trans_b) = (flag(node, "transA")?, flag(node, "transB")?);
    let alpha = node.attributes.float_or("alpha", 1.0)?;
    let beta = node.attributes.float_or("beta", 1.0)?;
    let (m, k) = if trans_a { (a1, a0) } else { (a0, a1) };
    let (k_b, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    if k != k_b {
        return Err(GraphError::shape(format!(
            "op(A) is [{m}, {k}] but op(B) is [{k_b}, {n}] (A {:?}, transA {}, B {:?}, transB {})",
            a.shape, trans_a as u8, b.shape, trans_b as u8
        )));
    }
    let c = inputs.get(2).copied().flatten();
    let bias = match c {
        Some(c) if beta != 0.0 => {
            require_f32(node, "C", c.data_type)?;
            check_unidirectional("input 'C'", c.shape, &[m, n])?;
            Some(Broadcast::new(&[m, n], &[c.shape])?)
        }
        _ => None,
    };
    let gemm = MatMul::new(m, k, n)
        .with_trans_a(trans_a)
        .with_trans_b(trans_b)
        .with_alpha(alpha)
        .with_beta(if bias.is_some() { beta } else { 0.0 });
    let activation = fused_activation(node)?;
    let kernel = kernel(move |inputs, outputs, context| {
        let a = input_slice::<f32>(inputs, 0)?;
        let b = input_slice::<f32>(inputs, 1)?;
        let y = output_slice::<f32>(outputs, 0)?;
        if let Some(broadcast) = &bias {
            broadcast_into(broadcast, input_slice::<f32>(inputs, 2)?, y, context.threads)?;
        }
        gemm.run(a, b, y, context.threads).map_err(kernel_error)?;
        if activation != Activation::None {
            activation.apply(y);
        }
        Ok(())
    });
    Ok(BuiltOp { kernel, outputs: vec![OutputInfo::new(a.data_type, vec![m, n])] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_batches_map_to_matrix_indices() {
        // A batch [3, 1] against B batch [1, 2] -> out [3, 2].
        assert_eq!(matrix_indices(&[3, 1], &[3, 2]), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(matrix_indices(&[1, 2], &[3, 2]), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(matrix_indices(&[2], &[3, 2]), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(matrix_indices(&[], &[2]), vec![0, 0]);
        assert_eq!(constant_step(&[0, 2, 4]), Some(2));
        assert_eq!(constant_step(&[0, 0, 0]), Some(0));
        assert_eq!(constant_step(&[0, 1, 0, 1]), None);
    }
}

//! Numpy-style (multidirectional) broadcasting for elementwise operators.
//!
//! [`broadcast_shapes`] gives the output shape. [`Broadcast`] describes, for concrete shapes,
//! how each operand maps onto the output: output dimensions of size 1 are dropped and
//! neighbouring dimensions where every operand is either present or broadcast alike are
//! merged. What remains is a short list of dimensions with per-operand strides of 0
//! (broadcast) or the operand's own row-major stride, and the output is walked as *runs*
//! along the innermost merged dimension, inside which every operand is either contiguous or a
//! single repeated element. The cases that dominate real models thereby become few, long
//! runs without index arithmetic per element:
//!
//! * equal shapes: one run over everything, all operands contiguous;
//! * a scalar operand: one run, that operand repeated;
//! * per-channel operands (`[C,1,1]` against `[N,C,H,W]`): runs of `H*W` with the channel
//!   value repeated.
//!
//! The drivers ([`binary`], [`ternary`], [`broadcast_into`], [`accumulate`], [`map`]) pick one of
//! a few plain slice loops per run, so the per-element function (a generic closure chosen
//! once per kernel) is inlined and the loops vectorise. Outputs of at least
//! [`PARALLEL_THRESHOLD`] elements are split into at most `threads` chunks computed with
//! rayon in the caller's pool.

use dlopt_graph::{GraphError, Result};
use rayon::prelude::*;

/// The most operands a [`Broadcast`] relates to the output (`Where` has three).
pub(crate) const MAX_OPERANDS: usize = 3;

/// Outputs with at least this many elements are computed by several threads.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 16;

/// The shape that `shapes` broadcast to (numpy rules: align on the right, sizes must be
/// equal or 1), or an error naming the shapes and the dimension that does not fit.
pub(crate) fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(|shape| shape.len()).max().unwrap_or(0);
    let mut output = vec![1usize; rank];
    for (axis, size) in output.iter_mut().enumerate() {
        let from_right = rank - axis;
        let mut chosen: Option<usize> = None;
        for shape in shapes {
            if shape.len() < from_right {
                continue;
            }
            let dim = shape[shape.len() - from_right];
            if dim == 1 {
                continue;
            }
            match chosen {
                None => chosen = Some(dim),
                Some(existing) if existing == dim => {}
                Some(existing) => {
                    let list = shapes
                        .iter()
                        .map(|shape| format!("{shape:?}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(GraphError::shape(format!(
                        "shapes {list} cannot be broadcast: dimension {axis} of the result would be both {existing} and {dim}"
                    )));
                }
            }
        }
        *size = chosen.unwrap_or(1);
    }
    Ok(output)
}

/// Checks that `from` broadcasts to exactly `to` (ONNX unidirectional broadcasting, e.g.
/// PRelu's slope onto X); `what` names the operand in the message.
pub(crate) fn check_unidirectional(what: &str, from: &[usize], to: &[usize]) -> Result<()> {
    let fits = from.len() <= to.len()
        && from.iter().rev().zip(to.iter().rev()).all(|(&dim, &target)| dim == target || dim == 1);
    if fits {
        return Ok(());
    }
    Err(GraphError::shape(format!("{what} of shape {from:?} cannot be broadcast to {to:?}")))
}

/// How up to [`MAX_OPERANDS`] operands map onto an output of concrete shape (see the module
/// documentation). Built once per node when the plan is built.
#[derive(Clone, Debug)]
pub(crate) struct Broadcast {
    /// Output elements.
    len: usize,
    /// Elements of each operand (0 for unused slots).
    operand_lens: [usize; MAX_OPERANDS],
    /// Merged output dimensions, outermost first; never empty.
    dims: Vec<usize>,
    /// Per merged dimension, each operand's stride (0 where it is broadcast).
    strides: Vec<[usize; MAX_OPERANDS]>,
}

impl Broadcast {
    /// Relates `operands` (1 to [`MAX_OPERANDS`] shapes, each broadcastable to `output`) to
    /// `output`.
    pub(crate) fn new(output: &[usize], operands: &[&[usize]]) -> Result<Broadcast> {
        if operands.is_empty() || operands.len() > MAX_OPERANDS {
            return Err(GraphError::invalid(format!(
                "broadcasting relates 1 to {MAX_OPERANDS} operands, got {}",
                operands.len()
            )));
        }
        for (at, shape) in operands.iter().enumerate() {
            check_unidirectional(&format!("operand {at}"), shape, output)?;
        }
        let count = |shape: &[usize]| {
            shape
                .iter()
                .try_fold(1usize, |count, &dim| count.checked_mul(dim))
                .ok_or_else(|| GraphError::shape(format!("shape {shape:?} has too many elements")))
        };
        let len = count(output)?;
        let mut operand_lens = [0; MAX_OPERANDS];
        for (at, shape) in operands.iter().enumerate() {
            operand_lens[at] = count(shape)?;
        }
        let rank = output.len();
        let mut dims: Vec<usize> = Vec::new();
        let mut present: Vec<[bool; MAX_OPERANDS]> = Vec::new();
        for (axis, &size) in output.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let mut mask = [false; MAX_OPERANDS];
            for (at, shape) in operands.iter().enumerate() {
                let from_right = rank - axis;
                mask[at] = shape.len() >= from_right && shape[shape.len() - from_right] == size;
            }
            match (dims.last_mut(), present.last()) {
                (Some(last), Some(last_mask)) if *last_mask == mask => *last *= size,
                _ => {
                    dims.push(size);
                    present.push(mask);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            present.push([false; MAX_OPERANDS]);
        }
        let mut strides = vec![[0usize; MAX_OPERANDS]; dims.len()];
        for at in 0..operands.len() {
            let mut running = 1usize;
            for d in (0..dims.len()).rev() {
                if present[d][at] {
                    strides[d][at] = running;
                    running = running.saturating_mul(dims[d]);
                }
            }
        }
        Ok(Broadcast { len, operand_lens, dims, strides })
    }

    /// The merged output dimensions (for tests).
    #[cfg(test)]
    pub(crate) fn merged_dims(&self) -> &[usize] {
        &self.dims
    }

    /// Each operand's step inside a run: 1 (contiguous) or 0 (one repeated element).
    pub(crate) fn inner_steps(&self) -> [usize; MAX_OPERANDS] {
        self.strides[self.dims.len() - 1]
    }

    /// Fails unless the output and operand slices have the lengths this broadcast was
    /// built for (so that kernels never index out of bounds).
    pub(crate) fn check_lens(&self, output: usize, operands: &[usize]) -> Result<()> {
        let fits = output == self.len
            && operands.iter().zip(&self.operand_lens).all(|(&given, &expected)| given == expected);
        if fits {
            return Ok(());
        }
        Err(GraphError::shape(format!(
            "buffers of {output} and {operands:?} elements do not fit the built shapes ({} and {:?})",
            self.len,
            &self.operand_lens[..operands.len()]
        )))
    }

    /// Calls `run(output_offset, operand_offsets, length)` for each run covering output
    /// elements `start..end`, in order.
    pub(crate) fn for_each_run(
        &self,
        start: usize,
        end: usize,
        mut run: impl FnMut(usize, [usize; MAX_OPERANDS], usize),
    ) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        let rank = self.dims.len();
        let inner = self.dims[rank - 1];
        let mut index = vec![0usize; rank];
        let mut offsets = [0usize; MAX_OPERANDS];
        let mut rest = start;
        for d in (0..rank).rev() {
            index[d] = rest % self.dims[d];
            rest /= self.dims[d];
            for (offset, stride) in offsets.iter_mut().zip(&self.strides[d]) {
                *offset += index[d] * stride;
            }
        }
        let mut position = start;
        loop {
            let length = (inner - index[rank - 1]).min(end - position);
            run(position, offsets, length);
            position += length;
            if position >= end {
                return;
            }
            // The run ended at the end of the inner dimension: rewind it, carry outward.
            for (offset, stride) in offsets.iter_mut().zip(&self.strides[rank - 1]) {
                *offset -= index[rank - 1] * stride;
            }
            index[rank - 1] = 0;
            for d in (0..rank - 1).rev() {
                index[d] += 1;
                for (offset, stride) in offsets.iter_mut().zip(&self.strides[d]) {
                    *offset += stride;
                }
                if index[d] < self.dims[d] {
                    break;
                }
                for (offset, stride) in offsets.iter_mut().zip(&self.strides[d]) {
                    *offset -= self.dims[d] * stride;
                }
                index[d] = 0;
            }
        }
    }
}

/// Calls `work(chunk, start)` on consecutive chunks of `output` (`start` is the chunk's first
/// index): the whole slice at once below [`PARALLEL_THRESHOLD`] elements or with one thread,
/// else at most `threads` chunks in parallel on the current rayon pool.
pub(crate) fn for_chunks<O: Send>(
    output: &mut [O],
    threads: usize,
    work: impl Fn(&mut [O], usize) + Sync,
) {
    let len = output.len();
    if threads <= 1 || len < PARALLEL_THRESHOLD {
        work(output, 0);
        return;
    }
    let chunk = len.div_ceil(threads).next_multiple_of(64);
    output.par_chunks_mut(chunk).enumerate().for_each(|(at, part)| work(part, at * chunk));
}

/// `output[i] = f(input[i])` (same length), in parallel chunks for large tensors. On x86-64
/// CPUs with AVX2 the loop is compiled a second time for 8-lane vectors (the results are the
/// same bits: IEEE operations per lane, no contraction into fused multiply-adds).
pub(crate) fn map<I: Copy + Sync, O: Send>(
    input: &[I],
    output: &mut [O],
    threads: usize,
    f: impl Fn(I) -> O + Sync,
) -> Result<()> {
    if input.len() != output.len() {
        return Err(GraphError::shape(format!(
            "an input of {} elements does not fit an output of {}",
            input.len(),
            output.len()
        )));
    }
    for_chunks(output, threads, |part, start| {
        let input = &input[start..start + part.len()];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { map_slice_avx2(input, part, &f) };
            return;
        }
        map_slice(input, part, &f);
    });
    Ok(())
}

/// The loop of [`map`] over equally long slices.
#[inline(always)]
fn map_slice<I: Copy, O>(input: &[I], output: &mut [O], f: &impl Fn(I) -> O) {
    for (out, &value) in output.iter_mut().zip(input) {
        *out = f(value);
    }
}

/// [`map_slice`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_slice_avx2<I: Copy, O>(input: &[I], output: &mut [O], f: &impl Fn(I) -> O) {
    map_slice(input, output, f)
}

/// `output = f(a, b)` elementwise with `a` and `b` broadcast as `broadcast` (built for the
/// shapes of `a` and `b`) describes.
pub(crate) fn binary<A: Copy + Sync, B: Copy + Sync, O: Copy + Send>(
    broadcast: &Broadcast,
    a: &[A],
    b: &[B],
    output: &mut [O],
    threads: usize,
    f: impl Fn(A, B) -> O + Sync,
) -> Result<()> {
    broadcast.check_lens(output.len(), &[a.len(), b.len()])?;
    let steps = broadcast.inner_steps();
    for_chunks(output, threads, |part, start| {
        broadcast.for_each_run(start, start + part.len(), |position, offsets, length| {
            let out = &mut part[position - start..position - start + length];
            let (ia, ib) = (offsets[0], offsets[1]);
            match (steps[0], steps[1]) {
                (0, 0) => {
                    out.fill(f(a[ia], b[ib]));
                }
                (0, _) => {
                    let x = a[ia];
                    for (slot, &y) in out.iter_mut().zip(&b[ib..ib + length]) {
                        *slot = f(x, y);
                    }
                }
                (_, 0) => {
                    let y = b[ib];
                    for (slot, &x) in out.iter_mut().zip(&a[ia..ia + length]) {
                        *slot = f(x, y);
                    }
                }
                _ => {
                    for ((slot, &x), &y) in
                        out.iter_mut().zip(&a[ia..ia + length]).zip(&b[ib..ib + length])
                    {
                        *slot = f(x, y);
                    }
                }
            }
        });
    });
    Ok(())
}

/// `output = f(a, b, c)` elementwise with three broadcast operands (e.g. `Where`).
pub(crate) fn ternary<A: Copy + Sync, B: Copy + Sync, C: Copy + Sync, O: Send>(
    broadcast: &Broadcast,
    a: &[A],
    b: &[B],
    c: &[C],
    output: &mut [O],
    threads: usize,
    f: impl Fn(A, B, C) -> O + Sync,
) -> Result<()> {
    broadcast.check_lens(output.len(), &[a.len(), b.len(), c.len()])?;
    let [sa, sb, sc] = broadcast.inner_steps();
    for_chunks(output, threads, |part, start| {
        broadcast.for_each_run(start, start + part.len(), |position, [ia, ib, ic], length| {
            let out = &mut part[position - start..position - start + length];
            if sa == 1 && sb == 1 && sc == 1 {
                let inputs =
                    a[ia..ia + length].iter().zip(&b[ib..ib + length]).zip(&c[ic..ic + length]);
                for (slot, ((&x, &y), &z)) in out.iter_mut().zip(inputs) {
                    *slot = f(x, y, z);
                }
            } else {
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = f(a[ia + i * sa], b[ib + i * sb], c[ic + i * sc]);
                }
            }
        });
    });
    Ok(())
}

/// Writes `input`, broadcast as `broadcast` describes (one operand), into `output`.
pub(crate) fn broadcast_into<T: Copy + Send + Sync>(
    broadcast: &Broadcast,
    input: &[T],
    output: &mut [T],
    threads: usize,
) -> Result<()> {
    broadcast.check_lens(output.len(), &[input.len()])?;
    let step = broadcast.inner_steps()[0];
    for_chunks(output, threads, |part, start| {
        broadcast.for_each_run(start, start + part.len(), |position, [at, ..], length| {
            let out = &mut part[position - start..position - start + length];
            if step == 0 {
                out.fill(input[at]);
            } else {
                out.copy_from_slice(&input[at..at + length]);
            }
        });
    });
    Ok(())
}

/// `output = f(output, x)` elementwise with `x` broadcast as `broadcast` (one operand)
/// describes: how variadic operators (Sum, Max, ...) fold in their inputs.
pub(crate) fn accumulate<X: Copy + Sync, O: Copy + Send>(
    broadcast: &Broadcast,
    x: &[X],
    output: &mut [O],
    threads: usize,
    f: impl Fn(O, X) -> O + Sync,
) -> Result<()> {
    broadcast.check_lens(output.len(), &[x.len()])?;
    let step = broadcast.inner_steps()[0];
    for_chunks(output, threads, |part, start| {
        broadcast.for_each_run(start, start + part.len(), |position, [at, ..], length| {
            let out = &mut part[position - start..position - start + length];
            if step == 0 {
                let value = x[at];
                out.iter_mut().for_each(|slot| *slot = f(*slot, value));
            } else {
                for (slot, &value) in out.iter_mut().zip(&x[at..at + length]) {
                    *slot = f(*slot, value);
                }
            }
        });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_shapes_follow_numpy_rules() {
        assert_eq!(broadcast_shapes(&[&[2, 3], &[2, 3]]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shapes(&[&[3, 1], &[1, 4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[&[2, 3, 4, 5], &[5]]).unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(broadcast_shapes(&[&[], &[2, 1]]).unwrap(), vec![2, 1]);
        assert_eq!(broadcast_shapes(&[&[1, 2], &[0, 1], &[1]]).unwrap(), vec![0, 2]);
        let error = broadcast_shapes(&[&[2, 3], &[4, 3]]).unwrap_err();
        assert!(error.message.contains("[2, 3], [4, 3]"), "{}", error.message);
        assert!(error.message.contains("both 2 and 4"), "{}", error.message);
    }

    #[test]
    fn unidirectional_broadcasting_only_goes_one_way() {
        assert!(check_unidirectional("slope", &[3, 1, 1], &[2, 3, 4, 4]).is_ok());
        assert!(check_unidirectional("slope", &[2, 3, 4, 4], &[3, 1, 1]).is_err());
        let error = check_unidirectional("slope", &[5], &[2, 4]).unwrap_err();
        assert_eq!(error.message, "slope of shape [5] cannot be broadcast to [2, 4]");
    }

    #[test]
    fn common_cases_merge_into_few_long_runs() {
        let equal = Broadcast::new(&[2, 3, 4], &[&[2, 3, 4], &[2, 3, 4]]).unwrap();
        assert_eq!(equal.merged_dims(), &[24]);
        assert_eq!(equal.inner_steps()[..2], [1, 1]);
        let scalar = Broadcast::new(&[2, 3, 4], &[&[2, 3, 4], &[]]).unwrap();
        assert_eq!(scalar.merged_dims(), &[24]);
        assert_eq!(scalar.inner_steps()[..2], [1, 0]);
        let channel = Broadcast::new(&[2, 3, 4, 5], &[&[2, 3, 4, 5], &[3, 1, 1]]).unwrap();
        assert_eq!(channel.merged_dims(), &[2, 3, 20]);
        assert_eq!(channel.inner_steps()[..2], [1, 0]);
        let mut runs = Vec::new();
        channel.for_each_run(0, 120, |position, offsets, length| {
            runs.push((position, offsets[1], length))
        });
        assert_eq!(runs.len(), 6);
        assert_eq!(runs[4], (80, 1, 20), "second image, second channel");
    }

    #[test]
    fn runs_cover_any_range_with_the_right_offsets() {
        // [3,1] x [1,4]: every element checked against its multi-index.
        let broadcast = Broadcast::new(&[3, 4], &[&[3, 1], &[1, 4]]).unwrap();
        for start in 0..12 {
            for end in start..=12 {
                let mut seen = Vec::new();
                broadcast.for_each_run(start, end, |position, [a, b, _], length| {
                    for i in 0..length {
                        seen.push((
                            position + i,
                            a + i * broadcast.inner_steps()[0],
                            b + i * broadcast.inner_steps()[1],
                        ));
                    }
                });
                let expected: Vec<_> = (start..end).map(|at| (at, at / 4, at % 4)).collect();
                assert_eq!(seen, expected, "range {start}..{end}");
            }
        }
    }

    #[test]
    fn drivers_compute_broadcast_results_serially_and_in_parallel() {
        let a: Vec<i64> = (0..3).collect();
        let b: Vec<i64> = (0..4).map(|v| v * 10).collect();
        let broadcast = Broadcast::new(&[3, 4], &[&[3, 1], &[1, 4]]).unwrap();
        let mut out = vec![0i64; 12];
        binary(&broadcast, &a, &b, &mut out, 1, |x, y| x + y).unwrap();
        assert_eq!(out, vec![0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
        assert!(binary(&broadcast, &b, &a, &mut out, 1, |x, y| x + y).is_err(), "swapped operands");

        // Large enough to be split: per-channel values against [2, 3, 128, 128].
        let shape = [2usize, 3, 128, 128];
        let len: usize = shape.iter().product();
        let x: Vec<f32> = (0..len).map(|v| v as f32).collect();
        let channel = [1000.0f32, 2000.0, 3000.0];
        let broadcast = Broadcast::new(&shape, &[&shape, &[3, 1, 1]]).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut out = vec![0.0f32; len];
        pool.install(|| binary(&broadcast, &x, &channel, &mut out, 3, |x, c| x + c)).unwrap();
        for at in [0, 16383, 16384, 49151, 49152, len - 1] {
            let c = (at / (128 * 128)) % 3;
            assert_eq!(out[at], at as f32 + channel[c], "element {at}");
        }

        let mut sum = vec![0i64; 12];
        let one = Broadcast::new(&[3, 4], &[&[3, 1]]).unwrap();
        broadcast_into(&one, &a, &mut sum, 1).unwrap();
        let other = Broadcast::new(&[3, 4], &[&[4]]).unwrap();
        accumulate(&other, &b, &mut sum, 1, |s, v| s + v).unwrap();
        assert_eq!(sum, vec![0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);

        let condition = [true, false];
        let three = Broadcast::new(&[2, 2], &[&[2], &[2, 2], &[]]).unwrap();
        let mut picked = vec![0; 4];
        ternary(
            &three,
            &condition,
            &[1, 2, 3, 4],
            &[9],
            &mut picked,
            1,
            |c, x, y| if c { x } else { y },
        )
        .unwrap();
        assert_eq!(picked, vec![1, 9, 3, 9]);
    }

    #[test]
    fn map_gives_the_same_bits_on_every_path() {
        let input: Vec<f32> = (0..1000).map(|v| (v as f32 - 500.0) / 7.0).collect();
        let f = |v: f32| 1.0 / (1.0 + (v * 0.5).abs()) - v * v;
        let mut plain = vec![0.0f32; 1000];
        map_slice(&input, &mut plain, &f);
        let mut dispatched = vec![0.0f32; 1000];
        map(&input, &mut dispatched, 1, f).unwrap();
        assert_eq!(plain, dispatched);
        assert_eq!(plain[3], f(input[3]));
        assert!(map(&input, &mut dispatched[..999], 1, f).is_err());
    }

    #[test]
    fn empty_and_single_element_outputs_work() {
        let empty = Broadcast::new(&[0, 3], &[&[0, 3], &[3]]).unwrap();
        let mut out: Vec<f32> = Vec::new();
        binary(&empty, &[], &[1.0, 2.0, 3.0], &mut out, 1, |x: f32, y| x + y).unwrap();
        let single = Broadcast::new(&[1, 1], &[&[1, 1], &[]]).unwrap();
        let mut out = vec![0.0f32];
        binary(&single, &[2.0], &[3.0], &mut out, 1, |x, y| x * y).unwrap();
        assert_eq!(out, vec![6.0]);
    }
}

//! f32 matrix multiplication: `C = alpha * op(A) * op(B) + beta * C`, single and batched.
//!
//! Backed by the `gemm` crate (its AVX-512 microkernels, chosen at run time). A quick
//! comparison on this crate's target shapes (AMD Zen 5, one thread, GFLOP/s; see the
//! crate docs) found `gemm` with its `x86-v4` feature 1.1-1.7x faster than
//! `matrixmultiply` 0.3, whose kernels top out near 140 GFLOP/s here.
//!
//! Operands are row-major with a leading dimension (row stride, in elements); a
//! transposed operand is the stored matrix read as its transpose, as in BLAS. `C` is
//! always row-major with `ldc >= n`.

use crate::error::{Result, checked_product, ensure, ensure_len};
use crate::parallel::{SharedMut, for_each, workers_for};

/// One matrix multiplication `C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C`.
///
/// `op(A)` is `A` stored `[m, k]` with row stride `lda`, or with `trans_a` the transpose
/// of a stored `[k, m]` matrix with row stride `lda`; likewise `B`. With `beta == 0`, `C`
/// is not read (NaN or garbage in it does not leak into the result), as in BLAS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatMul {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// Whether `A` is stored transposed (`[k, m]`).
    pub trans_a: bool,
    /// Whether `B` is stored transposed (`[n, k]`).
    pub trans_b: bool,
    /// Row stride of the stored `A`.
    pub lda: usize,
    /// Row stride of the stored `B`.
    pub ldb: usize,
    /// Row stride of `C` (at least `n`).
    pub ldc: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the previous `C` (0: overwrite, 1: accumulate).
    pub beta: f32,
}

/// How the matrices of a batch are laid out: matrix `i` of `A` starts at
/// `i * stride_a`, and so on. A stride of 0 for `A` or `B` broadcasts one matrix to the
/// whole batch; `stride_c` must keep the outputs apart. General broadcasting (several
/// batch dimensions) is the caller's: it calls [`MatMul::run_batched`] per broadcast group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Number of multiplications.
    pub count: usize,
    /// Elements between consecutive `A` matrices (0 = the same `A` for all).
    pub stride_a: usize,
    /// Elements between consecutive `B` matrices (0 = the same `B` for all).
    pub stride_b: usize,
    /// Elements between consecutive `C` matrices.
    pub stride_c: usize,
}

/// `C = A * B` for packed row-major `A[m, k]`, `B[k, n]`, `C[m, n]`.
pub fn matmul(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
) -> Result<()> {
    MatMul::new(m, k, n).run(a, b, c, threads)
}

/// A matrix operand as the `gemm` crate sees it: base pointer and strides in elements.
#[derive(Clone, Copy)]
pub(crate) struct MatPtr {
    pub ptr: *const f32,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `dst[m, n] (row stride dst_rs) = alpha * lhs * rhs + beta * dst` through the `gemm`
/// crate, on the calling thread (`threads <= 1`) or on up to `threads` rayon workers.
///
/// # Safety
/// Every element addressed by `lhs` (`m x k`), `rhs` (`k x n`) and `dst` (`m x n`) must be
/// in bounds; `dst` must not overlap `lhs` or `rhs`, and no other thread may touch the
/// addressed `dst` elements during the call; `dst_rs >= n` unless `m <= 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    m: usize,
    k: usize,
    n: usize,
    dst: *mut f32,
    dst_rs: usize,
    lhs: MatPtr,
    rhs: MatPtr,
    alpha: f32,
    beta: f32,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            // SAFETY: row i of dst is in bounds and exclusively ours (caller contract).
            let row = unsafe { std::slice::from_raw_parts_mut(dst.add(i * dst_rs), n) };
            row.iter_mut().for_each(|v| *v = if beta == 0.0 { 0.0 } else { *v * beta });
        }
        return;
    }
    let parallelism =
        if threads <= 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) };
    // SAFETY: bounds, aliasing and exclusivity are the caller's contract; the gemm crate
    // computes dst = alpha_g * dst + beta_g * lhs * rhs, reading dst only if read_dst.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            beta != 0.0,
            lhs.ptr,
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.ptr,
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            beta,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}

impl MatMul {
    /// `C[m, n] = A[m, k] * B[k, n]`, all packed row-major, alpha 1, beta 0.
    pub fn new(m: usize, k: usize, n: usize) -> MatMul {
        MatMul {
            m,
            k,
            n,
            trans_a: false,
            trans_b: false,
            lda: k,
            ldb: n,
            ldc: n,
            alpha: 1.0,
            beta: 0.0,
        }
    }

    /// Reads `A` as the transpose of a stored `[k, m]` matrix (`yes`) or not; resets
    /// `lda` to the packed row stride of the new layout.
    pub fn with_trans_a(mut self, yes: bool) -> MatMul {
        self.trans_a = yes;
        self.lda = if yes { self.m } else { self.k };
        self
    }

    /// Reads `B` as the transpose of a stored `[n, k]` matrix (`yes`) or not; resets
    /// `ldb` to the packed row stride of the new layout.
    pub fn with_trans_b(mut self, yes: bool) -> MatMul {
        self.trans_b = yes;
        self.ldb = if yes { self.k } else { self.n };
        self
    }

    /// Sets the row stride of the stored `A`.
    pub fn with_lda(mut self, lda: usize) -> MatMul {
        self.lda = lda;
        self
    }

    /// Sets the row stride of the stored `B`.
    pub fn with_ldb(mut self, ldb: usize) -> MatMul {
        self.ldb = ldb;
        self
    }

    /// Sets the row stride of `C`.
    pub fn with_ldc(mut self, ldc: usize) -> MatMul {
        self.ldc = ldc;
        self
    }

    /// Sets the scale of the product.
    pub fn with_alpha(mut self, alpha: f32) -> MatMul {
        self.alpha = alpha;
        self
    }

    /// Sets the scale of the previous `C` (1 accumulates into `C`).
    pub fn with_beta(mut self, beta: f32) -> MatMul {
        self.beta = beta;
        self
    }

    /// Multiply-adds: `2 m k n`.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }

    /// Elements one `A` spans (0 when empty).
    pub fn a_len(&self) -> Result<usize> {
        let (rows, cols) = if self.trans_a { (self.k, self.m) } else { (self.m, self.k) };
        footprint("A", rows, cols, self.lda)
    }

    /// Elements one `B` spans (0 when empty).
    pub fn b_len(&self) -> Result<usize> {
        let (rows, cols) = if self.trans_b { (self.n, self.k) } else { (self.k, self.n) };
        footprint("B", rows, cols, self.ldb)
    }

    /// Elements one `C` spans (0 when empty).
    pub fn c_len(&self) -> Result<usize> {
        footprint("C", self.m, self.n, self.ldc)
    }

    fn lhs(&self, a: *const f32) -> MatPtr {
        if self.trans_a {
            MatPtr { ptr: a, row_stride: 1, col_stride: self.lda }
        } else {
            MatPtr { ptr: a, row_stride: self.lda, col_stride: 1 }
        }
    }

    fn rhs(&self, b: *const f32) -> MatPtr {
        if self.trans_b {
            MatPtr { ptr: b, row_stride: 1, col_stride: self.ldb }
        } else {
            MatPtr { ptr: b, row_stride: self.ldb, col_stride: 1 }
        }
    }

    fn check(&self) -> Result<()> {
        ensure(self.ldc >= self.n || self.m <= 1, || {
            format!("MatMul: ldc {} is less than n {}: rows of C would overlap", self.ldc, self.n)
        })
    }

    /// Computes `C = alpha * op(A) * op(B) + beta * C` on up to `threads` threads.
    pub fn run(&self, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) -> Result<()> {
        self.check()?;
        ensure_len("MatMul: A", a.len(), self.a_len()?)?;
        ensure_len("MatMul: B", b.len(), self.b_len()?)?;
        ensure_len("MatMul: C", c.len(), self.c_len()?)?;
        // SAFETY: the three footprints were checked against the slice lengths; `c` is a
        // unique borrow, so it overlaps neither input nor anything another thread uses.
        unsafe {
            gemm_raw(
                self.m,
                self.k,
                self.n,
                c.as_mut_ptr(),
                self.ldc,
                self.lhs(a.as_ptr()),
                self.rhs(b.as_ptr()),
                self.alpha,
                self.beta,
                threads,
            );
        }
        Ok(())
    }

    /// Runs `batch.count` multiplications of this shape; see [`Batch`] for the layout.
    ///
    /// Small matrices are spread over the threads one matrix per work item; large ones are
    /// computed one after the other, each on all threads.
    pub fn run_batched(
        &self,
        batch: Batch,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        threads: usize,
    ) -> Result<()> {
        self.check()?;
        if batch.count == 0 || self.m == 0 || self.n == 0 {
            return Ok(());
        }
        let last = batch.count - 1;
        let (a_len, b_len, c_len) = (self.a_len()?, self.b_len()?, self.c_len()?);
        let span = |what: &str, stride: usize, len: usize| -> Result<usize> {
            let start = checked_product(what, &[last, stride])?;
            if len == 0 { Ok(0) } else { start.checked_add(len).ok_or_else(|| overflow(what)) }
        };
        ensure_len("MatMul batch: A", a.len(), span("A", batch.stride_a, a_len)?)?;
        ensure_len("MatMul batch: B", b.len(), span("B", batch.stride_b, b_len)?)?;
        ensure_len("MatMul batch: C", c.len(), span("C", batch.stride_c, c_len)?)?;
        ensure(batch.count == 1 || batch.stride_c >= c_len, || {
            format!(
                "MatMul batch: stride_c {} is less than one C ({c_len} elements): outputs would overlap",
                batch.stride_c
            )
        })?;
        let work = self.flops();
        let per_matrix = threads > 1
            && batch.count > 1
            && (batch.count.is_multiple_of(workers_for(threads, batch.count))
                || batch.count >= 4 * threads
                || work < 4.0e6);
        let (a_ptr, b_ptr) = (a.as_ptr() as usize, b.as_ptr() as usize);
        let c_shared = SharedMut::new(c);
        let one = |i: usize, inner_threads: usize| {
            // SAFETY: every matrix's footprint lies inside its slice (checked above);
            // stride_c >= c_len keeps the C matrices of different items disjoint, and
            // the inputs are shared reads.
            unsafe {
                gemm_raw(
                    self.m,
                    self.k,
                    self.n,
                    c_shared.ptr_at(i * batch.stride_c),
                    self.ldc,
                    self.lhs((a_ptr as *const f32).add(i * batch.stride_a)),
                    self.rhs((b_ptr as *const f32).add(i * batch.stride_b)),
                    self.alpha,
                    self.beta,
                    inner_threads,
                );
            }
        };
        if per_matrix {
            for_each(threads, batch.count, |i| one(i, 1));
        } else {
            (0..batch.count).for_each(|i| one(i, threads));
        }
        Ok(())
    }
}

fn overflow(what: &str) -> crate::error::KernelError {
    crate::error::KernelError::new(format!("MatMul: {what} size overflows usize"))
}

/// Elements spanned by a `rows x cols` row-major matrix with row stride `ld`.
fn footprint(what: &str, rows: usize, cols: usize, ld: usize) -> Result<usize> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    checked_product(what, &[rows - 1, ld])?.checked_add(cols).ok_or_else(|| overflow(what))
}

//! MatMul and Gemm: single-node graphs against hand-computed values and a naive f64
//! reference: numpy's 1-D promotion and batch broadcasting (each way the runtime walks a
//! batch), empty reductions, Gemm's transposes, scales and bias broadcasting, fused
//! activations, thread counts, and errors.

use dlopt_graph::{Attribute, ErrorKind, Graph, GraphError, Node, Tensor, Value};
use dlopt_runtime::{BuildOptions, Plan};

/// One input of the node under test.
enum Input {
    /// Fed when running.
    Run(Tensor),
    /// A constant of the graph.
    Const(Tensor),
}

fn f32s(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values).unwrap()
}

/// Deterministic values in [-1, 1).
fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut state =
        seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Builds a graph with one `op` node, runs it with `threads`, returns the output.
fn run(
    op: &str,
    attributes: &[(&str, Attribute)],
    inputs: Vec<Input>,
    threads: usize,
) -> Result<Tensor, GraphError> {
    let mut graph = Graph { opset: 21, ..Default::default() };
    let mut node = Node { name: "node".into(), op_type: op.into(), ..Default::default() };
    let mut feeds = Vec::new();
    for (at, input) in inputs.into_iter().enumerate() {
        let id = match input {
            Input::Run(tensor) => {
                let id = graph.add_value(Value {
                    name: format!("in{at}"),
                    data_type: Some(tensor.data_type()),
                    ..Default::default()
                });
                graph.inputs.push(id);
                feeds.push(tensor);
                id
            }
            Input::Const(tensor) => graph.add_constant(format!("in{at}"), tensor),
        };
        node.inputs.push(Some(id));
    }
    for (name, value) in attributes {
        node.attributes.set(*name, value.clone());
    }
    let output = graph.add_value(Value { name: "out".into(), ..Default::default() });
    node.outputs.push(output);
    graph.outputs.push(output);
    graph.nodes.push(node);
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let plan = Plan::build(&graph, &shapes, &BuildOptions { threads, ..Default::default() })?;
    Ok(plan.run(&feeds)?.remove(0))
}

fn assert_close(got: &Tensor, shape: &[usize], expected: &[f32], tolerance: f32) {
    assert_eq!(got.shape(), shape);
    let got = got.as_f32().unwrap();
    assert_eq!(got.len(), expected.len());
    for (at, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= tolerance * (1.0 + e.abs()), "element {at}: {g}, expected {e}");
    }
}

/// numpy's matmul in f64, written independently of the runtime: promote 1-D operands,
/// broadcast the batch dimensions, multiply, drop the promoted dimensions.
fn reference_matmul(
    a_shape: &[usize],
    a: &[f32],
    b_shape: &[usize],
    b: &[f32],
) -> (Vec<usize>, Vec<f32>) {
    let a_full: Vec<usize> =
        if a_shape.len() == 1 { vec![1, a_shape[0]] } else { a_shape.to_vec() };
    let b_full: Vec<usize> =
        if b_shape.len() == 1 { vec![b_shape[0], 1] } else { b_shape.to_vec() };
    let (m, k, n) = (a_full[a_full.len() - 2], a_full[a_full.len() - 1], b_full[b_full.len() - 1]);
    let (a_batch, b_batch) = (&a_full[..a_full.len() - 2], &b_full[..b_full.len() - 2]);
    let rank = a_batch.len().max(b_batch.len());
    let padded = |batch: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, rank - batch.len()).chain(batch.iter().copied()).collect()
    };
    let (pa, pb) = (padded(a_batch), padded(b_batch));
    let out_batch: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
    let count: usize = out_batch.iter().product();
    let mut values = Vec::with_capacity(count * m * n);
    for index in 0..count {
        // Decompose the output batch index; pick each operand's index (0 where broadcast).
        let (mut rest, mut ia, mut ib, mut sa, mut sb) = (index, 0, 0, 1, 1);
        for axis in (0..rank).rev() {
            let i = rest % out_batch[axis];
            rest /= out_batch[axis];
            ia += if pa[axis] == 1 { 0 } else { i * sa };
            ib += if pb[axis] == 1 { 0 } else { i * sb };
            sa *= pa[axis];
            sb *= pb[axis];
        }
        for row in 0..m {
            for col in 0..n {
                let sum: f64 = (0..k)
                    .map(|t| a[(ia * m + row) * k + t] as f64 * b[(ib * k + t) * n + col] as f64)
                    .sum();
                values.push(sum as f32);
            }
        }
    }
    let mut shape = out_batch;
    if a_shape.len() > 1 {
        shape.push(m);
    }
    if b_shape.len() > 1 {
        shape.push(n);
    }
    (shape, values)
}

fn check_matmul(a_shape: &[usize], b_shape: &[usize], b_constant: bool, threads: usize, seed: u64) {
    let a = noise(a_shape.iter().product(), seed);
    let b = noise(b_shape.iter().product(), seed + 1);
    let (shape, expected) = reference_matmul(a_shape, &a, b_shape, &b);
    let b_tensor = f32s(b_shape, b);
    let b_input = if b_constant { Input::Const(b_tensor) } else { Input::Run(b_tensor) };
    let got = run("MatMul", &[], vec![Input::Run(f32s(a_shape, a)), b_input], threads).unwrap();
    assert_close(&got, &shape, &expected, 1e-5);
}

#[test]
fn matmul_multiplies_matrices() {
    let a = f32s(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32s(&[3, 2], vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
    let got = run("MatMul", &[], vec![Input::Run(a), Input::Const(b)], 1).unwrap();
    assert_close(&got, &[2, 2], &[58.0, 64.0, 139.0, 154.0], 0.0);
}

#[test]
fn matmul_promotes_one_dimensional_operands() {
    let dot = run(
        "MatMul",
        &[],
        vec![
            Input::Run(f32s(&[3], vec![1.0, 2.0, 3.0])),
            Input::Run(f32s(&[3], vec![4.0, 5.0, 6.0])),
        ],
        1,
    )
    .unwrap();
    assert_close(&dot, &[], &[32.0], 0.0);
    for (a, b) in
        [(&[4][..], &[2, 4, 1][..]), (&[1, 2, 4, 3], &[3]), (&[5, 4], &[4]), (&[4], &[4, 6])]
    {
        check_matmul(a, b, false, 1, 7);
    }
}

#[test]
fn matmul_broadcasts_batches_every_way() {
    let mut seed = 20;
    for threads in [1, 2] {
        for b_constant in [false, true] {
            for (a, b) in [
                // B without batch: folded into one GEMM.
                (&[2, 3, 5, 8][..], &[8, 6][..]),
                (&[2, 3, 5, 8], &[1, 1, 8, 6]),
                // Constant strides, incl. a broadcast A.
                (&[4, 5, 8], &[4, 8, 6]),
                (&[5, 8], &[3, 8, 6]),
                (&[1, 5, 8], &[2, 3, 8, 6]),
                // Mixed broadcasting: one GEMM per matrix.
                (&[3, 1, 3, 4], &[1, 2, 4, 2]),
                (&[2, 1, 4, 5, 8], &[3, 1, 8, 6]),
                // Large enough to spread over threads.
                (&[2, 64, 96], &[2, 96, 80]),
                (&[8, 20, 16], &[16, 24]),
            ] {
                check_matmul(a, b, b_constant, threads, seed);
                seed += 2;
            }
        }
    }
}

#[test]
fn matmul_with_an_empty_reduction_gives_zeros_and_empty_batches_nothing() {
    let got = run(
        "MatMul",
        &[],
        vec![Input::Run(f32s(&[2, 0], vec![])), Input::Run(f32s(&[0, 3], vec![]))],
        1,
    )
    .unwrap();
    assert_close(&got, &[2, 3], &[0.0; 6], 0.0);
    let got = run(
        "MatMul",
        &[],
        vec![Input::Run(f32s(&[0, 2, 4], vec![])), Input::Run(f32s(&[4, 3], noise(12, 1)))],
        1,
    )
    .unwrap();
    assert_eq!(got.shape(), &[0, 2, 3]);
}

#[test]
fn matmul_applies_a_fused_activation() {
    let (a, b) = (noise(6 * 5, 1), noise(5 * 4, 2));
    let (shape, plain) = reference_matmul(&[6, 5], &a, &[5, 4], &b);
    let attributes = [("dlopt_activation", Attribute::String("Relu".into()))];
    let got = run(
        "MatMul",
        &attributes,
        vec![Input::Run(f32s(&[6, 5], a)), Input::Const(f32s(&[5, 4], b))],
        1,
    )
    .unwrap();
    let expected: Vec<f32> = plain.iter().map(|v| v.max(0.0)).collect();
    assert_close(&got, &shape, &expected, 1e-5);
}

#[test]
fn matmul_errors_name_the_shapes() {
    let error = run(
        "MatMul",
        &[],
        vec![Input::Run(f32s(&[2, 3], noise(6, 1))), Input::Run(f32s(&[4, 2], noise(8, 2)))],
        1,
    )
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(
        error.message.contains("node 'node' (MatMul)")
            && error.message.contains("A [2, 3] has 3 columns but B [4, 2] has 4 rows"),
        "{}",
        error.message
    );
    let error = run(
        "MatMul",
        &[],
        vec![
            Input::Run(f32s(&[2, 2, 3], noise(12, 1))),
            Input::Run(f32s(&[3, 3, 2], noise(18, 2))),
        ],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("batch dimensions"), "{}", error.message);
    let error = run(
        "MatMul",
        &[],
        vec![Input::Run(f32s(&[], vec![1.0])), Input::Run(f32s(&[1], vec![1.0]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("at least one dimension"), "{}", error.message);
    let ints = Tensor::from_i64(vec![1, 1], vec![1]).unwrap();
    let error =
        run("MatMul", &[], vec![Input::Run(ints.clone()), Input::Run(ints)], 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("input 'A' of type f32 only, got i64"), "{}", error.message);
}

/// Gemm in f64: `alpha * op(A) op(B) + beta * C` with C broadcast from `c_shape`.
#[allow(clippy::too_many_arguments)]
fn reference_gemm(
    a: &[f32],
    b: &[f32],
    c: Option<(&[usize], &[f32])>,
    (m, k, n): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
) -> Vec<f32> {
    let mut y = Vec::with_capacity(m * n);
    for row in 0..m {
        for col in 0..n {
            let mut sum = 0.0f64;
            for t in 0..k {
                let av = if trans_a { a[t * m + row] } else { a[row * k + t] };
                let bv = if trans_b { b[col * k + t] } else { b[t * n + col] };
                sum += av as f64 * bv as f64;
            }
            let bias = c.map_or(0.0, |(shape, values)| {
                let (rows, cols) = match shape {
                    [] => (1, 1),
                    [cols] => (1, *cols),
                    [rows, cols] => (*rows, *cols),
                    _ => unreachable!(),
                };
                values[(if rows == 1 { 0 } else { row }) * cols + if cols == 1 { 0 } else { col }]
                    as f64
            });
            y.push((alpha as f64 * sum + beta as f64 * bias) as f32);
        }
    }
    y
}

#[test]
fn gemm_transposes_scales_and_broadcasts_c() {
    let (m, k, n) = (5, 7, 4);
    let mut seed = 40;
    for threads in [1, 2] {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            for c_shape in [
                None,
                Some(vec![]),
                Some(vec![1]),
                Some(vec![n]),
                Some(vec![m, 1]),
                Some(vec![1, n]),
                Some(vec![m, n]),
            ] {
                let a = noise(m * k, seed);
                let b = noise(k * n, seed + 1);
                let a_shape = if trans_a { [k, m] } else { [m, k] };
                let b_shape = if trans_b { [n, k] } else { [k, n] };
                let mut inputs = vec![
                    Input::Run(f32s(&a_shape, a.clone())),
                    Input::Const(f32s(&b_shape, b.clone())),
                ];
                let c = c_shape
                    .as_ref()
                    .map(|shape| (shape.clone(), noise(shape.iter().product(), seed + 2)));
                if let Some((shape, values)) = &c {
                    inputs.push(Input::Run(f32s(shape, values.clone())));
                }
                let attributes = [
                    ("transA", Attribute::Int(trans_a as i64)),
                    ("transB", Attribute::Int(trans_b as i64)),
                    ("alpha", Attribute::Float(0.75)),
                    ("beta", Attribute::Float(-1.5)),
                ];
                let got = run("Gemm", &attributes, inputs, threads).unwrap();
                let c_ref = c.as_ref().map(|(shape, values)| (&shape[..], &values[..]));
                let expected =
                    reference_gemm(&a, &b, c_ref, (m, k, n), trans_a, trans_b, 0.75, -1.5);
                assert_close(&got, &[m, n], &expected, 1e-5);
                seed += 3;
            }
        }
    }
}

#[test]
fn gemm_defaults_add_c_and_zero_beta_ignores_it() {
    let a = f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let b = f32s(&[2, 2], vec![1.0, 0.0, 0.0, 1.0]);
    let c = f32s(&[2], vec![10.0, 20.0]);
    let got =
        run("Gemm", &[], vec![Input::Run(a.clone()), Input::Run(b.clone()), Input::Run(c)], 1)
            .unwrap();
    assert_close(&got, &[2, 2], &[11.0, 22.0, 13.0, 24.0], 0.0);
    // beta = 0: C is not read, so NaN in it does not leak into the result.
    let nan = f32s(&[2], vec![f32::NAN; 2]);
    let got = run(
        "Gemm",
        &[("beta", Attribute::Float(0.0))],
        vec![Input::Run(a), Input::Run(b), Input::Run(nan)],
        1,
    )
    .unwrap();
    assert_close(&got, &[2, 2], &[1.0, 2.0, 3.0, 4.0], 0.0);
}

#[test]
fn gemm_applies_a_fused_activation() {
    let (a, b, c) = (noise(3 * 4, 1), noise(4 * 5, 2), noise(5, 3));
    let plain = reference_gemm(&a, &b, Some((&[5], &c)), (3, 4, 5), false, false, 1.0, 1.0);
    let attributes = [
        ("dlopt_activation", Attribute::String("Clip".into())),
        ("dlopt_activation_alpha", Attribute::Float(-0.25)),
        ("dlopt_activation_beta", Attribute::Float(0.25)),
    ];
    let inputs = vec![
        Input::Run(f32s(&[3, 4], a)),
        Input::Const(f32s(&[4, 5], b)),
        Input::Const(f32s(&[5], c)),
    ];
    let got = run("Gemm", &attributes, inputs, 1).unwrap();
    let expected: Vec<f32> = plain.iter().map(|v| v.clamp(-0.25, 0.25)).collect();
    assert_close(&got, &[3, 5], &expected, 1e-5);
}

#[test]
fn gemm_errors_name_the_attribute_or_shape() {
    let m = |shape: &[usize]| Input::Run(f32s(shape, vec![0.0; shape.iter().product()]));
    let error = run("Gemm", &[], vec![m(&[2, 3]), m(&[2, 3])], 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(error.message.contains("op(A) is [2, 3] but op(B) is [2, 3]"), "{}", error.message);
    let error = run("Gemm", &[], vec![m(&[2, 3, 1]), m(&[3, 2])], 1).unwrap_err();
    assert!(error.message.contains("must be matrices"), "{}", error.message);
    let error = run("Gemm", &[], vec![m(&[2, 3]), m(&[3, 4]), m(&[3])], 1).unwrap_err();
    assert!(
        error.message.contains("input 'C' of shape [3] cannot be broadcast to [2, 4]"),
        "{}",
        error.message
    );
    let error =
        run("Gemm", &[("transA", Attribute::Int(2))], vec![m(&[2, 3]), m(&[3, 4])], 1).unwrap_err();
    assert!(error.message.contains("attribute 'transA' is 2"), "{}", error.message);
    let error = run(
        "Gemm",
        &[("dlopt_activation_alpha", Attribute::Float(1.0))],
        vec![m(&[2, 3]), m(&[3, 4])],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("'dlopt_activation'"), "{}", error.message);
}

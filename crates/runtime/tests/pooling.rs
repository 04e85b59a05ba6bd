//! MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool: single-node graphs against
//! hand-computed values and a naive reference over kernel sizes, strides, dilations, pads,
//! auto_pad, ceil_mode and count_include_pad, in 1-D, 2-D and 3-D, for f32 and MaxPool's
//! integer types, with 1 and 2 threads; errors for missing or bad attributes, the Indices
//! output and unsupported types.

use dlopt_graph::{
    Attribute, DataType, ErrorKind, Graph, GraphError, Node, Tensor, TensorData, Value,
};
use dlopt_runtime::{BuildOptions, Plan};

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

/// Builds a graph with one `op` node on input `x` (with `outputs` outputs), runs it with
/// `threads`, returns the first output.
fn run_with(
    op: &str,
    attributes: &[(&str, Attribute)],
    x: Tensor,
    outputs: usize,
    threads: usize,
) -> Result<Tensor, GraphError> {
    let mut graph = Graph { opset: 21, ..Default::default() };
    let input = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(x.data_type()),
        ..Default::default()
    });
    graph.inputs.push(input);
    let mut node = Node {
        name: "pool".into(),
        op_type: op.into(),
        inputs: vec![Some(input)],
        ..Default::default()
    };
    for (name, value) in attributes {
        node.attributes.set(*name, value.clone());
    }
    for at in 0..outputs {
        let output = graph.add_value(Value { name: format!("out{at}"), ..Default::default() });
        node.outputs.push(output);
        graph.outputs.push(output);
    }
    graph.nodes.push(node);
    let plan = Plan::build(
        &graph,
        &[x.shape().to_vec()],
        &BuildOptions { threads, ..Default::default() },
    )?;
    Ok(plan.run(&[x])?.remove(0))
}

fn run(
    op: &str,
    attributes: &[(&str, Attribute)],
    x: Tensor,
    threads: usize,
) -> Result<Tensor, GraphError> {
    run_with(op, attributes, x, 1, threads)
}

fn ints(values: &[usize]) -> Attribute {
    Attribute::Ints(values.iter().map(|&v| v as i64).collect())
}

fn assert_close(got: &Tensor, shape: &[usize], expected: &[f32], tolerance: f32) {
    assert_eq!(got.shape(), shape);
    let got = got.as_f32().unwrap();
    assert_eq!(got.len(), expected.len());
    for (at, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!(
            g == e || (g - e).abs() <= tolerance * (1.0 + e.abs()),
            "element {at}: {g}, expected {e}"
        );
    }
}

/// A pooling for the reference: per spatial axis kernel, stride, dilation, pads at both
/// ends, and the output size the test expects.
#[derive(Clone)]
struct Pool {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    begin: Vec<usize>,
    end: Vec<usize>,
    out: Vec<usize>,
}

/// Naive pooling over `[N, C, spatial...]`: max of in-image taps (`None` average), or the
/// average of in-image taps divided by the in-image taps (or, with `Some(true)`, the taps
/// within `[-begin, size + end)`).
fn reference_pool(shape: &[usize], x: &[f32], p: &Pool, average: Option<bool>) -> Vec<f32> {
    let sizes = &shape[2..];
    let rank = sizes.len();
    let planes = shape[0] * shape[1];
    let (in_len, out_len): (usize, usize) = (sizes.iter().product(), p.out.iter().product());
    let taps: usize = p.kernel.iter().product();
    let mut y = Vec::with_capacity(planes * out_len);
    for plane in 0..planes {
        for o in 0..out_len {
            let (mut best, mut sum, mut counted) = (f32::NEG_INFINITY, 0.0f64, 0usize);
            for t in 0..taps {
                let (mut orest, mut trest, mut offset, mut inside, mut in_pads) =
                    (o, t, 0, true, true);
                for axis in (0..rank).rev() {
                    let (oi, ti) = (orest % p.out[axis], trest % p.kernel[axis]);
                    orest /= p.out[axis];
                    trest /= p.kernel[axis];
                    let position = (oi * p.strides[axis] + ti * p.dilations[axis]) as isize
                        - p.begin[axis] as isize;
                    inside &= position >= 0 && position < sizes[axis] as isize;
                    in_pads &= position >= -(p.begin[axis] as isize)
                        && position < (sizes[axis] + p.end[axis]) as isize;
                    let stride: usize = sizes[axis + 1..].iter().product();
                    offset += position.max(0) as usize * stride;
                }
                if inside {
                    let v = x[plane * in_len + offset];
                    best = best.max(v);
                    sum += v as f64;
                }
                if inside || (average == Some(true) && in_pads) {
                    counted += 1;
                }
            }
            y.push(match average {
                None => best,
                Some(_) if counted == 0 => 0.0,
                Some(_) => (sum / counted as f64) as f32,
            });
        }
    }
    y
}

fn check(
    op: &str,
    attributes: &[(&str, Attribute)],
    shape: &[usize],
    p: &Pool,
    average: Option<bool>,
    threads: usize,
    seed: u64,
) {
    let x = noise(shape.iter().product(), seed);
    let expected = reference_pool(shape, &x, p, average);
    let got = run(op, attributes, f32s(shape, x), threads).unwrap();
    let mut out_shape = shape[..2].to_vec();
    out_shape.extend(&p.out);
    assert_close(&got, &out_shape, &expected, 1e-5);
}

fn pool(
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    begin: &[usize],
    end: &[usize],
    out: &[usize],
) -> Pool {
    Pool {
        kernel: kernel.into(),
        strides: strides.into(),
        dilations: dilations.into(),
        begin: begin.into(),
        end: end.into(),
        out: out.into(),
    }
}

#[test]
fn max_and_average_pools_match_hand_computed_values() {
    // 4x4 = 1..16, 2x2 windows, stride 2.
    let x = f32s(&[1, 1, 4, 4], (1..=16).map(|v| v as f32).collect());
    let attributes = [("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))];
    let got = run("MaxPool", &attributes, x.clone(), 1).unwrap();
    assert_close(&got, &[1, 1, 2, 2], &[6.0, 8.0, 14.0, 16.0], 0.0);
    let got = run("AveragePool", &attributes, x.clone(), 1).unwrap();
    assert_close(&got, &[1, 1, 2, 2], &[3.5, 5.5, 11.5, 13.5], 0.0);
    // 3x3 windows, stride 2, ceil_mode: the last windows hang over the edge.
    let attributes = [
        ("kernel_shape", ints(&[3, 3])),
        ("strides", ints(&[2, 2])),
        ("ceil_mode", Attribute::Int(1)),
    ];
    let got = run("MaxPool", &attributes, x.clone(), 1).unwrap();
    assert_close(&got, &[1, 1, 2, 2], &[11.0, 12.0, 15.0, 16.0], 0.0);
    let got = run("AveragePool", &attributes, x, 1).unwrap();
    assert_close(&got, &[1, 1, 2, 2], &[6.0, 7.5, 12.0, 13.5], 0.0);
}

/// Node attributes.
type Attributes = Vec<(&'static str, Attribute)>;

#[test]
fn windowed_pools_match_the_reference_in_two_dimensions() {
    let mut seed = 1;
    for threads in [1, 2] {
        let cases: Vec<(Attributes, [usize; 4], Pool)> = vec![
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[2, 2])),
                    ("pads", ints(&[1, 1, 1, 1])),
                ],
                [2, 8, 33, 31],
                pool(&[3, 3], &[2, 2], &[1, 1], &[1, 1], &[1, 1], &[17, 16]),
            ),
            (
                vec![
                    ("kernel_shape", ints(&[2, 3])),
                    ("strides", ints(&[1, 2])),
                    ("pads", ints(&[0, 2, 1, 0])),
                ],
                [1, 3, 9, 10],
                pool(&[2, 3], &[1, 2], &[1, 1], &[0, 2], &[1, 0], &[9, 5]),
            ),
            (
                vec![
                    ("kernel_shape", ints(&[2, 2])),
                    ("dilations", ints(&[2, 3])),
                    ("strides", ints(&[1, 1])),
                ],
                [1, 2, 7, 9],
                pool(&[2, 2], &[1, 1], &[2, 3], &[0, 0], &[0, 0], &[5, 6]),
            ),
            // ceil_mode keeps a window that starts inside the image, drops one in the padding.
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[3, 3])),
                    ("pads", ints(&[1, 1, 1, 1])),
                    ("ceil_mode", Attribute::Int(1)),
                ],
                [1, 2, 7, 8],
                pool(&[3, 3], &[3, 3], &[1, 1], &[1, 1], &[1, 1], &[3, 3]),
            ),
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[2, 2])),
                    ("auto_pad", Attribute::String("SAME_UPPER".into())),
                ],
                [1, 2, 7, 8],
                pool(&[3, 3], &[2, 2], &[1, 1], &[1, 0], &[1, 1], &[4, 4]),
            ),
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[2, 2])),
                    ("auto_pad", Attribute::String("SAME_LOWER".into())),
                ],
                [1, 2, 7, 8],
                pool(&[3, 3], &[2, 2], &[1, 1], &[1, 1], &[1, 0], &[4, 4]),
            ),
            (
                vec![
                    ("kernel_shape", ints(&[3, 3])),
                    ("strides", ints(&[2, 2])),
                    ("auto_pad", Attribute::String("VALID".into())),
                    ("pads", ints(&[5, 5, 5, 5])),
                ],
                [1, 2, 7, 8],
                pool(&[3, 3], &[2, 2], &[1, 1], &[0, 0], &[0, 0], &[3, 3]),
            ),
        ];
        for (attributes, shape, p) in cases {
            check("MaxPool", &attributes, &shape, &p, None, threads, seed);
            for include in [false, true] {
                let mut with = attributes.clone();
                with.push(("count_include_pad", Attribute::Int(include as i64)));
                check("AveragePool", &with, &shape, &p, Some(include), threads, seed + 1);
            }
            seed += 2;
        }
    }
}

#[test]
fn one_and_three_dimensional_pools_match_the_reference() {
    let attributes =
        [("kernel_shape", ints(&[3])), ("strides", ints(&[2])), ("pads", ints(&[1, 0]))];
    let p = pool(&[3], &[2], &[1], &[1], &[0], &[10]);
    check("MaxPool", &attributes, &[2, 3, 20], &p, None, 2, 1);
    check("AveragePool", &attributes, &[2, 3, 20], &p, Some(false), 1, 2);
    let attributes = [
        ("kernel_shape", ints(&[2, 3, 2])),
        ("strides", ints(&[2, 2, 1])),
        ("dilations", ints(&[1, 1, 2])),
        ("pads", ints(&[1, 0, 1, 1, 1, 0])),
        ("ceil_mode", Attribute::Int(1)),
    ];
    // Depth 6 + 2 - 2 = 6 -> 6 / 2 + 1 = 4; height 7 + 1 - 3 = 5 -> ceil(5 / 2) + 1 = 4;
    // width 5 + 1 - 3 = 3 -> 3 + 1 = 4.
    let p = pool(&[2, 3, 2], &[2, 2, 1], &[1, 1, 2], &[1, 0, 1], &[1, 1, 0], &[4, 4, 4]);
    check("MaxPool", &attributes, &[1, 2, 6, 7, 5], &p, None, 1, 3);
    let mut with = attributes.to_vec();
    with.push(("count_include_pad", Attribute::Int(1)));
    check("AveragePool", &with, &[1, 2, 6, 7, 5], &p, Some(true), 1, 4);
}

#[test]
fn max_pool_supports_eight_bit_integers() {
    let attributes = [("kernel_shape", ints(&[2, 2])), ("pads", ints(&[1, 1, 0, 0]))];
    let bytes = Tensor::new(vec![1, 1, 2, 2], TensorData::U8(vec![3, 200, 7, 1])).unwrap();
    let got = run("MaxPool", &attributes, bytes, 1).unwrap();
    assert_eq!(got.data(), &TensorData::U8(vec![3, 200, 7, 200]));
    let signed = Tensor::new(vec![1, 1, 2, 2], TensorData::I8(vec![-3, -100, -7, -1])).unwrap();
    let got = run("MaxPool", &attributes, signed, 1).unwrap();
    assert_eq!(got.data(), &TensorData::I8(vec![-3, -3, -3, -1]));
}

#[test]
fn global_pools_reduce_every_spatial_axis() {
    for threads in [1, 2] {
        for shape in [vec![2, 3, 5, 7], vec![1, 4, 9], vec![1, 2, 3, 4, 5], vec![1, 300, 40, 40]] {
            let x = noise(shape.iter().product(), 9);
            let plane: usize = shape[2..].iter().product();
            let mut out_shape = shape.clone();
            out_shape[2..].fill(1);
            let means: Vec<f32> = x
                .chunks(plane)
                .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32)
                .collect();
            let maxima: Vec<f32> = x
                .chunks(plane)
                .map(|p| p.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)))
                .collect();
            let got = run("GlobalAveragePool", &[], f32s(&shape, x.clone()), threads).unwrap();
            assert_close(&got, &out_shape, &means, 1e-5);
            let got = run("GlobalMaxPool", &[], f32s(&shape, x), threads).unwrap();
            assert_close(&got, &out_shape, &maxima, 0.0);
        }
    }
}

#[test]
fn pool_errors_name_the_attribute_or_input() {
    let x = || f32s(&[1, 1, 4, 4], vec![0.0; 16]);
    let error = run("MaxPool", &[], x(), 1).unwrap_err();
    assert!(
        error.message.contains("node 'pool' (MaxPool)")
            && error.message.contains("attribute 'kernel_shape' is required"),
        "{}",
        error.message
    );
    let error = run_with("MaxPool", &[("kernel_shape", ints(&[2, 2]))], x(), 2, 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("'Indices'"), "{}", error.message);
    let error = run("AveragePool", &[("kernel_shape", ints(&[5, 5]))], x(), 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(error.message.contains("the window spans 5"), "{}", error.message);
    let error = run("AveragePool", &[("kernel_shape", ints(&[2]))], x(), 1).unwrap_err();
    assert!(error.message.contains("attribute 'kernel_shape' has 1 entries"), "{}", error.message);
    let error = run(
        "MaxPool",
        &[("kernel_shape", ints(&[2, 2])), ("ceil_mode", Attribute::Int(2))],
        x(),
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'ceil_mode' is 2"), "{}", error.message);
    let error =
        run("MaxPool", &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[0, 1]))], x(), 1)
            .unwrap_err();
    assert!(error.message.contains("attribute 'strides'"), "{}", error.message);
    let huge = [("kernel_shape", ints(&[2, 2])), ("pads", Attribute::Ints(vec![i64::MAX; 4]))];
    let error = run("AveragePool", &huge, x(), 1).unwrap_err();
    assert!(error.message.contains("attribute 'pads'"), "{}", error.message);
    let ints_x = Tensor::zeros(DataType::I64, vec![1, 1, 4, 4]).unwrap();
    let error =
        run("AveragePool", &[("kernel_shape", ints(&[2, 2]))], ints_x.clone(), 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    let error = run("MaxPool", &[("kernel_shape", ints(&[2, 2]))], ints_x.clone(), 1).unwrap_err();
    assert!(
        error.message.contains("MaxPool does not support input 'X' of type i64"),
        "{}",
        error.message
    );
    let error = run("GlobalMaxPool", &[], ints_x, 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    let error = run("GlobalAveragePool", &[], f32s(&[2, 3], vec![0.0; 6]), 1).unwrap_err();
    assert!(error.message.contains("[N, C, spatial...]"), "{}", error.message);
    let error = run("MaxPool", &[("kernel_shape", ints(&[2]))], f32s(&[4, 4], vec![0.0; 16]), 1)
        .unwrap_err();
    assert!(error.message.contains("[N, C, spatial...]"), "{}", error.message);
}

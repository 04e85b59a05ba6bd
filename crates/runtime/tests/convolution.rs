//! Conv and ConvTranspose: single-node graphs against hand-computed values (the examples of
//! the ONNX operator documentation) and a naive f64 reference over strides, dilations,
//! pads, groups, bias, auto_pad, 1-D inputs, fused activations and thread counts; errors
//! for non-constant weights, 3-D inputs and bad attributes; and ONNX's node tests for these
//! operators with their weights turned into constants.

use std::path::{Path, PathBuf};

use dlopt_graph::onnx::proto::{ModelProto, TensorProto};
use dlopt_graph::onnx::{import_model, tensor_from_proto};
use dlopt_graph::{Attribute, ErrorKind, Graph, GraphError, Node, Tensor, Value};
use dlopt_runtime::{BuildOptions, Plan};
use prost::Message;

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

fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

fn assert_close(got: &Tensor, shape: &[usize], expected: &[f32], tolerance: f32) {
    assert_eq!(got.shape(), shape);
    let got = got.as_f32().unwrap();
    assert_eq!(got.len(), expected.len());
    for (at, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= tolerance * (1.0 + e.abs()), "element {at}: {g}, expected {e}");
    }
}

/// A 2-D convolution's geometry for the references.
#[derive(Clone, Copy)]
struct Geometry {
    input: [usize; 4],
    out_channels: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pads: [usize; 4],
    groups: usize,
}

impl Geometry {
    fn new(input: [usize; 4], out_channels: usize, kernel: [usize; 2]) -> Geometry {
        Geometry {
            input,
            out_channels,
            kernel,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            groups: 1,
        }
    }

    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        let p = self.pads.map(|v| v as i64);
        vec![
            ("strides", ints(&self.strides.map(|v| v as i64))),
            ("dilations", ints(&self.dilations.map(|v| v as i64))),
            ("pads", ints(&[p[0], p[1], p[2], p[3]])),
            ("group", Attribute::Int(self.groups as i64)),
        ]
    }
}

/// Naive convolution in f64: `[N, M, OH, OW]` and its values.
fn reference_conv(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> (Vec<usize>, Vec<f32>) {
    let [n, c, h, wd] = g.input;
    let (m, cg, mg) = (g.out_channels, c / g.groups, g.out_channels / g.groups);
    let extent = |axis: usize| g.dilations[axis] * (g.kernel[axis] - 1) + 1;
    let oh = (h + g.pads[0] + g.pads[2] - extent(0)) / g.strides[0] + 1;
    let ow = (wd + g.pads[1] + g.pads[3] - extent(1)) / g.strides[1] + 1;
    let mut y = vec![0.0f32; n * m * oh * ow];
    for b in 0..n {
        for oc in 0..m {
            let group = oc / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = bias.map_or(0.0, |bias| bias[oc] as f64);
                    for ic in 0..cg {
                        for ky in 0..g.kernel[0] {
                            for kx in 0..g.kernel[1] {
                                let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize
                                    - g.pads[0] as isize;
                                let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize
                                    - g.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let channel = group * cg + ic;
                                let xv = x[((b * c + channel) * h + iy as usize) * wd + ix as usize]
                                    as f64;
                                let wv = w[((oc * cg + ic) * g.kernel[0] + ky) * g.kernel[1] + kx]
                                    as f64;
                                sum += xv * wv;
                            }
                        }
                    }
                    y[((b * m + oc) * oh + oy) * ow + ox] = sum as f32;
                }
            }
        }
    }
    (vec![n, m, oh, ow], y)
}

/// Runs Conv for `g` on noise and compares with the reference.
fn check_conv(g: Geometry, with_bias: bool, threads: usize, seed: u64) {
    let [n, c, h, w] = g.input;
    let x = noise(n * c * h * w, seed);
    let weights = noise(g.out_channels * (c / g.groups) * g.kernel[0] * g.kernel[1], seed + 1);
    let bias = noise(g.out_channels, seed + 2);
    let (shape, expected) = reference_conv(&g, &x, &weights, with_bias.then_some(&bias[..]));
    let mut inputs = vec![
        Input::Run(f32s(&g.input, x)),
        Input::Const(f32s(&[g.out_channels, c / g.groups, g.kernel[0], g.kernel[1]], weights)),
    ];
    if with_bias {
        inputs.push(Input::Const(f32s(&[g.out_channels], bias)));
    }
    let got = run("Conv", &g.attributes(), inputs, threads).unwrap();
    assert_close(&got, &shape, &expected, 1e-4);
}

#[test]
fn conv_matches_the_onnx_documentation_example() {
    // x = 0..25 as 5x5, W = ones 3x3, pads 1: each output sums its 3x3 neighbourhood.
    let x = f32s(&[1, 1, 5, 5], (0..25).map(|v| v as f32).collect());
    let w = f32s(&[1, 1, 3, 3], vec![1.0; 9]);
    let padded = run(
        "Conv",
        &[("kernel_shape", ints(&[3, 3])), ("pads", ints(&[1, 1, 1, 1]))],
        vec![Input::Run(x.clone()), Input::Const(w.clone())],
        1,
    )
    .unwrap();
    #[rustfmt::skip]
    let expected = [
        12.0, 21.0, 27.0, 33.0, 24.0,
        33.0, 54.0, 63.0, 72.0, 51.0,
        63.0, 99.0, 108.0, 117.0, 81.0,
        93.0, 144.0, 153.0, 162.0, 111.0,
        72.0, 111.0, 117.0, 123.0, 84.0,
    ];
    assert_close(&padded, &[1, 1, 5, 5], &expected, 0.0);
    let unpadded = run("Conv", &[], vec![Input::Run(x), Input::Const(w)], 1).unwrap();
    assert_close(
        &unpadded,
        &[1, 1, 3, 3],
        &[54.0, 63.0, 72.0, 99.0, 108.0, 117.0, 144.0, 153.0, 162.0],
        0.0,
    );
}

#[test]
fn conv_matches_the_reference_across_geometries() {
    let mut seed = 10;
    for threads in [1, 2] {
        let cases = [
            Geometry::new([1, 3, 9, 11], 4, [3, 3]),
            Geometry {
                strides: [2, 2],
                pads: [1, 1, 1, 1],
                ..Geometry::new([2, 8, 16, 12], 16, [3, 3])
            },
            Geometry {
                pads: [0, 2, 1, 0],
                strides: [1, 2],
                ..Geometry::new([1, 4, 7, 9], 6, [2, 3])
            },
            Geometry {
                dilations: [2, 3],
                pads: [2, 3, 2, 3],
                ..Geometry::new([1, 5, 10, 12], 7, [3, 3])
            },
            // Depthwise, multiplier 1 and 2, stride 2.
            Geometry { groups: 8, pads: [1, 1, 1, 1], ..Geometry::new([1, 8, 13, 15], 8, [3, 3]) },
            Geometry {
                groups: 4,
                strides: [2, 2],
                pads: [2, 2, 2, 2],
                ..Geometry::new([2, 4, 12, 12], 8, [5, 5])
            },
            // Grouped, not depthwise.
            Geometry { groups: 2, pads: [1, 1, 1, 1], ..Geometry::new([1, 8, 9, 9], 6, [3, 3]) },
            // Pointwise, large enough to split over threads.
            Geometry::new([1, 32, 40, 48], 64, [1, 1]),
            Geometry { strides: [2, 2], ..Geometry::new([1, 16, 20, 20], 24, [1, 1]) },
            // An RGB stem.
            Geometry {
                strides: [2, 2],
                pads: [1, 1, 1, 1],
                ..Geometry::new([1, 3, 32, 40], 16, [3, 3])
            },
        ];
        for (at, g) in cases.into_iter().enumerate() {
            check_conv(g, at % 2 == 0, threads, seed);
            seed += 3;
        }
    }
}

#[test]
fn conv_auto_pad_modes_pad_for_ceil_of_size_over_stride() {
    let x = noise(7 * 8, 1);
    let w = noise(9, 2);
    let g = Geometry { strides: [2, 2], ..Geometry::new([1, 1, 7, 8], 1, [3, 3]) };
    // 7 -> 4 outputs need (4 - 1) * 2 + 3 - 7 = 2 pads; 8 -> 4 outputs need 1.
    for (mode, pads) in
        [("SAME_UPPER", [1, 0, 1, 1]), ("SAME_LOWER", [1, 1, 1, 0]), ("VALID", [0, 0, 0, 0])]
    {
        let reference = Geometry { pads, ..g };
        let (shape, expected) = reference_conv(&reference, &x, &w, None);
        let attributes = [("auto_pad", Attribute::String(mode.into())), ("strides", ints(&[2, 2]))];
        let got = run(
            "Conv",
            &attributes,
            vec![
                Input::Run(f32s(&[1, 1, 7, 8], x.clone())),
                Input::Const(f32s(&[1, 1, 3, 3], w.clone())),
            ],
            1,
        )
        .unwrap();
        assert_close(&got, &shape, &expected, 1e-5);
    }
}

#[test]
fn one_dimensional_conv_runs_as_height_one() {
    let x = noise(2 * 4 * 20, 5);
    let w = noise(6 * 2 * 3, 6);
    let bias = noise(6, 7);
    let g = Geometry {
        strides: [1, 2],
        dilations: [1, 2],
        pads: [0, 2, 0, 1],
        groups: 2,
        ..Geometry::new([2, 4, 1, 20], 6, [1, 3])
    };
    let (shape, expected) = reference_conv(&g, &x, &w, Some(&bias));
    let attributes = [
        ("strides", ints(&[2])),
        ("dilations", ints(&[2])),
        ("pads", ints(&[2, 1])),
        ("group", Attribute::Int(2)),
        ("kernel_shape", ints(&[3])),
    ];
    let inputs = vec![
        Input::Run(f32s(&[2, 4, 20], x)),
        Input::Const(f32s(&[6, 2, 3], w)),
        Input::Const(f32s(&[6], bias)),
    ];
    let got = run("Conv", &attributes, inputs, 2).unwrap();
    assert_close(&got, &[shape[0], shape[1], shape[3]], &expected, 1e-5);
}

/// Node attributes.
type Attributes = Vec<(&'static str, Attribute)>;

/// A fused activation's attributes and its scalar function (the ONNX definition).
type FusedCase = (Attributes, fn(f32) -> f32);

/// The fused activations.
fn activations() -> Vec<FusedCase> {
    let name = |value: &str| ("dlopt_activation", Attribute::String(value.into()));
    vec![
        (vec![name("Relu")], |v| v.max(0.0)),
        (
            vec![
                name("Clip"),
                ("dlopt_activation_alpha", Attribute::Float(-0.5)),
                ("dlopt_activation_beta", Attribute::Float(0.5)),
            ],
            |v| v.clamp(-0.5, 0.5),
        ),
        (
            vec![
                name("HardSigmoid"),
                ("dlopt_activation_alpha", Attribute::Float(0.25)),
                ("dlopt_activation_beta", Attribute::Float(0.4)),
            ],
            |v| (0.25 * v + 0.4).clamp(0.0, 1.0),
        ),
        (vec![name("HardSwish")], |v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0)),
        (vec![name("LeakyRelu"), ("dlopt_activation_alpha", Attribute::Float(0.1))], |v| {
            if v < 0.0 { 0.1 * v } else { v }
        }),
        (vec![name("Sigmoid")], |v| 1.0 / (1.0 + (-v).exp())),
        (vec![name("Silu")], |v| v / (1.0 + (-v).exp())),
        (vec![name("Tanh")], f32::tanh),
    ]
}

#[test]
fn fused_activations_apply_after_the_bias() {
    let g = Geometry { pads: [1, 1, 1, 1], ..Geometry::new([1, 4, 6, 6], 5, [3, 3]) };
    let (x, w, bias) = (noise(144, 1), noise(5 * 4 * 9, 2), noise(5, 3));
    let (shape, plain) = reference_conv(&g, &x, &w, Some(&bias));
    for (attributes, function) in activations() {
        let mut all = g.attributes();
        all.extend(attributes);
        let inputs = vec![
            Input::Run(f32s(&g.input, x.clone())),
            Input::Const(f32s(&[5, 4, 3, 3], w.clone())),
            Input::Const(f32s(&[5], bias.clone())),
        ];
        let got = run("Conv", &all, inputs, 1).unwrap();
        let expected: Vec<f32> = plain.iter().map(|&v| function(v)).collect();
        assert_close(&got, &shape, &expected, 1e-5);
    }
}

fn conv_error(
    attributes: &[(&str, Attribute)],
    x: &[usize],
    w: Input,
    bias: Option<Input>,
) -> GraphError {
    let mut inputs = vec![Input::Run(f32s(x, vec![0.0; x.iter().product()])), w];
    inputs.extend(bias);
    run("Conv", attributes, inputs, 1).unwrap_err()
}

fn zeros(shape: &[usize]) -> Tensor {
    f32s(shape, vec![0.0; shape.iter().product()])
}

#[test]
fn conv_errors_name_the_input_or_attribute() {
    let error = conv_error(&[], &[1, 2, 5, 5], Input::Run(zeros(&[3, 2, 3, 3])), None);
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(
        error.message.contains("node 'node' (Conv)")
            && error.message.contains("input 'W' must be a constant"),
        "{}",
        error.message
    );
    let error = conv_error(
        &[],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        Some(Input::Run(zeros(&[3]))),
    );
    assert!(error.message.contains("input 'B' must be a constant"), "{}", error.message);
    let error = conv_error(&[], &[1, 2, 4, 4, 4], Input::Const(zeros(&[3, 2, 3, 3, 3])), None);
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("3 spatial axes"), "{}", error.message);
    let error = conv_error(
        &[("group", Attribute::Int(2))],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        None,
    );
    assert!(error.message.contains("attribute 'group' is 2"), "{}", error.message);
    let error = conv_error(
        &[("kernel_shape", ints(&[2, 2]))],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        None,
    );
    assert!(error.message.contains("attribute 'kernel_shape' is [2, 2]"), "{}", error.message);
    let error = conv_error(
        &[("strides", ints(&[1]))],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        None,
    );
    assert!(error.message.contains("attribute 'strides' has 1 entries"), "{}", error.message);
    let error = conv_error(
        &[],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        Some(Input::Const(zeros(&[2]))),
    );
    assert!(error.message.contains("input 'B' has shape [2], expected [3]"), "{}", error.message);
    let error = conv_error(&[], &[1, 2, 2, 5], Input::Const(zeros(&[3, 2, 3, 3])), None);
    assert_eq!(error.kind, ErrorKind::ShapeMismatch);
    assert!(error.message.contains("more than the padded input"), "{}", error.message);
    let error = conv_error(
        &[("auto_pad", Attribute::String("SAME".into()))],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        None,
    );
    assert!(error.message.contains("attribute 'auto_pad' is 'SAME'"), "{}", error.message);
    let error = conv_error(
        &[("dlopt_activation", Attribute::String("Softmax".into()))],
        &[1, 2, 5, 5],
        Input::Const(zeros(&[3, 2, 3, 3])),
        None,
    );
    assert!(error.message.contains("'dlopt_activation' is 'Softmax'"), "{}", error.message);
    // Hostile sizes are errors, not overflows.
    for (name, value) in [
        ("pads", ints(&[i64::MAX, 0, i64::MAX, 0])),
        ("strides", ints(&[i64::MAX, 1])),
        ("group", Attribute::Int(i64::MAX)),
    ] {
        let error =
            conv_error(&[(name, value)], &[1, 2, 5, 5], Input::Const(zeros(&[3, 2, 3, 3])), None);
        assert!(error.message.contains(&format!("attribute '{name}'")), "{}", error.message);
    }
    let ints_x = Tensor::from_i64(vec![1, 1, 3, 3], vec![0; 9]).unwrap();
    let error = run("Conv", &[], vec![Input::Run(ints_x), Input::Const(zeros(&[1, 1, 3, 3]))], 1)
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("input 'X' of type f32 only, got i64"), "{}", error.message);
}

/// Naive transposed convolution in f64: `out` is the output size per axis; `pads` are
/// `[top, left, bottom, right]` and may leave room (output padding) at the end.
fn reference_conv_transpose(
    g: &Geometry,
    out: [usize; 2],
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let [n, c, h, wd] = g.input;
    let (m, cg, mg) = (g.out_channels, c / g.groups, g.out_channels / g.groups);
    let mut y = vec![0.0f64; n * m * out[0] * out[1]];
    for b in 0..n {
        for oc in 0..m {
            let plane = &mut y[(b * m + oc) * out[0] * out[1]..][..out[0] * out[1]];
            plane.fill(bias.map_or(0.0, |bias| bias[oc] as f64));
        }
        for ic in 0..c {
            let group = ic / cg;
            for iy in 0..h {
                for ix in 0..wd {
                    let xv = x[((b * c + ic) * h + iy) * wd + ix] as f64;
                    for local in 0..mg {
                        let oc = group * mg + local;
                        for ky in 0..g.kernel[0] {
                            for kx in 0..g.kernel[1] {
                                let oy = (iy * g.strides[0] + ky * g.dilations[0]) as isize
                                    - g.pads[0] as isize;
                                let ox = (ix * g.strides[1] + kx * g.dilations[1]) as isize
                                    - g.pads[1] as isize;
                                if oy < 0
                                    || ox < 0
                                    || oy >= out[0] as isize
                                    || ox >= out[1] as isize
                                {
                                    continue;
                                }
                                let wv = w
                                    [((ic * mg + local) * g.kernel[0] + ky) * g.kernel[1] + kx]
                                    as f64;
                                y[((b * m + oc) * out[0] + oy as usize) * out[1] + ox as usize] +=
                                    xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    y.into_iter().map(|v| v as f32).collect()
}

#[test]
fn conv_transpose_matches_the_onnx_documentation_example() {
    let x = f32s(&[1, 1, 3, 3], (0..9).map(|v| v as f32).collect());
    let w = f32s(&[1, 2, 3, 3], vec![1.0; 18]);
    let got = run("ConvTranspose", &[], vec![Input::Run(x), Input::Const(w)], 1).unwrap();
    #[rustfmt::skip]
    let channel = [
        0.0, 1.0, 3.0, 3.0, 2.0,
        3.0, 8.0, 15.0, 12.0, 7.0,
        9.0, 21.0, 36.0, 27.0, 15.0,
        9.0, 20.0, 33.0, 24.0, 13.0,
        6.0, 13.0, 21.0, 15.0, 8.0,
    ];
    assert_close(&got, &[1, 2, 5, 5], &[channel, channel].concat(), 0.0);
}

/// Runs ConvTranspose with `attributes` and compares with the reference for geometry `g`
/// and output size `out`.
fn check_conv_transpose(
    g: Geometry,
    attributes: &[(&str, Attribute)],
    out: [usize; 2],
    threads: usize,
    seed: u64,
) {
    let [n, c, h, w] = g.input;
    let mg = g.out_channels / g.groups;
    let x = noise(n * c * h * w, seed);
    let weights = noise(c * mg * g.kernel[0] * g.kernel[1], seed + 1);
    let bias = noise(g.out_channels, seed + 2);
    let expected = reference_conv_transpose(&g, out, &x, &weights, Some(&bias));
    let inputs = vec![
        Input::Run(f32s(&g.input, x)),
        Input::Const(f32s(&[c, mg, g.kernel[0], g.kernel[1]], weights)),
        Input::Const(f32s(&[g.out_channels], bias)),
    ];
    let got = run("ConvTranspose", attributes, inputs, threads).unwrap();
    assert_close(&got, &[n, g.out_channels, out[0], out[1]], &expected, 1e-4);
}

#[test]
fn conv_transpose_matches_the_reference_across_attributes() {
    for threads in [1, 2] {
        // Strides 2, kernel 2 (the DB head's upsampling), several channels and batches.
        let g = Geometry { strides: [2, 2], ..Geometry::new([2, 8, 6, 7], 4, [2, 2]) };
        check_conv_transpose(g, &[("strides", ints(&[2, 2]))], [12, 14], threads, 1);
        // Pads crop, output_padding extends, dilations and groups.
        let g = Geometry {
            strides: [3, 2],
            pads: [1, 2, 1, 2],
            dilations: [1, 2],
            groups: 2,
            ..Geometry::new([1, 4, 5, 4], 6, [3, 3])
        };
        let attributes = [
            ("strides", ints(&[3, 2])),
            ("pads", ints(&[1, 2, 1, 2])),
            ("dilations", ints(&[1, 2])),
            ("group", Attribute::Int(2)),
            ("output_padding", ints(&[1, 1])),
        ];
        // full = (in - 1) * s + d * (k - 1) + 1: 15 and 11; + output_padding - pads.
        check_conv_transpose(g, &attributes, [15 + 1 - 2, 11 + 1 - 4], threads, 2);
        // output_shape: total padding 9 - 7 = 2 (split 1/1); 9 - 8 = 1 (begin for NOTSET).
        let g = Geometry {
            strides: [2, 2],
            pads: [1, 1, 1, 0],
            ..Geometry::new([1, 3, 4, 4], 2, [3, 3])
        };
        check_conv_transpose(
            g,
            &[("strides", ints(&[2, 2])), ("output_shape", ints(&[7, 8]))],
            [7, 8],
            threads,
            3,
        );
        // SAME_UPPER: output in * stride = 8, total padding 9 - 8 = 1 at the end.
        let g = Geometry {
            strides: [2, 2],
            pads: [0, 0, 1, 1],
            ..Geometry::new([1, 3, 4, 4], 2, [3, 3])
        };
        let attributes =
            [("strides", ints(&[2, 2])), ("auto_pad", Attribute::String("SAME_UPPER".into()))];
        check_conv_transpose(g, &attributes, [8, 8], threads, 4);
        // Depthwise.
        let g = Geometry { strides: [2, 2], groups: 4, ..Geometry::new([1, 4, 5, 5], 4, [4, 4]) };
        check_conv_transpose(
            g,
            &[("strides", ints(&[2, 2])), ("group", Attribute::Int(4))],
            [12, 12],
            threads,
            5,
        );
    }
}

#[test]
fn conv_transpose_runs_one_dimensional_inputs_and_fused_activations() {
    let g = Geometry { strides: [1, 2], ..Geometry::new([1, 2, 1, 6], 3, [1, 3]) };
    let (x, w, bias) = (noise(12, 1), noise(2 * 3 * 3, 2), noise(3, 3));
    let plain = reference_conv_transpose(&g, [1, 13], &x, &w, Some(&bias));
    for (mut attributes, function) in activations() {
        attributes.push(("strides", ints(&[2])));
        let inputs = vec![
            Input::Run(f32s(&[1, 2, 6], x.clone())),
            Input::Const(f32s(&[2, 3, 3], w.clone())),
            Input::Const(f32s(&[3], bias.clone())),
        ];
        let got = run("ConvTranspose", &attributes, inputs, 1).unwrap();
        let expected: Vec<f32> = plain.iter().map(|&v| function(v)).collect();
        assert_close(&got, &[1, 3, 13], &expected, 1e-5);
    }
}

#[test]
fn conv_transpose_errors_name_the_input_or_attribute() {
    let x = || Input::Run(zeros(&[1, 2, 3, 3]));
    let error =
        run("ConvTranspose", &[], vec![x(), Input::Run(zeros(&[2, 1, 3, 3]))], 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    assert!(error.message.contains("input 'W' must be a constant"), "{}", error.message);
    let error = run(
        "ConvTranspose",
        &[],
        vec![Input::Run(zeros(&[1, 1, 3, 3, 3])), Input::Const(zeros(&[1, 1, 2, 2, 2]))],
        1,
    )
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported);
    let error =
        run("ConvTranspose", &[], vec![x(), Input::Const(zeros(&[3, 1, 3, 3]))], 1).unwrap_err();
    assert!(error.message.contains("W must be [C, M / group, ...]"), "{}", error.message);
    let error = run(
        "ConvTranspose",
        &[("pads", ints(&[3, 0, 2, 0]))],
        vec![x(), Input::Const(zeros(&[2, 1, 3, 3]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("removes all 5 outputs"), "{}", error.message);
    let error = run(
        "ConvTranspose",
        &[("output_shape", ints(&[1, 2, 3]))],
        vec![x(), Input::Const(zeros(&[2, 1, 3, 3]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'output_shape' has 3 entries"), "{}", error.message);
    let error = run(
        "ConvTranspose",
        &[("output_padding", ints(&[-1, 0]))],
        vec![x(), Input::Const(zeros(&[2, 1, 3, 3]))],
        1,
    )
    .unwrap_err();
    assert!(error.message.contains("attribute 'output_padding'"), "{}", error.message);
}

// ---------------------------------------------------------------------------------------
// ONNX's node tests, with the weights as constants.

fn node_tests_dir() -> Option<PathBuf> {
    let root = std::env::var_os("DLOPT_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data"));
    let dir = root.join("onnx-node");
    dir.is_dir().then_some(dir)
}

fn read_tensor(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap();
    tensor_from_proto(&TensorProto::decode(bytes.as_slice()).unwrap()).unwrap()
}

/// Runs one node test with every input but the first as a constant of the model. The
/// tests declare opset 22, which only added element types to these operators; they run as
/// opset 21 (as in the conformance suite).
fn run_node_test(dir: &Path) -> Result<(), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    for opset in &mut model.opset_import {
        opset.version = opset.version.min(21);
    }
    let mut graph = import_model(&model.encode_to_vec()).map_err(|e| e.message)?;
    let data = dir.join("test_data_set_0");
    let inputs: Vec<Tensor> = (0..graph.inputs.len())
        .map(|at| read_tensor(&data.join(format!("input_{at}.pb"))))
        .collect();
    for (id, tensor) in graph.inputs.clone().into_iter().zip(&inputs).skip(1) {
        graph.value_mut(id).constant = Some(tensor.clone());
    }
    graph.inputs.truncate(1);
    let plan = Plan::build(&graph, &[inputs[0].shape().to_vec()], &BuildOptions::default())
        .map_err(|e| e.message)?;
    let got = plan.run(&inputs[..1]).map_err(|e| e.message)?.remove(0);
    let expected = read_tensor(&data.join("output_0.pb"));
    if got.shape() != expected.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), expected.shape()));
    }
    for (at, (&g, &e)) in got.as_f32().unwrap().iter().zip(expected.as_f32().unwrap()).enumerate() {
        if (g - e).abs() > 1e-5 + 1e-4 * e.abs() {
            return Err(format!("element {at}: {g}, expected {e}"));
        }
    }
    Ok(())
}

#[test]
fn onnx_node_tests_pass_with_constant_weights() {
    let Some(root) = node_tests_dir() else {
        assert!(
            std::env::var_os("DLOPT_CI").is_none(),
            "ONNX node tests missing: run tools/fetch-test-data"
        );
        eprintln!("ONNX node tests not found (skipping)");
        return;
    };
    let names = [
        "test_basic_conv_with_padding",
        "test_basic_conv_without_padding",
        "test_conv_with_autopad_same",
        "test_conv_with_strides_and_asymmetric_padding",
        "test_conv_with_strides_no_padding",
        "test_conv_with_strides_padding",
        "test_convtranspose",
        "test_convtranspose_1d",
        "test_convtranspose_autopad_same",
        "test_convtranspose_dilations",
        "test_convtranspose_group_2",
        "test_convtranspose_group_2_image_3",
        "test_convtranspose_kernel_shape",
        "test_convtranspose_output_shape",
        "test_convtranspose_pad",
        "test_convtranspose_pads",
    ];
    let failures: Vec<String> = names
        .iter()
        .filter(|name| root.join(name).is_dir())
        .filter_map(|name| {
            run_node_test(&root.join(name)).err().map(|error| format!("{name}: {error}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn empty_batches_give_empty_outputs() {
    let conv = run(
        "Conv",
        &[("pads", ints(&[1, 1, 1, 1]))],
        vec![Input::Run(zeros(&[0, 2, 5, 5])), Input::Const(zeros(&[3, 2, 3, 3]))],
        2,
    )
    .unwrap();
    assert_eq!(conv.shape(), &[0, 3, 5, 5]);
    let transposed = run(
        "ConvTranspose",
        &[],
        vec![Input::Run(zeros(&[0, 2, 5, 5])), Input::Const(zeros(&[2, 3, 3, 3]))],
        2,
    )
    .unwrap();
    assert_eq!(transposed.shape(), &[0, 3, 7, 7]);
}

//! Resize and Upsample on single-node graphs: the ONNX examples, every interpolation and
//! coordinate mode family, parallel runs and error cases.

use dlopt_graph::{
    Attribute, Attributes, DataType, ErrorKind, Graph, GraphError, Node, Tensor, Value,
};

use crate::op::BuildOptions;
use crate::plan::Plan;

/// A node input: fed at run time, a constant, or omitted.
#[derive(Clone)]
enum In {
    Run(Tensor),
    Const(Tensor),
    None,
}

fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap()
}

fn i64s(shape: &[usize], values: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap()
}

fn range(shape: &[usize]) -> Tensor {
    let count: usize = shape.iter().product();
    f32s(shape, &(0..count).map(|v| v as f32).collect::<Vec<_>>())
}

fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

fn string(value: &str) -> Attribute {
    Attribute::String(value.into())
}

fn as_type(tensor: &Tensor, data_type: DataType) -> Tensor {
    tensor.cast(data_type)
}

/// Runs one node with one output at `opset`; `threads` > 1 runs inside a rayon pool.
fn run_with(
    op: &str,
    list: &[(&str, Attribute)],
    inputs: &[In],
    opset: i64,
    threads: usize,
) -> Result<Vec<Tensor>, GraphError> {
    let mut graph = Graph { opset, ..Default::default() };
    let mut node_inputs = Vec::new();
    let mut feeds = Vec::new();
    for (at, input) in inputs.iter().enumerate() {
        node_inputs.push(match input {
            In::Run(tensor) => {
                let value = Value {
                    name: format!("in{at}"),
                    data_type: Some(tensor.data_type()),
                    ..Default::default()
                };
                let id = graph.add_value(value);
                graph.inputs.push(id);
                feeds.push(tensor.clone());
                Some(id)
            }
            In::Const(tensor) => Some(graph.add_constant(format!("in{at}"), tensor.clone())),
            In::None => None,
        });
    }
    let output = graph.add_value(Value { name: "out".into(), ..Default::default() });
    graph.outputs = vec![output];
    let mut attributes = Attributes::default();
    for (name, value) in list {
        attributes.set(*name, value.clone());
    }
    graph.nodes.push(Node {
        name: "n".into(),
        op_type: op.into(),
        inputs: node_inputs,
        outputs: vec![output],
        attributes,
        ..Default::default()
    });
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|tensor| tensor.shape().to_vec()).collect();
    let plan = Plan::build(&graph, &shapes, &BuildOptions { threads, opset })?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| plan.run(&feeds))
}

fn run(op: &str, list: &[(&str, Attribute)], inputs: &[In]) -> Result<Vec<Tensor>, GraphError> {
    run_with(op, list, inputs, 21, 1)
}

fn run1(op: &str, list: &[(&str, Attribute)], inputs: &[In]) -> Tensor {
    run(op, list, inputs).unwrap().remove(0)
}

fn check(tensor: &Tensor, shape: &[usize], values: &[f32]) {
    assert_eq!(tensor.shape(), shape, "shape");
    let got = tensor.to_f32_vec();
    assert_eq!(got.len(), values.len());
    for (at, (&a, &b)) in got.iter().zip(values).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "element {at}: got {a}, expected {b}\n{got:?}"
        );
    }
}

fn assert_error(result: Result<Vec<Tensor>, GraphError>, kind: ErrorKind, words: &[&str]) {
    let error = result.expect_err("expected an error");
    assert_eq!(error.kind, kind, "{}", error.message);
    for word in words {
        assert!(error.message.contains(word), "'{word}' not in: {}", error.message);
    }
}

fn resize(
    x: Tensor,
    scales: Option<&[f32]>,
    sizes: Option<&[i64]>,
    list: &[(&str, Attribute)],
) -> Result<Vec<Tensor>, GraphError> {
    let inputs = [
        In::Run(x),
        In::None,
        scales.map_or(In::None, |s| In::Const(f32s(&[s.len()], s))),
        sizes.map_or(In::None, |s| In::Const(i64s(&[s.len()], s))),
    ];
    run("Resize", list, &inputs)
}

#[test]
fn resize_nearest_enlarges_by_integer_factors() {
    let x = f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let list = [
        ("coordinate_transformation_mode", string("asymmetric")),
        ("nearest_mode", string("floor")),
    ];
    let out = resize(x.clone(), Some(&[1.0, 1.0, 2.0, 3.0]), None, &list).unwrap();
    let (a, b) = ([1.0, 1.0, 1.0, 2.0, 2.0, 2.0], [3.0, 3.0, 3.0, 4.0, 4.0, 4.0]);
    check(&out[0], &[1, 1, 4, 6], &[a, a, b, b].concat());
    // Default half_pixel + round_prefer_floor gives the same picture for factor 2.
    let out = resize(x, Some(&[1.0, 1.0, 2.0, 2.0]), None, &[]).unwrap();
    check(
        &out[0],
        &[1, 1, 4, 4],
        &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0],
    );
}

#[test]
fn resize_nearest_shrinks_and_rounds_per_mode() {
    // ONNX's resize_downsample_scales_nearest: [1, 2, 3, 4 / 5, 6, 7, 8] by 0.6 -> [1, 3].
    let x = range(&[1, 1, 2, 4]).to_f32_vec().iter().map(|v| v + 1.0).collect::<Vec<_>>();
    let out = resize(f32s(&[1, 1, 2, 4], &x), Some(&[1.0, 1.0, 0.6, 0.6]), None, &[]).unwrap();
    check(&out[0], &[1, 1, 1, 2], &[1.0, 3.0]);
    // 1-d, sizes 1 -> 3 with align_corners picks 0 everywhere; 2 -> 3 tie rounding differs.
    let y = f32s(&[2], &[10.0, 20.0]);
    let list = |mode: &str| {
        vec![
            ("coordinate_transformation_mode", string("align_corners")),
            ("nearest_mode", string(mode)),
        ]
    };
    check(
        &resize(y.clone(), None, Some(&[3]), &list("round_prefer_floor")).unwrap()[0],
        &[3],
        &[10.0, 10.0, 20.0],
    );
    check(
        &resize(y.clone(), None, Some(&[3]), &list("round_prefer_ceil")).unwrap()[0],
        &[3],
        &[10.0, 20.0, 20.0],
    );
    check(&resize(y, None, Some(&[3]), &list("ceil")).unwrap()[0], &[3], &[10.0, 20.0, 20.0]);
}

#[test]
fn resize_linear_matches_the_onnx_examples() {
    let x = f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let linear = [("mode", string("linear"))];
    let out = resize(x.clone(), Some(&[1.0, 1.0, 2.0, 2.0]), None, &linear).unwrap();
    #[rustfmt::skip]
    let expected = [
        1.0, 1.25, 1.75, 2.0,
        1.5, 1.75, 2.25, 2.5,
        2.5, 2.75, 3.25, 3.5,
        3.0, 3.25, 3.75, 4.0,
    ];
    check(&out[0], &[1, 1, 4, 4], &expected);
    let corners =
        [("mode", string("linear")), ("coordinate_transformation_mode", string("align_corners"))];
    let out = resize(x, Some(&[1.0, 1.0, 2.0, 2.0]), None, &corners).unwrap();
    let third = 1.0 / 3.0;
    #[rustfmt::skip]
    check(&out[0], &[1, 1, 4, 4], &[
        1.0, 1.0 + third, 1.0 + 2.0 * third, 2.0,
        1.0 + 2.0 * third, 2.0, 2.0 + third, 2.0 + 2.0 * third,
        2.0 + third, 2.0 + 2.0 * third, 3.0, 3.0 + third,
        3.0, 3.0 + third, 3.0 + 2.0 * third, 4.0,
    ]);
    // resize_downsample_scales_linear_align_corners: the resized length is scale * input.
    let y = f32s(&[1, 1, 2, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let out = resize(y, Some(&[1.0, 1.0, 0.6, 0.6]), None, &corners).unwrap();
    check(&out[0], &[1, 1, 1, 2], &[1.0, 3.142857]);
}

#[test]
fn resize_linear_on_any_axis_and_with_crop_extrapolation() {
    // 3-d, resize the middle axis only (the separable multi-pass path).
    let x = f32s(&[1, 2, 2], &[0.0, 10.0, 20.0, 30.0]);
    let list =
        [("mode", string("linear")), ("coordinate_transformation_mode", string("align_corners"))];
    let out = resize(x.clone(), None, Some(&[1, 3, 2]), &list).unwrap();
    check(&out[0], &[1, 3, 2], &[0.0, 10.0, 10.0, 20.0, 20.0, 30.0]);
    // tf_crop_and_resize: roi [0, 0.5] .. [1, 1.5] on the last axis; beyond the input -> 7.
    let inputs = [
        In::Run(f32s(&[1, 3], &[0.0, 1.0, 2.0])),
        In::Const(f32s(&[2], &[0.5, 1.5])),
        In::None,
        In::Const(i64s(&[1], &[3])),
    ];
    let list = [
        ("mode", string("linear")),
        ("coordinate_transformation_mode", string("tf_crop_and_resize")),
        ("extrapolation_value", Attribute::Float(7.0)),
        ("axes", ints(&[1])),
    ];
    check(&run1("Resize", &list, &inputs), &[1, 3], &[1.0, 2.0, 7.0]);
}

#[test]
fn resize_cubic_interpolates_and_keeps_constants() {
    // A constant image stays constant (the weights sum to one), also with exclude_outside.
    let flat = f32s(&[1, 1, 3, 3], &[5.0; 9]);
    for exclude in [0, 1] {
        let list = [("mode", string("cubic")), ("exclude_outside", Attribute::Int(exclude))];
        let out = resize(flat.clone(), Some(&[1.0, 1.0, 1.5, 2.0]), None, &list).unwrap();
        check(&out[0], &[1, 1, 4, 6], &[5.0; 24]);
    }
    // 1-d, asymmetric x2: odd positions sit halfway; a = -0.75 weights (-0.09375, 0.59375, ...).
    let line = f32s(&[4], &[0.0, 1.0, 2.0, 3.0]);
    let list =
        [("mode", string("cubic")), ("coordinate_transformation_mode", string("asymmetric"))];
    let out = resize(line, Some(&[2.0]), None, &list).unwrap();
    // Position 0.5: neighbours -1(=0 clamped), 0, 1, 2 -> -0.09375*0 + 0.59375*0 + 0.59375*1 - 0.09375*2.
    let half = 0.59375 - 0.1875;
    assert!((out[0].to_f32_vec()[1] - half).abs() < 1e-6, "{:?}", out[0]);
    assert_eq!(out[0].to_f32_vec()[2], 1.0);
}

#[test]
fn resize_sizes_keep_the_aspect_ratio_when_asked() {
    let x = range(&[1, 1, 2, 4]);
    let list = [("keep_aspect_ratio_policy", string("not_larger")), ("axes", ints(&[2, 3]))];
    let out = resize(x.clone(), None, Some(&[4, 4]), &list).unwrap();
    assert_eq!(out[0].shape(), &[1, 1, 2, 4]);
    let list = [("keep_aspect_ratio_policy", string("not_smaller")), ("axes", ints(&[2, 3]))];
    let out = resize(x, None, Some(&[4, 4]), &list).unwrap();
    assert_eq!(out[0].shape(), &[1, 1, 4, 8]);
}

#[test]
fn resize_rejects_what_it_cannot_do() {
    let x = range(&[1, 1, 2, 2]);
    let scales: &[f32] = &[1.0, 1.0, 2.0, 2.0];
    assert_error(
        resize(x.clone(), Some(scales), None, &[("antialias", Attribute::Int(1))]),
        ErrorKind::Unsupported,
        &["'antialias'"],
    );
    assert_error(
        resize(x.clone(), Some(scales), Some(&[1, 1, 4, 4]), &[]),
        ErrorKind::InvalidModel,
        &["only one"],
    );
    assert_error(
        resize(x.clone(), None, None, &[]),
        ErrorKind::InvalidModel,
        &["'scales'", "'sizes'"],
    );
    assert_error(
        resize(x.clone(), Some(&[2.0, 2.0]), None, &[]),
        ErrorKind::InvalidModel,
        &["'scales'", "2 values"],
    );
    assert_error(
        resize(x.clone(), Some(&[1.0, 1.0, 0.0, 2.0]), None, &[]),
        ErrorKind::InvalidModel,
        &["scale 0"],
    );
    assert_error(
        resize(x.clone(), Some(scales), None, &[("mode", string("area"))]),
        ErrorKind::InvalidModel,
        &["'mode'", "area"],
    );
    let ints_in = as_type(&x, DataType::U8);
    assert_error(resize(ints_in, Some(scales), None, &[]), ErrorKind::Unsupported, &["f32", "u8"]);
    let computed = [In::Run(x), In::None, In::Run(f32s(&[4], scales))];
    assert_error(run("Resize", &[], &computed), ErrorKind::Unsupported, &["input 2", "known"]);
}

#[test]
fn absurd_output_sizes_are_errors_not_aborts() {
    let x = range(&[1, 2]);
    assert_error(
        resize(x.clone(), None, Some(&[1, 1 << 50]), &[]),
        ErrorKind::TooLarge,
        &["axis 1"],
    );
    assert_error(
        resize(x.clone(), Some(&[1.0, 1e30]), None, &[]),
        ErrorKind::TooLarge,
        &["axis 1"],
    );
    assert_error(resize(x, None, Some(&[1, -2]), &[]), ErrorKind::InvalidModel, &["-2"]);
}

#[test]
fn large_resizes_agree_between_one_and_several_threads() {
    let x = range(&[1, 16, 60, 70]);
    for mode in ["nearest", "linear", "cubic"] {
        for scales in [[1.0f32, 1.0, 2.0, 2.0], [1.0, 1.0, 0.5, 1.5], [1.0, 0.5, 1.25, 1.0]] {
            let inputs = [In::Run(x.clone()), In::None, In::Const(f32s(&[4], &scales))];
            let list = [("mode", string(mode))];
            let one = run_with("Resize", &list, &inputs, 19, 1).unwrap();
            let four = run_with("Resize", &list, &inputs, 19, 4).unwrap();
            assert_eq!(one, four, "{mode} {scales:?}");
        }
    }
}

#[test]
fn upsample_and_resize_10_repeat_with_asymmetric_floor() {
    let x = f32s(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let expected = [
        1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0,
        3.0, 3.0, 3.0, 4.0, 4.0, 4.0,
    ];
    let scales = In::Const(f32s(&[4], &[1.0, 1.0, 2.0, 3.0]));
    let up9 = run_with("Upsample", &[], &[In::Run(x.clone()), scales.clone()], 9, 1).unwrap();
    check(&up9[0], &[1, 1, 4, 6], &expected);
    let up7 = run_with(
        "Upsample",
        &[("scales", Attribute::Floats(vec![1.0, 1.0, 2.0, 3.0]))],
        &[In::Run(x.clone())],
        7,
        1,
    )
    .unwrap();
    check(&up7[0], &[1, 1, 4, 6], &expected);
    let resize10 = run_with("Resize", &[], &[In::Run(x.clone()), scales], 10, 1).unwrap();
    check(&resize10[0], &[1, 1, 4, 6], &expected);
    let linear = run_with(
        "Upsample",
        &[("mode", string("linear"))],
        &[In::Run(x), In::Const(f32s(&[4], &[1.0, 1.0, 1.0, 2.0]))],
        9,
        1,
    )
    .unwrap();
    check(&linear[0], &[1, 1, 2, 4], &[1.0, 1.5, 2.0, 2.0, 3.0, 3.5, 4.0, 4.0]);
}

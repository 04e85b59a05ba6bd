//! `dlopt::QLinearConvF32` against the float simulation of the QDQ graph it replaces
//! (`X → QuantizeLinear → DequantizeLinear → Conv(·, DequantizeLinear(Wq))`), on random
//! 1x1, 3x3 (stride 1 and 2, padded), strided-dilated and depthwise convolutions, with and
//! without bias and fused activations, on one and two threads; and its build-time checks.
//!
//! Both graphs quantize `X` identically (`round_half_even(x / s)`), so the only difference
//! is the summation: the simulation accumulates the products of dequantized values in f32
//! (rounding at every step, in an order set by the f32 kernels), the int8 operator sums the
//! integer products exactly in i32 and scales once. Hence the tolerance: 1e-4 of the
//! output's range.

use dlopt_graph::{
    Attribute, DataType, ErrorKind, Graph, Node, Tensor, TensorData, Value, ValueId,
};
use dlopt_runtime::{BuildOptions, Plan};

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[low, high)`.
    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// One convolution case.
#[derive(Clone, Debug)]
struct Case {
    x: [usize; 4],
    out_channels: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dilations: [usize; 2],
    group: usize,
    bias: bool,
    activation: Option<&'static str>,
}

impl Case {
    fn new(x: [usize; 4], out_channels: usize, kernel: usize) -> Case {
        Case {
            x,
            out_channels,
            kernel: [kernel; 2],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
            bias: false,
            activation: None,
        }
    }
}

/// The random data of a case.
struct Data {
    x: Tensor,
    weights: Tensor,
    scales: Tensor,
    bias: Option<Tensor>,
    x_scale: f32,
    x_zero_point: u8,
}

fn data(case: &Case, rng: &mut Rng) -> Data {
    let [n, c, h, w] = case.x;
    let x: Vec<f32> = (0..n * c * h * w).map(|_| rng.uniform(-3.0, 5.0)).collect();
    let per_group = c / case.group;
    let wlen = case.out_channels * per_group * case.kernel[0] * case.kernel[1];
    let weights: Vec<i8> = (0..wlen).map(|_| rng.uniform(-127.0, 128.0).floor() as i8).collect();
    let scales: Vec<f32> = (0..case.out_channels).map(|_| rng.uniform(0.002, 0.02)).collect();
    let bias = case.bias.then(|| {
        let values = (0..case.out_channels).map(|_| rng.uniform(-1.0, 1.0)).collect();
        Tensor::from_f32(vec![case.out_channels], values).unwrap()
    });
    // Slightly narrower than the data, so that some values saturate.
    let x_scale = 7.5 / 255.0;
    Data {
        x: Tensor::from_f32(case.x.to_vec(), x).unwrap(),
        weights: Tensor::new(
            vec![case.out_channels, per_group, case.kernel[0], case.kernel[1]],
            TensorData::I8(weights),
        )
        .unwrap(),
        scales: Tensor::from_f32(vec![case.out_channels], scales).unwrap(),
        bias,
        x_scale,
        x_zero_point: (2.8 / x_scale).round() as u8,
    }
}

fn scalar(data: TensorData) -> Tensor {
    Tensor::scalar(data).unwrap()
}

fn value(graph: &mut Graph, name: &str) -> ValueId {
    graph.add_value(Value { name: name.into(), ..Default::default() })
}

fn node(name: &str, op: &str, inputs: Vec<Option<ValueId>>, output: ValueId) -> Node {
    Node {
        name: name.into(),
        op_type: op.into(),
        inputs,
        outputs: vec![output],
        ..Default::default()
    }
}

/// Sets the Conv attributes and the fused activation of `case` on `node`.
fn conv_attributes(node: &mut Node, case: &Case) {
    let ints = |values: &[usize]| Attribute::Ints(values.iter().map(|&v| v as i64).collect());
    node.attributes.set("kernel_shape", ints(&case.kernel));
    node.attributes.set("strides", ints(&case.strides));
    node.attributes.set("pads", ints(&case.pads));
    node.attributes.set("dilations", ints(&case.dilations));
    node.attributes.set("group", Attribute::Int(case.group as i64));
    if let Some(activation) = case.activation {
        node.attributes.set("dlopt_activation", Attribute::String(activation.into()));
    }
}

/// The QDQ graph (float simulation) or the fused graph of `case`.
fn graph(case: &Case, data: &Data, fused: bool) -> Graph {
    let mut graph = Graph { opset: 13, ..Default::default() };
    let x = graph.add_value(Value {
        name: "x".into(),
        data_type: Some(DataType::F32),
        ..Default::default()
    });
    graph.inputs.push(x);
    let weights = graph.add_constant("w_quantized".into(), data.weights.clone());
    let scales = graph.add_constant("w_scale".into(), data.scales.clone());
    let bias = data.bias.clone().map(|bias| graph.add_constant("bias".into(), bias));
    let y = value(&mut graph, "y");
    graph.outputs.push(y);
    if fused {
        let mut conv =
            node("conv", "QLinearConvF32", vec![Some(x), Some(weights), Some(scales), bias], y);
        conv.domain = "dlopt".into();
        conv_attributes(&mut conv, case);
        conv.attributes.set("x_scale", Attribute::Float(data.x_scale));
        conv.attributes.set("x_zero_point", Attribute::Int(data.x_zero_point as i64));
        graph.nodes.push(conv);
        return graph;
    }
    let s = graph.add_constant("x_scale".into(), scalar(TensorData::F32(vec![data.x_scale])));
    let zp = graph.add_constant("x_zp".into(), scalar(TensorData::U8(vec![data.x_zero_point])));
    let wzp = graph.add_constant(
        "w_zp".into(),
        Tensor::new(vec![case.out_channels], TensorData::I8(vec![0; case.out_channels])).unwrap(),
    );
    let (q, dq, wdq) = (value(&mut graph, "q"), value(&mut graph, "dq"), value(&mut graph, "wdq"));
    graph.nodes.push(node("q", "QuantizeLinear", vec![Some(x), Some(s), Some(zp)], q));
    graph.nodes.push(node("dq", "DequantizeLinear", vec![Some(q), Some(s), Some(zp)], dq));
    let mut w = node("wdq", "DequantizeLinear", vec![Some(weights), Some(scales), Some(wzp)], wdq);
    w.attributes.set("axis", Attribute::Int(0));
    graph.nodes.push(w);
    let mut conv = node("conv", "Conv", vec![Some(dq), Some(wdq), bias], y);
    conv_attributes(&mut conv, case);
    graph.nodes.push(conv);
    graph
}

fn run(
    graph: &Graph,
    x: &Tensor,
    threads: usize,
) -> Result<(Vec<f32>, Vec<String>), dlopt_graph::GraphError> {
    let options = BuildOptions { threads, ..Default::default() };
    let plan = Plan::build(graph, &[x.shape().to_vec()], &options)?;
    let types = plan.step_op_types().into_iter().map(String::from).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let y = pool.install(|| plan.run(std::slice::from_ref(x)))?.remove(0);
    Ok((y.as_f32().unwrap().to_vec(), types))
}

/// Runs `case` both ways and checks that the outputs agree.
fn check(case: &Case, seed: u64) {
    let mut rng = Rng(seed);
    let data = data(case, &mut rng);
    for threads in [1, 2] {
        let (expected, _) = run(&graph(case, &data, false), &data.x, threads).unwrap();
        let (actual, types) = run(&graph(case, &data, true), &data.x, threads).unwrap();
        assert_eq!(types, ["QLinearConvF32"], "{case:?}");
        assert_eq!(actual.len(), expected.len(), "{case:?}");
        let low = expected.iter().copied().fold(f32::INFINITY, f32::min);
        let high = expected.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let tolerance = 1e-4 * (high - low).max(1e-6);
        for (at, (a, e)) in actual.iter().zip(&expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance,
                "{case:?}, {threads} threads: element {at} is {a}, the simulation gives {e} (tolerance {tolerance})"
            );
        }
    }
}

#[test]
fn pointwise_convolutions_match_the_simulation() {
    let mut case = Case::new([1, 16, 9, 11], 24, 1);
    check(&case, 1);
    case.bias = true;
    check(&case, 2);
    case.activation = Some("Relu");
    case.x = [2, 40, 5, 7];
    check(&case, 3);
}

#[test]
fn padded_and_strided_3x3_convolutions_match_the_simulation() {
    let mut case = Case::new([1, 8, 13, 10], 12, 3);
    case.pads = [1; 4];
    check(&case, 4);
    case.bias = true;
    case.activation = Some("HardSwish");
    check(&case, 5);
    case.strides = [2, 2];
    case.pads = [1, 0, 1, 1];
    case.activation = Some("Relu");
    check(&case, 6);
    case.strides = [1, 2];
    case.dilations = [2, 1];
    case.activation = None;
    check(&case, 7);
}

#[test]
fn depthwise_convolutions_match_the_simulation() {
    let mut case = Case::new([1, 16, 12, 9], 16, 3);
    case.group = 16;
    case.pads = [1; 4];
    check(&case, 8);
    case.bias = true;
    case.strides = [2, 2];
    case.activation = Some("Relu");
    check(&case, 9);
}

#[test]
fn other_group_counts_and_bad_attributes_are_rejected() {
    let mut case = Case::new([1, 8, 5, 5], 8, 3);
    case.group = 2;
    let grouped = data(&case, &mut Rng(10));
    let error = run(&graph(&case, &grouped, true), &grouped.x, 1).unwrap_err();
    assert!(error.message.contains("only one group or depthwise"), "{}", error.message);

    let case = Case::new([1, 8, 5, 5], 8, 1);
    let data = data(&case, &mut Rng(11));
    let mut bad = graph(&case, &data, true);
    bad.nodes[0].attributes.set("x_zero_point", Attribute::Int(256));
    let error = run(&bad, &data.x, 1).unwrap_err();
    assert!(error.message.contains("'x_zero_point' is 256"), "{}", error.message);
    let mut bad = graph(&case, &data, true);
    bad.nodes[0].attributes.set("x_scale", Attribute::Float(0.0));
    let error = run(&bad, &data.x, 1).unwrap_err();
    assert!(error.message.contains("'x_scale' is 0"), "{}", error.message);
    let mut bad = graph(&case, &data, true);
    let float_weights = data.weights.cast(DataType::F32);
    let id = bad.nodes[0].inputs[1].unwrap();
    bad.value_mut(id).constant = Some(float_weights);
    bad.value_mut(id).data_type = Some(DataType::F32);
    let error = run(&bad, &data.x, 1).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unsupported, "{}", error.message);
}

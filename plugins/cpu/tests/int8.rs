//! Precision int8 through the C table: a calibrated-style QDQ model (3x3, depthwise and 1x1
//! quantized convolutions, then a two-group convolution) compiles with the three fusable
//! convolutions as `dlopt::QLinearConvF32` in the artifact and the grouped one left to the
//! float simulation; outputs agree with the native runtime's simulation of the QDQ graph,
//! and a deserialized artifact computes the same outputs.

mod common;

use common::*;
use dlopt_ai2_cpu::artifact::decode;
use dlopt_graph::shape::Dim;
use dlopt_graph::{
    Attribute, DataType, Graph, Node, Tensor, TensorData, Value as GraphValue, ValueId,
};

/// Deterministic values in `[low, high)`.
fn random(seed: &mut u64, count: usize, low: f32, high: f32) -> Vec<f32> {
    (0..count)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            low + (high - low) * ((*seed >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

struct Builder {
    graph: Graph,
    seed: u64,
    count: usize,
}

impl Builder {
    fn value(&mut self, base: &str) -> ValueId {
        self.count += 1;
        let name = format!("{base}{}", self.count);
        self.graph.add_value(GraphValue { name, ..Default::default() })
    }

    fn node(&mut self, op: &str, inputs: Vec<Option<ValueId>>) -> (ValueId, usize) {
        let output = self.value(op);
        let name = format!("{op}_{}", self.count);
        self.graph.nodes.push(Node {
            name,
            op_type: op.into(),
            inputs,
            outputs: vec![output],
            ..Default::default()
        });
        (output, self.graph.nodes.len() - 1)
    }

    fn constant(&mut self, tensor: Tensor) -> ValueId {
        self.count += 1;
        self.graph.add_constant(format!("c{}", self.count), tensor)
    }

    /// `x → QuantizeLinear → DequantizeLinear` with uint8 scale `scale`, zero point `zp`.
    fn qdq(&mut self, x: ValueId, scale: f32, zp: u8) -> ValueId {
        let s = self.constant(Tensor::scalar(TensorData::F32(vec![scale])).unwrap());
        let z = self.constant(Tensor::scalar(TensorData::U8(vec![zp])).unwrap());
        let (q, _) = self.node("QuantizeLinear", vec![Some(x), Some(s), Some(z)]);
        self.node("DequantizeLinear", vec![Some(q), Some(s), Some(z)]).0
    }

    /// A Conv with int8 weights `[m, c / group, k, k]` dequantized per output channel, a
    /// float bias, pads `k / 2`, and optionally a Relu after it.
    fn conv(
        &mut self,
        x: ValueId,
        c: usize,
        m: usize,
        k: usize,
        group: usize,
        relu: bool,
    ) -> ValueId {
        let count = m * c / group * k * k;
        let weights: Vec<i8> =
            random(&mut self.seed, count, -127.0, 128.0).iter().map(|v| v.floor() as i8).collect();
        let w =
            self.constant(Tensor::new(vec![m, c / group, k, k], TensorData::I8(weights)).unwrap());
        let scales = random(&mut self.seed, m, 0.5 / (count / m) as f32, 2.0 / (count / m) as f32);
        let s = self.constant(Tensor::from_f32(vec![m], scales).unwrap());
        let z = self.constant(Tensor::new(vec![m], TensorData::I8(vec![0; m])).unwrap());
        let (wdq, at) = self.node("DequantizeLinear", vec![Some(w), Some(s), Some(z)]);
        self.graph.nodes[at].attributes.set("axis", Attribute::Int(0));
        let bias = random(&mut self.seed, m, -0.5, 0.5);
        let b = self.constant(Tensor::from_f32(vec![m], bias).unwrap());
        let (y, at) = self.node("Conv", vec![Some(x), Some(wdq), Some(b)]);
        let attributes = &mut self.graph.nodes[at].attributes;
        attributes.set("kernel_shape", Attribute::Ints(vec![k as i64; 2]));
        attributes.set("pads", Attribute::Ints(vec![(k / 2) as i64; 4]));
        attributes.set("group", Attribute::Int(group as i64));
        if relu { self.node("Relu", vec![Some(y)]).0 } else { y }
    }
}

/// The QDQ model as ONNX bytes, input `x [1, 8, 14, 12]`.
fn qdq_model() -> Vec<u8> {
    let mut b = Builder {
        graph: Graph { name: "qdq".into(), opset: 13, ..Default::default() },
        seed: 0x9e37_79b9_7f4a_7c15,
        count: 0,
    };
    let fixed = |dims: &[usize]| Some(dims.iter().map(|&d| Dim::Fixed(d)).collect());
    let x = b.graph.add_value(GraphValue {
        name: "x".into(),
        data_type: Some(DataType::F32),
        shape: fixed(&[1, 8, 14, 12]),
        constant: None,
    });
    b.graph.inputs.push(x);
    let a = b.qdq(x, 2.0 / 255.0, 128);
    let a = b.conv(a, 8, 16, 3, 1, true);
    let a = b.qdq(a, 3.0 / 255.0, 0);
    let a = b.conv(a, 16, 16, 3, 16, true);
    let a = b.qdq(a, 3.0 / 255.0, 0);
    let a = b.conv(a, 16, 24, 1, 1, false);
    let a = b.qdq(a, 6.0 / 255.0, 120);
    let y = b.conv(a, 24, 8, 3, 2, false);
    b.graph.value_mut(y).name = "y".into();
    b.graph.value_mut(y).data_type = Some(DataType::F32);
    b.graph.value_mut(y).shape = fixed(&[1, 8, 14, 12]);
    b.graph.outputs.push(y);
    dlopt_graph::onnx::export_model(&b.graph).unwrap()
}

#[test]
fn int8_compiles_quantized_convolutions_to_int8_kernels() {
    let onnx = qdq_model();
    let input = seeded_input(vec![1, 8, 14, 12], 3);
    let spec = describe(&onnx, &[input.shape().to_vec()]);
    let compiled = compile(&spec, "int8").unwrap();

    // The artifact holds the fused operators (and only the grouped Conv and its Q/DQ).
    let bytes = serialize(&compiled).unwrap();
    let artifact = decode(&bytes).unwrap();
    let graph = dlopt_graph::onnx::import_model(&artifact.graph).unwrap();
    let count = |op: &str| graph.nodes.iter().filter(|n| n.op_type == op).count();
    assert_eq!(count("QLinearConvF32"), 3);
    assert_eq!(count("Conv"), 1);
    assert_eq!(count("QuantizeLinear"), 1, "the pair before the grouped Conv stays");
    assert_eq!(count("DequantizeLinear"), 2, "its activation and weight DequantizeLinear");
    assert!(graph.nodes.iter().all(|n| n.op_type != "Relu"), "Relu fused into the convolutions");

    // Against the float simulation. The first layers' outputs differ from the simulation
    // by f32 summation rounding only; where such a value lies next to a rounding boundary
    // of the following QuantizeLinear it may land one level away, so the bound is looser
    // than the single operator's 1e-4 of the range.
    let outputs = execute(&compiled, &spec, std::slice::from_ref(&input)).unwrap();
    let native = native_outputs(&onnx, std::slice::from_ref(&input));
    let (actual, expected) = (outputs[0].as_f32().unwrap(), native[0].as_f32().unwrap());
    let low = expected.iter().copied().fold(f32::INFINITY, f32::min);
    let high = expected.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let worst = actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-3 * (high - low), "worst difference {worst}, range {low}..{high}");

    // A deserialized artifact builds the same plan.
    let reloaded = deserialize(&bytes).unwrap();
    assert_eq!(execute(&reloaded, &spec, std::slice::from_ref(&input)).unwrap(), outputs);
}

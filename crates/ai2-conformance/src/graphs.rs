//! The kit's own small graphs: what a host sends for simple models, covering Gemm (both
//! transposes, alpha / beta, every broadcast of C, no C, a fused Relu), MatMul, Add (equal
//! shapes and trailing-dims biases, either operand), Softmax (opset 13 and the pre-13
//! default axis), Flatten and Reshape, several inputs and outputs, a Conv, and two graphs
//! no plugin can run (an unknown operator; an unknown fused activation).

use dlopt_ai2::abi::{DLOPT_AI2_DTYPE_FLOAT32, DLOPT_AI2_DTYPE_INT64};

use crate::dlopt_ir::onnx_bytes;
use crate::graph_view::{AlignedBytes, AttrSpec, GraphSpec, NodeSpec, TensorSpec};
use crate::reference::noise;

/// A kit graph.
pub struct KitGraph {
    /// Its name (used in check names).
    pub name: &'static str,
    /// The graph.
    pub spec: GraphSpec,
    /// Whether every conforming plugin must refuse it (its unsupported node's index).
    pub must_refuse: Option<usize>,
}

impl KitGraph {
    /// Input values for run `seed` (float32 noise).
    pub fn inputs(&self, seed: u64) -> Vec<Vec<f32>> {
        self.spec
            .input_specs()
            .iter()
            .enumerate()
            .map(|(at, spec)| noise(spec.element_count(), seed * 31 + at as u64))
            .collect()
    }

    /// The element counts of the outputs.
    pub fn output_lens(&self) -> Vec<usize> {
        self.spec.output_specs().iter().map(|spec| spec.element_count()).collect()
    }
}

/// Builds a [`GraphSpec`] value by value.
struct Builder {
    spec: GraphSpec,
    seed: u64,
}

impl Builder {
    fn new(opset: i64) -> Builder {
        Builder { spec: GraphSpec { opset, ..GraphSpec::default() }, seed: 1 }
    }

    fn value(&mut self, name: &str, dtype: i32, shape: &[i64], data: Option<AlignedBytes>) -> i64 {
        self.spec.values.push(TensorSpec { name: name.into(), dtype, shape: shape.to_vec(), data });
        self.spec.values.len() as i64 - 1
    }

    fn input(&mut self, name: &str, shape: &[i64]) -> i64 {
        let at = self.value(name, DLOPT_AI2_DTYPE_FLOAT32, shape, None);
        self.spec.inputs.push(at);
        at
    }

    /// A float32 constant filled with noise.
    fn weights(&mut self, name: &str, shape: &[i64]) -> i64 {
        self.seed += 1;
        let count = shape.iter().product::<i64>() as usize;
        let bytes: Vec<u8> =
            noise(count, 1000 + self.seed).iter().flat_map(|v| v.to_le_bytes()).collect();
        self.value(name, DLOPT_AI2_DTYPE_FLOAT32, shape, Some(AlignedBytes::new(&bytes)))
    }

    fn int64s(&mut self, name: &str, values: &[i64]) -> i64 {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.value(
            name,
            DLOPT_AI2_DTYPE_INT64,
            &[values.len() as i64],
            Some(AlignedBytes::new(&bytes)),
        )
    }

    /// A node with one new float32 output of `shape`; returns the output.
    fn node(
        &mut self,
        name: &str,
        op: &str,
        inputs: &[i64],
        shape: &[i64],
        attributes: Vec<(&str, AttrSpec)>,
    ) -> i64 {
        self.node_in(name, op, "", inputs, shape, attributes)
    }

    fn node_in(
        &mut self,
        name: &str,
        op: &str,
        domain: &str,
        inputs: &[i64],
        shape: &[i64],
        attributes: Vec<(&str, AttrSpec)>,
    ) -> i64 {
        let output = self.value(&format!("{name}_out"), DLOPT_AI2_DTYPE_FLOAT32, shape, None);
        self.spec.nodes.push(NodeSpec {
            name: name.into(),
            op_type: op.into(),
            domain: domain.into(),
            inputs: inputs.to_vec(),
            outputs: vec![output],
            attributes: attributes
                .into_iter()
                .map(|(key, value)| (key.to_string(), value))
                .collect(),
        });
        output
    }

    fn output(&mut self, value: i64) {
        self.spec.outputs.push(value);
    }

    /// The graph, with its ONNX form (as the host sends both).
    fn finish(mut self, name: &'static str, must_refuse: Option<usize>) -> KitGraph {
        self.spec.onnx = onnx_bytes(&self.spec)
            .unwrap_or_else(|problem| panic!("kit graph {name} cannot be exported: {problem}"));
        KitGraph { name, spec: self.spec, must_refuse }
    }
}

fn int(value: i64) -> AttrSpec {
    AttrSpec::Int(value)
}

fn real(value: f64) -> AttrSpec {
    AttrSpec::Real(value)
}

fn text(value: &str) -> AttrSpec {
    AttrSpec::Str(value.into())
}

/// Every kit graph, in the order the checks run them.
pub fn all() -> Vec<KitGraph> {
    let mut graphs = Vec::new();

    // X[2,4] -> Gemm(W[3,4]ᵀ, b[3]) -> Relu -> Softmax: a classifier head.
    let mut b = Builder::new(13);
    let x = b.input("x", &[2, 4]);
    let w = b.weights("w", &[3, 4]);
    let bias = b.weights("b", &[3]);
    let h = b.node("gemm", "Gemm", &[x, w, bias], &[2, 3], vec![("transB", int(1))]);
    let r = b.node("relu", "Relu", &[h], &[2, 3], vec![]);
    let y = b.node("softmax", "Softmax", &[r], &[2, 3], vec![("axis", int(-1))]);
    b.output(y);
    graphs.push(b.finish("gemm_relu_softmax", None));

    // Gemm with transA, transB, alpha, beta and a column C[2,1]; then a row C[1,4] and a
    // scalar C[] on the same product.
    let mut b = Builder::new(13);
    let a = b.input("a", &[3, 2]);
    let w = b.weights("w", &[4, 3]);
    let attributes =
        || vec![("transA", int(1)), ("transB", int(1)), ("alpha", real(0.5)), ("beta", real(2.0))];
    let column = b.weights("c_column", &[2, 1]);
    let row = b.weights("c_row", &[1, 4]);
    let scalar = b.weights("c_scalar", &[]);
    for (name, c) in [("gemm_column", column), ("gemm_row", row), ("gemm_scalar", scalar)] {
        let y = b.node(name, "Gemm", &[a, w, c], &[2, 4], attributes());
        b.output(y);
    }
    graphs.push(b.finish("gemm_transposes_alpha_beta_broadcasts", None));

    // Gemm without C, with a fused Relu (as dlopt's activation fusion leaves it).
    let mut b = Builder::new(13);
    let a = b.input("a", &[2, 3]);
    let w = b.weights("w", &[3, 5]);
    let y = b.node("gemm_relu", "Gemm", &[a, w], &[2, 5], vec![("dlopt_activation", text("Relu"))]);
    b.output(y);
    graphs.push(b.finish("gemm_no_c_fused_relu", None));

    // MatMul by weights, and MatMul of two graph inputs.
    let mut b = Builder::new(13);
    let a = b.input("a", &[3, 5]);
    let c = b.input("c", &[4, 2]);
    let w = b.weights("w", &[5, 4]);
    let m = b.node("matmul_weights", "MatMul", &[a, w], &[3, 4], vec![]);
    let y = b.node("matmul_inputs", "MatMul", &[m, c], &[3, 2], vec![]);
    b.output(m);
    b.output(y);
    graphs.push(b.finish("matmul", None));

    // Add: a bias over the last axis, a bias over the last two (first operand), equal shapes.
    let mut b = Builder::new(13);
    let x = b.input("x", &[2, 3, 4]);
    let z = b.input("z", &[2, 3, 4]);
    let bias = b.weights("bias", &[4]);
    let bias2 = b.weights("bias2", &[1, 3, 4]);
    let t = b.node("add_bias", "Add", &[x, bias], &[2, 3, 4], vec![]);
    let u = b.node("add_bias_first", "Add", &[bias2, t], &[2, 3, 4], vec![]);
    let y = b.node("add_same", "Add", &[u, z], &[2, 3, 4], vec![]);
    b.output(y);
    graphs.push(b.finish("add_broadcast", None));

    // Two outputs, one of which another node reads.
    let mut b = Builder::new(13);
    let x = b.input("x", &[2, 3]);
    let z = b.input("z", &[2, 3]);
    let s = b.node("sum", "Add", &[x, z], &[2, 3], vec![]);
    let r = b.node("relu", "Relu", &[s], &[2, 3], vec![]);
    b.output(s);
    b.output(r);
    graphs.push(b.finish("two_outputs", None));

    // Flatten -> MatMul -> Reshape(int64 constant) -> Softmax, and the Reshape as an output.
    let mut b = Builder::new(13);
    let x = b.input("x", &[2, 3, 4]);
    let f = b.node("flatten", "Flatten", &[x], &[2, 12], vec![("axis", int(1))]);
    let w = b.weights("w", &[12, 5]);
    let m = b.node("matmul", "MatMul", &[f, w], &[2, 5], vec![]);
    let shape = b.int64s("shape", &[5, 2]);
    let r = b.node("reshape", "Reshape", &[m, shape], &[5, 2], vec![]);
    let y = b.node("softmax", "Softmax", &[r], &[5, 2], vec![]);
    b.output(r);
    b.output(y);
    graphs.push(b.finish("flatten_reshape", None));

    // Softmax at opset 11: the default axis is 1, which is the last axis here.
    let mut b = Builder::new(11);
    let x = b.input("x", &[3, 4]);
    let y = b.node("softmax", "Softmax", &[x], &[3, 4], vec![]);
    b.output(y);
    graphs.push(b.finish("softmax_opset11", None));

    // A 3x3 convolution with padding and a bias.
    let mut b = Builder::new(13);
    let x = b.input("x", &[1, 2, 5, 5]);
    let w = b.weights("w", &[3, 2, 3, 3]);
    let bias = b.weights("b", &[3]);
    let attributes = vec![
        ("kernel_shape", AttrSpec::Ints(vec![3, 3])),
        ("pads", AttrSpec::Ints(vec![1, 1, 1, 1])),
        ("strides", AttrSpec::Ints(vec![1, 1])),
    ];
    let y = b.node("conv", "Conv", &[x, w, bias], &[1, 3, 5, 5], attributes);
    b.output(y);
    graphs.push(b.finish("conv", None));

    // An operator no plugin knows, between two that most do.
    let mut b = Builder::new(13);
    let x = b.input("x", &[2, 4]);
    let w = b.weights("w", &[4, 3]);
    let m = b.node("matmul", "MatMul", &[x, w], &[2, 3], vec![]);
    let u = b.node_in(
        "no_such_operator",
        "NoSuchOperator",
        "org.dlopt.conformance",
        &[m],
        &[2, 3],
        vec![],
    );
    let y = b.node("relu", "Relu", &[u], &[2, 3], vec![]);
    b.output(y);
    graphs.push(b.finish("unknown_operator", Some(1)));

    // A fused activation no plugin knows: ignoring the attribute would give wrong results.
    let mut b = Builder::new(13);
    let a = b.input("a", &[2, 3]);
    let w = b.weights("w", &[3, 5]);
    let attributes = vec![("dlopt_activation", text("DlOptConformanceNoSuchActivation"))];
    let y = b.node("gemm_unknown_activation", "Gemm", &[a, w], &[2, 5], attributes);
    b.output(y);
    graphs.push(b.finish("unknown_fused_activation", Some(0)));

    graphs
}

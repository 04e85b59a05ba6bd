//! Shared helpers of the pass and shape inference tests: a small builder for IR graphs,
//! seeded random tensors, and running a graph with dlopt-runtime to compare results.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;

use dlopt_graph::{Attribute, DataType, Dim, Graph, Node, Tensor, Value, ValueId};
use dlopt_runtime::{BuildOptions, Plan};

/// A dimension from a size (`Fixed`) or a name (`Symbol`).
pub trait IntoDim {
    /// The dimension.
    fn into_dim(self) -> Dim;
}

impl IntoDim for usize {
    fn into_dim(self) -> Dim {
        Dim::Fixed(self)
    }
}

impl IntoDim for &str {
    fn into_dim(self) -> Dim {
        Dim::symbol(self)
    }
}

/// A shape from sizes and names: `shape![N, 3, 4]` is written `vec!["N".into_dim(), ...]`.
#[macro_export]
macro_rules! dims {
    ($($dim:expr),* $(,)?) => { vec![$(support::IntoDim::into_dim($dim)),*] };
}

/// Builds an IR graph node by node (opset 17 unless set).
pub struct Builder {
    /// The graph so far.
    pub graph: Graph,
}

impl Default for Builder {
    fn default() -> Self {
        Builder { graph: Graph { name: "test".into(), opset: 17, ..Graph::default() } }
    }
}

impl Builder {
    /// A graph input of `shape` (f32).
    pub fn input(&mut self, name: &str, shape: Vec<Dim>) -> ValueId {
        self.typed_input(name, DataType::F32, shape)
    }

    /// A graph input of `data_type` and `shape`.
    pub fn typed_input(&mut self, name: &str, data_type: DataType, shape: Vec<Dim>) -> ValueId {
        let id = self.graph.add_value(Value {
            name: name.into(),
            data_type: Some(data_type),
            shape: Some(shape),
            constant: None,
        });
        self.graph.inputs.push(id);
        id
    }

    /// A constant.
    pub fn constant(&mut self, name: &str, tensor: Tensor) -> ValueId {
        self.graph.add_constant(name.into(), tensor)
    }

    /// An f32 constant.
    pub fn floats(&mut self, name: &str, shape: &[usize], values: &[f32]) -> ValueId {
        self.constant(name, Tensor::from_f32(shape.to_vec(), values.to_vec()).unwrap())
    }

    /// An i64 constant.
    pub fn ints(&mut self, name: &str, shape: &[usize], values: &[i64]) -> ValueId {
        self.constant(name, Tensor::from_i64(shape.to_vec(), values.to_vec()).unwrap())
    }

    /// A node of the ONNX domain; returns its outputs (new values named `outputs`).
    pub fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[Option<ValueId>],
        outputs: &[&str],
        attributes: &[(&str, Attribute)],
    ) -> Vec<ValueId> {
        let outputs: Vec<ValueId> = outputs
            .iter()
            .map(|name| self.graph.add_value(Value { name: (*name).into(), ..Value::default() }))
            .collect();
        let mut node = Node {
            name: name.into(),
            op_type: op_type.into(),
            inputs: inputs.to_vec(),
            outputs: outputs.clone(),
            ..Node::default()
        };
        for (name, value) in attributes {
            node.attributes.set(*name, value.clone());
        }
        self.graph.nodes.push(node);
        outputs
    }

    /// A node with one output, all inputs present.
    pub fn op(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[ValueId],
        attributes: &[(&str, Attribute)],
    ) -> ValueId {
        let inputs: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
        self.node(op_type, name, &inputs, &[&format!("{name}_out")], attributes)[0]
    }

    /// Marks `id` as a graph output.
    pub fn output(&mut self, id: ValueId) {
        self.graph.outputs.push(id);
    }

    /// The finished, checked graph.
    pub fn finish(self) -> Graph {
        self.graph.check().unwrap();
        self.graph
    }
}

/// An ints attribute.
pub fn ints(values: &[i64]) -> Attribute {
    Attribute::Ints(values.to_vec())
}

/// SplitMix64: reproducible pseudo-random numbers.
pub struct Random(u64);

impl Random {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Random {
        Random(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * unit
    }

    /// `count` numbers in `[low, high)`.
    pub fn floats(&mut self, count: usize, low: f32, high: f32) -> Vec<f32> {
        (0..count).map(|_| self.uniform(low, high)).collect()
    }

    /// An f32 tensor of `shape` with values in `[-1, 1)`.
    pub fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let count = shape.iter().product();
        Tensor::from_f32(shape.to_vec(), self.floats(count, -1.0, 1.0)).unwrap()
    }
}

/// Runs `graph` with dlopt-runtime on `inputs` (2 threads).
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let options = BuildOptions { threads: 2, ..BuildOptions::default() };
    let plan = Plan::build(graph, &shapes, &options)
        .unwrap_or_else(|error| panic!("plan: {}", error.message));
    plan.run(inputs).unwrap_or_else(|error| panic!("run: {}", error.message))
}

/// The largest `|a - e| / (|e| + floor)` over all elements of all outputs, where `floor` is
/// 1% of the largest `|e|` of the output: an element that sums terms to nearly zero carries
/// the rounding of those terms, so it is measured against the output's scale. Shapes and
/// types must agree.
pub fn max_relative_error(actual: &[Tensor], expected: &[Tensor]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "number of outputs");
    let mut worst = 0.0f64;
    for (at, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.shape(), e.shape(), "shape of output {at}");
        assert_eq!(a.data_type(), e.data_type(), "type of output {at}");
        let (a, e) = (a.data().to_f64_vec(), e.data().to_f64_vec());
        let scale = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let floor = (scale * 1e-2).max(1e-12);
        for (x, y) in a.iter().zip(&e) {
            worst = worst.max((x - y).abs() / (y.abs() + floor));
        }
    }
    worst
}

/// Counts the nodes of `graph` of each op type.
pub fn count(graph: &Graph, op_type: &str) -> usize {
    graph.nodes.iter().filter(|node| node.op_type == op_type).count()
}

/// The real models' directory: `DLOPT_MODELS_DIR`, else `target/test-data/models` of the
/// workspace (where `tools/fetch-test-data` puts them), if it exists.
pub fn models_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("DLOPT_MODELS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data/models"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no models in {} (run tools/fetch-test-data or set DLOPT_MODELS_DIR)",
            dir.display()
        );
        None
    }
}

/// Min/max ranges of the activation values `plan` lists, over runs of `graph` on each of
/// `batches` (one input tensor per graph input): the values become extra graph outputs,
/// graph inputs are measured from the fed tensors. Returns `QuantParams::from_min_max` of
/// `plan.activation_type` per value.
pub fn collect_ranges(
    graph: &Graph,
    plan: &dlopt_graph::quantize::QuantPlan,
    batches: &[Vec<Tensor>],
) -> std::collections::HashMap<ValueId, dlopt_graph::quantize::QuantParams> {
    use dlopt_graph::quantize::QuantParams;
    let mut probe = graph.clone();
    // Each measured value and its position among the probe's outputs.
    let mut measured = Vec::new();
    for activation in &plan.activations {
        let id = activation.value;
        if graph.inputs.contains(&id) {
            continue;
        }
        let at = probe.outputs.iter().position(|&output| output == id).unwrap_or_else(|| {
            probe.outputs.push(id);
            probe.outputs.len() - 1
        });
        measured.push((id, at));
    }
    let mut ranges: std::collections::HashMap<ValueId, (f32, f32)> = Default::default();
    let mut widen = |id: ValueId, tensor: &Tensor| {
        let range = ranges.entry(id).or_insert((f32::INFINITY, f32::NEG_INFINITY));
        for &v in tensor.as_f32().expect("an f32 activation") {
            *range = (range.0.min(v), range.1.max(v));
        }
    };
    for inputs in batches {
        for (id, tensor) in graph.inputs.iter().zip(inputs) {
            widen(*id, tensor);
        }
        let outputs = run(&probe, inputs);
        for &(id, at) in &measured {
            widen(id, &outputs[at]);
        }
    }
    plan.activations
        .iter()
        .map(|activation| {
            let (min, max) = ranges[&activation.value];
            (activation.value, QuantParams::from_min_max(min, max, plan.activation_type))
        })
        .collect()
}

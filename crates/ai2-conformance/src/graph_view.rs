//! Graphs and values as the plugin sees them: owned Rust descriptions ([`GraphSpec`],
//! [`PropValue`]) turned into the borrowed `#[repr(C)]` structures of the ABI
//! ([`GraphView`], [`ValueView`]), which keep every pointer they hand out alive.
//!
//! Attributes cross as the host passes them: ONNX `FLOAT` as `REAL`, `INT` as `INT`,
//! `STRING` as `STRING`, `FLOATS` / `INTS` / `STRINGS` as a `LIST` of those, `TENSOR` as
//! `TENSOR`. Constant data is 8-byte aligned.

use std::ffi::{CString, c_char};
use std::ptr;

use dlopt_ai2::abi::{
    DLOPT_AI2_VALUE_INT, DLOPT_AI2_VALUE_LIST, DLOPT_AI2_VALUE_MAP, DLOPT_AI2_VALUE_REAL,
    DLOPT_AI2_VALUE_STRING, DLOPT_AI2_VALUE_TENSOR, DlAi2Graph, DlAi2Node, DlAi2TensorDesc,
    DlAi2Value,
};

use crate::sinks::PropValue;

/// Bytes stored in `u64`s, so that their address is 8-byte aligned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> AlignedBytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: `words` has at least `bytes.len()` bytes; u64 has no invalid bit patterns.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), words.as_mut_ptr() as *mut u8, bytes.len())
        };
        AlignedBytes { words, len: bytes.len() }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the words hold at least `len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
}

/// A value of the graph: a graph input, a constant (with data) or a node output.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    /// Its name.
    pub name: String,
    /// A `DLOPT_AI2_DTYPE_*` code.
    pub dtype: i32,
    /// Its concrete shape.
    pub shape: Vec<i64>,
    /// The data of a constant (little-endian elements).
    pub data: Option<AlignedBytes>,
}

impl TensorSpec {
    /// The number of elements.
    pub fn element_count(&self) -> usize {
        self.shape.iter().map(|&dim| dim.max(0) as usize).product()
    }
}

/// A node attribute.
#[derive(Clone, Debug)]
pub enum AttrSpec {
    /// ONNX `INT`.
    Int(i64),
    /// ONNX `FLOAT`.
    Real(f64),
    /// ONNX `STRING`.
    Str(String),
    /// ONNX `INTS`.
    Ints(Vec<i64>),
    /// ONNX `FLOATS`.
    Reals(Vec<f64>),
    /// ONNX `STRINGS`.
    Strs(Vec<String>),
    /// ONNX `TENSOR`.
    Tensor(TensorSpec),
}

/// A node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Unique name.
    pub name: String,
    /// ONNX operator type.
    pub op_type: String,
    /// Domain (`""` for ONNX).
    pub domain: String,
    /// Indices into the values, -1 for an omitted optional input.
    pub inputs: Vec<i64>,
    /// Indices into the values.
    pub outputs: Vec<i64>,
    /// Attributes in order.
    pub attributes: Vec<(String, AttrSpec)>,
}

impl NodeSpec {
    /// The attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttrSpec> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }
}

/// A graph with concrete shapes, owned.
#[derive(Clone, Debug, Default)]
pub struct GraphSpec {
    /// Opset of the ONNX domain.
    pub opset: i64,
    /// Every value.
    pub values: Vec<TensorSpec>,
    /// Nodes in topological order.
    pub nodes: Vec<NodeSpec>,
    /// Graph inputs (value indices).
    pub inputs: Vec<i64>,
    /// Graph outputs (value indices).
    pub outputs: Vec<i64>,
    /// The same graph as ONNX bytes (may be empty).
    pub onnx: Vec<u8>,
}

impl GraphSpec {
    /// The input values' specs, in order.
    pub fn input_specs(&self) -> Vec<&TensorSpec> {
        self.inputs.iter().map(|&at| &self.values[at as usize]).collect()
    }

    /// The output values' specs, in order.
    pub fn output_specs(&self) -> Vec<&TensorSpec> {
        self.outputs.iter().map(|&at| &self.values[at as usize]).collect()
    }
}

/// Keeps C strings, arrays and nested values alive for views.
#[derive(Default)]
struct Store {
    strings: Vec<CString>,
    string_arrays: Vec<Vec<*const c_char>>,
    value_arrays: Vec<Vec<DlAi2Value>>,
    index_arrays: Vec<Vec<i64>>,
    // Boxed: attribute values point at them, so they must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    tensors: Vec<Box<DlAi2TensorDesc>>,
    data: Vec<AlignedBytes>,
}

impl Store {
    /// A C copy of `text` (interior NULs cut the string, which the kit never produces).
    fn string(&mut self, text: &str) -> *const c_char {
        let owned = CString::new(text.split('\0').next().unwrap_or_default()).unwrap_or_default();
        // The CString's heap buffer does not move when the Vec grows.
        let pointer = owned.as_ptr();
        self.strings.push(owned);
        pointer
    }

    fn strings(&mut self, texts: &[&str]) -> *const *const c_char {
        let array: Vec<*const c_char> = texts.iter().map(|text| self.string(text)).collect();
        let pointer = array.as_ptr();
        self.string_arrays.push(array);
        pointer
    }

    fn values(&mut self, values: Vec<DlAi2Value>) -> *const DlAi2Value {
        let pointer = if values.is_empty() { ptr::null() } else { values.as_ptr() };
        self.value_arrays.push(values);
        pointer
    }

    fn indices(&mut self, indices: &[i64]) -> *const i64 {
        if indices.is_empty() {
            return ptr::null();
        }
        let copy = indices.to_vec();
        let pointer = copy.as_ptr(); // the heap buffer stays put when the Vec moves
        self.index_arrays.push(copy);
        pointer
    }

    fn tensor_desc(&mut self, tensor: &TensorSpec) -> DlAi2TensorDesc {
        let shape = self.indices(&tensor.shape);
        let (data, byte_size) = match &tensor.data {
            Some(bytes) => {
                let copy = bytes.clone();
                let stored = (copy.as_slice().as_ptr() as *const std::ffi::c_void, copy.len);
                self.data.push(copy);
                stored
            }
            None => (ptr::null(), 0),
        };
        DlAi2TensorDesc {
            name: self.string(&tensor.name),
            dtype: tensor.dtype,
            rank: tensor.shape.len(),
            shape,
            data,
            byte_size,
        }
    }

    fn attribute(&mut self, attribute: &AttrSpec) -> DlAi2Value {
        match attribute {
            AttrSpec::Int(value) => int_value(*value),
            AttrSpec::Real(value) => real_value(*value),
            AttrSpec::Str(text) => string_value(self.string(text)),
            AttrSpec::Ints(values) => {
                let items = values.iter().map(|&value| int_value(value)).collect();
                self.list(items)
            }
            AttrSpec::Reals(values) => {
                let items = values.iter().map(|&value| real_value(value)).collect();
                self.list(items)
            }
            AttrSpec::Strs(texts) => {
                let items = texts.iter().map(|text| string_value(self.string(text))).collect();
                self.list(items)
            }
            AttrSpec::Tensor(tensor) => {
                let desc = Box::new(self.tensor_desc(tensor));
                let pointer = &*desc as *const DlAi2TensorDesc;
                self.tensors.push(desc);
                DlAi2Value { kind: DLOPT_AI2_VALUE_TENSOR, tensor: pointer, ..empty_value() }
            }
        }
    }

    fn list(&mut self, items: Vec<DlAi2Value>) -> DlAi2Value {
        let count = items.len();
        DlAi2Value { kind: DLOPT_AI2_VALUE_LIST, count, items: self.values(items), ..empty_value() }
    }

    fn prop_value(&mut self, value: &PropValue) -> DlAi2Value {
        match value {
            PropValue::Int(value) => int_value(*value),
            PropValue::Real(value) => real_value(*value),
            PropValue::Str(text) => string_value(self.string(text)),
            PropValue::List(items) => {
                let items = items.iter().map(|item| self.prop_value(item)).collect();
                self.list(items)
            }
            PropValue::Map(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
                let keys = self.strings(&keys);
                let items = entries.iter().map(|(_, item)| self.prop_value(item)).collect();
                let count = entries.len();
                DlAi2Value {
                    kind: DLOPT_AI2_VALUE_MAP,
                    count,
                    items: self.values(items),
                    keys,
                    ..empty_value()
                }
            }
        }
    }
}

/// A `DlAi2Value` with every field zero / NULL (kind NONE).
pub fn empty_value() -> DlAi2Value {
    DlAi2Value {
        kind: 0,
        integer: 0,
        real: 0.0,
        string: ptr::null(),
        count: 0,
        items: ptr::null(),
        keys: ptr::null(),
        tensor: ptr::null(),
    }
}

fn int_value(value: i64) -> DlAi2Value {
    DlAi2Value { kind: DLOPT_AI2_VALUE_INT, integer: value, ..empty_value() }
}

fn real_value(value: f64) -> DlAi2Value {
    DlAi2Value { kind: DLOPT_AI2_VALUE_REAL, real: value, ..empty_value() }
}

fn string_value(text: *const c_char) -> DlAi2Value {
    DlAi2Value { kind: DLOPT_AI2_VALUE_STRING, string: text, ..empty_value() }
}

/// A `DlAi2Value` tree built from a [`PropValue`], with everything it points to.
pub struct ValueView {
    _store: Store,
    value: Box<DlAi2Value>,
}

impl ValueView {
    /// The ABI form of `value`.
    pub fn new(value: &PropValue) -> ValueView {
        let mut store = Store::default();
        let value = Box::new(store.prop_value(value));
        ValueView { _store: store, value }
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2Value {
        &*self.value
    }
}

/// A `DlAi2Graph` with room behind it, for checking that plugins accept larger structs.
#[repr(C)]
struct ExtendedGraph {
    graph: DlAi2Graph,
    appended: [usize; 4],
}

/// The ABI form of a [`GraphSpec`], with everything it points to.
pub struct GraphView {
    _store: Store,
    _descs: Vec<DlAi2TensorDesc>,
    _nodes: Vec<DlAi2Node>,
    _onnx: Vec<u8>,
    graph: Box<ExtendedGraph>,
}

// SAFETY: a view is immutable after construction; the pointers inside it point into memory
// the view owns, so sharing it between threads (for concurrent compiles) is sound.
unsafe impl Send for GraphView {}
// SAFETY: as above.
unsafe impl Sync for GraphView {}

impl GraphView {
    /// The ABI form of `spec`. With `extended`, `struct_size` claims fields beyond ABI 1.0's
    /// (as a newer 1.x host would send).
    pub fn new(spec: &GraphSpec, extended: bool) -> GraphView {
        let mut store = Store::default();
        let descs: Vec<DlAi2TensorDesc> =
            spec.values.iter().map(|value| store.tensor_desc(value)).collect();
        let nodes: Vec<DlAi2Node> = spec
            .nodes
            .iter()
            .map(|node| {
                let names: Vec<&str> =
                    node.attributes.iter().map(|(name, _)| name.as_str()).collect();
                let values: Vec<DlAi2Value> =
                    node.attributes.iter().map(|(_, value)| store.attribute(value)).collect();
                DlAi2Node {
                    name: store.string(&node.name),
                    op_type: store.string(&node.op_type),
                    domain: store.string(&node.domain),
                    input_count: node.inputs.len(),
                    inputs: store.indices(&node.inputs),
                    output_count: node.outputs.len(),
                    outputs: store.indices(&node.outputs),
                    attribute_count: names.len(),
                    attribute_names: if names.is_empty() {
                        ptr::null()
                    } else {
                        store.strings(&names)
                    },
                    attribute_values: store.values(values),
                }
            })
            .collect();
        let onnx = spec.onnx.clone();
        let struct_size =
            if extended { size_of::<ExtendedGraph>() } else { size_of::<DlAi2Graph>() };
        let graph = Box::new(ExtendedGraph {
            graph: DlAi2Graph {
                struct_size,
                opset: spec.opset,
                value_count: descs.len(),
                values: descs.as_ptr(),
                node_count: nodes.len(),
                nodes: nodes.as_ptr(),
                input_count: spec.inputs.len(),
                inputs: store.indices(&spec.inputs),
                output_count: spec.outputs.len(),
                outputs: store.indices(&spec.outputs),
                onnx: if onnx.is_empty() { ptr::null() } else { onnx.as_ptr() },
                onnx_size: onnx.len(),
            },
            appended: [0; 4],
        });
        GraphView { _store: store, _descs: descs, _nodes: nodes, _onnx: onnx, graph }
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2Graph {
        &self.graph.graph
    }
}

//! Owned C-layout encodings of what a host passes to a plugin: [`RawValue`] (a
//! `DlAi2Value` tree) and [`RawGraph`] (a `DlAi2Graph` from a [`GraphSpec`]). Plugins do not
//! need them; hosts, conformance tests and plugin tests drive a function table with them.

use std::ffi::{CString, c_char};
use std::mem::size_of;

use crate::abi::{
    DLOPT_AI2_VALUE_INT, DLOPT_AI2_VALUE_LIST, DLOPT_AI2_VALUE_MAP, DLOPT_AI2_VALUE_NONE,
    DLOPT_AI2_VALUE_REAL, DLOPT_AI2_VALUE_STRING, DLOPT_AI2_VALUE_TENSOR, DlAi2Graph, DlAi2Node,
    DlAi2TensorDesc, DlAi2Value,
};
use crate::sdk::error::{PluginError, PluginResult};
use crate::sdk::value::{TensorValue, Value};

/// The heap blocks an encoding points into. Moving the owner moves only these handles,
/// never the blocks, so the pointers stay valid for the owner's life.
#[derive(Default)]
struct Storage {
    strings: Vec<CString>,
    values: Vec<Box<[DlAi2Value]>>,
    keys: Vec<Box<[*const c_char]>>,
    #[allow(clippy::vec_box, reason = "values point to the descriptions: they must not move")]
    tensors: Vec<Box<DlAi2TensorDesc>>,
    integers: Vec<Box<[i64]>>,
    bytes: Vec<Box<[u8]>>,
}

impl Storage {
    fn string(&mut self, text: &str, what: &str) -> PluginResult<*const c_char> {
        let text = CString::new(text)
            .map_err(|_| PluginError::invalid_argument(format!("{what} contains a NUL")))?;
        let pointer = text.as_ptr();
        self.strings.push(text);
        Ok(pointer)
    }

    fn integers(&mut self, items: Vec<i64>) -> *const i64 {
        let items = items.into_boxed_slice();
        let pointer = if items.is_empty() { std::ptr::null() } else { items.as_ptr() };
        self.integers.push(items);
        pointer
    }

    fn tensor_desc(&mut self, tensor: &TensorValue) -> PluginResult<DlAi2TensorDesc> {
        let (data, byte_size) = match &tensor.data {
            Some(data) => {
                let data: Box<[u8]> = data.clone().into_boxed_slice();
                // A non-NULL pointer even for zero bytes: "has data" must stay visible.
                let pointer = if data.is_empty() {
                    std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const()
                } else {
                    data.as_ptr()
                };
                let size = data.len();
                self.bytes.push(data);
                (pointer.cast(), size)
            }
            None => (std::ptr::null(), 0),
        };
        Ok(DlAi2TensorDesc {
            name: self.string(&tensor.name, "a tensor name")?,
            dtype: tensor.dtype,
            rank: tensor.shape.len(),
            shape: self.integers(tensor.shape.clone()),
            data,
            byte_size,
        })
    }

    fn value(&mut self, value: &Value) -> PluginResult<DlAi2Value> {
        let mut raw = DlAi2Value {
            kind: DLOPT_AI2_VALUE_NONE,
            integer: 0,
            real: 0.0,
            string: std::ptr::null(),
            count: 0,
            items: std::ptr::null(),
            keys: std::ptr::null(),
            tensor: std::ptr::null(),
        };
        match value {
            Value::None => {}
            Value::Int(integer) => {
                raw.kind = DLOPT_AI2_VALUE_INT;
                raw.integer = *integer;
            }
            Value::Real(real) => {
                raw.kind = DLOPT_AI2_VALUE_REAL;
                raw.real = *real;
            }
            Value::String(text) => {
                raw.kind = DLOPT_AI2_VALUE_STRING;
                raw.string = self.string(text, "a string value")?;
            }
            Value::List(items) => {
                raw.kind = DLOPT_AI2_VALUE_LIST;
                raw.count = items.len();
                raw.items = self.values(items.iter())?;
            }
            Value::Map(entries) => {
                raw.kind = DLOPT_AI2_VALUE_MAP;
                raw.count = entries.len();
                raw.items = self.values(entries.iter().map(|(_, item)| item))?;
                let keys = entries
                    .iter()
                    .map(|(key, _)| self.string(key, "a map key"))
                    .collect::<PluginResult<Vec<_>>>()?
                    .into_boxed_slice();
                raw.keys = keys.as_ptr();
                self.keys.push(keys);
            }
            Value::Tensor(tensor) => {
                raw.kind = DLOPT_AI2_VALUE_TENSOR;
                let desc = Box::new(self.tensor_desc(tensor)?);
                raw.tensor = &*desc;
                self.tensors.push(desc);
            }
        }
        Ok(raw)
    }

    fn values<'v>(
        &mut self,
        items: impl Iterator<Item = &'v Value>,
    ) -> PluginResult<*const DlAi2Value> {
        let items = items.map(|item| self.value(item)).collect::<PluginResult<Vec<_>>>()?;
        let items = items.into_boxed_slice();
        let pointer = if items.is_empty() { std::ptr::null() } else { items.as_ptr() };
        self.values.push(items);
        Ok(pointer)
    }
}

/// A [`Value`] encoded as a `DlAi2Value` tree, e.g. for `set_device_param` or compile options.
pub struct RawValue {
    root: Box<DlAi2Value>,
    _storage: Storage,
}

// SAFETY: a `RawValue` owns everything its pointers point to and never changes it.
unsafe impl Send for RawValue {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for RawValue {}

impl RawValue {
    /// Encodes `value` (strings and keys must not contain NUL).
    pub fn new(value: &Value) -> PluginResult<RawValue> {
        let mut storage = Storage::default();
        let root = Box::new(storage.value(value)?);
        Ok(RawValue { root, _storage: storage })
    }

    /// The encoded value, valid while `self` lives.
    pub fn as_ptr(&self) -> *const DlAi2Value {
        &*self.root
    }
}

/// One node of a [`GraphSpec`].
#[derive(Clone, Debug, Default)]
pub struct NodeSpec {
    /// The node's name.
    pub name: String,
    /// The ONNX operator type.
    pub op_type: String,
    /// The operator domain (`""` for ONNX).
    pub domain: String,
    /// Indices into [`GraphSpec::values`]; `None` for an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Indices into [`GraphSpec::values`].
    pub outputs: Vec<usize>,
    /// Attributes by name.
    pub attributes: Vec<(String, Value)>,
}

/// A graph as plain Rust data, to encode as a `DlAi2Graph` with [`RawGraph::new`].
#[derive(Clone, Debug, Default)]
pub struct GraphSpec {
    /// The opset of the ONNX domain.
    pub opset: i64,
    /// Every value (graph inputs, constants with data, node outputs).
    pub values: Vec<TensorValue>,
    /// The nodes in topological order.
    pub nodes: Vec<NodeSpec>,
    /// Indices of the graph inputs in `values`.
    pub inputs: Vec<usize>,
    /// Indices of the graph outputs in `values`.
    pub outputs: Vec<usize>,
    /// The same graph as ONNX model bytes.
    pub onnx: Vec<u8>,
}

/// A [`GraphSpec`] encoded as a `DlAi2Graph`.
pub struct RawGraph {
    graph: Box<DlAi2Graph>,
    _descs: Box<[DlAi2TensorDesc]>,
    _nodes: Box<[DlAi2Node]>,
    _onnx: Box<[u8]>,
    _storage: Storage,
}

// SAFETY: a `RawGraph` owns everything its pointers point to and never changes it.
unsafe impl Send for RawGraph {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for RawGraph {}

fn index(at: usize) -> i64 {
    i64::try_from(at).unwrap_or(i64::MAX)
}

impl RawGraph {
    /// Encodes `spec` as it is (indices are not checked: tests use that to pass broken graphs).
    pub fn new(spec: &GraphSpec) -> PluginResult<RawGraph> {
        let mut storage = Storage::default();
        let descs = spec
            .values
            .iter()
            .map(|value| storage.tensor_desc(value))
            .collect::<PluginResult<Vec<_>>>()?
            .into_boxed_slice();
        let mut nodes = Vec::with_capacity(spec.nodes.len());
        for node in &spec.nodes {
            let attribute_names = node
                .attributes
                .iter()
                .map(|(name, _)| storage.string(name, "an attribute name"))
                .collect::<PluginResult<Vec<_>>>()?
                .into_boxed_slice();
            let names_pointer = attribute_names.as_ptr();
            storage.keys.push(attribute_names);
            let inputs = node.inputs.iter().map(|input| input.map_or(-1, index)).collect();
            let outputs = node.outputs.iter().copied().map(index).collect();
            nodes.push(DlAi2Node {
                name: storage.string(&node.name, "a node name")?,
                op_type: storage.string(&node.op_type, "an op type")?,
                domain: storage.string(&node.domain, "a domain")?,
                input_count: node.inputs.len(),
                inputs: storage.integers(inputs),
                output_count: node.outputs.len(),
                outputs: storage.integers(outputs),
                attribute_count: node.attributes.len(),
                attribute_names: names_pointer,
                attribute_values: storage.values(node.attributes.iter().map(|(_, value)| value))?,
            });
        }
        let nodes = nodes.into_boxed_slice();
        let onnx: Box<[u8]> = spec.onnx.clone().into_boxed_slice();
        let graph = Box::new(DlAi2Graph {
            struct_size: size_of::<DlAi2Graph>(),
            opset: spec.opset,
            value_count: descs.len(),
            values: descs.as_ptr(),
            node_count: nodes.len(),
            nodes: nodes.as_ptr(),
            input_count: spec.inputs.len(),
            inputs: storage.integers(spec.inputs.iter().copied().map(index).collect()),
            output_count: spec.outputs.len(),
            outputs: storage.integers(spec.outputs.iter().copied().map(index).collect()),
            onnx: if onnx.is_empty() { std::ptr::null() } else { onnx.as_ptr() },
            onnx_size: onnx.len(),
        });
        Ok(RawGraph { graph, _descs: descs, _nodes: nodes, _onnx: onnx, _storage: storage })
    }

    /// The encoded graph, valid while `self` lives.
    pub fn as_ptr(&self) -> *const DlAi2Graph {
        &*self.graph
    }

    /// The encoded graph, to change fields in tests (e.g. a smaller `struct_size`).
    pub fn raw_mut(&mut self) -> &mut DlAi2Graph {
        &mut self.graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_encoding() {
        let value = Value::map([
            ("i", Value::Int(7)),
            ("r", Value::Real(-1.5)),
            ("s", Value::from("text")),
            ("l", Value::List(vec![Value::None, Value::List(Vec::new()), Value::empty_map()])),
            (
                "t",
                Value::Tensor(TensorValue {
                    name: "w".into(),
                    dtype: 1,
                    shape: vec![2],
                    data: Some(vec![0, 0, 128, 63, 0, 0, 0, 64]),
                }),
            ),
        ]);
        let raw = RawValue::new(&value).unwrap();
        assert_eq!(unsafe { Value::from_raw(raw.as_ptr()) }.unwrap(), value);
    }

    #[test]
    fn strings_with_nul_cannot_be_encoded() {
        assert!(RawValue::new(&Value::from("a\0")).is_err());
    }
}

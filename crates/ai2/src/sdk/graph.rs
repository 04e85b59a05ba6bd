//! [`GraphView`]: checked, safe read access to a `DlAi2Graph` the host passes in.
//!
//! The view checks the whole graph once when it is made (struct size, NULL arrays, UTF-8,
//! indices in range, dimensions not negative, attributes readable) and reports the first
//! problem as `INVALID_ARGUMENT` naming the field; after that every accessor is infallible.
//! Names, shapes and constant data are borrowed from the host for `'a` (the call);
//! attributes are copied into [`Value`]s.

use std::mem::{offset_of, size_of};

use crate::abi::{DlAi2Graph, DlAi2TensorDesc};
use crate::sdk::error::{PluginError, PluginResult};
use crate::sdk::sink::has_field;
use crate::sdk::value::{Value, read_str, slice_of};

/// One value of the graph: a graph input, a constant or a node output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorRef<'a> {
    /// The value's name.
    pub name: &'a str,
    /// A `DLOPT_AI2_DTYPE_*` code.
    pub dtype: i32,
    /// The concrete dimensions (all at least 0).
    pub shape: &'a [i64],
    /// The elements of a constant (row-major, little-endian), `None` otherwise.
    pub data: Option<&'a [u8]>,
}

impl TensorRef<'_> {
    /// The number of elements (`None` on overflow).
    pub fn element_count(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |count, &dim| count.checked_mul(usize::try_from(dim).ok()?))
    }

    /// The shape as `usize` dimensions.
    pub fn dims(&self) -> Vec<usize> {
        // Checked non-negative when the view was made.
        self.shape.iter().map(|&dim| dim as usize).collect()
    }
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRef<'a> {
    /// The node's name.
    pub name: &'a str,
    /// The ONNX operator type, e.g. `"Conv"`.
    pub op_type: &'a str,
    /// The operator domain, `""` for ONNX.
    pub domain: &'a str,
    /// Value indices of the inputs; `None` for an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Value indices of the outputs.
    pub outputs: Vec<usize>,
    /// The attributes in the host's order.
    pub attributes: Vec<(&'a str, Value)>,
}

impl NodeRef<'_> {
    /// The attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.iter().find(|(key, _)| *key == name).map(|(_, value)| value)
    }
}

/// Safe read access to a `DlAi2Graph` borrowed for `'a`.
#[derive(Clone, Debug)]
pub struct GraphView<'a> {
    opset: i64,
    values: Vec<TensorRef<'a>>,
    nodes: Vec<NodeRef<'a>>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    onnx: Option<&'a [u8]>,
}

/// Converts a value index from the ABI, checking its range.
fn value_index(raw: i64, count: usize, path: &str) -> PluginResult<usize> {
    usize::try_from(raw).ok().filter(|&at| at < count).ok_or_else(|| {
        PluginError::invalid_argument(format!("{path} is {raw}, outside the {count} values"))
    })
}

/// Reads one value description.
///
/// # Safety
/// `desc` must be valid as the ABI describes for `'a`.
unsafe fn read_desc<'a>(desc: &'a DlAi2TensorDesc, path: &str) -> PluginResult<TensorRef<'a>> {
    // SAFETY (all): fields of a valid description (guaranteed by the caller).
    let name = unsafe { read_str(desc.name, &format!("{path}.name")) }?;
    let shape = unsafe { slice_of(desc.shape, desc.rank, &format!("{path}.shape")) }?;
    if let Some(dim) = shape.iter().find(|&&dim| dim < 0) {
        return Err(PluginError::invalid_argument(format!(
            "{path} ('{name}') has the negative dimension {dim}"
        )));
    }
    let data = if desc.data.is_null() {
        None
    } else {
        Some(unsafe { slice_of(desc.data.cast::<u8>(), desc.byte_size, &format!("{path}.data")) }?)
    };
    Ok(TensorRef { name, dtype: desc.dtype, shape, data })
}

impl<'a> GraphView<'a> {
    /// Checks and indexes `graph` (see the module documentation).
    ///
    /// # Safety
    /// `graph` must be NULL (an error) or point to a `DlAi2Graph` that is valid as the ABI
    /// describes, and stays valid and unchanged for `'a`.
    pub unsafe fn from_raw(graph: *const DlAi2Graph) -> PluginResult<GraphView<'a>> {
        // SAFETY: the caller guarantees a valid or NULL pointer.
        let raw: &'a DlAi2Graph = unsafe { graph.as_ref() }
            .ok_or_else(|| PluginError::invalid_argument("graph is NULL"))?;
        let required = offset_of!(DlAi2Graph, outputs) + size_of::<*const i64>();
        if raw.struct_size < required {
            return Err(PluginError::invalid_argument(format!(
                "graph->struct_size is {}, ABI 1.0 needs at least {required}",
                raw.struct_size
            )));
        }
        // SAFETY (all slices): arrays with the announced counts (ABI, caller).
        let descs = unsafe { slice_of(raw.values, raw.value_count, "graph->values") }?;
        let values = descs
            .iter()
            .enumerate()
            .map(|(at, desc)| unsafe { read_desc(desc, &format!("graph->values[{at}]")) })
            .collect::<PluginResult<Vec<_>>>()?;
        let count = values.len();
        let raw_nodes = unsafe { slice_of(raw.nodes, raw.node_count, "graph->nodes") }?;
        let mut nodes = Vec::with_capacity(raw_nodes.len());
        for (at, node) in raw_nodes.iter().enumerate() {
            let path = format!("graph->nodes[{at}]");
            let name = unsafe { read_str(node.name, &format!("{path}.name")) }?;
            let op_type = unsafe { read_str(node.op_type, &format!("{path}.op_type")) }?;
            let domain = unsafe { read_str(node.domain, &format!("{path}.domain")) }?;
            let inputs =
                unsafe { slice_of(node.inputs, node.input_count, &format!("{path}.inputs")) }?
                    .iter()
                    .enumerate()
                    .map(|(slot, &input)| {
                        if input == -1 {
                            Ok(None)
                        } else {
                            value_index(input, count, &format!("{path}.inputs[{slot}]")).map(Some)
                        }
                    })
                    .collect::<PluginResult<Vec<_>>>()?;
            let outputs =
                unsafe { slice_of(node.outputs, node.output_count, &format!("{path}.outputs")) }?
                    .iter()
                    .enumerate()
                    .map(|(slot, &output)| {
                        value_index(output, count, &format!("{path}.outputs[{slot}]"))
                    })
                    .collect::<PluginResult<Vec<_>>>()?;
            let names = unsafe {
                slice_of(
                    node.attribute_names,
                    node.attribute_count,
                    &format!("{path}.attribute_names"),
                )
            }?;
            let raw_values = unsafe {
                slice_of(
                    node.attribute_values,
                    node.attribute_count,
                    &format!("{path}.attribute_values"),
                )
            }?;
            let mut attributes = Vec::with_capacity(names.len());
            for (slot, (&key, value)) in names.iter().zip(raw_values).enumerate() {
                let key = unsafe { read_str(key, &format!("{path}.attribute_names[{slot}]")) }?;
                let value = unsafe { Value::from_raw(value) }.map_err(|error| {
                    error.context(format!("{path} ('{name}') attribute '{key}'"))
                })?;
                attributes.push((key, value));
            }
            nodes.push(NodeRef { name, op_type, domain, inputs, outputs, attributes });
        }
        let indices = |items: *const i64, length: usize, what: &str| -> PluginResult<Vec<usize>> {
            unsafe { slice_of(items, length, what) }?
                .iter()
                .enumerate()
                .map(|(slot, &at)| value_index(at, count, &format!("{what}[{slot}]")))
                .collect()
        };
        let inputs = indices(raw.inputs, raw.input_count, "graph->inputs")?;
        let outputs = indices(raw.outputs, raw.output_count, "graph->outputs")?;
        let onnx_present =
            has_field(raw.struct_size, offset_of!(DlAi2Graph, onnx_size), size_of::<usize>());
        let onnx = if onnx_present && !raw.onnx.is_null() {
            Some(unsafe { slice_of(raw.onnx, raw.onnx_size, "graph->onnx") }?)
        } else {
            None
        };
        Ok(GraphView { opset: raw.opset, values, nodes, inputs, outputs, onnx })
    }

    /// The opset of the ONNX domain.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// Every value, by index.
    pub fn values(&self) -> &[TensorRef<'a>] {
        &self.values
    }

    /// The value at `index` (panics when out of range, like slice indexing).
    pub fn value(&self, index: usize) -> &TensorRef<'a> {
        &self.values[index]
    }

    /// The nodes in topological order.
    pub fn nodes(&self) -> &[NodeRef<'a>] {
        &self.nodes
    }

    /// Value indices of the graph inputs, in order.
    pub fn input_indices(&self) -> &[usize] {
        &self.inputs
    }

    /// Value indices of the graph outputs, in order.
    pub fn output_indices(&self) -> &[usize] {
        &self.outputs
    }

    /// The graph inputs, in order.
    pub fn inputs(&self) -> impl ExactSizeIterator<Item = &TensorRef<'a>> {
        self.inputs.iter().map(|&at| &self.values[at])
    }

    /// The graph outputs, in order.
    pub fn outputs(&self) -> impl ExactSizeIterator<Item = &TensorRef<'a>> {
        self.outputs.iter().map(|&at| &self.values[at])
    }

    /// The same graph as serialized ONNX model bytes, if the host passed them.
    pub fn onnx_bytes(&self) -> Option<&'a [u8]> {
        self.onnx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::raw::{GraphSpec, NodeSpec, RawGraph};
    use crate::sdk::value::TensorValue;

    fn relu_graph() -> GraphSpec {
        let tensor = |name: &str, data: Option<Vec<u8>>| TensorValue {
            name: name.into(),
            dtype: 1,
            shape: vec![1, 2],
            data,
        };
        GraphSpec {
            opset: 17,
            values: vec![
                tensor("x", None),
                tensor("b", Some(vec![0; 8])),
                tensor("y", None),
                tensor("z", None),
            ],
            nodes: vec![
                NodeSpec {
                    name: "add".into(),
                    op_type: "Add".into(),
                    inputs: vec![Some(0), Some(1)],
                    outputs: vec![2],
                    ..Default::default()
                },
                NodeSpec {
                    name: "clip".into(),
                    op_type: "Clip".into(),
                    inputs: vec![Some(2), None, None],
                    outputs: vec![3],
                    attributes: vec![("note".into(), Value::from("kept"))],
                    ..Default::default()
                },
            ],
            inputs: vec![0],
            outputs: vec![3],
            onnx: b"onnx bytes".to_vec(),
        }
    }

    #[test]
    fn a_view_reads_values_nodes_and_io() {
        let raw = RawGraph::new(&relu_graph()).unwrap();
        let view = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap();
        assert_eq!(view.opset(), 17);
        assert_eq!(view.values().len(), 4);
        assert_eq!(view.value(1).data, Some(&[0u8; 8][..]));
        assert_eq!(view.value(0).data, None);
        assert_eq!(view.inputs().map(|v| v.name).collect::<Vec<_>>(), ["x"]);
        assert_eq!(view.outputs().next().unwrap().dims(), [1, 2]);
        assert_eq!(view.nodes()[1].inputs, [Some(2), None, None]);
        assert_eq!(view.nodes()[1].attribute("note"), Some(&Value::from("kept")));
        assert_eq!(view.onnx_bytes(), Some(&b"onnx bytes"[..]));
    }

    #[test]
    fn broken_graphs_are_refused_naming_the_field() {
        let mut spec = relu_graph();
        spec.nodes[0].outputs = vec![9];
        let raw = RawGraph::new(&spec).unwrap();
        let error = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap_err();
        assert_eq!(error.message, "graph->nodes[0].outputs[0] is 9, outside the 4 values");

        let mut spec = relu_graph();
        spec.values[2].shape = vec![-1];
        let raw = RawGraph::new(&spec).unwrap();
        let error = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap_err();
        assert!(error.message.contains("negative dimension -1"), "{error}");

        let mut raw = RawGraph::new(&relu_graph()).unwrap();
        raw.raw_mut().struct_size = 8;
        let error = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap_err();
        assert!(error.message.starts_with("graph->struct_size is 8"), "{error}");

        let mut raw = RawGraph::new(&relu_graph()).unwrap();
        raw.raw_mut().nodes = std::ptr::null();
        let error = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap_err();
        assert_eq!(error.message, "graph->nodes is NULL but 2 elements are announced");

        let error = unsafe { GraphView::from_raw(std::ptr::null()) }.unwrap_err();
        assert_eq!(error.message, "graph is NULL");
    }

    #[test]
    fn onnx_bytes_beyond_the_struct_size_are_absent() {
        let mut raw = RawGraph::new(&relu_graph()).unwrap();
        raw.raw_mut().struct_size = offset_of!(DlAi2Graph, onnx);
        let view = unsafe { GraphView::from_raw(raw.as_ptr()) }.unwrap();
        assert_eq!(view.onnx_bytes(), None);
    }
}

//! The graph a plugin checks and compiles: dlopt's IR specialised for one concrete input
//! shape, laid out as a `DlAi2Graph` (plus the same graph as ONNX bytes).
//!
//! Specialising fixes the input's dimensions, then repeats shape inference, constant
//! folding and dead-node removal until nothing changes, so shape arithmetic (`Shape ->
//! Gather -> Concat -> Reshape`) becomes constants and every value gets a concrete shape
//! and element type, as the ABI promises. A value whose shape still depends on data is an
//! error (4320) naming it.

use std::ffi::c_void;

use dlopt_ai2::abi::{DlAi2Graph, DlAi2Node, DlAi2TensorDesc, DlAi2Value};
use dlopt_graph::shape::{fixed_shape, symbolic};
use dlopt_graph::{Attribute, DataType, Graph, Tensor, with_tensor_data};

use crate::error::{H_ERR_HAI2_ERROR, HalconError, Result};

use super::value::{CArena, empty_value};

/// Rounds of inference and folding before giving up on reaching a fixed point.
const MAX_ROUNDS: usize = 16;

fn error(message: impl Into<String>) -> HalconError {
    HalconError::new(H_ERR_HAI2_ERROR, message)
}

/// A copy of `graph` whose single input has `input_shape`, with concrete shapes and types
/// everywhere (see the module documentation). Constants are shared with `graph`.
pub fn specialize(graph: &Graph, input_shape: &[usize]) -> Result<Graph> {
    let mut graph = graph.clone();
    let Some(&input) = graph.inputs.first() else {
        return Err(error("the model has no input"));
    };
    if graph.inputs.len() != 1 {
        return Err(error(format!(
            "the model has {} inputs; plugin devices run models with one input",
            graph.inputs.len()
        )));
    }
    graph.value_mut(input).shape = Some(symbolic(input_shape));
    for _ in 0..MAX_ROUNDS {
        dlopt_graph::shape_inference::infer_shapes(&mut graph).map_err(|e| {
            error(format!("shape inference for input shape {input_shape:?}: {}", e.message))
        })?;
        let folded = dlopt_graph::passes::fold_constants(&mut graph)
            .map_err(|e| error(format!("constant folding: {}", e.message)))?;
        let removed = dlopt_graph::passes::remove_dead_nodes(&mut graph)
            .map_err(|e| error(format!("dead node removal: {}", e.message)))?;
        if !folded && !removed {
            break;
        }
    }
    for value in &graph.values {
        let concrete = value.shape.as_deref().and_then(fixed_shape);
        if concrete.is_none() || value.data_type.is_none() {
            return Err(error(format!(
                "value '{}' has no concrete shape and type for input shape {input_shape:?} (its shape depends on data), so the model cannot be compiled for a plugin device",
                value.name
            )));
        }
    }
    Ok(graph)
}

/// The concrete shape and type of value `index` of a specialised graph.
pub fn value_info(graph: &Graph, index: usize) -> (DataType, Vec<usize>) {
    let value = &graph.values[index];
    (
        value.data_type.unwrap_or(DataType::F32),
        value.shape.as_deref().and_then(fixed_shape).unwrap_or_default(),
    )
}

/// The raw bytes of a tensor (row-major, native endianness, which the ABI requires to be
/// little-endian: dlopt builds only for little-endian targets).
pub fn tensor_bytes(tensor: &Tensor) -> (*const c_void, usize) {
    with_tensor_data!(tensor.data(), values => {
        (values.as_ptr() as *const c_void, std::mem::size_of_val(values.as_slice()))
    })
}

/// A specialised graph as the ABI's `DlAi2Graph`: owns the graph, its ONNX bytes and every
/// array and string the C structures point to. Valid to pass to a plugin while it lives.
pub struct AbiGraph {
    graph: Graph,
    _onnx: Vec<u8>,
    _arena: CArena,
    _values: Box<[DlAi2TensorDesc]>,
    _nodes: Box<[DlAi2Node]>,
    raw: Box<DlAi2Graph>,
}

fn attribute_value(arena: &mut CArena, attribute: &Attribute) -> Result<DlAi2Value> {
    use dlopt_ai2::abi::{DLOPT_AI2_VALUE_INT, DLOPT_AI2_VALUE_REAL};
    let int = |value: i64| DlAi2Value { integer: value, ..empty_value(DLOPT_AI2_VALUE_INT) };
    let real = |value: f64| DlAi2Value { real: value, ..empty_value(DLOPT_AI2_VALUE_REAL) };
    Ok(match attribute {
        Attribute::Int(value) => int(*value),
        Attribute::Float(value) => real(*value as f64),
        Attribute::String(text) => arena.string_value(text)?,
        Attribute::Ints(values) => {
            let items = values.iter().map(|value| int(*value)).collect();
            arena.list_value(items)
        }
        Attribute::Floats(values) => {
            let items = values.iter().map(|value| real(*value as f64)).collect();
            arena.list_value(items)
        }
        Attribute::Strings(texts) => {
            let items = texts.iter().map(|text| arena.string_value(text)).collect::<Result<_>>()?;
            arena.list_value(items)
        }
        Attribute::Tensor(tensor) => {
            let desc = tensor_desc(arena, "", tensor.data_type(), tensor.shape(), Some(tensor))?;
            arena.tensor_value(desc)
        }
    })
}

fn tensor_desc(
    arena: &mut CArena,
    name: &str,
    data_type: DataType,
    shape: &[usize],
    constant: Option<&Tensor>,
) -> Result<DlAi2TensorDesc> {
    let (data, byte_size) = constant.map_or((std::ptr::null(), 0), tensor_bytes);
    Ok(DlAi2TensorDesc {
        name: arena.string(name)?,
        dtype: data_type.onnx_code(),
        rank: shape.len(),
        shape: arena.integers(shape.iter().map(|&dim| dim as i64).collect()),
        data,
        byte_size,
    })
}

fn indices(arena: &mut CArena, ids: impl Iterator<Item = i64>) -> (usize, *const i64) {
    let list: Vec<i64> = ids.collect();
    (list.len(), arena.integers(list))
}

impl AbiGraph {
    /// Lays out a specialised graph (see [`specialize`]). Errors (4320): a name with a NUL
    /// character, a graph the ONNX exporter refuses.
    pub fn new(graph: Graph) -> Result<AbiGraph> {
        let onnx = dlopt_graph::export_model(&graph).map_err(|e| {
            error(format!("the graph cannot be written as ONNX for the plugin: {}", e.message))
        })?;
        let mut arena = CArena::default();
        let values = graph
            .values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let (data_type, shape) = value_info(&graph, index);
                tensor_desc(&mut arena, &value.name, data_type, &shape, value.constant.as_ref())
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| error(e.message))?
            .into_boxed_slice();
        let nodes = graph
            .nodes
            .iter()
            .map(|node| {
                let (input_count, inputs) = indices(
                    &mut arena,
                    node.inputs.iter().map(|input| input.map_or(-1, |id| id.index() as i64)),
                );
                let (output_count, outputs) =
                    indices(&mut arena, node.outputs.iter().map(|id| id.index() as i64));
                let mut names = Vec::new();
                let mut attribute_values = Vec::new();
                for (name, attribute) in node.attributes.iter() {
                    names.push(arena.string(name)?);
                    attribute_values.push(attribute_value(&mut arena, attribute)?);
                }
                let attribute_count = names.len();
                Ok(DlAi2Node {
                    name: arena.string(&node.name)?,
                    op_type: arena.string(&node.op_type)?,
                    domain: arena.string(&node.domain)?,
                    input_count,
                    inputs,
                    output_count,
                    outputs,
                    attribute_count,
                    attribute_names: arena.string_pointers(names),
                    attribute_values: arena.values(attribute_values),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| error(e.message))?
            .into_boxed_slice();
        let (input_count, inputs) =
            indices(&mut arena, graph.inputs.iter().map(|id| id.index() as i64));
        let (output_count, outputs) =
            indices(&mut arena, graph.outputs.iter().map(|id| id.index() as i64));
        let raw = Box::new(DlAi2Graph {
            struct_size: size_of::<DlAi2Graph>(),
            opset: graph.opset,
            value_count: values.len(),
            values: values.as_ptr(),
            node_count: nodes.len(),
            nodes: nodes.as_ptr(),
            input_count,
            inputs,
            output_count,
            outputs,
            onnx: onnx.as_ptr(),
            onnx_size: onnx.len(),
        });
        Ok(AbiGraph { graph, _onnx: onnx, _arena: arena, _values: values, _nodes: nodes, raw })
    }

    /// The specialised graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The `DlAi2Graph`, valid while `self` lives.
    pub fn raw(&self) -> *const DlAi2Graph {
        &*self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlopt_graph::{Dim, Node, Value};
    use std::ffi::CStr;

    /// x [N, 2] -> Shape -> Reshape(x, shape) -> Relu -> y: the shape arithmetic folds away.
    fn graph() -> Graph {
        let mut graph = Graph { name: "g".into(), opset: 17, ..Default::default() };
        let x = graph.add_value(Value {
            name: "x".into(),
            data_type: Some(DataType::F32),
            shape: Some(vec![Dim::symbol("N"), Dim::Fixed(2)]),
            constant: None,
        });
        let shape = graph.add_value(Value { name: "shape".into(), ..Default::default() });
        let reshaped = graph.add_value(Value { name: "reshaped".into(), ..Default::default() });
        let y = graph.add_value(Value { name: "y".into(), ..Default::default() });
        graph.inputs.push(x);
        graph.outputs.push(y);
        graph.nodes.push(Node {
            name: "shape_of".into(),
            op_type: "Shape".into(),
            inputs: vec![Some(x)],
            outputs: vec![shape],
            ..Default::default()
        });
        graph.nodes.push(Node {
            name: "reshape".into(),
            op_type: "Reshape".into(),
            inputs: vec![Some(x), Some(shape)],
            outputs: vec![reshaped],
            ..Default::default()
        });
        let mut relu = Node {
            name: "relu".into(),
            op_type: "Relu".into(),
            inputs: vec![Some(reshaped)],
            outputs: vec![y],
            ..Default::default()
        };
        relu.attributes.set("note", Attribute::Ints(vec![1, 2]));
        graph.nodes.push(relu);
        graph
    }

    #[test]
    fn specialising_gives_concrete_shapes_and_folds_shape_arithmetic() {
        let specialised = specialize(&graph(), &[3, 2]).unwrap();
        assert_eq!(specialised.nodes.len(), 2, "Shape folded into a constant");
        let abi = AbiGraph::new(specialised).unwrap();
        let raw = unsafe { &*abi.raw() };
        assert_eq!((raw.input_count, raw.output_count, raw.node_count), (1, 1, 2));
        assert!(raw.onnx_size > 0);
        let values = unsafe { std::slice::from_raw_parts(raw.values, raw.value_count) };
        for value in values {
            let shape = unsafe { std::slice::from_raw_parts(value.shape, value.rank) };
            let name = unsafe { CStr::from_ptr(value.name) }.to_str().unwrap();
            match name {
                "x" | "y" | "reshaped" => assert_eq!(shape, [3, 2]),
                "shape" => {
                    assert_eq!(value.dtype, 7);
                    assert_eq!(value.byte_size, 16);
                    assert!(!value.data.is_null());
                }
                other => panic!("unexpected value {other}"),
            }
        }
        let relu = unsafe { &*raw.nodes.add(1) };
        assert_eq!(unsafe { CStr::from_ptr(relu.op_type) }, c"Relu");
        assert_eq!(relu.attribute_count, 1);
        let note = unsafe { &*relu.attribute_values };
        assert_eq!(note.count, 2);
    }

    #[test]
    fn several_inputs_are_refused() {
        let mut two = graph();
        let extra = two.add_value(Value { name: "z".into(), ..Default::default() });
        two.inputs.push(extra);
        assert_eq!(specialize(&two, &[1, 2]).unwrap_err().code, 4320);
    }
}

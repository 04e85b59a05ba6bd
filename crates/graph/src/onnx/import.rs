//! ONNX model bytes to the graph IR.
//!
//! The importer reads the whole graph before judging it: node inputs may name values that a
//! later node produces (the nodes are sorted afterwards), so values are defined first (in
//! the order initializers, graph inputs, node outputs) and then every input is resolved.
//!
//! Conventions:
//! - A graph input that is also an initializer is a constant (older exporters list every
//!   weight as an input); its declared type must agree with the tensor.
//! - `Constant` nodes whose value is `value`, `value_float(s)` or `value_int(s)` become
//!   constant values named after their output; others (strings) stay nodes.
//! - Unnamed nodes are named `<op_type>_<index in the file>`, a repeated name gets `_2`, ...
//! - An omitted optional input (`""`) is `None`; omitted outputs at the end of a node's list
//!   are dropped, omitted outputs before a named one get a generated name.
//! - Model fields the IR has no place for (producer, doc strings, IR version) are not kept.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::attribute::Attribute;
use crate::error::{ErrorKind, GraphError, Result};
use crate::graph::{Graph, Node, Value, ValueId};
use crate::onnx::attributes::attribute_from_proto;
use crate::onnx::names::UniqueNames;
use crate::onnx::proto::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::onnx::tensors::tensor_from_proto;
use crate::onnx::types::{
    TensorType, declared_symbols, merge_declared_type, tensor_type_from_proto,
};
use crate::onnx::{SUPPORTED_OPSETS, is_default_domain};
use crate::tensor::{Tensor, TensorData};

/// Reads an ONNX model (the bytes of a `.onnx` file) into a checked, topologically sorted
/// graph. Errors say what is wrong and where: the node (name and op type), the attribute,
/// the tensor or value name.
pub fn import_model(bytes: &[u8]) -> Result<Graph> {
    let model = ModelProto::decode(bytes).map_err(|error| {
        GraphError::invalid(format!("the file is not a readable ONNX model: {error}"))
    })?;
    import_model_proto(&model)
}

/// [`import_model`] for a model already decoded.
pub fn import_model_proto(model: &ModelProto) -> Result<Graph> {
    let opset = default_domain_opset(model)?;
    let proto =
        model.graph.as_ref().ok_or_else(|| GraphError::invalid("the model has no graph"))?;
    let declared_domains: HashSet<&str> = model
        .opset_import
        .iter()
        .map(|entry| entry.domain.as_str())
        .filter(|domain| !is_default_domain(domain))
        .collect();
    let mut importer = Importer::new(proto, declared_domains);
    importer.graph.name = proto.name.clone();
    importer.graph.opset = opset;
    importer.graph.metadata =
        model.metadata_props.iter().map(|entry| (entry.key.clone(), entry.value.clone())).collect();
    importer.read_initializers()?;
    importer.read_inputs()?;
    importer.read_nodes()?;
    importer.read_outputs()?;
    importer.read_value_infos()?;
    let mut graph = importer.graph;
    graph.sort_topologically()?;
    graph.check()?;
    Ok(graph)
}

/// The opset version of the default domain; it must be one dlopt supports.
fn default_domain_opset(model: &ModelProto) -> Result<i64> {
    let mut found: Option<i64> = None;
    for entry in model.opset_import.iter().filter(|entry| is_default_domain(&entry.domain)) {
        match found {
            Some(version) if version != entry.version => {
                return Err(GraphError::invalid(format!(
                    "the model imports the ONNX opset twice, as versions {version} and {}",
                    entry.version
                )));
            }
            _ => found = Some(entry.version),
        }
    }
    let version = found
        .ok_or_else(|| GraphError::invalid("the model imports no opset of the ONNX domain"))?;
    if !SUPPORTED_OPSETS.contains(&version) {
        return Err(GraphError::unsupported(format!(
            "ONNX opset {version} is not supported: dlopt reads opsets {} to {} \
             (convert the model, e.g. with onnx.version_converter)",
            SUPPORTED_OPSETS.start(),
            SUPPORTED_OPSETS.end()
        )));
    }
    Ok(version)
}

/// Where a value comes from, for messages about names defined twice.
#[derive(Clone, Copy)]
enum Origin {
    Initializer,
    GraphInput,
    /// Output of the node at this index of the file's node list.
    Node(usize),
}

/// A node read from the file whose inputs are not resolved yet.
struct PendingNode<'a> {
    node: Node,
    input_names: &'a [String],
}

/// The state of one import.
struct Importer<'a> {
    proto: &'a GraphProto,
    graph: Graph,
    /// Value ids by name.
    ids: HashMap<&'a str, ValueId>,
    /// Per value id, where it was defined.
    origins: Vec<Origin>,
    /// Per index in the file's node list, the name given to the node.
    node_names: Vec<String>,
    /// Non-default domains the model imports.
    declared_domains: HashSet<&'a str>,
    /// Every `dim_param` plus the generated dimension names.
    symbols: UniqueNames,
}

impl<'a> Importer<'a> {
    fn new(proto: &'a GraphProto, declared_domains: HashSet<&'a str>) -> Importer<'a> {
        let declarations = proto.input.iter().chain(&proto.output).chain(&proto.value_info);
        let symbols = UniqueNames::with_taken(declarations.flat_map(declared_symbols));
        Importer {
            proto,
            graph: Graph::default(),
            ids: HashMap::new(),
            origins: Vec::new(),
            node_names: Vec::new(),
            declared_domains,
            symbols,
        }
    }

    /// What defined value `id`, for messages.
    fn describe_origin(&self, id: ValueId) -> String {
        match self.origins.get(id.index()) {
            Some(Origin::Initializer) => "an initializer".to_string(),
            Some(Origin::GraphInput) => "a graph input".to_string(),
            Some(Origin::Node(index)) => {
                let name = self.node_names.get(*index).map_or("", String::as_str);
                let op_type = self.proto.node.get(*index).map_or("", |node| node.op_type.as_str());
                format!("node '{name}' ({op_type})")
            }
            None => "another value".to_string(),
        }
    }

    /// Adds a value named `name`, which must be new (the error does not repeat the name; the
    /// caller adds it).
    fn define(&mut self, name: &'a str, value: Value, origin: Origin) -> Result<ValueId> {
        if let Some(&existing) = self.ids.get(name) {
            return Err(GraphError::invalid(format!(
                "the name is already defined by {}",
                self.describe_origin(existing)
            )));
        }
        let id = self.push_value(value, origin)?;
        self.ids.insert(name, id);
        Ok(id)
    }

    /// Adds a value that no other part of the model can name (its name is generated).
    fn define_unnamed(&mut self, name: String, origin: Origin) -> Result<ValueId> {
        self.push_value(Value { name, ..Value::default() }, origin)
    }

    fn push_value(&mut self, value: Value, origin: Origin) -> Result<ValueId> {
        // Value ids are 32-bit.
        if u32::try_from(self.graph.values.len()).is_err() {
            let message = "the model has more values than dlopt can hold";
            return Err(GraphError::new(ErrorKind::TooLarge, message));
        }
        self.origins.push(origin);
        Ok(self.graph.add_value(value))
    }

    fn read_initializers(&mut self) -> Result<()> {
        if let Some(sparse) = self.proto.sparse_initializer.first() {
            let name = sparse.values.as_ref().map_or("", |values| values.name.as_str());
            return Err(GraphError::unsupported(format!(
                "sparse initializer '{name}' is not supported (store it as a dense initializer)"
            )));
        }
        for proto in &self.proto.initializer {
            if proto.name.is_empty() {
                return Err(GraphError::invalid("an initializer has no name"));
            }
            let subject = format!("initializer '{}'", proto.name);
            let tensor = tensor_from_proto(proto).map_err(|error| error.context(&subject))?;
            self.define(&proto.name, constant_value(&proto.name, tensor), Origin::Initializer)
                .map_err(|error| error.context(&subject))?;
        }
        Ok(())
    }

    fn read_inputs(&mut self) -> Result<()> {
        let mut listed = HashSet::new();
        for info in &self.proto.input {
            let subject = format!("graph input '{}'", info.name);
            if info.name.is_empty() {
                return Err(GraphError::invalid("a graph input has no name"));
            }
            if !listed.insert(info.name.as_str()) {
                return Err(GraphError::invalid(format!("{subject} is listed twice")));
            }
            let declared = self.declared_type(info).map_err(|error| error.context(&subject))?;
            if let Some(&id) = self.ids.get(info.name.as_str()) {
                // An initializer listed as an input: it stays a constant.
                merge_declared_type(self.graph.value_mut(id), declared)
                    .map_err(|error| error.context(&subject))?;
                continue;
            }
            let value = Value {
                name: info.name.clone(),
                data_type: declared.data_type,
                shape: declared.shape,
                constant: None,
            };
            let id = self
                .define(&info.name, value, Origin::GraphInput)
                .map_err(|error| error.context(&subject))?;
            self.graph.inputs.push(id);
        }
        Ok(())
    }

    fn declared_type(&mut self, info: &ValueInfoProto) -> Result<TensorType> {
        tensor_type_from_proto(info, &mut self.symbols)
    }

    /// Names every node: its own name the first time it appears, else a generated one.
    fn name_nodes(&mut self) {
        let nodes = &self.proto.node;
        let mut taken = UniqueNames::with_taken(
            nodes.iter().map(|node| node.name.as_str()).filter(|n| !n.is_empty()),
        );
        let mut first_use = HashSet::new();
        self.node_names = nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                if node.name.is_empty() {
                    taken.claim(&format!("{}_{index}", node.op_type))
                } else if first_use.insert(node.name.as_str()) {
                    node.name.clone()
                } else {
                    taken.claim(&node.name)
                }
            })
            .collect();
    }

    fn read_nodes(&mut self) -> Result<()> {
        self.name_nodes();
        // Every value name in the file, so that generated names avoid them all.
        let mut value_names = UniqueNames::with_taken(
            self.proto
                .initializer
                .iter()
                .map(|tensor| tensor.name.as_str())
                .chain(self.proto.input.iter().map(|info| info.name.as_str()))
                .chain(
                    self.proto.node.iter().flat_map(|node| node.output.iter().map(String::as_str)),
                ),
        );
        let mut pending = Vec::with_capacity(self.proto.node.len());
        for (index, proto) in self.proto.node.iter().enumerate() {
            if let Some(node) = self.read_node(index, proto, &mut value_names)? {
                pending.push(PendingNode { node, input_names: &proto.input });
            }
        }
        for PendingNode { mut node, input_names } in pending {
            node.inputs = input_names
                .iter()
                .map(|name| match name.as_str() {
                    "" => Ok(None),
                    name => self.ids.get(name).copied().map(Some).ok_or_else(|| {
                        GraphError::invalid(format!(
                            "input '{name}' is not defined: no node, graph input or initializer produces it"
                        ))
                        .at_node(&node)
                    }),
                })
                .collect::<Result<_>>()?;
            self.graph.nodes.push(node);
        }
        Ok(())
    }

    /// Reads node `index` and defines its outputs; `None` if it became a constant value.
    fn read_node(
        &mut self,
        index: usize,
        proto: &'a NodeProto,
        value_names: &mut UniqueNames,
    ) -> Result<Option<Node>> {
        let name = self.node_names.get(index).cloned().unwrap_or_default();
        if proto.op_type.is_empty() {
            return Err(GraphError::invalid(format!(
                "node '{name}' (number {index} in the file) has no op_type"
            )));
        }
        let domain =
            if is_default_domain(&proto.domain) { String::new() } else { proto.domain.clone() };
        let mut node = Node { name, op_type: proto.op_type.clone(), domain, ..Node::default() };
        if !node.domain.is_empty() && !self.declared_domains.contains(node.domain.as_str()) {
            let message =
                format!("its domain '{}' is not among the model's opset imports", node.domain);
            return Err(GraphError::invalid(message).at_node(&node));
        }
        for attribute in &proto.attribute {
            let value = attribute_from_proto(attribute).map_err(|error| error.at_node(&node))?;
            if node.attributes.get(&attribute.name).is_some() {
                let message = format!("attribute '{}' is given twice", attribute.name);
                return Err(GraphError::invalid(message).at_node(&node));
            }
            node.attributes.set(attribute.name.clone(), value);
        }
        if let Some(tensor) =
            constant_node_tensor(&node, proto).map_err(|error| error.at_node(&node))?
        {
            let output = proto.output.first().map_or("", String::as_str);
            let message =
                |error: GraphError| error.context(format!("output '{output}'")).at_node(&node);
            self.define(output, constant_value(output, tensor), Origin::Node(index))
                .map_err(message)?;
            return Ok(None);
        }
        // Omitted outputs at the end are dropped; earlier ones keep their position.
        let named_count =
            proto.output.iter().rposition(|output| !output.is_empty()).map_or(0, |last| last + 1);
        for (position, output) in proto.output.iter().take(named_count).enumerate() {
            let id = if output.is_empty() {
                let generated =
                    value_names.claim(&format!("{}_unused_output{position}", node.name));
                self.define_unnamed(generated, Origin::Node(index))
            } else {
                let value = Value { name: output.clone(), ..Value::default() };
                self.define(output, value, Origin::Node(index))
                    .map_err(|error| error.context(format!("output '{output}'")))
            };
            node.outputs.push(id.map_err(|error| error.at_node(&node))?);
        }
        Ok(Some(node))
    }

    fn read_outputs(&mut self) -> Result<()> {
        for info in &self.proto.output {
            if info.name.is_empty() {
                return Err(GraphError::invalid("a graph output has no name"));
            }
            let subject = format!("graph output '{}'", info.name);
            let id = self.ids.get(info.name.as_str()).copied().ok_or_else(|| {
                GraphError::invalid(format!(
                    "{subject} is not produced by any node, graph input or initializer"
                ))
            })?;
            let declared = self.declared_type(info).map_err(|error| error.context(&subject))?;
            merge_declared_type(self.graph.value_mut(id), declared)
                .map_err(|error| error.context(&subject))?;
            self.graph.outputs.push(id);
        }
        Ok(())
    }

    /// Applies `value_info` declarations; those naming no value of the graph are ignored.
    fn read_value_infos(&mut self) -> Result<()> {
        for info in &self.proto.value_info {
            let Some(&id) = self.ids.get(info.name.as_str()) else { continue };
            let subject = format!("value_info '{}'", info.name);
            let declared = self.declared_type(info).map_err(|error| error.context(&subject))?;
            merge_declared_type(self.graph.value_mut(id), declared)
                .map_err(|error| error.context(&subject))?;
        }
        Ok(())
    }
}

/// A constant value named `name` holding `tensor`.
fn constant_value(name: &str, tensor: Tensor) -> Value {
    Value {
        name: name.to_string(),
        data_type: Some(tensor.data_type()),
        shape: Some(crate::shape::symbolic(tensor.shape())),
        constant: Some(tensor),
    }
}

/// The tensor of a `Constant` node that becomes a constant value; `None` for other nodes and
/// for constants dlopt keeps as nodes (strings). Errors do not name the node.
fn constant_node_tensor(node: &Node, proto: &NodeProto) -> Result<Option<Tensor>> {
    if node.op_type != "Constant" || !node.domain.is_empty() {
        return Ok(None);
    }
    let inputs = proto.input.iter().filter(|input| !input.is_empty()).count();
    if inputs != 0 {
        return Err(GraphError::invalid(format!(
            "a Constant takes no inputs, this one has {inputs}"
        )));
    }
    if proto.output.len() != 1 || proto.output.first().is_none_or(String::is_empty) {
        return Err(GraphError::invalid(format!(
            "a Constant has exactly one named output, this one has {:?}",
            proto.output
        )));
    }
    let mut attributes = node.attributes.iter();
    let (name, value) = match (attributes.next(), attributes.next()) {
        (Some(only), None) => only,
        _ => {
            return Err(GraphError::invalid(format!(
                "a Constant has exactly one attribute (value, value_float, value_ints, ...), this one has {}",
                node.attributes.iter().count()
            )));
        }
    };
    let tensor = match (name.as_str(), value) {
        ("value", Attribute::Tensor(tensor)) => tensor.clone(),
        ("value_float", Attribute::Float(number)) => {
            Tensor::scalar(TensorData::F32(vec![*number]))?
        }
        ("value_floats", Attribute::Floats(numbers)) => {
            Tensor::from_f32(vec![numbers.len()], numbers.clone())?
        }
        ("value_int", Attribute::Int(number)) => Tensor::scalar(TensorData::I64(vec![*number]))?,
        ("value_ints", Attribute::Ints(numbers)) => {
            Tensor::from_i64(vec![numbers.len()], numbers.clone())?
        }
        ("value_string" | "value_strings", _) => return Ok(None),
        ("value", _) => return Err(wrong_type(name, "a tensor")),
        ("value_float", _) => return Err(wrong_type(name, "a float")),
        ("value_floats", _) => return Err(wrong_type(name, "floats")),
        ("value_int", _) => return Err(wrong_type(name, "an int")),
        ("value_ints", _) => return Err(wrong_type(name, "ints")),
        _ => {
            return Err(GraphError::invalid(format!(
                "attribute '{name}' is not an attribute of Constant"
            )));
        }
    };
    Ok(Some(tensor))
}

fn wrong_type(attribute: &str, expected: &str) -> GraphError {
    GraphError::invalid(format!("attribute '{attribute}' must be {expected}"))
}

//! The graph IR: values (graph inputs, constants, node outputs) and nodes in topological
//! order, with ONNX's operator vocabulary (op type, domain, attributes).
//!
//! Passes change graphs through the methods here and keep them consistent; [`Graph::check`]
//! verifies that (run after every pass in debug builds).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::attribute::Attributes;
use crate::data_type::DataType;
use crate::error::{GraphError, Result};
use crate::shape::SymbolicShape;
use crate::tensor::Tensor;

/// Index of a value in [`Graph::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The index into [`Graph::values`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A value: a graph input, a constant (ONNX initializer or folded result), or a node output.
#[derive(Clone, Debug, Default)]
pub struct Value {
    /// The unique name (ONNX value name).
    pub name: String,
    /// The element type, if known.
    pub data_type: Option<DataType>,
    /// The shape, if known (dimensions may be symbolic).
    pub shape: Option<SymbolicShape>,
    /// The data of a constant.
    pub constant: Option<Tensor>,
}

/// A node: one operator application.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// The node name (unique in the graph; the importer names unnamed nodes).
    pub name: String,
    /// The ONNX operator type, e.g. `"Conv"`.
    pub op_type: String,
    /// The operator domain: `""` for ONNX, `"dlopt"` for dlopt's fused operators.
    pub domain: String,
    /// Inputs in ONNX order; `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs in ONNX order.
    pub outputs: Vec<ValueId>,
    /// Attributes.
    pub attributes: Attributes,
}

impl Node {
    /// `node 'name' (OpType)`, the prefix of every message about this node.
    pub fn describe(&self) -> String {
        format!("node '{}' ({})", self.name, self.op_type)
    }

    /// Input `index`, if present.
    pub fn input(&self, index: usize) -> Option<ValueId> {
        self.inputs.get(index).copied().flatten()
    }
}

/// A graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The graph name.
    pub name: String,
    /// All values.
    pub values: Vec<Value>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Graph inputs (values fed by the caller), in order.
    pub inputs: Vec<ValueId>,
    /// Graph outputs, in order.
    pub outputs: Vec<ValueId>,
    /// The ONNX opset version of the default domain.
    pub opset: i64,
    /// Model metadata (ONNX `metadata_props`), in order.
    pub metadata: Vec<(String, String)>,
}

impl Graph {
    /// Adds a value and returns its id.
    pub fn add_value(&mut self, value: Value) -> ValueId {
        self.values.push(value);
        ValueId((self.values.len() - 1) as u32)
    }

    /// Adds a constant value holding `tensor`.
    pub fn add_constant(&mut self, name: String, tensor: Tensor) -> ValueId {
        let shape = crate::shape::symbolic(tensor.shape());
        self.add_value(Value {
            name,
            data_type: Some(tensor.data_type()),
            shape: Some(shape),
            constant: Some(tensor),
        })
    }

    /// The value `id`.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    /// The value `id`, mutable.
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.index()]
    }

    /// The constant data of `id`, if it is a constant.
    pub fn constant(&self, id: ValueId) -> Option<&Tensor> {
        self.values.get(id.index())?.constant.as_ref()
    }

    /// The value named `name`.
    pub fn value_by_name(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|value| value.name == name).map(|at| ValueId(at as u32))
    }

    /// For each value, the index of the node producing it.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut producers = vec![None; self.values.len()];
        for (at, node) in self.nodes.iter().enumerate() {
            for output in &node.outputs {
                producers[output.index()] = Some(at);
            }
        }
        producers
    }

    /// For each value, how many node inputs and graph outputs use it.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.values.len()];
        for node in &self.nodes {
            for input in node.inputs.iter().flatten() {
                counts[input.index()] += 1;
            }
        }
        for output in &self.outputs {
            counts[output.index()] += 1;
        }
        counts
    }

    /// Makes every use of `old` (node inputs, graph outputs) use `new` instead.
    pub fn replace_uses(&mut self, old: ValueId, new: ValueId) {
        for node in &mut self.nodes {
            for input in node.inputs.iter_mut().flatten() {
                if *input == old {
                    *input = new;
                }
            }
        }
        for output in &mut self.outputs {
            if *output == old {
                *output = new;
            }
        }
    }

    /// Removes nodes none of whose outputs is used (repeatedly, so chains disappear).
    pub fn remove_dead_nodes(&mut self) {
        loop {
            let counts = self.use_counts();
            let before = self.nodes.len();
            self.nodes.retain(|node| node.outputs.iter().any(|output| counts[output.index()] > 0));
            if self.nodes.len() == before {
                return;
            }
        }
    }

    /// Drops values nothing refers to and renumbers the rest (ids change).
    pub fn compact(&mut self) {
        let mut used = vec![false; self.values.len()];
        for node in &self.nodes {
            for id in node.inputs.iter().flatten().chain(&node.outputs) {
                used[id.index()] = true;
            }
        }
        for id in self.inputs.iter().chain(&self.outputs) {
            used[id.index()] = true;
        }
        let mut remap = vec![ValueId(u32::MAX); self.values.len()];
        let mut kept = Vec::with_capacity(self.values.len());
        for (at, value) in std::mem::take(&mut self.values).into_iter().enumerate() {
            if used[at] {
                remap[at] = ValueId(kept.len() as u32);
                kept.push(value);
            }
        }
        self.values = kept;
        let map = |id: &mut ValueId| *id = remap[id.index()];
        for node in &mut self.nodes {
            node.inputs.iter_mut().flatten().for_each(map);
            node.outputs.iter_mut().for_each(map);
        }
        self.inputs.iter_mut().for_each(map);
        self.outputs.iter_mut().for_each(map);
    }

    /// A value or node name not used yet, starting with `base`.
    pub fn unique_name(&self, base: &str) -> String {
        let taken: HashSet<&str> = self
            .values
            .iter()
            .map(|value| value.name.as_str())
            .chain(self.nodes.iter().map(|node| node.name.as_str()))
            .collect();
        if !taken.contains(base) {
            return base.to_string();
        }
        (1..).map(|n| format!("{base}_{n}")).find(|name| !taken.contains(name.as_str())).unwrap()
    }

    /// Orders the nodes topologically (stable: keeps the given order where it is valid).
    /// Fails on a cycle or on an input nothing produces.
    pub fn sort_topologically(&mut self) -> Result<()> {
        let producers = self.producers();
        let mut waiting = vec![0usize; self.nodes.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (at, node) in self.nodes.iter().enumerate() {
            for input in node.inputs.iter().flatten() {
                if let Some(producer) = producers[input.index()] {
                    waiting[at] += 1;
                    dependents[producer].push(at);
                }
            }
        }
        let mut ready: VecDeque<usize> =
            (0..self.nodes.len()).filter(|&at| waiting[at] == 0).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(at) = ready.pop_front() {
            order.push(at);
            for &dependent in &dependents[at] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        if order.len() != self.nodes.len() {
            // Linear, not `order.contains` per node: a hostile file may hold millions of nodes.
            let mut placed = vec![false; self.nodes.len()];
            order.iter().for_each(|&at| placed[at] = true);
            let stuck = placed.iter().position(|&is_placed| !is_placed).unwrap_or_default();
            return Err(GraphError::invalid(format!(
                "the graph has a cycle through {}",
                self.nodes[stuck].describe()
            )));
        }
        let mut nodes: Vec<Option<Node>> =
            std::mem::take(&mut self.nodes).into_iter().map(Some).collect();
        self.nodes = order.into_iter().map(|at| nodes[at].take().unwrap()).collect();
        Ok(())
    }

    /// Checks the graph's consistency: ids in range, every value produced at most once and
    /// never if it is an input or constant, nodes in topological order, outputs defined,
    /// names unique.
    pub fn check(&self) -> Result<()> {
        let count = self.values.len();
        let in_range = |id: &ValueId| id.index() < count;
        let mut defined = vec![false; count];
        let mut names = HashSet::new();
        for (at, value) in self.values.iter().enumerate() {
            if !names.insert(value.name.as_str()) {
                return Err(GraphError::invalid(format!(
                    "value name '{}' is used twice",
                    value.name
                )));
            }
            if value.constant.is_some() {
                defined[at] = true;
            }
        }
        for input in &self.inputs {
            if !in_range(input) {
                return Err(GraphError::invalid("a graph input refers to no value"));
            }
            if self.values[input.index()].constant.is_some() {
                return Err(GraphError::invalid(format!(
                    "graph input '{}' is also a constant",
                    self.values[input.index()].name
                )));
            }
            defined[input.index()] = true;
        }
        let mut node_names = HashSet::new();
        for node in &self.nodes {
            if !node_names.insert(node.name.as_str()) {
                return Err(GraphError::invalid(format!(
                    "node name '{}' is used twice",
                    node.name
                )));
            }
            for input in node.inputs.iter().flatten() {
                if !in_range(input) {
                    return Err(GraphError::invalid(format!(
                        "{} has an input out of range",
                        node.describe()
                    )));
                }
                if !defined[input.index()] {
                    return Err(GraphError::invalid(format!(
                        "{} uses '{}' before it is produced",
                        node.describe(),
                        self.values[input.index()].name
                    )));
                }
            }
            for output in &node.outputs {
                if !in_range(output) {
                    return Err(GraphError::invalid(format!(
                        "{} has an output out of range",
                        node.describe()
                    )));
                }
                if defined[output.index()] {
                    return Err(GraphError::invalid(format!(
                        "{} produces '{}', which is already defined",
                        node.describe(),
                        self.values[output.index()].name
                    )));
                }
                defined[output.index()] = true;
            }
        }
        for output in &self.outputs {
            if !in_range(output) || !defined[output.index()] {
                return Err(GraphError::invalid("a graph output is never produced"));
            }
        }
        Ok(())
    }

    /// The values by name (for importers and tests).
    pub fn names(&self) -> HashMap<&str, ValueId> {
        self.values
            .iter()
            .enumerate()
            .map(|(at, value)| (value.name.as_str(), ValueId(at as u32)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relu_chain() -> Graph {
        let mut graph = Graph::default();
        let x = graph.add_value(Value { name: "x".into(), ..Default::default() });
        let a = graph.add_value(Value { name: "a".into(), ..Default::default() });
        let b = graph.add_value(Value { name: "b".into(), ..Default::default() });
        let dead = graph.add_value(Value { name: "dead".into(), ..Default::default() });
        graph.inputs.push(x);
        graph.outputs.push(b);
        let relu = |name: &str, input, output| Node {
            name: name.into(),
            op_type: "Relu".into(),
            inputs: vec![Some(input)],
            outputs: vec![output],
            ..Default::default()
        };
        // Deliberately out of order, plus a dead node.
        graph.nodes.push(relu("second", a, b));
        graph.nodes.push(relu("first", x, a));
        graph.nodes.push(relu("unused", x, dead));
        graph
    }

    #[test]
    fn sorting_fixes_order_and_check_accepts_it() {
        let mut graph = relu_chain();
        assert!(graph.check().is_err());
        graph.sort_topologically().unwrap();
        graph.check().unwrap();
        assert_eq!(graph.nodes[0].name, "first");
    }

    #[test]
    fn dead_nodes_and_values_go_away() {
        let mut graph = relu_chain();
        graph.sort_topologically().unwrap();
        graph.remove_dead_nodes();
        graph.compact();
        graph.check().unwrap();
        assert_eq!(graph.nodes.len(), 2);
        assert_eq!(graph.values.len(), 3);
    }

    #[test]
    fn cycles_are_reported_with_a_node() {
        let mut graph = relu_chain();
        let (a, b) = (graph.nodes[1].outputs[0], graph.nodes[0].outputs[0]);
        graph.nodes[1].inputs[0] = Some(b);
        let _ = a;
        let error = graph.sort_topologically().unwrap_err();
        assert!(error.message.contains("cycle"), "{}", error.message);
    }
}

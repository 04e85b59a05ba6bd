//! Execution plans: a graph specialised for concrete input shapes.
//!
//! Building a plan walks the nodes once: each operator's build function checks the node
//! and gives its output shapes; nodes whose inputs are all constant are computed right
//! away (so shape arithmetic disappears); the rest become steps. Memory is planned once.
//! Running a plan then only runs kernels, with all buffers taken from a pooled arena, and
//! may happen on several threads at once.

use std::sync::Arc;

use parking_lot::Mutex;

use dlopt_graph::{DataType, Graph, GraphError, Node, Result, Tensor, TensorData, ValueId};

use crate::arena::{Arena, SlotBuffers};
use crate::memory::{MemoryPlan, StepValues, plan_memory};
use crate::op::{BuildOptions, InputInfo, Kernel, OutputInfo, RunContext, Scratch};
use crate::ops;
use crate::view::TensorView;

/// Where a step reads an input from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// A constant of the plan.
    Constant(usize),
    /// Input `n` of the run.
    RunInput(usize),
    /// A value computed by an earlier step.
    Computed(usize),
}

struct Step {
    node_name: String,
    op_type: String,
    kernel: Box<dyn Kernel>,
    inputs: Vec<Option<Source>>,
    outputs: Vec<usize>,
}

/// What the plan knows about a value.
#[derive(Clone)]
struct ValueState {
    info: OutputInfo,
    constant: Option<Tensor>,
}

/// A graph specialised for concrete input shapes. Immutable once built; `run` may be
/// called from several threads at once.
pub struct Plan {
    input_infos: Vec<OutputInfo>,
    steps: Vec<Step>,
    constants: Vec<Tensor>,
    infos: Vec<Option<OutputInfo>>,
    outputs: Vec<Source>,
    memory: MemoryPlan,
    arenas: Mutex<Vec<Arena>>,
    threads: usize,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({} steps, {} constants)", self.steps.len(), self.constants.len())
    }
}

fn input_info<'a>(state: &'a Option<ValueState>) -> Option<InputInfo<'a>> {
    state.as_ref().map(|state| InputInfo {
        data_type: state.info.data_type,
        shape: &state.info.shape,
        constant: state.constant.as_ref(),
    })
}

impl Plan {
    /// Builds a plan for `graph` with its inputs of `input_shapes` (in graph input order).
    pub fn build(
        graph: &Graph,
        input_shapes: &[Vec<usize>],
        options: &BuildOptions,
    ) -> Result<Plan> {
        let mut options = options.clone();
        if graph.opset > 0 {
            options.opset = graph.opset;
        }
        let options = &options;
        if input_shapes.len() != graph.inputs.len() {
            return Err(GraphError::shape(format!(
                "the graph has {} inputs, {} shapes were given",
                graph.inputs.len(),
                input_shapes.len()
            )));
        }
        let mut states: Vec<Option<ValueState>> = vec![None; graph.values.len()];
        for (at, value) in graph.values.iter().enumerate() {
            if let Some(tensor) = &value.constant {
                states[at] = Some(ValueState {
                    info: OutputInfo::new(tensor.data_type(), tensor.shape().to_vec()),
                    constant: Some(tensor.clone()),
                });
            }
        }
        let mut input_infos = Vec::with_capacity(graph.inputs.len());
        for (&id, shape) in graph.inputs.iter().zip(input_shapes) {
            let value = graph.value(id);
            check_input_shape(graph, id, shape)?;
            let info = OutputInfo::new(value.data_type.unwrap_or(DataType::F32), shape.clone());
            input_infos.push(info.clone());
            states[id.index()] = Some(ValueState { info, constant: None });
        }

        let mut steps = Vec::new();
        for node in &graph.nodes {
            let build = ops::builder(&node.domain, &node.op_type).ok_or_else(|| {
                let domain = if node.domain.is_empty() {
                    String::new()
                } else {
                    format!(" of domain '{}'", node.domain)
                };
                GraphError::unsupported(format!(
                    "operator {}{domain} is not supported",
                    node.op_type
                ))
                .at_node(node)
            })?;
            let inputs: Vec<Option<InputInfo>> = node
                .inputs
                .iter()
                .map(|input| match input {
                    Some(id) => input_info(&states[id.index()]).map(Some).ok_or_else(|| {
                        GraphError::invalid(format!(
                            "input '{}' is not available",
                            graph.value(*id).name
                        ))
                        .at_node(node)
                    }),
                    None => Ok(None),
                })
                .collect::<Result<_>>()?;
            let built = build(node, &inputs, options).map_err(|error| error.at_node(node))?;
            if built.outputs.len() != node.outputs.len() {
                return Err(GraphError::invalid(format!(
                    "the operator gives {} outputs, the node names {}",
                    built.outputs.len(),
                    node.outputs.len()
                ))
                .at_node(node));
            }
            let all_constant = inputs.iter().flatten().all(|input| input.constant.is_some());
            if let Some(known) = built.kernel.known_outputs() {
                for ((&id, info), tensor) in node.outputs.iter().zip(built.outputs).zip(known) {
                    states[id.index()] = Some(ValueState { info, constant: Some(tensor.clone()) });
                }
            } else if all_constant {
                let values =
                    evaluate(node, built.kernel.as_ref(), &inputs, &built.outputs, options)?;
                for ((&id, info), tensor) in node.outputs.iter().zip(built.outputs).zip(values) {
                    states[id.index()] = Some(ValueState { info, constant: Some(tensor) });
                }
            } else {
                for (&id, info) in node.outputs.iter().zip(&built.outputs) {
                    states[id.index()] = Some(ValueState { info: info.clone(), constant: None });
                }
                steps.push((node, built.kernel));
            }
        }
        Self::assemble(graph, states, steps, input_infos, options)
    }

    fn assemble(
        graph: &Graph,
        states: Vec<Option<ValueState>>,
        built_steps: Vec<(&Node, Box<dyn Kernel>)>,
        input_infos: Vec<OutputInfo>,
        options: &BuildOptions,
    ) -> Result<Plan> {
        // Constants that steps or outputs read become the plan's constant table.
        let mut constant_index = vec![None; graph.values.len()];
        let mut constants = Vec::new();
        let mut source_of = |id: ValueId,
                             constant_index: &mut Vec<Option<usize>>|
         -> Result<Source> {
            if let Some(position) = graph.inputs.iter().position(|&input| input == id) {
                return Ok(Source::RunInput(position));
            }
            let state = states[id.index()].as_ref().ok_or_else(|| {
                GraphError::invalid(format!("value '{}' is never computed", graph.value(id).name))
            })?;
            match &state.constant {
                Some(tensor) => {
                    let at = *constant_index[id.index()].get_or_insert_with(|| {
                        constants.push(tensor.clone());
                        constants.len() - 1
                    });
                    Ok(Source::Constant(at))
                }
                None => Ok(Source::Computed(id.index())),
            }
        };
        let mut steps = Vec::with_capacity(built_steps.len());
        for (node, kernel) in built_steps {
            let inputs = node
                .inputs
                .iter()
                .map(|input| input.map(|id| source_of(id, &mut constant_index)).transpose())
                .collect::<Result<Vec<_>>>()?;
            let outputs = node.outputs.iter().map(|id| id.index()).collect();
            steps.push(Step {
                node_name: node.name.clone(),
                op_type: node.op_type.clone(),
                kernel,
                inputs,
                outputs,
            });
        }
        let outputs = graph
            .outputs
            .iter()
            .map(|&id| source_of(id, &mut constant_index))
            .collect::<Result<Vec<_>>>()?;

        let infos: Vec<Option<OutputInfo>> =
            states.iter().map(|state| state.as_ref().map(|s| s.info.clone())).collect();
        let bytes: Vec<Option<usize>> = (0..graph.values.len())
            .map(|at| {
                let state = states[at].as_ref()?;
                if state.constant.is_some() {
                    return None;
                }
                Some(state.info.shape.iter().product::<usize>() * state.info.data_type.size())
            })
            .collect();
        let mut pinned = vec![false; graph.values.len()];
        for source in &outputs {
            if let Source::Computed(value) = source {
                pinned[*value] = true;
            }
        }
        let reads: Vec<Vec<usize>> = steps
            .iter()
            .map(|step| {
                step.inputs
                    .iter()
                    .filter_map(|source| match source {
                        Some(Source::Computed(value)) => Some(*value),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let step_values: Vec<StepValues> = steps
            .iter()
            .zip(&reads)
            .map(|(step, reads)| StepValues { reads, writes: &step.outputs })
            .collect();
        let memory = plan_memory(&step_values, &bytes, &pinned);
        Ok(Plan {
            input_infos,
            steps,
            constants,
            infos,
            outputs,
            memory,
            arenas: Mutex::new(Vec::new()),
            threads: options.threads,
        })
    }

    /// The number of kernel steps (nodes not folded into constants).
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// The op types of the steps, in order (for tests and summaries).
    pub fn step_op_types(&self) -> Vec<&str> {
        self.steps.iter().map(|step| step.op_type.as_str()).collect()
    }

    /// The types and shapes of the inputs this plan was built for.
    pub fn input_infos(&self) -> &[OutputInfo] {
        &self.input_infos
    }

    /// Bytes of intermediate memory one run uses.
    pub fn arena_bytes(&self) -> usize {
        self.memory.slot_bytes.iter().sum()
    }

    /// Runs the plan on `inputs` (types and shapes as built for) and returns the graph's
    /// outputs. Call it inside the rayon pool that should do the work.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.check_inputs(inputs)?;
        let mut arena =
            self.arenas.lock().pop().unwrap_or_else(|| Arena::new(&self.memory.slot_bytes));
        let result = self.run_in(&mut arena, inputs);
        self.arenas.lock().push(arena);
        result
    }

    fn check_inputs(&self, inputs: &[Tensor]) -> Result<()> {
        if inputs.len() != self.input_infos.len() {
            return Err(GraphError::shape(format!(
                "the plan takes {} inputs, {} were given",
                self.input_infos.len(),
                inputs.len()
            )));
        }
        for (at, (tensor, info)) in inputs.iter().zip(&self.input_infos).enumerate() {
            if tensor.data_type() != info.data_type || tensor.shape() != info.shape.as_slice() {
                return Err(GraphError::shape(format!(
                    "input {at} is {} {:?}, the plan was built for {} {:?}",
                    tensor.data_type(),
                    tensor.shape(),
                    info.data_type,
                    info.shape
                )));
            }
        }
        Ok(())
    }

    fn source_view<'a>(
        &'a self,
        source: Source,
        buffers: &'a SlotBuffers,
        inputs: &'a [Tensor],
    ) -> TensorView<'a> {
        match source {
            Source::Constant(at) => TensorView::of(&self.constants[at]),
            Source::RunInput(at) => TensorView::of(&inputs[at]),
            Source::Computed(value) => {
                let info = self.infos[value].as_ref().expect("computed values have infos");
                let slot = self.memory.slot_of[value].expect("computed values have slots");
                // SAFETY: slots of a step's inputs are never its outputs' (memory plan).
                unsafe { buffers.view(slot, info) }
            }
        }
    }

    /// Runs the plan like [`Plan::run`] and also returns how long each step took, as
    /// (node name, op type, seconds), in step order. For profiling.
    pub fn run_with_timings(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<StepTiming>)> {
        let mut timings = Vec::with_capacity(self.steps.len());
        self.check_inputs(inputs)?;
        let mut arena =
            self.arenas.lock().pop().unwrap_or_else(|| Arena::new(&self.memory.slot_bytes));
        let result = self.run_steps(&mut arena, inputs, Some(&mut timings));
        self.arenas.lock().push(arena);
        result.map(|outputs| (outputs, timings))
    }

    fn run_in(&self, arena: &mut Arena, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_steps(arena, inputs, None)
    }

    fn run_steps(
        &self,
        arena: &mut Arena,
        inputs: &[Tensor],
        mut timings: Option<&mut Vec<StepTiming>>,
    ) -> Result<Vec<Tensor>> {
        let buffers = &arena.buffers;
        for step in &self.steps {
            let started = timings.as_ref().map(|_| std::time::Instant::now());
            let input_views: Vec<Option<TensorView>> = step
                .inputs
                .iter()
                .map(|source| source.map(|source| self.source_view(source, buffers, inputs)))
                .collect();
            let mut output_views = step
                .outputs
                .iter()
                .map(|&value| {
                    let info = self.infos[value].as_ref().expect("step outputs have infos");
                    let slot = self.memory.slot_of[value].expect("step outputs have slots");
                    // SAFETY: distinct outputs have distinct slots, none read by this step.
                    unsafe { buffers.view_mut(slot, info) }
                })
                .collect::<Vec<_>>();
            let mut context = RunContext { threads: self.threads, scratch: &mut arena.scratch };
            step.kernel.run(&input_views, &mut output_views, &mut context).map_err(|error| {
                error.context(format!("node '{}' ({})", step.node_name, step.op_type))
            })?;
            if let (Some(timings), Some(started)) = (timings.as_deref_mut(), started) {
                timings.push(StepTiming {
                    node_name: step.node_name.clone(),
                    op_type: step.op_type.clone(),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
        self.outputs
            .iter()
            .map(|&source| self.source_view(source, buffers, inputs).to_tensor())
            .collect()
    }
}

/// Checks a run input's concrete shape against the graph input's declared (symbolic) one.
fn check_input_shape(graph: &Graph, id: ValueId, shape: &[usize]) -> Result<()> {
    let value = graph.value(id);
    let Some(declared) = &value.shape else { return Ok(()) };
    let fits = declared.len() == shape.len()
        && declared
            .iter()
            .zip(shape)
            .all(|(dim, &size)| dim.fixed().is_none_or(|fixed| fixed == size));
    if !fits {
        return Err(GraphError::shape(format!(
            "input '{}' is declared {:?}, got {shape:?}",
            value.name, declared
        )));
    }
    Ok(())
}

/// Runs a node whose inputs are all constant and returns its outputs.
fn evaluate(
    node: &Node,
    kernel: &dyn Kernel,
    inputs: &[Option<InputInfo<'_>>],
    outputs: &[OutputInfo],
    options: &BuildOptions,
) -> Result<Vec<Tensor>> {
    let input_views: Vec<Option<TensorView>> = inputs
        .iter()
        .map(|input| input.map(|input| TensorView::of(input.constant.expect("all constant"))))
        .collect();
    let mut buffers: Vec<TensorData> = outputs
        .iter()
        .map(|info| TensorData::zeros(info.data_type, info.shape.iter().product()))
        .collect();
    {
        let mut output_views: Vec<_> = buffers
            .iter_mut()
            .zip(outputs)
            .map(|(data, info)| crate::arena::view_of_data(data, &info.shape))
            .collect();
        let mut scratch = Scratch::default();
        let mut context = RunContext { threads: options.threads, scratch: &mut scratch };
        kernel
            .run(&input_views, &mut output_views, &mut context)
            .map_err(|error| error.at_node(node))?;
    }
    buffers
        .into_iter()
        .zip(outputs)
        .map(|(data, info)| Tensor::new(info.shape.clone(), data))
        .collect()
}

/// How long one step of a run took (see [`Plan::run_with_timings`]).
#[derive(Clone, Debug)]
pub struct StepTiming {
    /// The node's name.
    pub node_name: String,
    /// Its operator.
    pub op_type: String,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// A plan shared between threads.
pub type SharedPlan = Arc<Plan>;

//! How an operator plugs into the runtime.
//!
//! For each node, the plan calls the operator's [`BuildFn`] once, with the concrete types
//! and shapes of its inputs (and the data of those that are constant). The build function
//! checks attributes and shapes, prepares what it can (e.g. packs weights), and returns a
//! [`Kernel`] plus the types and shapes of its outputs. So shape inference, validation and
//! preparation live in one place per operator; the kernel only computes.
//!
//! When every input of a node is constant, the plan runs the kernel once while building
//! and keeps the outputs as constants: shape subgraphs (Shape, Gather, Concat, ...) vanish
//! from plans, because plans are built per concrete input shape.

use dlopt_graph::{DataType, GraphError, Node, Result, Tensor};

use crate::view::{TensorView, TensorViewMut};

/// What the plan knows about one input of a node while building.
#[derive(Clone, Copy, Debug)]
pub struct InputInfo<'a> {
    /// The element type.
    pub data_type: DataType,
    /// The concrete shape.
    pub shape: &'a [usize],
    /// The data, if the input is constant.
    pub constant: Option<&'a Tensor>,
}

/// The type and shape of one output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputInfo {
    /// The element type.
    pub data_type: DataType,
    /// The concrete shape.
    pub shape: Vec<usize>,
}

impl OutputInfo {
    /// An output of `data_type` and `shape`.
    pub fn new(data_type: DataType, shape: Vec<usize>) -> OutputInfo {
        OutputInfo { data_type, shape }
    }
}

/// Settings every build sees.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Threads kernels may use.
    pub threads: usize,
    /// The opset of the graph's default (ONNX) domain, for operators whose semantics changed
    /// between opsets (e.g. Softmax before 13). `Plan::build` sets it from the graph.
    pub opset: i64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { threads: 1, opset: 21 }
    }
}

/// Per-run working memory a kernel may borrow (e.g. im2col buffers). Each run has its own,
/// so one plan can run on several threads at once.
#[derive(Default)]
pub struct Scratch {
    f32_buffer: Vec<f32>,
    u8_buffer: Vec<u8>,
}

impl Scratch {
    /// An f32 buffer of `length` elements with unspecified contents, reused across kernels
    /// and runs.
    pub fn f32(&mut self, length: usize) -> &mut [f32] {
        if self.f32_buffer.len() < length {
            self.f32_buffer.resize(length, 0.0);
        }
        &mut self.f32_buffer[..length]
    }

    /// A u8 buffer of `length` elements with unspecified contents (e.g. an activation
    /// quantized for an int8 kernel), reused across kernels and runs.
    pub fn u8(&mut self, length: usize) -> &mut [u8] {
        if self.u8_buffer.len() < length {
            self.u8_buffer.resize(length, 0);
        }
        &mut self.u8_buffer[..length]
    }
}

/// What a kernel sees while it runs.
pub struct RunContext<'a> {
    /// Threads the kernel may use (the plan runs inside a rayon pool of this size).
    pub threads: usize,
    /// Working memory of this run.
    pub scratch: &'a mut Scratch,
}

/// The compiled computation of one node.
///
/// `inputs[i]` is `None` for an omitted optional input. Output views have the shapes the
/// build function announced and are not initialised: the kernel writes every element.
/// Kernels must be safe to run from several threads at once (state lives in the context).
pub trait Kernel: Send + Sync {
    /// Computes the outputs from the inputs.
    fn run(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
        context: &mut RunContext<'_>,
    ) -> Result<()>;

    /// The outputs, if they are known when the plan is built whatever the inputs' data
    /// (e.g. Shape): the plan then keeps them as constants and never runs the kernel.
    fn known_outputs(&self) -> Option<&[Tensor]> {
        None
    }
}

/// A kernel whose outputs were computed while building (see [`Kernel::known_outputs`]).
pub struct KnownOutputs(pub Vec<Tensor>);

impl Kernel for KnownOutputs {
    fn run(
        &self,
        _inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
        _context: &mut RunContext<'_>,
    ) -> Result<()> {
        for (output, tensor) in outputs.iter_mut().zip(&self.0) {
            output.copy_from(&TensorView::of(tensor))?;
        }
        Ok(())
    }

    fn known_outputs(&self) -> Option<&[Tensor]> {
        Some(&self.0)
    }
}

/// A built node: its kernel and its outputs' types and shapes.
pub struct BuiltOp {
    /// The computation.
    pub kernel: Box<dyn Kernel>,
    /// One entry per node output.
    pub outputs: Vec<OutputInfo>,
}

/// Builds a node (see the module documentation).
pub type BuildFn =
    fn(node: &Node, inputs: &[Option<InputInfo<'_>>], options: &BuildOptions) -> Result<BuiltOp>;

/// Input `index`, which the operator requires.
pub fn required<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
) -> Result<InputInfo<'a>> {
    inputs
        .get(index)
        .copied()
        .flatten()
        .ok_or_else(|| GraphError::invalid(format!("input {index} is required")).at_node(node))
}

/// Input `index` at run time, which the operator requires.
pub fn input<'v, 'a>(
    inputs: &'v [Option<TensorView<'a>>],
    index: usize,
) -> Result<&'v TensorView<'a>> {
    inputs
        .get(index)
        .and_then(Option::as_ref)
        .ok_or_else(|| GraphError::invalid(format!("input {index} is missing at run time")))
}

/// The constant data of input `index`, which the operator requires to be constant when
/// the plan is built (e.g. Reshape's target shape).
pub fn constant_input<'a>(
    node: &Node,
    inputs: &[Option<InputInfo<'a>>],
    index: usize,
) -> Result<&'a Tensor> {
    required(node, inputs, index)?.constant.ok_or_else(|| {
        GraphError::unsupported(format!(
            "input {index} must be known when the plan is built (computed from data at run time is not supported)"
        ))
        .at_node(node)
    })
}

/// A kernel from a closure.
pub struct FnKernel<F>(pub F);

impl<F> Kernel for FnKernel<F>
where
    F: Fn(&[Option<TensorView<'_>>], &mut [TensorViewMut<'_>], &mut RunContext<'_>) -> Result<()>
        + Send
        + Sync,
{
    fn run(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
        context: &mut RunContext<'_>,
    ) -> Result<()> {
        (self.0)(inputs, outputs, context)
    }
}

/// Boxes a closure as a kernel.
pub fn kernel<F>(function: F) -> Box<dyn Kernel>
where
    F: Fn(&[Option<TensorView<'_>>], &mut [TensorViewMut<'_>], &mut RunContext<'_>) -> Result<()>
        + Send
        + Sync
        + 'static,
{
    Box::new(FnKernel(function))
}

//! A compiled model: a runtime plan built from an artifact's graph, the thread pool it runs
//! on, and the artifact bytes `serialize` returns. Compile and deserialize both end in
//! [`CpuModel::load`], so a reloaded model is the same plan from the same graph bytes.

use std::sync::Arc;

use dlopt_ai2::sdk::{CompiledModel, PluginError, PluginResult};
use dlopt_graph::{ErrorKind, GraphError};
use dlopt_runtime::{BuildOptions, Plan};
use rayon::ThreadPool;

use crate::artifact::Artifact;
use crate::precision::{Precision, widen_weights};
use crate::tensors::{IoDesc, tensor_from_bytes, tensor_to_bytes};

/// A model compiled for a CPU device. `execute` may run on several threads at once.
pub struct CpuModel {
    plan: Plan,
    pool: Arc<ThreadPool>,
    inputs: Vec<IoDesc>,
    outputs: Vec<IoDesc>,
    precision: Precision,
    artifact: Vec<u8>,
}

impl std::fmt::Debug for CpuModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuModel")
            .field("precision", &self.precision)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("steps", &self.plan.step_count())
            .finish()
    }
}

/// A graph or runtime error as a plugin error of the matching code, with `context`.
pub fn graph_error(error: GraphError, context: &str) -> PluginError {
    let message = format!("{context}: {}", error.message);
    match error.kind {
        ErrorKind::Unsupported => PluginError::unsupported(message),
        ErrorKind::TooLarge => PluginError::out_of_memory(message),
        ErrorKind::InvalidModel | ErrorKind::ShapeMismatch => {
            PluginError::invalid_argument(message)
        }
    }
}

impl CpuModel {
    /// Builds the plan of `artifact` (already validated) on `pool`; `bytes` is the artifact's
    /// encoding, kept for `serialize`. Errors come with `context` (`"compile"` or
    /// `"deserialize"`).
    pub fn load(
        artifact: Artifact,
        bytes: Vec<u8>,
        pool: Arc<ThreadPool>,
        context: &str,
    ) -> PluginResult<CpuModel> {
        let precision = Precision::parse(&artifact.precision)?;
        let mut graph = dlopt_graph::onnx::import_model(&artifact.graph)
            .map_err(|error| graph_error(error, &format!("{context}: the compiled graph")))?;
        widen_weights(&mut graph, &artifact.stored_16bit)?;
        let names = |ids: &[dlopt_graph::ValueId]| -> Vec<String> {
            ids.iter().map(|&id| graph.value(id).name.clone()).collect()
        };
        let expected =
            |list: &[IoDesc]| -> Vec<String> { list.iter().map(|io| io.name.clone()).collect() };
        if names(&graph.inputs) != expected(&artifact.inputs)
            || names(&graph.outputs) != expected(&artifact.outputs)
        {
            return Err(PluginError::internal(format!(
                "{context}: the graph's inputs and outputs {:?} -> {:?} are not the recorded {:?} -> {:?}",
                names(&graph.inputs),
                names(&graph.outputs),
                expected(&artifact.inputs),
                expected(&artifact.outputs)
            )));
        }
        let shapes: Vec<Vec<usize>> = artifact.inputs.iter().map(|io| io.shape.clone()).collect();
        let options = BuildOptions { threads: pool.current_num_threads(), ..Default::default() };
        let plan = pool
            .install(|| Plan::build(&graph, &shapes, &options))
            .map_err(|error| graph_error(error, &format!("{context}: building the plan")))?;
        Ok(CpuModel {
            plan,
            pool,
            inputs: artifact.inputs,
            outputs: artifact.outputs,
            precision,
            artifact: bytes,
        })
    }

    /// The precision it was compiled for.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The graph inputs, in execute order.
    pub fn inputs(&self) -> &[IoDesc] {
        &self.inputs
    }

    /// The graph outputs, in execute order.
    pub fn outputs(&self) -> &[IoDesc] {
        &self.outputs
    }
}

impl CompiledModel for CpuModel {
    fn execute(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> PluginResult<()> {
        if inputs.len() != self.inputs.len() || outputs.len() != self.outputs.len() {
            return Err(PluginError::invalid_argument(format!(
                "the model takes {} inputs and {} outputs, {} and {} were given",
                self.inputs.len(),
                self.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        for (at, (buffer, desc)) in outputs.iter().zip(&self.outputs).enumerate() {
            if Some(buffer.len()) != desc.byte_size() {
                return Err(PluginError::invalid_argument(format!(
                    "output {at} ('{}', {}) needs {} bytes, the buffer has {}",
                    desc.name,
                    desc.describe(),
                    desc.byte_size().unwrap_or(usize::MAX),
                    buffer.len()
                )));
            }
        }
        let tensors = inputs
            .iter()
            .zip(&self.inputs)
            .enumerate()
            .map(|(at, (bytes, desc))| tensor_from_bytes(desc, bytes, &format!("input {at}")))
            .collect::<PluginResult<Vec<_>>>()?;
        let results = self
            .pool
            .install(|| self.plan.run(&tensors))
            .map_err(|error| graph_error(error, "execute"))?;
        for (at, ((result, desc), buffer)) in
            results.iter().zip(&self.outputs).zip(outputs).enumerate()
        {
            if result.data_type() != desc.data_type || result.shape() != desc.shape.as_slice() {
                return Err(PluginError::internal(format!(
                    "output {at} ('{}') came out {} {:?}, the graph describes {}",
                    desc.name,
                    result.data_type(),
                    result.shape(),
                    desc.describe()
                )));
            }
            tensor_to_bytes(result, buffer)?;
        }
        Ok(())
    }

    fn serialize(&self) -> PluginResult<Vec<u8>> {
        Ok(self.artifact.clone())
    }
}

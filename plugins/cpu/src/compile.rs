//! Compiling a graph for a CPU device, in five stages reported as progress of `"compile"`
//! (cancellation is checked before each):
//!
//! 1. **import** the host's ONNX bytes (`dlopt_graph::onnx::import_model`) and fix the graph
//!    inputs to the concrete shapes and order of the host's graph description;
//! 2. **optimize** (`dlopt_graph::passes::optimize`: BatchNorm folding, activation fusion,
//!    constant folding, with the fixed shapes), then check the outputs against the host's;
//!    for int8, fuse the quantized convolutions for the int8 kernels ([`crate::int8`]);
//! 3. **store weights**: for float16 / bfloat16, round the float constants to 16 bits
//!    (see [`crate::precision`]);
//! 4. **export** the graph as ONNX bytes into the artifact;
//! 5. **build the plan** from the artifact, exactly as `deserialize` does.

use std::collections::HashMap;

use dlopt_ai2::sdk::{CompileRequest, LogLevel, PluginError, PluginResult, TensorRef};
use dlopt_graph::shape::{fixed_shape, symbolic};
use dlopt_graph::{Graph, ValueId};

use crate::artifact::{Artifact, encode, fnv1a64};
use crate::cpu;
use crate::device::Device;
use crate::int8::fuse_int8_convolutions;
use crate::model::{CpuModel, graph_error};
use crate::precision::{Precision, store_weights};
use crate::tensors::IoDesc;

/// The stages, in order.
const STAGES: [&str; 5] = ["import", "optimize", "store weights", "export", "build plan"];

/// Compiles `request` for `device`.
pub fn compile(device: &Device, request: CompileRequest<'_>) -> PluginResult<CpuModel> {
    let precision = Precision::parse(request.precision)?;
    if let Some((key, _)) = request.options.as_map().and_then(|entries| entries.first()) {
        return Err(PluginError::unknown_parameter(format!(
            "option '{key}' is not known to dlopt_cpu (it has no optimize_for_inference_params)"
        )));
    }
    let callbacks = request.callbacks;
    let total = STAGES.len() as u64;
    let stage = |at: usize| -> PluginResult<()> {
        callbacks.check_cancelled(&format!("compile ({})", STAGES[at]))?;
        callbacks.progress("compile", at as u64, total);
        Ok(())
    };
    let graph_view = &request.graph;
    let onnx = graph_view.onnx_bytes().ok_or_else(|| {
        PluginError::invalid_argument("the graph has no ONNX bytes (graph->onnx is NULL)")
    })?;
    let inputs = graph_view.inputs().map(IoDesc::from_ref).collect::<PluginResult<Vec<_>>>()?;
    let outputs = graph_view.outputs().map(IoDesc::from_ref).collect::<PluginResult<Vec<_>>>()?;

    stage(0)?;
    let mut graph = dlopt_graph::onnx::import_model(onnx)
        .map_err(|error| graph_error(error, "compile: import"))?;
    fix_inputs(&mut graph, &inputs)?;
    order_outputs(&mut graph, &outputs)?;

    stage(1)?;
    dlopt_graph::passes::optimize(&mut graph)
        .map_err(|error| graph_error(error, "compile: optimize"))?;
    check_outputs(&graph, graph_view.outputs())?;
    if precision == Precision::Int8 {
        let fused = fuse_int8_convolutions(&mut graph)
            .map_err(|error| graph_error(error, "compile: int8 fusion"))?;
        device.log(
            &callbacks,
            LogLevel::Info,
            &format!("int8: {fused} convolutions run on the int8 kernels"),
        );
    }

    stage(2)?;
    let report = store_weights(&mut graph, precision);
    if precision != Precision::Float32 {
        device.log(
            &callbacks,
            LogLevel::Info,
            &format!(
                "{} constants ({} values) stored as {}",
                report.stored.len(),
                report.elements,
                precision.name()
            ),
        );
        if report.saturated > 0 || report.flushed > 0 {
            // Saturated weights change the model; flushed tiny ones (below the 16-bit
            // format's smallest normal) are expected and only worth an info line.
            let level = if report.saturated > 0 { LogLevel::Warning } else { LogLevel::Info };
            device.log(
                &callbacks,
                level,
                &format!(
                    "{}: {} weights beyond the range saturated, {} tiny weights became zero",
                    precision.name(),
                    report.saturated,
                    report.flushed
                ),
            );
        }
    }

    stage(3)?;
    let graph_bytes = dlopt_graph::onnx::export_model(&graph)
        .map_err(|error| graph_error(error, "compile: export"))?;
    let artifact = Artifact {
        plugin_name: crate::PLUGIN_NAME.to_string(),
        plugin_version: crate::PLUGIN_VERSION.to_string(),
        abi: (dlopt_ai2::abi::DLOPT_AI2_ABI_MAJOR, dlopt_ai2::abi::DLOPT_AI2_ABI_MINOR),
        cpu_model: device.name().to_string(),
        isa: cpu::kernel_features().into_iter().map(String::from).collect(),
        precision: precision.name().to_string(),
        source_hash: fnv1a64(onnx),
        inputs,
        outputs,
        stored_16bit: report.stored,
        graph: graph_bytes,
    };
    let bytes = encode(&artifact);

    stage(4)?;
    let model = CpuModel::load(artifact, bytes, device.pool()?, "compile")?;
    callbacks.progress("compile", total, total);
    device.log(&callbacks, LogLevel::Debug, &format!("compiled {model:?}"));
    Ok(model)
}

/// Sets the graph inputs to the host's concrete shapes and order (matched by name).
fn fix_inputs(graph: &mut Graph, inputs: &[IoDesc]) -> PluginResult<()> {
    if graph.inputs.len() != inputs.len() {
        return Err(PluginError::invalid_argument(format!(
            "the ONNX model has {} inputs, the graph description {}",
            graph.inputs.len(),
            inputs.len()
        )));
    }
    let by_name: HashMap<String, ValueId> =
        graph.inputs.iter().map(|&id| (graph.value(id).name.clone(), id)).collect();
    let mut ordered = Vec::with_capacity(inputs.len());
    for input in inputs {
        let id = *by_name.get(&input.name).ok_or_else(|| {
            PluginError::invalid_argument(format!(
                "input '{}' is not an input of the ONNX model",
                input.name
            ))
        })?;
        let value = graph.value_mut(id);
        if let Some(declared) = value.data_type.filter(|&declared| declared != input.data_type) {
            return Err(PluginError::invalid_argument(format!(
                "input '{}' is {} in the ONNX model, {} in the graph description",
                input.name, declared, input.data_type
            )));
        }
        if let Some(declared) = &value.shape {
            let fits = declared.len() == input.shape.len()
                && declared
                    .iter()
                    .zip(&input.shape)
                    .all(|(dim, &size)| dim.fixed().is_none_or(|f| f == size));
            if !fits {
                return Err(PluginError::invalid_argument(format!(
                    "input '{}' is declared {declared:?} in the ONNX model, the graph description gives {:?}",
                    input.name, input.shape
                )));
            }
        }
        value.data_type = Some(input.data_type);
        value.shape = Some(symbolic(&input.shape));
        ordered.push(id);
    }
    graph.inputs = ordered;
    Ok(())
}

/// Orders the graph outputs as the host's (matched by name).
fn order_outputs(graph: &mut Graph, outputs: &[IoDesc]) -> PluginResult<()> {
    let names: Vec<&str> = graph.outputs.iter().map(|&id| graph.value(id).name.as_str()).collect();
    let mut ordered = Vec::with_capacity(outputs.len());
    for output in outputs {
        let at = names.iter().position(|&name| name == output.name).ok_or_else(|| {
            PluginError::invalid_argument(format!(
                "output '{}' is not an output of the ONNX model (it has {names:?})",
                output.name
            ))
        })?;
        ordered.push(graph.outputs[at]);
    }
    if ordered.len() != graph.outputs.len() {
        return Err(PluginError::invalid_argument(format!(
            "the ONNX model has {} outputs, the graph description {}",
            graph.outputs.len(),
            ordered.len()
        )));
    }
    graph.outputs = ordered;
    Ok(())
}

/// Checks that shape inference agrees with the host's output types and shapes where it
/// knows them.
fn check_outputs<'v, 'a: 'v>(
    graph: &Graph,
    host: impl Iterator<Item = &'v TensorRef<'a>>,
) -> PluginResult<()> {
    for (&id, described) in graph.outputs.iter().zip(host) {
        let value = graph.value(id);
        let inferred = value.shape.as_deref().and_then(fixed_shape);
        if let Some(inferred) = inferred.filter(|shape| *shape != described.dims()) {
            return Err(PluginError::invalid_argument(format!(
                "output '{}' is {:?} in the graph description, shape inference gives {inferred:?}",
                value.name,
                described.dims()
            )));
        }
        if let Some(inferred) = value.data_type.filter(|t| t.onnx_code() != described.dtype) {
            return Err(PluginError::invalid_argument(format!(
                "output '{}' has element type {} in the graph description, the model gives {inferred}",
                value.name, described.dtype
            )));
        }
    }
    Ok(())
}

//! `--model`: a real ONNX model, compiled by the plugin through the structured graph view
//! and compared with dlopt's native runtime (1e-5 relative).
//!
//! The model is imported, its symbolic input dimensions fixed (`--input-shape`, else 1),
//! and checked twice: as imported, and after dlopt's inference passes (as the host sends
//! it: batch norms folded, activations fused into `dlopt_activation` attributes). When the
//! plugin reports unsupported nodes, compile must refuse the model naming one of them, and
//! the comparison is skipped.

use std::time::Instant;

use dlopt_graph::shape::Dim;
use dlopt_graph::{Graph, Tensor, export_model, import_model, passes, shape_inference};
use dlopt_runtime::{BuildOptions, Plan};

use dlopt_ai2::abi::{DLOPT_AI2_DTYPE_FLOAT32, DLOPT_AI2_ERROR_UNSUPPORTED};

use super::{Config, DeviceFacts, ModelSpec, same_outputs};
use crate::dlopt_ir::graph_spec;
use crate::graph_view::{GraphSpec, GraphView};
use crate::plugin::{Session, expect_code, expect_ok};
use crate::reference::{compare, noise};
use crate::report::{CheckResult, Reporter, ensure, pass, skip};

pub(super) fn run(session: &Session, config: &Config, model: &ModelSpec, reporter: &mut Reporter) {
    let name = model
        .path
        .file_stem()
        .map_or_else(|| "model".into(), |stem| stem.to_string_lossy().into_owned());
    let prefix = format!("model.{name}");
    let facts = match DeviceFacts::read(session, config.device) {
        Ok(facts) => facts,
        Err(problem) => return reporter.fail(&format!("{prefix}.setup"), &problem),
    };
    if !facts.runs_float32() {
        return reporter.skip(&prefix, "the device does not list float32 in 'precisions'");
    }
    let imported = match load(model) {
        Ok(graph) => graph,
        Err(problem) => return reporter.fail(&format!("{prefix}.setup"), &problem),
    };
    for optimized in [false, true] {
        let variant = if optimized { "optimized" } else { "imported" };
        reporter.check(&format!("{prefix}.{variant}"), || {
            let mut graph = imported.clone();
            if optimized {
                passes::optimize(&mut graph)
                    .map_err(|error| format!("dlopt's passes: {}", error.message))?;
            }
            shape_inference::infer_shapes(&mut graph)
                .map_err(|error| format!("shape inference: {}", error.message))?;
            check_model(session, config.device, &graph, &facts)
        });
    }
}

/// Imports the model and fixes its input dimensions.
fn load(model: &ModelSpec) -> Result<Graph, String> {
    let bytes =
        std::fs::read(&model.path).map_err(|error| format!("{}: {error}", model.path.display()))?;
    let mut graph = import_model(&bytes).map_err(|error| format!("import: {}", error.message))?;
    for (at, id) in graph.inputs.clone().into_iter().enumerate() {
        let value = graph.value_mut(id);
        let declared = value.shape.clone().ok_or_else(|| {
            format!("input '{}' has no declared shape: give --input-shape", value.name)
        })?;
        let shape: Vec<Dim> = match model.input_shapes.get(at) {
            Some(given) => {
                let fits = given.len() == declared.len()
                    && given
                        .iter()
                        .zip(&declared)
                        .all(|(&dim, declared)| declared.fixed().is_none_or(|fixed| fixed == dim));
                ensure(fits, || {
                    format!(
                        "--input-shape {given:?} does not fit input '{}' declared {declared:?}",
                        value.name
                    )
                })?;
                given.iter().map(|&dim| Dim::Fixed(dim)).collect()
            }
            None => declared.iter().map(|dim| Dim::Fixed(dim.fixed().unwrap_or(1))).collect(),
        };
        value.shape = Some(shape);
    }
    Ok(graph)
}

fn check_model(
    session: &Session,
    device: usize,
    graph: &Graph,
    facts: &DeviceFacts,
) -> CheckResult {
    let onnx = export_model(graph).map_err(|error| format!("export to ONNX: {}", error.message))?;
    let spec = graph_spec(graph, onnx).map_err(|problem| {
        let shapes: Vec<Vec<usize>> = input_shapes(graph);
        format!(
            "{problem} (inputs fixed to {shapes:?}; symbolic dimensions default to 1: give \
             --input-shape)"
        )
    })?;
    let view = GraphView::new(&spec, false);
    let reported = expect_ok(session.check_support(device, &view, "float32"), "check_support")?
        .map_err(|problem| format!("check_support misused its callback: {problem}"))?;
    if !reported.is_empty() {
        let message = expect_code(
            session.compile(device, &view, "float32", None),
            DLOPT_AI2_ERROR_UNSUPPORTED,
            "compile",
        )?;
        let names: Vec<&str> = reported
            .iter()
            .filter_map(|(node, _)| spec.nodes.get(*node))
            .map(|node| node.name.as_str())
            .collect();
        ensure(names.iter().any(|name| message.contains(name)), || {
            format!("compile's message '{message}' names none of the unsupported nodes")
        })?;
        let first: Vec<String> = reported
            .iter()
            .take(3)
            .map(|(node, reason)| format!("node {node}: {reason}"))
            .collect();
        return skip(format!(
            "{} of {} nodes unsupported (compile refuses, naming one), e.g. {}",
            reported.len(),
            spec.nodes.len(),
            first.join("; ")
        ));
    }
    let inputs = inputs(&spec)?;
    let expected = native(graph, &inputs)?;
    let started = Instant::now();
    let compiled = expect_ok(session.compile(device, &view, "float32", None), "compile")?;
    let compile_seconds = started.elapsed().as_secs_f64();
    let output_lens: Vec<usize> =
        spec.output_specs().iter().map(|value| value.element_count()).collect();
    let started = Instant::now();
    let outputs = expect_ok(compiled.execute(&inputs, &output_lens), "execute")?;
    let run_seconds = started.elapsed().as_secs_f64();
    let worst = compare(&outputs, &expected)
        .map_err(|mismatch| format!("differs from dlopt's runtime: {mismatch}"))?;
    let (bytes, _) = compiled.serialize()?;
    let loaded = expect_ok(session.deserialize(device, &bytes), "deserialize")?;
    let reloaded = expect_ok(loaded.execute(&inputs, &output_lens), "execute after deserialize")?;
    same_outputs(&outputs, &reloaded, facts.deterministic)
        .map_err(|problem| format!("the reloaded model computes differently: {problem}"))?;
    pass(format!(
        "{} nodes; matches dlopt's runtime (max relative error {worst:.1e}); compile \
         {compile_seconds:.2} s, run {run_seconds:.3} s; {}-byte artifact reloads alike",
        spec.nodes.len(),
        bytes.len()
    ))
}

/// Noise inputs for the graph's (float32) inputs.
fn inputs(spec: &GraphSpec) -> Result<Vec<Vec<f32>>, String> {
    spec.input_specs()
        .iter()
        .enumerate()
        .map(|(at, value)| {
            ensure(value.dtype == DLOPT_AI2_DTYPE_FLOAT32, || {
                format!("input '{}' is not float32; the kit feeds float32 only", value.name)
            })?;
            Ok(noise(value.element_count(), 11 + at as u64))
        })
        .collect()
}

/// The outputs of dlopt's native runtime.
fn native(graph: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
    let shapes = input_shapes(graph);
    let tensors = shapes
        .iter()
        .zip(inputs)
        .map(|(shape, values)| Tensor::from_f32(shape.clone(), values.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.message)?;
    let plan = Plan::build(graph, &shapes, &BuildOptions::default())
        .map_err(|error| format!("dlopt's runtime cannot plan the model: {}", error.message))?;
    let outputs =
        plan.run(&tensors).map_err(|error| format!("dlopt's runtime: {}", error.message))?;
    Ok(outputs.iter().map(Tensor::to_f32_vec).collect())
}

/// The (fixed) shapes of the graph inputs.
fn input_shapes(graph: &Graph) -> Vec<Vec<usize>> {
    graph
        .inputs
        .iter()
        .map(|&id| {
            graph.value(id).shape.iter().flatten().map(|dim| dim.fixed().unwrap_or(1)).collect()
        })
        .collect()
}

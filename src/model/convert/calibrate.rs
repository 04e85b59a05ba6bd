//! int8 calibration in the host: from a float32 graph and calibration samples to a QDQ graph
//! (`QuantizeLinear` / `DequantizeLinear` around the quantized nodes) that a plugin compiles.
//!
//! 1. **Recipe** ([`dlopt_graph::quantize::plan`]): which nodes run quantized, which
//!    activations need a range, which weights are quantized per channel; the
//!    [`CalibrationConfig`]'s overrides apply.
//! 2. **Statistics**: the float32 graph runs on the first `'stat_subset_size'` samples on
//!    the native runtime, batched by `'batch_size'`, with the activations to quantize as
//!    extra outputs ([`Probe`]); each feeds a streaming observer of `dlopt_calibration`
//!    (min / max, per-sample extremes and a histogram of fixed size: memory does not grow
//!    with the number of samples).
//! 3. **Ranges**: the configured estimator turns each observer into a range, the range into
//!    a scale and zero point (asymmetric uint8 or symmetric int8).
//! 4. **QDQ graph** ([`dlopt_graph::quantize::apply`]).
//! 5. **Fast bias correction** (on by default): the float32 graph and the QDQ graph (run as
//!    a float simulation of the quantization) run on the statistics samples with the
//!    outputs of the quantized nodes that have a bias as extra outputs; the difference of
//!    their per-channel means is added to each bias, so quantization does not shift the
//!    layers' mean outputs.
//! 6. **Errors per node**: both graphs run again on the samples (at most
//!    [`ERROR_SAMPLES`]) and each quantized node's output is compared with the float one
//!    (SQNR in dB) for the report.
//!
//! Everything is deterministic: samples in order, observers and estimators without
//! randomness, single-pass sums in f64.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dlopt_calibration::{
    ObserverConfig, QuantParams as CalibrationParams, Range, RangeEstimator, Sqnr, Symmetry,
    TensorObserver,
};
use dlopt_graph::quantize::{
    self, ActivationScheme, Override, QuantOptions, QuantParams, QuantPlan, QuantType, WeightLevels,
};
use dlopt_graph::{Graph, ValueId};
use rayon::prelude::*;

use crate::error::{H_ERR_DL_MODEL_INVALID_NUM_SAMPLES, HalconError, Result};

use super::super::{ModelState, SampleImage, batch_input, inference_error};
use super::accuracy_aware::{Fallback, FloatBudget, fall_back};
use super::bias_correction::{self, Shifts};
use super::calibration_params::{CalibrationConfig, Method};
use super::probe::Probe;

/// The most samples the per-node errors of the report are measured on.
pub const ERROR_SAMPLES: usize = 8;

/// The range of one quantized activation, for the report.
#[derive(Clone, Debug)]
pub struct ActivationRange {
    /// The value's name.
    pub name: String,
    /// The observed minimum and maximum.
    pub observed: (f32, f32),
    /// The range the estimator chose.
    pub range: (f32, f32),
    /// The scale and zero point.
    pub params: QuantParams,
}

/// What the report says about one node.
#[derive(Clone, Debug)]
pub struct NodeReport {
    /// The node's name.
    pub name: String,
    /// Its operator type.
    pub op_type: String,
    /// Whether it runs quantized.
    pub quantized: bool,
    /// Why (the recipe's reason).
    pub reason: String,
    /// SQNR of its output against float32, in dB (quantized nodes with a float output).
    pub sqnr_db: Option<f64>,
    /// The bias shift of fast bias correction (largest magnitude), if corrected.
    pub bias_shift: Option<f32>,
}

/// The result of calibration.
pub struct Calibrated {
    /// The QDQ graph.
    pub graph: Graph,
    /// The recipe.
    pub plan: QuantPlan,
    /// Every quantized activation's range.
    pub activations: Vec<ActivationRange>,
    /// Every node of the float graph.
    pub nodes: Vec<NodeReport>,
    /// Samples the statistics ran on.
    pub statistics_samples: usize,
    /// What the accuracy-aware fallback did, if it ran.
    pub fallback: Option<Fallback>,
    /// Time per stage, in order.
    pub stages: Vec<(&'static str, Duration)>,
}

/// The recipe options of `config`.
fn quant_options(config: &CalibrationConfig) -> QuantOptions {
    let mut options = QuantOptions {
        activations: if config.unsigned_activations {
            ActivationScheme::AsymmetricU8
        } else {
            ActivationScheme::SymmetricI8
        },
        weight_levels: WeightLevels::Full127,
        ..QuantOptions::default()
    };
    for name in &config.keep_float_op_types {
        options.by_op_type.insert(name.clone(), Override::KeepFloat);
    }
    for name in &config.int8_op_types {
        options.by_op_type.insert(name.clone(), Override::ForceInt8);
    }
    for name in &config.keep_float_nodes {
        options.by_node_name.insert(name.clone(), Override::KeepFloat);
    }
    for name in &config.int8_nodes {
        options.by_node_name.insert(name.clone(), Override::ForceInt8);
    }
    options
}

fn estimator(method: Method) -> RangeEstimator {
    match method {
        Method::Max => RangeEstimator::Max,
        Method::MeanMinMax => RangeEstimator::MeanMinMax,
        Method::Percentile(p) => RangeEstimator::Percentile(p),
        Method::Kl => RangeEstimator::Kl,
        Method::Mse => RangeEstimator::Mse,
    }
}

fn calibration_error(error: dlopt_calibration::CalibrationError) -> HalconError {
    HalconError::new(crate::error::H_ERR_HAI2_ERROR, format!("calibration: {error}"))
}

/// How many samples of a probed value of `values` elements there are in a batch of
/// `samples`: the observer's per-sample statistics need the split.
fn sample_split(values: usize, samples: usize) -> usize {
    if samples > 0 && values % samples == 0 { samples } else { 1 }
}

/// The chunks of `images` the statistics run on: at most `limit` samples in chunks of
/// `'batch_size'`.
fn chunks<'a>(
    state: &'a ModelState,
    images: &'a [SampleImage],
    limit: usize,
) -> impl Iterator<Item = (usize, &'a [SampleImage])> {
    images[..images.len().min(limit)].chunks(state.batch_size.max(1)).enumerate()
}

/// Calibrates `state`'s graph on `images` with `config`; `progress` is told the samples
/// done after each batch of each pass (pass name, done, total).
pub fn calibrate(
    state: &ModelState,
    images: &[SampleImage],
    config: &CalibrationConfig,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Calibrated> {
    if images.is_empty() {
        return Err(HalconError::new(
            H_ERR_DL_MODEL_INVALID_NUM_SAMPLES,
            "DLSamples: int8 needs calibration samples (10 to 20 representative samples per class usually suffice); got none",
        ));
    }
    let graph = &state.graph;
    let mut stages = Vec::new();
    let started = Instant::now();
    let options = quant_options(config);
    let plan = quantize::plan(graph, &options).map_err(inference_error)?;
    stages.push(("recipe", started.elapsed()));

    // Statistics.
    let started = Instant::now();
    let limit = config.stat_subset_size;
    let total = images.len().min(limit);
    let values: Vec<ValueId> = plan.activations.iter().map(|a| a.value).collect();
    let mut probe = Probe::new(graph, &values)?;
    let observer_config = ObserverConfig::default();
    let mut observers = values
        .iter()
        .map(|_| TensorObserver::new(observer_config))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(calibration_error)?;
    let mut done = 0;
    for (index, group) in chunks(state, images, limit) {
        let (input, _) = batch_input(state, group, index)?;
        let probed = probe.run(input, group.len())?;
        // Observers are independent: in parallel, each deterministic on its own.
        observers
            .par_iter_mut()
            .zip(probed.values.par_iter())
            .map(|(observer, tensor)| {
                let values = tensor.to_f32_vec();
                let split = sample_split(values.len(), group.len());
                observer.observe(&values, split)
            })
            .collect::<std::result::Result<Vec<()>, _>>()
            .map_err(calibration_error)?;
        done += group.len();
        progress("statistics (samples)", done, total);
    }
    drop(probe);
    stages.push(("statistics", started.elapsed()));

    // Ranges.
    let started = Instant::now();
    let symmetry =
        if config.unsigned_activations { Symmetry::Asymmetric } else { Symmetry::Symmetric };
    let quant_type = if config.unsigned_activations { QuantType::U8 } else { QuantType::I8 };
    let estimator = estimator(config.method);
    let mut ranges = HashMap::new();
    let mut activations = Vec::new();
    for (activation, observer) in plan.activations.iter().zip(&observers) {
        let (observed, range) = match (observer.min(), observer.max()) {
            (Some(min), Some(max)) => {
                (min.min(max), estimator.estimate(observer, symmetry).map_err(calibration_error)?)
            }
            // Never finite on the samples: a unit range keeps the graph valid.
            _ => (0.0, Range { lo: -1.0, hi: 1.0 }),
        };
        let observed = (observed, observer.max().unwrap_or(0.0));
        let calibration =
            CalibrationParams::from_range(range, symmetry).map_err(calibration_error)?;
        let params = QuantParams {
            scale: calibration.scale,
            zero_point: calibration.zero_point,
            quant_type,
        };
        ranges.insert(activation.value, params);
        activations.push(ActivationRange {
            name: activation.name.clone(),
            observed,
            range: (range.lo, range.hi),
            params,
        });
    }
    let qdq = quantize::apply(graph, &plan, &ranges).map_err(inference_error)?;
    stages.push(("ranges", started.elapsed()));

    // Fast bias correction: shifts for every correctable layer of the full plan; each QDQ
    // graph made below gets those of its quantized layers.
    let mut shifts = Shifts::new();
    if config.bias_correction {
        let started = Instant::now();
        shifts = bias_correction::shifts(state, &plan, &ranges, images, progress)?;
        stages.push(("bias_correction", started.elapsed()));
    }
    let mut qdq = qdq;
    bias_correction::apply(&mut qdq, &plan, &shifts)?;

    // Accuracy-aware fallback.
    let (qdq, plan, fallback) = if config.accuracy_aware {
        let started = Instant::now();
        let budget = FloatBudget(config.max_float_fraction);
        let (qdq, plan, fallback) =
            fall_back(state, images, &options, &ranges, &shifts, qdq, plan, budget, progress)?;
        stages.push(("accuracy_aware", started.elapsed()));
        (qdq, plan, Some(fallback))
    } else {
        (qdq, plan, None)
    };
    let corrected: HashMap<String, f32> = plan
        .nodes
        .iter()
        .filter(|decision| decision.quantized)
        .filter_map(|decision| {
            let shift = shifts.get(&decision.node)?;
            Some((decision.node.clone(), shift.iter().fold(0.0f32, |m, s| m.max(s.abs()))))
        })
        .collect();

    // Errors per node.
    let started = Instant::now();
    let sqnr = node_errors(state, graph, &qdq, &plan, images)?;
    stages.push(("node_errors", started.elapsed()));
    let reverted = |name: &str| {
        fallback.as_ref().and_then(|f| f.kept_float.iter().find(|(node, _)| node == name))
    };
    let nodes = plan
        .nodes
        .iter()
        .map(|decision| NodeReport {
            name: decision.node.clone(),
            op_type: decision.op_type.clone(),
            quantized: decision.quantized,
            reason: match reverted(&decision.node) {
                Some((_, alone)) => format!(
                    "kept float by the accuracy-aware fallback (float alone: agreement {:.3}, cosine {:.5})",
                    alone.agreement, alone.cosine
                ),
                None => decision.reason.clone(),
            },
            sqnr_db: sqnr.get(&decision.node).copied(),
            bias_shift: corrected.get(&decision.node).copied(),
        })
        .collect();
    Ok(Calibrated {
        graph: qdq,
        plan,
        activations,
        nodes,
        statistics_samples: total,
        fallback,
        stages,
    })
}

/// The first output of node `name` in `graph`, if the node exists.
fn output_of(graph: &Graph, name: &str) -> Option<ValueId> {
    graph.nodes.iter().find(|node| node.name == name).and_then(|node| node.outputs.first().copied())
}

/// The quantized nodes of the plan whose outputs exist in both graphs, with those outputs.
fn quantized_outputs(
    graph: &Graph,
    qdq: &Graph,
    plan: &QuantPlan,
    only: impl Fn(&str) -> bool,
) -> Vec<(String, ValueId, ValueId)> {
    plan.nodes
        .iter()
        .filter(|decision| decision.quantized && only(&decision.node))
        .filter_map(|decision| {
            Some((
                decision.node.clone(),
                output_of(graph, &decision.node)?,
                output_of(qdq, &decision.node)?,
            ))
        })
        .collect()
}

/// SQNR (dB) of each quantized node's output in the QDQ graph against the float graph, on
/// the first [`ERROR_SAMPLES`] samples.
fn node_errors(
    state: &ModelState,
    graph: &Graph,
    qdq: &Graph,
    plan: &QuantPlan,
    images: &[SampleImage],
) -> Result<HashMap<String, f64>> {
    let targets = quantized_outputs(graph, qdq, plan, |_| true);
    let float_values: Vec<ValueId> = targets.iter().map(|t| t.1).collect();
    let qdq_values: Vec<ValueId> = targets.iter().map(|t| t.2).collect();
    let mut float_probe = Probe::new(graph, &float_values)?;
    let mut qdq_probe = Probe::new(qdq, &qdq_values)?;
    let mut sqnr: Vec<Sqnr> = targets.iter().map(|_| Sqnr::default()).collect();
    for (index, group) in chunks(state, images, ERROR_SAMPLES) {
        let (input, _) = batch_input(state, group, index)?;
        let float = float_probe.run(input.clone(), group.len())?;
        let quantized = qdq_probe.run(input, group.len())?;
        for (at, (f, q)) in float.values.iter().zip(&quantized.values).enumerate() {
            if f.shape() == q.shape() {
                sqnr[at].add(&f.to_f32_vec(), &q.to_f32_vec()).map_err(calibration_error)?;
            }
        }
    }
    Ok(targets.into_iter().zip(sqnr).map(|((name, _, _), s)| (name, s.db())).collect())
}

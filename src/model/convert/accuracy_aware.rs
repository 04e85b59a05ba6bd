//! Accuracy-aware fallback to float (as OpenVINO's AccuracyAware quantization and Horizon's
//! mixed per-node precision do it): when the fully quantized graph changes the model's
//! answers on calibration samples, the compute nodes whose quantization hurts most are kept
//! in float, one at a time, until the answers agree again (or a budget is spent).
//!
//! - **Answers** depend on the model's type: `'ocr_recognition'` the greedy CTC decoding of
//!   the first output (argmax per step, repeats and blanks dropped), `'classification'` the
//!   top class, other types the outputs themselves (mean cosine similarity to float32).
//! - **Score** of a QDQ graph on the evaluation samples (the calibration samples sharing the
//!   most common input shape, at most [`EVALUATION_SAMPLES`]): the fraction of samples with
//!   the float32 answer, then the mean cosine similarity of the outputs. The **target**:
//!   every answer the same and the cosine at least [`COSINE_TARGET`] (a few samples agree
//!   long before a larger set does: the cosine keeps the margin).
//! - **Ranking**: each quantized compute node (Conv, ConvTranspose, Gemm, MatMul) is kept
//!   float alone and the graph scored on the first [`RANKING_SAMPLES`] samples; the nodes
//!   are then reverted in order of that gain, each step scored again, until the target is
//!   met or [`FloatBudget`] nodes are float.
//!
//! The samples, ranks and steps are deterministic.

use std::collections::HashMap;

use dlopt_graph::quantize::{self, Override, QuantOptions, QuantParams, QuantPlan};
use dlopt_graph::{Graph, Tensor, ValueId};
use dlopt_runtime::{BuildOptions, Plan};

use crate::device::{Backend, native_device};
use crate::error::Result;

use super::super::model_type::ModelType;
use super::super::{ModelState, SampleImage, inference_error};
use super::bias_correction::{self, Shifts};
use super::probe::inputs_common_shape_first;
use super::report::cosine;

/// The most calibration samples the score is measured on.
pub const EVALUATION_SAMPLES: usize = 16;

/// The samples (the first of the evaluation samples) the ranking scores each node on.
pub const RANKING_SAMPLES: usize = 8;

/// The mean cosine similarity an untyped model's outputs must reach.
pub const COSINE_TARGET: f64 = 0.995;

/// Compute operators a fallback may keep float.
const COMPUTE: &[&str] = &["Conv", "ConvTranspose", "Gemm", "MatMul"];

/// The most compute nodes a fallback keeps float, as a fraction of the quantized ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatBudget(pub f64);

/// How well a QDQ graph keeps the float32 answers.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Score {
    /// Fraction of samples with the float32 answer.
    pub agreement: f64,
    /// Mean cosine similarity of the outputs.
    pub cosine: f64,
}

/// What the fallback did, for the report.
#[derive(Clone, Debug)]
pub struct Fallback {
    /// The score of the fully quantized graph.
    pub before: Score,
    /// The score after the fallback.
    pub after: Score,
    /// The nodes kept float, in the order they were reverted, with the score they gave
    /// alone when ranked.
    pub kept_float: Vec<(String, Score)>,
    /// Samples scored.
    pub samples: usize,
    /// Graphs scored.
    pub evaluations: usize,
}

/// The evaluation samples and the float32 answers.
struct Evaluator {
    model_type: ModelType,
    inputs: Vec<Tensor>,
    reference: Vec<Vec<Tensor>>,
    threads: usize,
    evaluations: usize,
}

/// The answer of one sample's outputs (see the module documentation); `None` for untyped
/// models.
fn answer(model_type: ModelType, outputs: &[Tensor]) -> Option<Vec<usize>> {
    let first = outputs.first()?;
    let classes = *first.shape().last()?;
    if classes == 0 {
        return None;
    }
    let values = first.to_f32_vec();
    let argmax = |row: &[f32]| {
        row.iter()
            .enumerate()
            .fold(0, |best, (at, &value)| if value > row[best] { at } else { best })
    };
    match model_type {
        ModelType::Classification => Some(vec![argmax(&values[..classes])]),
        ModelType::OcrRecognition => {
            let mut decoded = Vec::new();
            let mut previous = 0;
            for row in values.chunks(classes) {
                let class = argmax(row);
                if class != previous && class != 0 {
                    decoded.push(class);
                }
                previous = class;
            }
            Some(decoded)
        }
        _ => None,
    }
}

impl Evaluator {
    fn new(state: &ModelState, images: &[SampleImage]) -> Result<Evaluator> {
        let Backend::Native(native) = &native_device()?.backend else {
            unreachable!("the native device is native")
        };
        let threads = native.threads();
        let chosen = inputs_common_shape_first(state, images, EVALUATION_SAMPLES)?;
        let mut evaluator = Evaluator {
            model_type: state.model_type,
            inputs: chosen,
            reference: Vec::new(),
            threads,
            evaluations: 0,
        };
        evaluator.reference = evaluator.run(&state.graph, EVALUATION_SAMPLES)?;
        Ok(evaluator)
    }

    /// The outputs of `graph` on the first `samples` evaluation samples (one plan per input
    /// shape).
    fn run(&self, graph: &Graph, samples: usize) -> Result<Vec<Vec<Tensor>>> {
        let options = BuildOptions { threads: self.threads, ..BuildOptions::default() };
        let mut plans: HashMap<Vec<usize>, Plan> = HashMap::new();
        let Backend::Native(native) = &native_device()?.backend else {
            unreachable!("the native device is native")
        };
        let mut outputs = Vec::with_capacity(self.inputs.len());
        for input in self.inputs.iter().take(samples) {
            let shape = input.shape().to_vec();
            if !plans.contains_key(&shape) {
                let plan = Plan::build(graph, std::slice::from_ref(&shape), &options)
                    .map_err(inference_error)?;
                plans.insert(shape.clone(), plan);
            }
            let plan = &plans[&shape];
            outputs.push(
                native.run(|| plan.run(std::slice::from_ref(input))).map_err(inference_error)?,
            );
        }
        Ok(outputs)
    }

    /// The score of `graph` on all evaluation samples.
    fn score(&mut self, graph: &Graph) -> Result<Score> {
        self.score_on(graph, self.inputs.len())
    }

    /// The score of `graph` on the first `samples` evaluation samples.
    fn score_on(&mut self, graph: &Graph, samples: usize) -> Result<Score> {
        self.evaluations += 1;
        let outputs = self.run(graph, samples)?;
        let (mut agreeing, mut cosine_sum, mut cosine_count) = (0usize, 0.0f64, 0usize);
        for (actual, expected) in outputs.iter().zip(&self.reference) {
            let same = match answer(self.model_type, expected) {
                Some(answer_expected) => answer(self.model_type, actual) == Some(answer_expected),
                None => true,
            };
            agreeing += usize::from(same);
            for (a, e) in actual.iter().zip(expected) {
                cosine_sum += cosine(&a.to_f32_vec(), &e.to_f32_vec());
                cosine_count += 1;
            }
        }
        let samples = outputs.len().max(1);
        Ok(Score {
            agreement: agreeing as f64 / samples as f64,
            cosine: if cosine_count == 0 { 1.0 } else { cosine_sum / cosine_count as f64 },
        })
    }

    fn meets_target(&self, score: Score) -> bool {
        score.agreement >= 1.0 && score.cosine >= COSINE_TARGET
    }
}

/// The QDQ graph of `graph` with `options` plus the nodes in `float` kept float, with the
/// bias `shifts` of its quantized layers.
fn quantized_with(
    graph: &Graph,
    options: &QuantOptions,
    float: &[String],
    ranges: &HashMap<ValueId, QuantParams>,
    shifts: &Shifts,
) -> Result<(Graph, QuantPlan)> {
    let mut options = options.clone();
    for name in float {
        options.by_node_name.insert(name.clone(), Override::KeepFloat);
    }
    let plan = quantize::plan(graph, &options).map_err(inference_error)?;
    let mut qdq = quantize::apply(graph, &plan, ranges).map_err(inference_error)?;
    bias_correction::apply(&mut qdq, &plan, shifts)?;
    Ok((qdq, plan))
}

/// Runs the fallback (see the module documentation) from the fully quantized `qdq` of
/// `plan` (with the bias `shifts` applied); returns the final QDQ graph, its plan and what was done. `progress` is told the
/// graphs scored so far.
#[allow(clippy::too_many_arguments)]
pub fn fall_back(
    state: &ModelState,
    images: &[SampleImage],
    options: &QuantOptions,
    ranges: &HashMap<ValueId, QuantParams>,
    shifts: &Shifts,
    qdq: Graph,
    plan: QuantPlan,
    budget: FloatBudget,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<(Graph, QuantPlan, Fallback)> {
    let graph = &state.graph;
    let mut evaluator = Evaluator::new(state, images)?;
    let before = evaluator.score(&qdq)?;
    let mut fallback = Fallback {
        before,
        after: before,
        kept_float: Vec::new(),
        samples: evaluator.inputs.len(),
        evaluations: 1,
    };
    if evaluator.meets_target(before) {
        return Ok((qdq, plan, fallback));
    }
    let candidates: Vec<String> = plan
        .nodes
        .iter()
        .filter(|decision| decision.quantized && COMPUTE.contains(&decision.op_type.as_str()))
        .map(|decision| decision.node.clone())
        .collect();
    let limit = ((candidates.len() as f64 * budget.0).floor() as usize).min(candidates.len());
    if limit == 0 {
        return Ok((qdq, plan, fallback));
    }
    // Rank by the score each node gives when it alone is kept float.
    let mut ranked = Vec::with_capacity(candidates.len());
    for (at, name) in candidates.iter().enumerate() {
        let (candidate, _) =
            quantized_with(graph, options, std::slice::from_ref(name), ranges, shifts)?;
        ranked.push((name.clone(), evaluator.score_on(&candidate, RANKING_SAMPLES)?));
        progress("accuracy_aware ranking (nodes kept float alone)", at + 1, candidates.len());
    }
    // Best first; ties keep the graph order.
    ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let mut best = (qdq, plan);
    let mut float: Vec<String> = Vec::new();
    for (name, alone) in ranked.into_iter().take(limit) {
        float.push(name.clone());
        let candidate = quantized_with(graph, options, &float, ranges, shifts)?;
        let score = evaluator.score(&candidate.0)?;
        progress("accuracy_aware fallback (nodes kept float, at most)", float.len(), limit);
        fallback.kept_float.push((name, alone));
        best = candidate;
        fallback.after = score;
        if evaluator.meets_target(score) {
            break;
        }
    }
    fallback.evaluations = evaluator.evaluations;
    Ok((best.0, best.1, fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_top_classes_and_ctc_decodings() {
        let logits = Tensor::from_f32(
            vec![1, 5, 3],
            vec![
                0.9, 0.1, 0.0, // blank
                0.1, 0.8, 0.1, // 1
                0.1, 0.7, 0.2, // 1 again: dropped
                0.9, 0.0, 0.1, // blank
                0.0, 0.3, 0.7, // 2
            ],
        )
        .unwrap();
        assert_eq!(
            answer(ModelType::OcrRecognition, std::slice::from_ref(&logits)),
            Some(vec![1, 2])
        );
        let scores = Tensor::from_f32(vec![1, 3], vec![0.1, 0.7, 0.2]).unwrap();
        assert_eq!(answer(ModelType::Classification, std::slice::from_ref(&scores)), Some(vec![1]));
        assert_eq!(answer(ModelType::Generic, &[scores]), None);
    }

    #[test]
    fn scores_order_by_agreement_then_cosine() {
        let low = Score { agreement: 0.5, cosine: 0.999 };
        let high = Score { agreement: 0.75, cosine: 0.9 };
        assert!(high > low);
        assert!(Score { agreement: 0.75, cosine: 0.95 } > high);
    }
}

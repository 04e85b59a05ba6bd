//! Running a graph on the native runtime with some of its intermediate values as extra
//! outputs: the calibration reads activation statistics, bias correction per-channel means
//! and the report per-node errors this way.
//!
//! A [`Probe`] is a copy of the graph whose outputs are the values asked for (after the
//! graph's own outputs); it plans once per input shape and keeps the last plan. Only the
//! part of a value that belongs to real samples is handed out: a value whose first
//! dimension is the batch is cut to the first `samples` rows (the rest is padding of a
//! fixed-batch graph).

use std::sync::Arc;

use dlopt_graph::{Graph, Tensor, ValueId};
use dlopt_runtime::{BuildOptions, Plan};

use crate::device::{Backend, Device, native_device};
use crate::error::Result;

use super::super::{ModelState, SampleImage, batch_input, inference_error};

/// A graph with extra outputs, run on the native device.
pub struct Probe {
    graph: Graph,
    /// The graph's own outputs come first; the probed values start here.
    first_probe: usize,
    /// How many values are probed.
    probed: usize,
    device: Arc<Device>,
    plan: Option<(Vec<usize>, Plan)>,
}

/// The values a probe run gives: one per probed value, only the real samples' part.
pub struct Probed {
    /// The probed values, in the order asked for.
    pub values: Vec<Tensor>,
    /// The graph's own outputs (all of the batch).
    pub outputs: Vec<Tensor>,
}

impl Probe {
    /// A probe of `values` of `graph` on the native device (constants and graph inputs may
    /// be probed too: they are outputs like any value).
    pub fn new(graph: &Graph, values: &[ValueId]) -> Result<Probe> {
        let mut graph = graph.clone();
        let first_probe = graph.outputs.len();
        graph.outputs.extend_from_slice(values);
        let device = native_device()?.clone();
        Ok(Probe { graph, first_probe, probed: values.len(), device, plan: None })
    }

    /// Runs the probe on `input` (a batch whose first `samples` rows are real samples).
    pub fn run(&mut self, input: Tensor, samples: usize) -> Result<Probed> {
        let Backend::Native(native) = &self.device.backend else {
            unreachable!("probes run on the native device")
        };
        let shape = input.shape().to_vec();
        if self.plan.as_ref().is_none_or(|(known, _)| *known != shape) {
            let options = BuildOptions { threads: native.threads(), ..BuildOptions::default() };
            let plan = Plan::build(&self.graph, std::slice::from_ref(&shape), &options)
                .map_err(inference_error)?;
            self.plan = Some((shape.clone(), plan));
        }
        let (_, plan) = self.plan.as_ref().expect("planned above");
        let batch = shape.first().copied().unwrap_or(1);
        let mut outputs =
            native.run(|| plan.run(std::slice::from_ref(&input))).map_err(inference_error)?;
        let values = outputs
            .split_off(self.first_probe)
            .into_iter()
            .take(self.probed)
            .map(|tensor| real_rows(tensor, batch, samples))
            .collect::<Result<Vec<_>>>()?;
        Ok(Probed { values, outputs })
    }
}

/// `tensor` cut to its first `samples` rows if its first dimension is the `batch` and
/// `samples` is less; otherwise unchanged.
fn real_rows(tensor: Tensor, batch: usize, samples: usize) -> Result<Tensor> {
    let shape = tensor.shape().to_vec();
    if samples >= batch || shape.first() != Some(&batch) || batch == 0 {
        return Ok(tensor);
    }
    let row: usize = shape[1..].iter().product();
    let values = tensor.to_f32_vec();
    let mut cut = shape;
    cut[0] = samples;
    Tensor::from_f32(cut, values[..samples * row].to_vec()).map_err(inference_error)
}

/// One input per sample (batches of one), those of the most common input shape first (the
/// fewest plans to build), each group in sample order, at most `limit`.
pub fn inputs_common_shape_first(
    state: &ModelState,
    images: &[SampleImage],
    limit: usize,
) -> Result<Vec<Tensor>> {
    let mut inputs = Vec::new();
    for (index, image) in images.iter().enumerate() {
        inputs.push(batch_input(state, std::slice::from_ref(image), index)?.0);
    }
    let mut counts: Vec<(Vec<usize>, usize)> = Vec::new();
    for input in &inputs {
        match counts.iter_mut().find(|(shape, _)| shape == input.shape()) {
            Some((_, count)) => *count += 1,
            None => counts.push((input.shape().to_vec(), 1)),
        }
    }
    let common = counts.iter().max_by_key(|(_, count)| *count).map(|(shape, _)| shape.clone());
    let (mut first, rest): (Vec<Tensor>, Vec<Tensor>) =
        inputs.into_iter().partition(|input| Some(input.shape()) == common.as_deref());
    first.extend(rest);
    first.truncate(limit);
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rows_are_cut_and_other_tensors_kept() {
        let tensor = Tensor::from_f32(vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let cut = real_rows(tensor.clone(), 3, 2).unwrap();
        assert_eq!(cut.shape(), &[2, 2]);
        assert_eq!(cut.to_f32_vec(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(real_rows(tensor.clone(), 3, 3).unwrap().to_f32_vec().len(), 6);
        // A tensor whose first dimension is not the batch is not cut.
        assert_eq!(real_rows(tensor, 4, 2).unwrap().shape(), &[3, 2]);
    }
}

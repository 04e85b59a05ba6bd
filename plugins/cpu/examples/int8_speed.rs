//! Speed of the CPU plugin's int8 path against float32 on the PP-OCRv4 detection model.
//!
//! `cargo run --release -p dlopt-ai2-cpu --example int8_speed -- MODEL CALIBRATION [RUNS]`
//!
//! `MODEL` is `ch_PP-OCRv4_det_infer.onnx`, `CALIBRATION` the stem of the detection
//! calibration tensors (`.../tensors/ocr_det_calibration`: `.tsv` lines `offset n c h w
//! label`, offsets in f32 elements of the `.f32` file). The QDQ graph is made as the host
//! makes it, minus the refinements (fallback, bias correction): optimize, the recipe's
//! plan (uint8 activations, per-channel int8 weights), min/max ranges over the calibration
//! samples, `apply`. Then three plans run the first sample at batch 1 on a 2-thread pool,
//! as the plugin builds them after compiling: float32 (the optimized float graph), int8
//! simulation (the QDQ graph optimized, as before the int8 pass) and int8 (optimized,
//! then [`fuse_int8_convolutions`]). Prints the median and best of `RUNS` (default 7)
//! timed runs after one warm-up, and how far the int8 outputs are from float32.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dlopt_ai2_cpu::int8::fuse_int8_convolutions;
use dlopt_graph::quantize::{self, QuantOptions, QuantParams};
use dlopt_graph::{Graph, Tensor};
use dlopt_runtime::{BuildOptions, Plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, calibration) = (&args[1], &args[2]);
    let runs: usize = args.get(3).map_or(7, |r| r.parse().unwrap());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| dlopt_kernels::cpu::flush_denormals_on_this_thread())
        .build()
        .unwrap();
    let samples = read_samples(calibration);
    let mut float = dlopt_graph::onnx::import_model(&std::fs::read(model).unwrap()).unwrap();
    dlopt_graph::passes::optimize(&mut float).unwrap();

    // Calibration: min / max of each planned activation over the samples.
    let plan = quantize::plan(&float, &QuantOptions::default()).unwrap();
    let mut probe = float.clone();
    let mut ranges: HashMap<_, (f32, f32)> = HashMap::new();
    let probed: Vec<_> =
        plan.activations.iter().map(|a| a.value).filter(|v| !float.inputs.contains(v)).collect();
    probe.outputs.extend(&probed);
    for sample in &samples {
        let outputs = pool.install(|| {
            let options = BuildOptions { threads: 2, ..Default::default() };
            let plan = Plan::build(&probe, &[sample.shape().to_vec()], &options).unwrap();
            plan.run(std::slice::from_ref(sample)).unwrap()
        });
        let values = float
            .inputs
            .iter()
            .map(|&v| (v, sample))
            .chain(probed.iter().copied().zip(&outputs[float.outputs.len()..]));
        for (value, tensor) in values {
            let data = tensor.to_f32_vec();
            let low = data.iter().copied().fold(f32::INFINITY, f32::min);
            let high = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let range = ranges.entry(value).or_insert((low, high));
            *range = (range.0.min(low), range.1.max(high));
        }
    }
    let params: HashMap<_, _> = plan
        .activations
        .iter()
        .map(|a| {
            let (low, high) = ranges[&a.value];
            (a.value, QuantParams::from_min_max(low, high, plan.activation_type))
        })
        .collect();
    let qdq = quantize::apply(&float, &plan, &params).unwrap();
    println!(
        "{} of {} nodes quantized, {} activation ranges from {} samples",
        plan.quantized_count(),
        plan.nodes.len(),
        params.len(),
        samples.len()
    );

    let mut simulation = qdq.clone();
    dlopt_graph::passes::optimize(&mut simulation).unwrap();
    let mut int8 = simulation.clone();
    let fused = fuse_int8_convolutions(&mut int8).unwrap();
    let convs = int8.nodes.iter().filter(|n| n.op_type == "Conv").count();
    println!("int8 pass: {fused} convolutions fused, {convs} Conv left on the float path");

    let input = &samples[0];
    println!("input {:?}, 2 threads, {runs} runs", input.shape());
    let reference = time(&pool, "float32", &float, input, runs);
    for (name, graph) in [("int8 simulation", &simulation), ("int8", &int8)] {
        let output = time(&pool, name, graph, input, runs);
        let worst = output
            .as_f32()
            .unwrap()
            .iter()
            .zip(reference.as_f32().unwrap())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let mean = output
            .as_f32()
            .unwrap()
            .iter()
            .zip(reference.as_f32().unwrap())
            .map(|(a, b)| f64::from((a - b).abs()))
            .sum::<f64>()
            / output.len() as f64;
        println!("    |{name} - float32|: max {worst:.4}, mean {mean:.5}");
    }
}

/// Builds the plan of `graph`, runs it once, then `runs` timed times; prints the times and
/// returns the first output.
fn time(
    pool: &rayon::ThreadPool,
    name: &str,
    graph: &Graph,
    input: &Tensor,
    runs: usize,
) -> Tensor {
    pool.install(|| {
        let options = BuildOptions { threads: 2, ..Default::default() };
        let plan = Plan::build(graph, &[input.shape().to_vec()], &options).unwrap();
        let output = plan.run(std::slice::from_ref(input)).unwrap().remove(0);
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                plan.run(std::slice::from_ref(input)).unwrap();
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{name:>16}: median {:7.1} ms, best {:7.1} ms ({} steps)",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            plan.step_count()
        );
        // Where the time goes: wall time per op type, one profiled run.
        let (_, timings) = plan.run_with_timings(std::slice::from_ref(input)).unwrap();
        let mut by_type: HashMap<&str, (f64, usize)> = HashMap::new();
        for timing in &timings {
            let entry = by_type.entry(timing.op_type.as_str()).or_default();
            *entry = (entry.0 + timing.seconds, entry.1 + 1);
        }
        let mut by_type: Vec<_> = by_type.into_iter().collect();
        by_type.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
        let line: Vec<String> = by_type
            .iter()
            .take(6)
            .map(|(op, (seconds, count))| format!("{op} x{count} {:.1} ms", seconds * 1e3))
            .collect();
        println!("                  {}", line.join(", "));
        if std::env::var_os("INT8_SPEED_STEPS").is_some() {
            for timing in timings.iter().filter(|t| t.seconds > 1e-3) {
                println!(
                    "        {:>8.2} ms {} {}",
                    timing.seconds * 1e3,
                    timing.op_type,
                    timing.node_name
                );
            }
        }
        output
    })
}

/// The calibration samples of `stem` (`.tsv` index, `.f32` data).
fn read_samples(stem: &str) -> Vec<Tensor> {
    let index = std::fs::read_to_string(format!("{stem}.tsv")).unwrap();
    let data = std::fs::read(format!("{stem}.f32")).unwrap();
    index
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<usize> =
                line.split('\t').take(5).map(|field| field.parse().unwrap()).collect();
            let shape = fields[1..5].to_vec();
            let count: usize = shape.iter().product();
            let bytes = &data[fields[0] * 4..(fields[0] + count) * 4];
            let values =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            Tensor::from_f32(shape, values).unwrap()
        })
        .collect()
}

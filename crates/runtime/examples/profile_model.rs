//! Profiles one model: where a run's time goes, by operator type and by node.
//!
//!     cargo run --release -p dlopt-runtime --example profile_model -- <model.onnx> <N,C,H,W> [threads] [runs]
//!
//! The graph goes through dlopt's import passes (as `read_dl_model` does), then one plan is
//! built and run `runs` times (default 20) inside a rayon pool of `threads` (default 2); the
//! median time per step is reported.

use std::collections::BTreeMap;

use dlopt_graph::{Tensor, onnx::import_model, passes, shape_inference};
use dlopt_runtime::{BuildOptions, Plan};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: profile_model <model.onnx> <N,C,H,W> [threads] [runs]");
        std::process::exit(2);
    }
    let shape: Vec<usize> = args[2].split(',').map(|d| d.parse().expect("a dimension")).collect();
    let threads: usize = args.get(3).map_or(2, |t| t.parse().expect("threads"));
    let runs: usize = args.get(4).map_or(20, |r| r.parse().expect("runs"));
    let mut graph = import_model(&std::fs::read(&args[1]).expect("model file")).expect("import");
    passes::optimize(&mut graph).expect("passes");
    shape_inference::infer_shapes(&mut graph).expect("shapes");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| dlopt_kernels::cpu::flush_denormals_on_this_thread())
        .build()
        .unwrap();
    let plan = Plan::build(
        &graph,
        std::slice::from_ref(&shape),
        &BuildOptions { threads, ..Default::default() },
    )
    .expect("plan");
    let count: usize = shape.iter().product();
    // Uniform noise in [-1, 1] from a fixed linear congruential sequence (image-like inputs
    // and noise exercise different value ranges; both matter, e.g. for denormals).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let values = (0..count)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let input = Tensor::from_f32(shape.clone(), values).unwrap();
    let mut per_step: Vec<Vec<f64>> = Vec::new();
    let mut totals = Vec::new();
    let mut names = Vec::new();
    for run in 0..runs + 2 {
        let started = std::time::Instant::now();
        let (_, timings) =
            pool.install(|| plan.run_with_timings(std::slice::from_ref(&input))).expect("run");
        let total = started.elapsed().as_secs_f64();
        if run < 2 {
            continue; // warm-up
        }
        totals.push(total);
        if per_step.is_empty() {
            per_step = vec![Vec::new(); timings.len()];
            names = timings.iter().map(|t| (t.node_name.clone(), t.op_type.clone())).collect();
        }
        for (at, timing) in timings.iter().enumerate() {
            per_step[at].push(timing.seconds);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let total = median(&mut totals);
    let steps: Vec<f64> = per_step.iter_mut().map(median).collect();
    let mut by_op: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for ((_, op), seconds) in names.iter().zip(&steps) {
        let entry = by_op.entry(op.as_str()).or_default();
        entry.0 += seconds;
        entry.1 += 1;
    }
    println!("{} steps, median run {:.2} ms ({threads} threads)", plan.step_count(), total * 1e3);
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    println!("{:<24} {:>8} {:>6} {:>6}", "operator", "ms", "%", "nodes");
    for (op, (seconds, nodes)) in ops {
        println!("{op:<24} {:>8.3} {:>6.1} {nodes:>6}", seconds * 1e3, 100.0 * seconds / total);
    }
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| steps[b].total_cmp(&steps[a]));
    println!("\nslowest nodes:");
    for &at in order.iter().take(12) {
        println!("  {:<40} {:<20} {:>8.3} ms", names[at].0, names[at].1, steps[at] * 1e3);
    }
}

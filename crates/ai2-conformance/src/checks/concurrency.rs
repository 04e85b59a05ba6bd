//! Threading as the ABI documents it: execute of one compiled model from 4 threads at once
//! (when the device reports 'execute_concurrently' = 1; serialized by the kit, as a host
//! would, otherwise), execute of distinct models at once, concurrent compiles, deserializes
//! and property reads. Each thread uses its own inputs, so a plugin sharing scratch memory
//! between calls gives wrong results instead of lucky ones.

use std::sync::Mutex;

use super::compile::{compile, supported_graphs};
use super::properties::well_known_keys;
use super::{Config, DeviceFacts, same_outputs};
use crate::graphs::KitGraph;
use crate::plugin::{Compiled, Session, expect_ok};
use crate::reference::{compare, evaluate};
use crate::report::{CheckResult, Reporter, ensure, pass};

const THREADS: usize = 4;
const RUNS_PER_THREAD: usize = 25;

pub(super) fn run(session: &Session, config: &Config, reporter: &mut Reporter) {
    let device = config.device;
    let facts = match DeviceFacts::read(session, device) {
        Ok(facts) => facts,
        Err(problem) => return reporter.fail("concurrency.setup", &problem),
    };
    let graphs = if facts.runs_float32() { supported_graphs(session, device) } else { Vec::new() };
    reporter.check("concurrency.properties", || properties(session));
    // The graph with the most nodes makes races most likely to show.
    let Some(probe) = graphs.iter().max_by_key(|graph| graph.spec.nodes.len()) else {
        reporter
            .skip("concurrency", "no kit graph compiles on this device (see the compile group)");
        return;
    };
    reporter.check("concurrency.execute_one_model", || {
        execute_one_model(session, device, probe, &facts)
    });
    reporter.check("concurrency.execute_distinct_models", || {
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = graphs
                .iter()
                .take(THREADS)
                .map(|graph| {
                    scope.spawn(move || {
                        let compiled = compile(session, device, graph)?;
                        (0..RUNS_PER_THREAD)
                            .try_for_each(|run| check_run(&compiled, graph, run as u64))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        });
        results.into_iter().collect::<Result<Vec<_>, _>>()?;
        pass(format!(
            "{} models on {} threads at once",
            graphs.len().min(THREADS),
            graphs.len().min(THREADS)
        ))
    });
    reporter.check("concurrency.compile_and_deserialize", || {
        let artifacts: Vec<Result<Vec<u8>, String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|_| {
                    scope.spawn(|| {
                        compile(session, device, probe)?.serialize().map(|(bytes, _)| bytes)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        });
        let artifacts = artifacts.into_iter().collect::<Result<Vec<_>, _>>()?;
        ensure(artifacts.windows(2).all(|pair| pair[0] == pair[1]), || {
            "concurrent compiles gave different artifacts".into()
        })?;
        let loaded: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let bytes = &artifacts[0];
                    scope.spawn(move || {
                        let compiled =
                            expect_ok(session.deserialize(device, bytes), "deserialize")?;
                        check_run(&compiled, probe, thread as u64)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        });
        loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
        pass(format!(
            "{THREADS} concurrent compiles gave identical artifacts; {THREADS} concurrent \
             deserializes run"
        ))
    });
}

/// Runs `compiled` on the inputs of `seed` and compares with the reference.
fn check_run(compiled: &Compiled, graph: &KitGraph, seed: u64) -> Result<(), String> {
    let inputs = graph.inputs(100 + seed);
    let outputs = expect_ok(compiled.execute(&inputs, &graph.output_lens()), "execute")?;
    let expected = evaluate(&graph.spec, &inputs)?;
    compare(&outputs, &expected)
        .map_err(|mismatch| format!("wrong result under concurrency: {mismatch}"))?;
    Ok(())
}

fn execute_one_model(
    session: &Session,
    device: usize,
    graph: &KitGraph,
    facts: &DeviceFacts,
) -> CheckResult {
    let compiled = compile(session, device, graph)?;
    // Expected outputs of each (thread, run), computed on this thread first.
    let seeds: Vec<Vec<u64>> = (0..THREADS)
        .map(|thread| {
            (0..RUNS_PER_THREAD).map(|run| (thread * RUNS_PER_THREAD + run) as u64 % 7).collect()
        })
        .collect();
    let single: Vec<Vec<Vec<f32>>> = (0..7)
        .map(|seed| {
            expect_ok(compiled.execute(&graph.inputs(100 + seed), &graph.output_lens()), "execute")
        })
        .collect::<Result<_, _>>()?;
    let lock = (!facts.execute_concurrently).then(|| Mutex::new(()));
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = seeds
            .iter()
            .map(|seeds| {
                let (compiled, single, lock) = (&compiled, &single, lock.as_ref());
                scope.spawn(move || {
                    for &seed in seeds {
                        let inputs = graph.inputs(100 + seed);
                        let outputs = {
                            let _guard = lock
                                .map(|lock| lock.lock().unwrap_or_else(|error| error.into_inner()));
                            expect_ok(compiled.execute(&inputs, &graph.output_lens()), "execute")?
                        };
                        same_outputs(&outputs, &single[seed as usize], facts.deterministic)
                            .map_err(|problem| {
                                format!(
                                    "a concurrent run differs from the single-threaded one: \
                                     {problem}"
                                )
                            })?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let how = if facts.execute_concurrently {
        "at once ('execute_concurrently' = 1)"
    } else {
        "serialized by the kit ('execute_concurrently' = 0)"
    };
    pass(format!(
        "{THREADS} threads x {RUNS_PER_THREAD} runs of one model {how}, results as on one thread"
    ))
}

fn properties(session: &Session) -> CheckResult {
    let read_all = || -> Vec<String> {
        (0..session.device_count)
            .flat_map(|device| {
                well_known_keys().map(move |key| {
                    format!("{:?}", session.property(device, key).map_err(|error| error.code))
                })
            })
            .collect()
    };
    let first = read_all();
    let answers: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| scope.spawn(|| (0..10).map(|_| read_all()).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
    });
    ensure(answers.len() == THREADS * 10 && answers.iter().all(|answer| *answer == first), || {
        "concurrent property reads gave different answers".into()
    })?;
    pass(format!("{THREADS} threads read every well-known property 10 times alike"))
}

//! check_support, compile and execute on the kit's graphs, and their error paths.
//!
//! For each kit graph: check_support's reports must be well-formed (node indices in range,
//! each node at most once, a non-empty reason). A graph with no report must compile in
//! float32 and execute to the kit's reference values (1e-5 relative), twice alike, without
//! touching its inputs; a graph with reports must be refused by compile with UNSUPPORTED
//! and a message naming a reported node. The two graphs no plugin can run must be reported.

use std::collections::HashSet;
use std::ffi::{CString, c_void};
use std::ptr;

use dlopt_ai2::abi::{
    DLOPT_AI2_ERROR_CANCELLED, DLOPT_AI2_ERROR_INVALID_ARGUMENT, DLOPT_AI2_ERROR_UNSUPPORTED,
    DlAi2Buffer,
};

use super::properties::KNOWN_PRECISIONS;
use super::{Config, DeviceFacts, same_outputs};
use crate::graph_view::{GraphView, ValueView};
use crate::graphs::{self, KitGraph};
use crate::plugin::{CompileArgs, Compiled, Session, expect_code, expect_ok, function};
use crate::reference::{compare, evaluate};
use crate::report::{CheckResult, Reporter, ensure, pass, skip};
use crate::sinks::{CallbackRecorder, PropValue, SupportReport, record_unsupported};

/// check_support on a kit graph, with the report checked for well-formedness.
pub(super) fn support(
    session: &Session,
    device: usize,
    graph: &KitGraph,
) -> Result<Vec<(usize, String)>, String> {
    let view = GraphView::new(&graph.spec, false);
    let reported = expect_ok(session.check_support(device, &view, "float32"), "check_support")?
        .map_err(|problem| format!("check_support misused its callback: {problem}"))?;
    let mut seen = HashSet::new();
    for (node, reason) in &reported {
        ensure(*node < graph.spec.nodes.len(), || {
            format!("reported node {node}; the graph has {} nodes", graph.spec.nodes.len())
        })?;
        ensure(seen.insert(*node), || format!("reported node {node} twice"))?;
        ensure(!reason.trim().is_empty(), || format!("node {node} reported with an empty reason"))?;
    }
    if let Some(node) = graph.must_refuse {
        ensure(seen.contains(&node), || {
            format!(
                "node {node} ('{}') cannot run anywhere but was not reported",
                graph.spec.nodes[node].name
            )
        })?;
    }
    Ok(reported)
}

/// The kit graphs the device runs entirely (check_support reports nothing), for the
/// groups that need a working model.
pub(super) fn supported_graphs(session: &Session, device: usize) -> Vec<KitGraph> {
    graphs::all()
        .into_iter()
        .filter(|graph| {
            graph.must_refuse.is_none()
                && matches!(support(session, device, graph), Ok(reported) if reported.is_empty())
        })
        .collect()
}

/// Compiles a kit graph in float32.
pub(super) fn compile(
    session: &Session,
    device: usize,
    graph: &KitGraph,
) -> Result<Compiled, String> {
    let view = GraphView::new(&graph.spec, false);
    let compiled = expect_ok(session.compile(device, &view, "float32", None), "compile")?;
    ensure(!compiled.raw.is_null(), || "compile succeeded but gave a NULL model".into())?;
    Ok(compiled)
}

/// Runs a compiled kit graph on inputs of run `seed`; compares with the reference.
pub(super) fn run_and_compare(
    compiled: &Compiled,
    graph: &KitGraph,
    seed: u64,
) -> Result<(Vec<Vec<f32>>, f64), String> {
    let inputs = graph.inputs(seed);
    let untouched = inputs.clone();
    let outputs = expect_ok(compiled.execute(&inputs, &graph.output_lens()), "execute")?;
    ensure(inputs == untouched, || "execute wrote into an input buffer".into())?;
    let expected = evaluate(&graph.spec, &inputs)?;
    let worst =
        compare(&outputs, &expected).map_err(|mismatch| format!("wrong result: {mismatch}"))?;
    Ok((outputs, worst))
}

fn compile_and_run(
    session: &Session,
    device: usize,
    graph: &KitGraph,
    facts: &DeviceFacts,
) -> CheckResult {
    let compiled = compile(session, device, graph)?;
    let (first, worst) = run_and_compare(&compiled, graph, 1)?;
    let (again, _) = run_and_compare(&compiled, graph, 1)?;
    same_outputs(&first, &again, facts.deterministic)
        .map_err(|problem| format!("a second run differs: {problem}"))?;
    let (_, worst_other) = run_and_compare(&compiled, graph, 2)?;
    pass(format!("matches the reference (max relative error {:.1e})", worst.max(worst_other)))
}

fn refused(
    session: &Session,
    device: usize,
    graph: &KitGraph,
    reported: &[(usize, String)],
) -> CheckResult {
    let view = GraphView::new(&graph.spec, false);
    let message = expect_code(
        session.compile(device, &view, "float32", None),
        DLOPT_AI2_ERROR_UNSUPPORTED,
        "compile",
    )?;
    let names: Vec<&str> =
        reported.iter().map(|(node, _)| graph.spec.nodes[*node].name.as_str()).collect();
    ensure(names.iter().any(|name| message.contains(name)), || {
        format!("the message '{message}' names none of the unsupported nodes {names:?}")
    })?;
    pass(format!("UNSUPPORTED: {message}"))
}

pub(super) fn run(session: &Session, config: &Config, reporter: &mut Reporter) {
    let device = config.device;
    let facts = match DeviceFacts::read(session, device) {
        Ok(facts) => facts,
        Err(problem) => return reporter.fail("compile.setup", &problem),
    };
    if !facts.runs_float32() {
        reporter.skip(
            "compile",
            "the device does not list float32 in 'precisions'; the kit compares float32 results \
             only",
        );
        return;
    }
    let mut ran = 0;
    let mut probe = None;
    for graph in graphs::all() {
        let mut reported = None;
        reporter.check(&format!("support.{}", graph.name), || {
            let report = support(session, device, &graph)?;
            let detail = if report.is_empty() {
                format!("all {} nodes supported", graph.spec.nodes.len())
            } else {
                let described: Vec<String> = report
                    .iter()
                    .map(|(node, reason)| {
                        format!("node '{}': {reason}", graph.spec.nodes[*node].name)
                    })
                    .collect();
                format!("unsupported: {}", described.join("; "))
            };
            reported = Some(report);
            pass(detail)
        });
        // A graph no plugin can run is refused by compile even where check_support failed.
        let reported = match (reported, graph.must_refuse) {
            (Some(reported), _) => reported,
            (None, Some(node)) => vec![(node, String::new())],
            (None, None) => continue,
        };
        if reported.is_empty() {
            if reporter.check(&format!("compile.{}", graph.name), || {
                compile_and_run(session, device, &graph, &facts)
            }) {
                ran += 1;
            }
            probe = probe.or(Some(graph));
        } else {
            reporter.check(&format!("compile.{}.refused", graph.name), || {
                refused(session, device, &graph, &reported)
            });
        }
    }
    reporter.check("compile.coverage", || {
        if ran > 0 {
            pass(format!("{ran} kit graph(s) compiled and executed"))
        } else if !config.models.is_empty() {
            skip("the plugin runs none of the kit's graphs; execution is checked with --model only")
        } else {
            Err("the plugin runs none of the kit's graphs and no --model was given: execution is \
                 untested"
                .into())
        }
    });
    let Some(probe) = probe else {
        reporter.skip("compile.error_paths", "no kit graph compiles on this device");
        return;
    };
    reporter.check("support.null_arguments", || support_null_arguments(session, device, &probe));
    reporter.check("compile.callbacks", || callbacks(session, device, &probe));
    reporter.check("compile.null_callbacks", || {
        let recorder = CallbackRecorder::new(false, false);
        let view = GraphView::new(&probe.spec, false);
        let compiled = expect_ok(
            session.compile(device, &view, "float32", Some(recorder.as_ptr())),
            "compile with NULL callback functions",
        )?;
        run_and_compare(&compiled, &probe, 1)?;
        pass("callbacks whose functions are all NULL are accepted")
    });
    reporter.check("compile.cancelled", || cancelled(session, device, &probe));
    reporter.check("compile.larger_structs", || {
        let view = GraphView::new(&probe.spec, true);
        let precision = CString::new("float32").unwrap_or_default();
        let options = ValueView::new(&PropValue::Map(Vec::new()));
        let args = CompileArgs::new(device, &view, &precision, &options, None, true);
        let compiled =
            expect_ok(session.compile_raw(args.as_ptr()), "compile with larger structs")?;
        run_and_compare(&compiled, &probe, 1)?;
        pass("DlAi2CompileArgs and DlAi2Graph larger than ABI 1.0's are accepted")
    });
    reporter.check("compile.unknown_precisions", || unknown_precisions(session, device, &probe));
    reporter.check("compile.null_arguments", || compile_null_arguments(session, device, &probe));
    reporter.check("execute.wrong_buffers", || wrong_buffers(session, device, &probe));
}

fn support_null_arguments(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let check = function!(session.api, check_support);
    let view = GraphView::new(&probe.spec, false);
    let precision = c"float32";
    let report = std::sync::Mutex::new(SupportReport::default());
    let context = &report as *const _ as *mut c_void;
    let cases = [
        (
            "NULL plugin",
            ptr::null_mut(),
            device,
            view.as_ptr(),
            precision.as_ptr(),
            Some(record_unsupported as _),
        ),
        (
            "NULL graph",
            session.plugin,
            device,
            ptr::null(),
            precision.as_ptr(),
            Some(record_unsupported as _),
        ),
        (
            "NULL precision",
            session.plugin,
            device,
            view.as_ptr(),
            ptr::null(),
            Some(record_unsupported as _),
        ),
        ("NULL callback", session.plugin, device, view.as_ptr(), precision.as_ptr(), None),
        (
            "device out of range",
            session.plugin,
            session.device_count,
            view.as_ptr(),
            precision.as_ptr(),
            Some(record_unsupported as _),
        ),
    ];
    for (what, plugin, device, graph, precision, callback) in cases {
        // SAFETY: valid arguments except the one being checked.
        let result =
            session.result(unsafe { check(plugin, device, graph, precision, context, callback) });
        expect_code(result, DLOPT_AI2_ERROR_INVALID_ARGUMENT, &format!("check_support({what})"))?;
    }
    pass("NULL arguments and a device out of range give INVALID_ARGUMENT")
}

fn callbacks(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let recorder = CallbackRecorder::new(false, true);
    let view = GraphView::new(&probe.spec, false);
    let result = session.compile(device, &view, "float32", Some(recorder.as_ptr()));
    recorder.call_returned();
    let compiled = expect_ok(result, "compile with log / progress / cancellation callbacks")?;
    run_and_compare(&compiled, probe, 1)?;
    let seen = recorder.seen();
    ensure(seen.problems.is_empty(), || {
        format!("callbacks misused: {}", seen.problems.join("; "))
    })?;
    pass(format!(
        "{} log line(s), {} progress report(s), {} cancellation queries",
        seen.logs.len(),
        seen.progress.len(),
        seen.cancel_queries
    ))
}

fn cancelled(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let recorder = CallbackRecorder::new(true, true);
    let view = GraphView::new(&probe.spec, false);
    let result = session.compile(device, &view, "float32", Some(recorder.as_ptr()));
    recorder.call_returned();
    let queries = recorder.seen().cancel_queries;
    match result {
        Ok(compiled) => {
            // Finishing before looking is allowed; the result must still be right.
            ensure(queries == 0, || {
                format!("is_cancelled answered 1 ({queries} times) but compile succeeded")
            })?;
            run_and_compare(&compiled, probe, 1)?;
            pass("compile finished without asking is_cancelled (allowed for a small graph)")
        }
        Err(error) => {
            let message = expect_code(
                Err::<(), _>(error),
                DLOPT_AI2_ERROR_CANCELLED,
                "compile with is_cancelled = 1",
            )?;
            pass(format!("CANCELLED: {message}"))
        }
    }
}

fn unknown_precisions(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let mut listed = Vec::new();
    for key in ["precisions", "cast_precisions", "calibration_precisions"] {
        if let Ok(Ok(PropValue::List(items))) = session.property(device, key) {
            listed.extend(items.into_iter().filter_map(|item| {
                if let PropValue::Str(name) = item { Some(name) } else { None }
            }));
        }
    }
    let view = GraphView::new(&probe.spec, false);
    let mut refused = Vec::new();
    let unlisted =
        KNOWN_PRECISIONS.into_iter().filter(|name| !listed.iter().any(|listed| listed == name));
    for precision in unlisted.chain(["float64", ""]) {
        match session.compile(device, &view, precision, None) {
            Ok(_) => {
                return Err(format!(
                    "compile at precision '{precision}' succeeded; the device does not list it"
                ));
            }
            Err(error)
                if error.malformed.is_none()
                    && [DLOPT_AI2_ERROR_UNSUPPORTED, DLOPT_AI2_ERROR_INVALID_ARGUMENT]
                        .contains(&error.code) =>
            {
                refused.push(format!("'{precision}'"))
            }
            Err(error) => {
                return Err(format!(
                    "compile at precision '{precision}': {error}; expected UNSUPPORTED or \
                     INVALID_ARGUMENT"
                ));
            }
        }
    }
    pass(format!("refused {}", refused.join(", ")))
}

/// A change of compile arguments that makes them invalid (given the device count).
type ArgsChange = fn(&mut CompileArgs, usize);

fn compile_null_arguments(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let compile = function!(session.api, compile);
    let view = GraphView::new(&probe.spec, false);
    let precision = CString::new("float32").unwrap_or_default();
    let options = ValueView::new(&PropValue::Map(Vec::new()));
    let args = CompileArgs::new(device, &view, &precision, &options, None, false);
    let mut out = ptr::null_mut();
    // SAFETY: valid arguments except the NULL being checked.
    let results = unsafe {
        [
            ("NULL plugin", compile(ptr::null_mut(), args.as_ptr(), &mut out)),
            ("NULL args", compile(session.plugin, ptr::null(), &mut out)),
            ("NULL compiled", compile(session.plugin, args.as_ptr(), ptr::null_mut())),
        ]
    };
    for (what, error) in results {
        expect_code(
            session.result(error),
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            &format!("compile({what})"),
        )?;
    }
    ensure(out.is_null(), || "a refused compile wrote a model".into())?;
    let variants: [(&str, ArgsChange); 3] = [
        ("graph NULL", |args, _| args.args_mut().graph = ptr::null()),
        ("precision NULL", |args, _| args.args_mut().precision = ptr::null()),
        ("device out of range", |args, count| args.args_mut().device = count),
    ];
    for (what, change) in variants {
        let mut args = CompileArgs::new(device, &view, &precision, &options, None, false);
        change(&mut args, session.device_count);
        expect_code(
            session.compile_raw(args.as_ptr()),
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            &format!("compile({what})"),
        )?;
    }
    pass("NULL arguments and a device out of range give INVALID_ARGUMENT")
}

/// execute with buffers that do not fit the model: INVALID_ARGUMENT, never a crash.
fn wrong_buffers(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let compiled = compile(session, device, probe)?;
    let inputs = probe.inputs(1);
    // Outputs get 16 spare bytes so that an oversized claim never lets a plugin overrun.
    let mut outputs: Vec<Vec<f32>> =
        probe.output_lens().iter().map(|&len| vec![0.0; len + 4]).collect();
    let input_buffers: Vec<DlAi2Buffer> = inputs
        .iter()
        .map(|data| DlAi2Buffer { data: data.as_ptr() as *mut c_void, byte_size: data.len() * 4 })
        .collect();
    let output_buffers: Vec<DlAi2Buffer> = outputs
        .iter_mut()
        .map(|data| DlAi2Buffer {
            data: data.as_mut_ptr() as *mut c_void,
            byte_size: (data.len() - 4) * 4,
        })
        .collect();
    let resized = |buffers: &[DlAi2Buffer], delta: isize| {
        let mut changed = copy(buffers);
        changed[0].byte_size = changed[0].byte_size.saturating_add_signed(delta);
        changed
    };
    let mut one_more_input = copy(&input_buffers);
    one_more_input.push(DlAi2Buffer { data: outputs[0].as_mut_ptr() as *mut c_void, byte_size: 4 });
    let cases = [
        ("one input too few", copy(&input_buffers[1..]), copy(&output_buffers)),
        ("one input too many", one_more_input, copy(&output_buffers)),
        ("input 0 four bytes short", resized(&input_buffers, -4), copy(&output_buffers)),
        ("output 0 four bytes long", copy(&input_buffers), resized(&output_buffers, 4)),
        ("no outputs", copy(&input_buffers), Vec::new()),
    ];
    for (what, inputs, outputs) in &cases {
        expect_code(
            compiled.execute_raw(inputs, outputs),
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            &format!("execute({what})"),
        )?;
    }
    let execute = function!(session.api, execute);
    // SAFETY: NULL pointers with non-zero counts, and a NULL model, are what is checked.
    let nulls = unsafe {
        [
            (
                "NULL inputs",
                execute(
                    compiled.raw,
                    ptr::null(),
                    input_buffers.len(),
                    output_buffers.as_ptr(),
                    output_buffers.len(),
                ),
            ),
            (
                "NULL outputs",
                execute(
                    compiled.raw,
                    input_buffers.as_ptr(),
                    input_buffers.len(),
                    ptr::null(),
                    output_buffers.len(),
                ),
            ),
            (
                "NULL compiled",
                execute(
                    ptr::null_mut(),
                    input_buffers.as_ptr(),
                    input_buffers.len(),
                    output_buffers.as_ptr(),
                    output_buffers.len(),
                ),
            ),
        ]
    };
    for (what, error) in nulls {
        expect_code(
            session.result(error),
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            &format!("execute({what})"),
        )?;
    }
    // The model still works after refusing all that.
    run_and_compare(&compiled, probe, 1)?;
    pass("wrong counts, wrong sizes and NULL pointers give INVALID_ARGUMENT")
}

/// Copies of buffer descriptions (DlAi2Buffer is not Clone).
fn copy(buffers: &[DlAi2Buffer]) -> Vec<DlAi2Buffer> {
    buffers
        .iter()
        .map(|buffer| DlAi2Buffer { data: buffer.data, byte_size: buffer.byte_size })
        .collect()
}

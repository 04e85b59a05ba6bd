//! `dlopt-ai2-conformance <plugin.so> [--model <model.onnx> [--input-shape d,d,...]...]...
//! [--device N] [--timeout SECONDS] [--group NAME]`
//!
//! Runs every check group of the kit against a plugin library, each group in a child
//! process (this same program with `--group NAME`), and prints one line per check:
//! `PASS name[: detail]`, `FAIL name: reason`, `SKIP name: why`, then
//! `N passed, N failed, N skipped`. Exits 0 when nothing failed, 1 otherwise (2 for a
//! usage error). A child that crashes or hangs fails the check it was running.
//!
//! `--group NAME` runs one group in this process (for debugging, e.g. under gdb).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dlopt_ai2_conformance::report::emit;
use dlopt_ai2_conformance::{
    Config, Counts, GroupEnd, ModelSpec, Reporter, group_names, run_group,
};

const USAGE: &str = "usage: dlopt-ai2-conformance <plugin.so> [--model <model.onnx> [--input-shape \
                     d,d,...]...]... [--device N] [--timeout SECONDS] [--group NAME]";

/// The command line.
struct Options {
    config: Config,
    timeout: Duration,
    group: Option<String>,
    /// The arguments to pass on to child processes.
    forwarded: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut config = Config::default();
    let mut timeout = Duration::from_secs(600);
    let mut group = None;
    let mut forwarded = Vec::new();
    let mut plugin = None;
    let mut at = 0;
    while at < args.len() {
        let arg = args[at].as_str();
        let value = || args.get(at + 1).cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg {
            "--model" => {
                config
                    .models
                    .push(ModelSpec { path: PathBuf::from(value()?), input_shapes: Vec::new() });
            }
            "--input-shape" => {
                let model =
                    config.models.last_mut().ok_or("--input-shape must follow a --model")?;
                let dims = value()?
                    .split(',')
                    .map(|dim| dim.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>();
                model.input_shapes.push(
                    dims.map_err(|_| "--input-shape takes dimensions like 1,3,48,192".to_string())?,
                );
            }
            "--device" => {
                config.device = value()?.parse().map_err(|_| "--device takes a number")?
            }
            "--timeout" => {
                timeout =
                    Duration::from_secs(value()?.parse().map_err(|_| "--timeout takes seconds")?)
            }
            "--group" => group = Some(value()?),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ if plugin.is_none() => {
                plugin = Some(PathBuf::from(arg));
                forwarded.push(arg.to_string());
                at += 1;
                continue;
            }
            _ => return Err(format!("unexpected argument {arg}")),
        }
        if arg != "--group" {
            forwarded.extend([arg.to_string(), value()?]);
        }
        at += 2;
    }
    config.plugin = plugin.ok_or("no plugin library given")?;
    Ok(Options { config, timeout, group, forwarded })
}

/// Runs `group` in a child process, relaying its lines; returns its counts and how it
/// ended.
fn run_child(options: &Options, group: &str) -> (Counts, GroupEnd) {
    let mut counts = Counts::default();
    let mut reporter_counts = |line: &str| {
        if line.starts_with("PASS ") {
            counts.passed += 1;
        } else if line.starts_with("FAIL ") {
            counts.failed += 1;
        } else if line.starts_with("SKIP ") {
            counts.skipped += 1;
        }
    };
    let spawned = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .args(&options.forwarded)
            .args(["--group", group])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            emit(&format!("FAIL {group}: cannot start a check process: {error}"));
            return (Counts { failed: 1, ..Counts::default() }, GroupEnd::Completed);
        }
    };
    let (sender, lines) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + options.timeout;
    let mut running: Option<String> = None;
    let mut timed_out = false;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(name) = line.strip_prefix("RUN ") {
                    running = Some(name.to_string());
                    continue;
                }
                if ["PASS ", "FAIL ", "SKIP "].iter().any(|prefix| line.starts_with(prefix)) {
                    running = None;
                }
                reporter_counts(&line);
                emit(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait();
    let culprit = running.unwrap_or_else(|| format!("{group} (between checks)"));
    let end = match status {
        _ if timed_out => {
            emit(&format!(
                "FAIL {culprit}: no answer within {} s (killed)",
                options.timeout.as_secs()
            ));
            counts.failed += 1;
            GroupEnd::Completed
        }
        Ok(status) if status.code() == Some(2) => GroupEnd::Fatal,
        Ok(status) if matches!(status.code(), Some(0 | 1)) => GroupEnd::Completed,
        Ok(status) => {
            emit(&format!(
                "FAIL {culprit}: the check process died ({}) while this check ran",
                describe_exit(status)
            ));
            counts.failed += 1;
            GroupEnd::Completed
        }
        Err(error) => {
            emit(&format!("FAIL {culprit}: cannot wait for the check process: {error}"));
            counts.failed += 1;
            GroupEnd::Completed
        }
    };
    (counts, end)
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                4 => " SIGILL",
                6 => " SIGABRT",
                7 => " SIGBUS",
                8 => " SIGFPE",
                11 => " SIGSEGV",
                _ => "",
            };
            return format!("signal {signal}{name}");
        }
    }
    format!("exit code {:?}", status.code())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(group) = &options.group {
        let mut reporter = Reporter::new();
        let end = run_group(group, &options.config, &mut reporter);
        return match (end, reporter.counts().failed) {
            (GroupEnd::Fatal, _) => ExitCode::from(2),
            (_, 0) => ExitCode::SUCCESS,
            _ => ExitCode::from(1),
        };
    }
    emit(&format!(
        "dlopt AI² conformance kit {}: {}",
        env!("CARGO_PKG_VERSION"),
        options.config.plugin.display()
    ));
    let mut total = Counts::default();
    let mut fatal = false;
    for group in group_names(&options.config) {
        if fatal {
            emit(&format!("SKIP {group}: the plugin cannot be loaded, negotiated or initialized"));
            total.skipped += 1;
            continue;
        }
        let (counts, end) = run_child(&options, &group);
        total.add(counts);
        fatal = end == GroupEnd::Fatal;
    }
    emit(&format!("{} passed, {} failed, {} skipped", total.passed, total.failed, total.skipped));
    if total.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

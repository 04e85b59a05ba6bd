//! The check groups. Each group runs in its own process when the binary drives them (so a
//! crash in one group does not hide the others, and every group initializes a fresh plugin
//! instance, as a process would): see `main.rs`.

mod artifact;
mod compile;
mod concurrency;
mod entry;
mod model;
mod properties;

use std::path::PathBuf;

use crate::plugin::{Session, host_log};
use crate::report::{Reporter, ensure, pass};
use crate::sinks::PropValue;

/// What the kit was asked to check.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The plugin library.
    pub plugin: PathBuf,
    /// The device the compile / execute checks use.
    pub device: usize,
    /// ONNX models to compile and compare with dlopt's runtime.
    pub models: Vec<ModelSpec>,
}

/// A model given with `--model`.
#[derive(Clone, Debug, Default)]
pub struct ModelSpec {
    /// The ONNX file.
    pub path: PathBuf,
    /// Concrete shapes of the graph inputs (`--input-shape`, one per input); symbolic
    /// dimensions default to 1 where none is given.
    pub input_shapes: Vec<Vec<usize>>,
}

/// How a group ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupEnd {
    /// All its checks ran (some may have failed).
    Completed,
    /// The plugin cannot be loaded, negotiated or initialized: other groups are pointless.
    Fatal,
}

/// The names of the groups for `config`, in order: `entry`, `properties`, `compile`,
/// `artifact`, `concurrency`, then `model:<n>` per model.
pub fn group_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> =
        ["entry", "properties", "compile", "artifact", "concurrency"].map(String::from).to_vec();
    names.extend((0..config.models.len()).map(|at| format!("model:{at}")));
    names
}

/// Runs group `name`.
pub fn run_group(name: &str, config: &Config, reporter: &mut Reporter) -> GroupEnd {
    if name == "entry" {
        return entry::run(config, reporter);
    }
    let session = match Session::open(&config.plugin, false) {
        Ok(session) => session,
        Err(reason) => {
            reporter.fail(&format!("{name}.setup"), &reason);
            return GroupEnd::Fatal;
        }
    };
    if config.device >= session.device_count {
        reporter.fail(
            &format!("{name}.setup"),
            &format!(
                "--device {} but the plugin has {} device(s)",
                config.device, session.device_count
            ),
        );
        return GroupEnd::Fatal;
    }
    match name {
        "properties" => properties::run(&session, reporter),
        "compile" => compile::run(&session, config, reporter),
        "artifact" => artifact::run(&session, config, reporter),
        "concurrency" => concurrency::run(&session, config, reporter),
        _ => match name.strip_prefix("model:").and_then(|at| at.parse::<usize>().ok()) {
            Some(at) if at < config.models.len() => {
                model::run(&session, config, &config.models[at], reporter)
            }
            _ => reporter.fail(name, "no such check group"),
        },
    }
    check_host_log(name, reporter);
    GroupEnd::Completed
}

/// Log lines sent through initialize's callbacks during the group must be well-formed.
fn check_host_log(group: &str, reporter: &mut Reporter) {
    reporter.check(&format!("{}.host_log", group.replace(':', ".")), || {
        let log = host_log().lock().unwrap_or_else(|error| error.into_inner());
        ensure(log.problems.is_empty(), || {
            format!("the host log callback was misused: {}", log.problems.join("; "))
        })?;
        pass(format!("{} well-formed line(s)", log.lines.len()))
    });
}

/// The properties of a device that decide how the other checks run.
#[derive(Clone, Debug)]
pub struct DeviceFacts {
    /// 'precisions'.
    pub precisions: Vec<String>,
    /// 'deterministic' = 1.
    pub deterministic: bool,
    /// 'execute_concurrently' = 1.
    pub execute_concurrently: bool,
}

impl DeviceFacts {
    /// Reads the facts of `device` (the properties checks say what is wrong in detail).
    pub fn read(session: &Session, device: usize) -> Result<DeviceFacts, String> {
        let get = |key: &str| -> Result<PropValue, String> {
            session
                .property(device, key)
                .map_err(|error| format!("property '{key}': {error}"))?
                .map_err(|problem| format!("property '{key}': {problem}"))
        };
        let flag = |key: &str| -> Result<bool, String> {
            match get(key)? {
                PropValue::Int(value) => Ok(value == 1),
                other => Err(format!("property '{key}' is {}, not an int", other.kind())),
            }
        };
        let precisions = match get("precisions")? {
            PropValue::List(items) => items
                .into_iter()
                .filter_map(|item| if let PropValue::Str(text) = item { Some(text) } else { None })
                .collect(),
            other => return Err(format!("property 'precisions' is {}, not a list", other.kind())),
        };
        Ok(DeviceFacts {
            precisions,
            deterministic: flag("deterministic")?,
            execute_concurrently: flag("execute_concurrently")?,
        })
    }

    /// Whether the device runs float32 (the kit compares float32 results only).
    pub fn runs_float32(&self) -> bool {
        self.precisions.iter().any(|precision| precision == "float32")
    }
}

/// Whether two runs agree: bitwise for a deterministic device, else within tolerance.
pub fn same_outputs(a: &[Vec<f32>], b: &[Vec<f32>], deterministic: bool) -> Result<(), String> {
    if deterministic {
        let bits = |outputs: &[Vec<f32>]| -> Vec<Vec<u32>> {
            outputs.iter().map(|output| output.iter().map(|v| v.to_bits()).collect()).collect()
        };
        ensure(bits(a) == bits(b), || {
            "outputs differ bitwise although the device reports 'deterministic' = 1".into()
        })
    } else {
        crate::reference::compare(a, b).map(|_| ())
    }
}

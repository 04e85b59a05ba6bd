//! A device of the plugin: one CPU package, its settable parameters (`num_threads`,
//! `log_level`), its thread pool, its properties, and the identity check for artifacts.

use std::sync::Arc;

use dlopt_ai2::sdk::{Callbacks, DeviceProperty, LogLevel, PluginError, PluginResult, Value};
use parking_lot::RwLock;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::artifact::Artifact;
use crate::cpu::{self, CpuPackage};
use crate::precision::Precision;

/// The settable parameters and the pool built for them.
struct Settings {
    num_threads: usize,
    log_level: LogLevel,
    /// Built on first use; dropped (for the next compile to rebuild) when `num_threads`
    /// changes. Compiled models keep the pool they were made with.
    pool: Option<Arc<ThreadPool>>,
}

/// One CPU package.
pub struct Device {
    package: CpuPackage,
    settings: RwLock<Settings>,
}

impl Device {
    /// The device of `package`, with one thread per logical CPU and log level `warning`.
    pub fn new(package: CpuPackage) -> Device {
        let num_threads = package.cpus.len().max(1);
        Device {
            package,
            settings: RwLock::new(Settings {
                num_threads,
                log_level: LogLevel::Warning,
                pool: None,
            }),
        }
    }

    /// The CPU model name.
    pub fn name(&self) -> &str {
        &self.package.model_name
    }

    /// The current log level: lines above it are not sent to the host.
    pub fn log_level(&self) -> LogLevel {
        self.settings.read().log_level
    }

    /// Sends `message` through `callbacks` if `level` is within the device's log level.
    pub fn log(&self, callbacks: &Callbacks<'_>, level: LogLevel, message: &str) {
        if level <= self.log_level() {
            callbacks.log(level, message);
        }
    }

    /// The thread pool for the current `num_threads` (threads flush denormals to zero).
    pub fn pool(&self) -> PluginResult<Arc<ThreadPool>> {
        if let Some(pool) = &self.settings.read().pool {
            return Ok(pool.clone());
        }
        let mut settings = self.settings.write();
        if let Some(pool) = &settings.pool {
            return Ok(pool.clone());
        }
        let package = self.package.id;
        let pool = ThreadPoolBuilder::new()
            .num_threads(settings.num_threads)
            .thread_name(move |at| format!("dlopt-ai2-cpu{package}-{at}"))
            .start_handler(|_| dlopt_kernels::cpu::flush_denormals_on_this_thread())
            .build()
            .map_err(|error| {
                PluginError::device(format!(
                    "cannot start {} threads: {error}",
                    settings.num_threads
                ))
            })?;
        let pool = Arc::new(pool);
        settings.pool = Some(pool.clone());
        Ok(pool)
    }

    /// The largest `num_threads` accepted: 4 threads per logical CPU of the package.
    fn max_threads(&self) -> usize {
        self.package.cpus.len().max(1) * 4
    }

    /// Sets `num_threads` (1 to 4 × the package's logical CPUs) or `log_level` (`error`,
    /// `warning`, `info`, `debug`).
    pub fn set_param(&self, key: &str, value: &Value) -> PluginResult<()> {
        match key {
            "num_threads" => {
                let limit = self.max_threads();
                let threads = value
                    .as_int()
                    .and_then(|threads| usize::try_from(threads).ok())
                    .filter(|threads| (1..=limit).contains(threads))
                    .ok_or_else(|| {
                        PluginError::invalid_parameter_value(format!(
                            "'num_threads' must be an integer from 1 to {limit}, got {value:?}"
                        ))
                    })?;
                let mut settings = self.settings.write();
                if settings.num_threads != threads {
                    settings.num_threads = threads;
                    settings.pool = None;
                }
                Ok(())
            }
            "log_level" => {
                let level = value.as_str().and_then(LogLevel::from_name).ok_or_else(|| {
                    PluginError::invalid_parameter_value(format!(
                        "'log_level' must be 'error', 'warning', 'info' or 'debug', got {value:?}"
                    ))
                })?;
                self.settings.write().log_level = level;
                Ok(())
            }
            other => Err(PluginError::unknown_parameter(format!(
                "'{other}' is not a settable parameter of dlopt_cpu (num_threads, log_level)"
            ))),
        }
    }

    /// The value of a device property.
    pub fn property(&self, property: DeviceProperty<'_>) -> PluginResult<Value> {
        Ok(match property {
            DeviceProperty::Name => Value::from(self.name()),
            DeviceProperty::Type => Value::from("cpu"),
            DeviceProperty::Precisions => Value::strings(Precision::ALL.map(Precision::name)),
            DeviceProperty::CastPrecisions => Value::strings(Precision::CASTS.map(Precision::name)),
            DeviceProperty::CalibrationPrecisions => Value::strings([Precision::Int8.name()]),
            DeviceProperty::CalibratesItself => Value::Int(0),
            DeviceProperty::OptimizeForInferenceParams => Value::empty_map(),
            DeviceProperty::SettableDeviceParams => {
                let settings = self.settings.read();
                Value::map([
                    ("num_threads", Value::from(settings.num_threads)),
                    ("log_level", Value::from(settings.log_level.name())),
                ])
            }
            DeviceProperty::Info => self.info(),
            DeviceProperty::Deterministic => Value::Int(1),
            DeviceProperty::ExecuteConcurrently => Value::Int(1),
            other => return Err(other.unknown()),
        })
    }

    /// The `'info'` map: the CPU, its features, and where each precision computes.
    fn info(&self) -> Value {
        let storage_math = |storage: &str, feature: &str, feature_name: &str| {
            let why = if cpu::has_feature(feature) {
                format!("the kernels do not use this CPU's {feature_name} yet")
            } else {
                format!("this CPU has no {feature_name}")
            };
            format!("float32 (weights stored as {storage} and widened to float32 to run; {why})")
        };
        Value::map([
            ("package_id", Value::from(self.package.id)),
            ("logical_cpus", Value::from(self.package.cpus.len())),
            ("isa", Value::strings(cpu::isa_features())),
            ("kernels", Value::from(cpu::kernel_level())),
            ("float32_math", Value::from("float32")),
            ("float16_math", Value::from(storage_math("float16", "avx512_fp16", "AVX512-FP16"))),
            ("bfloat16_math", Value::from(storage_math("bfloat16", "avx512_bf16", "AVX512-BF16"))),
            (
                "int8_math",
                Value::from(
                    "the host's calibrated QDQ graph: convolutions with uint8 per-tensor inputs and int8 weights (one group or depthwise) run on int8 kernels (exact int32 sums, float32 bias and activation, float32 output); everything else runs as written, math in float32",
                ),
            ),
            ("activations", Value::from("float32 in every precision")),
            (
                "weight_memory",
                Value::from("16-bit weights halve the artifact; in memory they run as float32"),
            ),
            ("thread_affinity", Value::from("threads are not pinned to the package's CPUs")),
        ])
    }

    /// Checks that `artifact` was made for this plugin, ABI major and device (CPU model,
    /// ISA features): `INCOMPATIBLE_ARTIFACT` saying what differs.
    pub fn check_artifact(&self, artifact: &Artifact) -> PluginResult<()> {
        let incompatible = PluginError::incompatible_artifact;
        if artifact.plugin_name != crate::PLUGIN_NAME {
            return Err(incompatible(format!(
                "the artifact was made by plugin '{}', not {}",
                artifact.plugin_name,
                crate::PLUGIN_NAME
            )));
        }
        let (major, minor) = artifact.abi;
        if major != dlopt_ai2::abi::DLOPT_AI2_ABI_MAJOR {
            return Err(incompatible(format!(
                "the artifact was made for AI² ABI {major}.{minor}, this plugin speaks {}.{}",
                dlopt_ai2::abi::DLOPT_AI2_ABI_MAJOR,
                dlopt_ai2::abi::DLOPT_AI2_ABI_MINOR
            )));
        }
        if artifact.cpu_model != self.name() {
            return Err(incompatible(format!(
                "the artifact was compiled for CPU '{}', this device is '{}'",
                artifact.cpu_model,
                self.name()
            )));
        }
        let missing: Vec<&str> =
            artifact.isa.iter().map(String::as_str).filter(|f| !cpu::has_feature(f)).collect();
        if !missing.is_empty() {
            return Err(incompatible(format!(
                "the artifact was compiled for ISA features this CPU lacks: {}",
                missing.join(", ")
            )));
        }
        Precision::parse(&artifact.precision).map_err(|_| {
            incompatible(format!("the artifact has the unknown precision '{}'", artifact.precision))
        })?;
        Ok(())
    }
}

//! The native device: dlopt's own float32 CPU runtime (`ai_accelerator_interface` = `'none'`).
//!
//! It runs every model the runtime supports, in float32, on a thread pool of its own
//! (all CPU cores by default; `'num_threads'` changes it). It cannot optimize models.

use std::sync::Arc;

use parking_lot::RwLock;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{H_ERR_HAI2_INVALID_PARAM, HalconError, Result};

/// The CPU's identity and the features dlopt's kernels use.
#[derive(Clone, Debug)]
pub struct CpuDescription {
    /// The model name the operating system reports.
    pub model_name: String,
    /// Logical processors available to this process.
    pub logical_cores: usize,
    /// Instruction-set extensions detected at run time.
    pub features: Vec<&'static str>,
}

impl CpuDescription {
    /// Reads the CPU's description.
    pub fn detect() -> CpuDescription {
        let model_name = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let logical_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuDescription { model_name, logical_cores, features: detect_features() }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    macro_rules! probe {
        ($($name:tt),*) => {
            $( if std::arch::is_x86_feature_detected!($name) { features.push($name); } )*
        };
    }
    probe!(
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512vnni",
        "avx512bf16",
        "avxvnni"
    );
    features
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_features() -> Vec<&'static str> {
    Vec::new()
}

/// The native CPU device's state, shared by every handle to it.
pub struct NativeDevice {
    cpu: CpuDescription,
    pool: RwLock<Arc<ThreadPool>>,
}

fn build_pool(threads: usize) -> Result<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|at| format!("dlopt-cpu-{at}"))
        .start_handler(|_| dlopt_kernels::cpu::flush_denormals_on_this_thread())
        .build()
        .map(Arc::new)
        .map_err(|error| {
            HalconError::new(
                crate::error::H_ERR_DL_INTERNAL,
                format!("cannot start {threads} threads: {error}"),
            )
        })
}

impl NativeDevice {
    /// The device, with one thread per logical core.
    pub fn new() -> Result<NativeDevice> {
        let cpu = CpuDescription::detect();
        let pool = build_pool(cpu.logical_cores)?;
        Ok(NativeDevice { cpu, pool: RwLock::new(pool) })
    }

    /// The CPU.
    pub fn cpu(&self) -> &CpuDescription {
        &self.cpu
    }

    /// The threads inference uses.
    pub fn threads(&self) -> usize {
        self.pool.read().current_num_threads()
    }

    /// Changes the number of threads (1 to 4 x the logical cores); runs in progress finish
    /// on the old pool.
    pub fn set_threads(&self, threads: i64) -> Result<()> {
        let limit = (self.cpu.logical_cores * 4) as i64;
        if !(1..=limit).contains(&threads) {
            return Err(HalconError::new(
                H_ERR_HAI2_INVALID_PARAM,
                format!("'num_threads' {threads} is out of range (1 to {limit})"),
            ));
        }
        *self.pool.write() = build_pool(threads as usize)?;
        Ok(())
    }

    /// Runs `work` on the device's threads.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        let pool = self.pool.read().clone();
        pool.install(work)
    }
}

//! The machine's CPU packages and instruction-set features, read once.
//!
//! Packages come from `/sys/devices/system/cpu/cpu<N>/topology/physical_package_id`,
//! restricted to the CPUs this process may run on (`Cpus_allowed_list` in
//! `/proc/self/status`); model names from `/proc/cpuinfo`. Where these files do not exist
//! (other systems), the machine is one package with every available logical CPU.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// One CPU package (socket): a device of the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuPackage {
    /// The package id the kernel reports (`physical_package_id`).
    pub id: u32,
    /// The logical CPUs of the package this process may use.
    pub cpus: Vec<usize>,
    /// The CPU model name (`model name` in `/proc/cpuinfo`).
    pub model_name: String,
}

/// The packages of this machine, by id (at least one); detected once.
pub fn packages() -> &'static [CpuPackage] {
    static PACKAGES: OnceLock<Vec<CpuPackage>> = OnceLock::new();
    PACKAGES.get_or_init(detect_packages)
}

fn detect_packages() -> Vec<CpuPackage> {
    let allowed = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .and_then(|list| parse_cpu_list(list.trim()))
    });
    let names =
        std::fs::read_to_string("/proc/cpuinfo").map(|text| model_names(&text)).unwrap_or_default();
    let mut by_package: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(cpu) = name
                .to_str()
                .and_then(|n| n.strip_prefix("cpu"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if allowed.as_ref().is_some_and(|allowed| !allowed.contains(&cpu)) {
                continue;
            }
            let id = std::fs::read_to_string(entry.path().join("topology/physical_package_id"))
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok());
            // Offline CPUs have no topology; -1 means "unknown package" (one package then).
            if let Some(id) = id {
                by_package.entry(u32::try_from(id).unwrap_or(0)).or_default().push(cpu);
            }
        }
    }
    let fallback_name =
        names.values().next().cloned().unwrap_or_else(|| std::env::consts::ARCH.to_string());
    if by_package.is_empty() {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        return vec![CpuPackage { id: 0, cpus: (0..count).collect(), model_name: fallback_name }];
    }
    by_package
        .into_iter()
        .map(|(id, mut cpus)| {
            cpus.sort_unstable();
            let model_name = cpus
                .iter()
                .find_map(|cpu| names.get(cpu).cloned())
                .unwrap_or_else(|| fallback_name.clone());
            CpuPackage { id, cpus, model_name }
        })
        .collect()
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(list: &str) -> Option<BTreeSet<usize>> {
    let mut cpus = BTreeSet::new();
    for part in list.split(',').filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) =
                    (first.trim().parse::<usize>().ok()?, last.trim().parse::<usize>().ok()?);
                if last < first || last - first > 1 << 16 {
                    return None;
                }
                cpus.extend(first..=last);
            }
            None => {
                cpus.insert(part.trim().parse().ok()?);
            }
        }
    }
    Some(cpus)
}

/// The `model name` of each `processor` in `/proc/cpuinfo` text.
pub fn model_names(cpuinfo: &str) -> BTreeMap<usize, String> {
    let mut names = BTreeMap::new();
    for block in cpuinfo.split("\n\n") {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == key).then(|| value.trim().to_string())
            })
        };
        if let (Some(processor), Some(name)) =
            (field("processor").and_then(|p| p.parse().ok()), field("model name"))
        {
            names.insert(processor, name);
        }
    }
    names
}

/// The instruction-set features of this CPU that matter for inference, in a fixed order
/// (names as in `/proc/cpuinfo`); detected once.
pub fn isa_features() -> &'static [&'static str] {
    static FEATURES: OnceLock<Vec<&'static str>> = OnceLock::new();
    FEATURES.get_or_init(detect_features)
}

#[cfg(target_arch = "x86_64")]
fn detect_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    macro_rules! probe {
        ($($feature:tt => $name:literal),* $(,)?) => {
            $( if std::arch::is_x86_feature_detected!($feature) { features.push($name); } )*
        };
    }
    probe!(
        "sse4.2" => "sse4_2",
        "avx" => "avx",
        "avx2" => "avx2",
        "fma" => "fma",
        "f16c" => "f16c",
        "avx512f" => "avx512f",
        "avx512bw" => "avx512bw",
        "avx512vl" => "avx512vl",
        "avx512vnni" => "avx512_vnni",
        "avx512bf16" => "avx512_bf16",
        "avx512fp16" => "avx512_fp16",
        "avxvnni" => "avx_vnni",
    );
    features
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_features() -> Vec<&'static str> {
    Vec::new()
}

/// Whether this CPU has `feature` (a name of [`isa_features`]).
pub fn has_feature(feature: &str) -> bool {
    isa_features().contains(&feature)
}

/// The vector level the runtime's kernels use on this CPU: `"avx512"`, `"avx2"` or
/// `"scalar"` (see `dlopt_kernels::cpu::simd_level`).
pub fn kernel_level() -> &'static str {
    match dlopt_kernels::cpu::simd_level() {
        dlopt_kernels::cpu::SimdLevel::Avx512 => "avx512",
        dlopt_kernels::cpu::SimdLevel::Avx2 => "avx2",
        dlopt_kernels::cpu::SimdLevel::Scalar => "scalar",
    }
}

/// The ISA features the kernels rely on at `kernel_level()`: what a compiled model needs
/// from the CPU that runs it (recorded in artifacts).
pub fn kernel_features() -> Vec<&'static str> {
    match kernel_level() {
        "avx512" => vec!["avx2", "fma", "avx512f"],
        "avx2" => vec!["avx2", "fma"],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(
            parse_cpu_list("0-2,5,7-8").unwrap().into_iter().collect::<Vec<_>>(),
            [0, 1, 2, 5, 7, 8]
        );
        assert_eq!(parse_cpu_list("3").unwrap().len(), 1);
        assert!(parse_cpu_list("4-2").is_none());
        assert!(parse_cpu_list("x").is_none());
    }

    #[test]
    fn model_names_come_per_processor() {
        let text = "processor\t: 0\nmodel name\t: Alpha\nflags : x\n\nprocessor\t: 1\nmodel name\t: Beta\n";
        let names = model_names(text);
        assert_eq!(names.get(&0).map(String::as_str), Some("Alpha"));
        assert_eq!(names.get(&1).map(String::as_str), Some("Beta"));
    }

    #[test]
    fn this_machine_has_at_least_one_package_with_cpus() {
        let packages = packages();
        assert!(!packages.is_empty());
        assert!(
            packages
                .iter()
                .all(|package| !package.cpus.is_empty() && !package.model_name.is_empty())
        );
    }

    #[test]
    fn kernel_features_are_features_of_this_cpu() {
        for feature in kernel_features() {
            assert!(has_feature(feature), "{feature} missing from {:?}", isa_features());
        }
    }
}

//! Precisions the plugin compiles for, and what 16-bit precision means here: **storage**.
//!
//! For `float16` and `bfloat16` every float32 constant of the optimized graph (Conv /
//! ConvTranspose / Gemm / MatMul weights and biases, folded BatchNorm scales, other float
//! constants) is rounded to the 16-bit type (round to nearest even) and stored as such in the
//! compiled model and its artifact. To run, the stored constants are widened back to float32
//! (exactly) and the float32 kernels compute with float32 activations: the 16-bit results
//! differ from float32 only by the weight rounding. This CPU path has no float16 or bfloat16
//! arithmetic; the device's `'info'` says so.
//!
//! Kept in float32: constants that are not weights but parameters of shape arithmetic
//! (Resize's `roi` and `scales`, Upsample's `scales`), where rounding would change shapes.
//! float16 saturates: magnitudes beyond 65504 become ±65504 (not infinity), as converters do.

use std::collections::HashSet;

use dlopt_ai2::sdk::{PluginError, PluginResult};
use dlopt_graph::{DataType, Graph, Tensor, TensorData};
use half::{bf16, f16};

/// A precision of the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// float32 storage and math.
    Float32,
    /// float16 weight storage, float32 math.
    Float16,
    /// bfloat16 weight storage, float32 math.
    BFloat16,
    /// int8: a QDQ graph calibrated by the host (int8 weights per channel, 8-bit activation
    /// scales); quantized convolutions run on int8 kernels ([`crate::int8`]), the rest as
    /// written in float32 math (see the device's `'info'`).
    Int8,
}

impl Precision {
    /// The precisions a cast reaches (no samples needed), in the order the device lists them.
    pub const CASTS: [Precision; 3] = [Precision::Float32, Precision::Float16, Precision::BFloat16];

    /// Every precision the device runs.
    pub const ALL: [Precision; 4] =
        [Precision::Float32, Precision::Float16, Precision::BFloat16, Precision::Int8];

    /// The name in the ABI: `"float32"`, `"float16"`, `"bfloat16"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float16 => "float16",
            Precision::BFloat16 => "bfloat16",
            Precision::Int8 => "int8",
        }
    }

    /// The precision called `name`; `UNSUPPORTED` for others.
    pub fn parse(name: &str) -> PluginResult<Precision> {
        if let Some(precision) = Precision::ALL.into_iter().find(|p| p.name() == name) {
            return Ok(precision);
        }
        Err(PluginError::unsupported(format!(
            "precision '{name}' is not one of float32, float16, bfloat16, int8"
        )))
    }

    /// The 16-bit storage type, if any.
    pub fn storage_type(self) -> Option<DataType> {
        match self {
            Precision::Float32 | Precision::Int8 => None,
            Precision::Float16 => Some(DataType::F16),
            Precision::BFloat16 => Some(DataType::BF16),
        }
    }
}

/// What rounding the weights did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageReport {
    /// The constants now stored in 16 bits, by name (sorted).
    pub stored: Vec<String>,
    /// Their elements.
    pub elements: usize,
    /// Elements beyond the 16-bit range, saturated (float16 only).
    pub saturated: usize,
    /// Non-zero elements that became zero (below the smallest 16-bit subnormal).
    pub flushed: usize,
}

/// Inputs (op type, input index) whose float constants stay float32.
const SHAPE_PARAMETERS: &[(&str, usize)] = &[("Resize", 1), ("Resize", 2), ("Upsample", 1)];

/// Rounds the float32 constants of `graph` to `precision`'s storage type and stores them as
/// such (see the module documentation). Does nothing for float32.
pub fn store_weights(graph: &mut Graph, precision: Precision) -> StorageReport {
    let mut report = StorageReport::default();
    let Some(storage) = precision.storage_type() else { return report };
    let kept: HashSet<usize> = graph
        .nodes
        .iter()
        .flat_map(|node| {
            SHAPE_PARAMETERS
                .iter()
                .filter(|(op, _)| *op == node.op_type)
                .filter_map(|&(_, at)| node.input(at).map(|id| id.index()))
        })
        .collect();
    for (at, value) in graph.values.iter_mut().enumerate() {
        let Some(tensor) = &value.constant else { continue };
        let Some(values) = tensor.as_f32() else { continue };
        if kept.contains(&at) {
            continue;
        }
        let data = match storage {
            DataType::F16 => TensorData::F16(
                values
                    .iter()
                    .map(|&x| {
                        let rounded = if x.abs() > f16::MAX.to_f32() && x.is_finite() {
                            report.saturated += 1;
                            f16::MAX.to_f32().copysign(x)
                        } else {
                            x
                        };
                        let stored = f16::from_f32(rounded);
                        report.flushed += usize::from(x != 0.0 && stored.to_f32() == 0.0);
                        stored
                    })
                    .collect(),
            ),
            _ => TensorData::BF16(
                values
                    .iter()
                    .map(|&x| {
                        let stored = bf16::from_f32(x);
                        report.flushed += usize::from(x != 0.0 && stored.to_f32() == 0.0);
                        stored
                    })
                    .collect(),
            ),
        };
        report.elements += values.len();
        let shape = tensor.shape().to_vec();
        value.constant = Some(Tensor::new(shape, data).expect("same element count"));
        value.data_type = Some(storage);
        report.stored.push(value.name.clone());
    }
    report.stored.sort();
    report
}

/// Widens the constants named in `stored` back to float32 for the float32 kernels (exact).
/// Every name must be a 16-bit float constant of `graph`.
pub fn widen_weights(graph: &mut Graph, stored: &[String]) -> PluginResult<()> {
    let wanted: HashSet<&str> = stored.iter().map(String::as_str).collect();
    let mut found = 0;
    for value in &mut graph.values {
        if !wanted.contains(value.name.as_str()) {
            continue;
        }
        let Some(tensor) = &value.constant else {
            return Err(PluginError::internal(format!(
                "stored weight '{}' is not a constant",
                value.name
            )));
        };
        if !matches!(tensor.data_type(), DataType::F16 | DataType::BF16) {
            return Err(PluginError::internal(format!(
                "stored weight '{}' is {}, not a 16-bit float",
                value.name,
                tensor.data_type()
            )));
        }
        value.constant = Some(tensor.cast(DataType::F32));
        value.data_type = Some(DataType::F32);
        found += 1;
    }
    if found != wanted.len() {
        return Err(PluginError::internal(format!(
            "{} of the {} stored weights are missing from the graph",
            wanted.len() - found,
            wanted.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlopt_graph::{Node, Value};

    fn graph_with(values: Vec<f32>) -> Graph {
        let mut graph = Graph::default();
        let x = graph.add_value(Value { name: "x".into(), ..Default::default() });
        let w =
            graph.add_constant("w".into(), Tensor::from_f32(vec![values.len()], values).unwrap());
        let scales =
            graph.add_constant("scales".into(), Tensor::from_f32(vec![1], vec![1.7]).unwrap());
        let y = graph.add_value(Value { name: "y".into(), ..Default::default() });
        graph.nodes.push(Node {
            name: "resize".into(),
            op_type: "Resize".into(),
            inputs: vec![Some(x), None, Some(scales)],
            outputs: vec![y],
            ..Default::default()
        });
        let _ = w;
        graph
    }

    #[test]
    fn float16_rounds_saturates_and_flushes() {
        let mut graph = graph_with(vec![1.0 / 3.0, 1e6, -1e6, 1e-9, 0.0]);
        let report = store_weights(&mut graph, Precision::Float16);
        assert_eq!(report.stored, ["w"]);
        assert_eq!((report.elements, report.saturated, report.flushed), (5, 2, 1));
        let w = graph.values[1].constant.as_ref().unwrap();
        assert_eq!(w.data_type(), DataType::F16);
        assert_eq!(
            w.to_f32_vec(),
            [f16::from_f32(1.0 / 3.0).to_f32(), 65504.0, -65504.0, 0.0, 0.0]
        );
        // Resize scales are shape arithmetic: untouched.
        assert_eq!(graph.values[2].constant.as_ref().unwrap().as_f32(), Some(&[1.7f32][..]));

        widen_weights(&mut graph, &report.stored).unwrap();
        let w = graph.values[1].constant.as_ref().unwrap();
        assert_eq!(w.data_type(), DataType::F32);
        assert_eq!(w.as_f32().unwrap()[1], 65504.0);
    }

    #[test]
    fn bfloat16_keeps_the_range_and_rounds_the_mantissa() {
        let mut graph = graph_with(vec![1e6, 1.0 + 1.0 / 512.0]);
        let report = store_weights(&mut graph, Precision::BFloat16);
        assert_eq!((report.saturated, report.flushed), (0, 0));
        let w = graph.values[1].constant.as_ref().unwrap().to_f32_vec();
        assert_eq!(w, [bf16::from_f32(1e6).to_f32(), 1.0]);
    }

    #[test]
    fn float32_changes_nothing_and_names_are_checked() {
        let mut graph = graph_with(vec![0.1]);
        assert_eq!(store_weights(&mut graph, Precision::Float32), StorageReport::default());
        assert!(widen_weights(&mut graph, &["w".to_string()]).is_err());
        assert!(widen_weights(&mut graph, &["nothing".to_string()]).is_err());
    }

    #[test]
    fn precisions_parse() {
        assert_eq!(Precision::parse("bfloat16"), Ok(Precision::BFloat16));
        assert_eq!(Precision::parse("int8"), Ok(Precision::Int8));
        assert!(Precision::parse("float64").unwrap_err().message.contains("'float64'"));
    }
}

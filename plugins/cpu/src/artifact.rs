//! The compiled-model artifact: a self-describing byte format, written by `serialize` and
//! validated field by field before `deserialize` loads anything.
//!
//! Layout (format version 1; integers little-endian; `str` = u32 byte length + UTF-8;
//! `blob` = u64 byte length + bytes; `list<T>` = u32 count + items):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | 8 bytes | `DLAI2CPU` |
//! | format version | u32 | 1 |
//! | total size | u64 | bytes of the whole artifact, checksum included |
//! | plugin name, plugin version | str, str | `dlopt_cpu`, the crate version |
//! | ABI major, minor | u32, u32 | the AI² ABI the plugin was built for |
//! | CPU model | str | the device's model name |
//! | ISA | list\<str\> | the CPU features the kernels rely on (e.g. avx2, fma, avx512f) |
//! | precision | str | `float32`, `float16` or `bfloat16` |
//! | source hash | u64 | FNV-1a 64 of the ONNX bytes the host passed to compile |
//! | inputs, outputs | list\<io\> | io = name str, ONNX dtype i32, rank u32, rank × u64 dims |
//! | stored 16-bit | list\<str\> | constants stored as float16 / bfloat16 (widened to run) |
//! | graph hash | u64 | FNV-1a 64 of the graph bytes |
//! | graph | blob | the optimized graph as an ONNX model (16-bit weights as FLOAT16 / BFLOAT16) |
//! | checksum | u32 | CRC-32 of every byte before it |
//!
//! [`decode`] checks, in order: magic, format version, size (truncated or trailing bytes),
//! checksum, then every field within bounds, then the graph hash, and says which failed.
//! The plugin then checks identity (plugin, ABI, device) with the decoded fields.

use dlopt_ai2::sdk::{PluginError, PluginResult};
use dlopt_graph::DataType;

use crate::tensors::IoDesc;

/// The first bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"DLAI2CPU";
/// The format version this plugin writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first variable field: magic, format version, total size.
const FIXED_HEADER: usize = 8 + 4 + 8;
/// Bytes of the trailing checksum.
const CHECKSUM: usize = 4;

/// The fields of an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The plugin that wrote it.
    pub plugin_name: String,
    /// Its version.
    pub plugin_version: String,
    /// The ABI (major, minor) it was built for.
    pub abi: (u32, u32),
    /// The CPU model it was compiled on.
    pub cpu_model: String,
    /// The CPU features the compiled model needs.
    pub isa: Vec<String>,
    /// The precision.
    pub precision: String,
    /// FNV-1a 64 of the source ONNX bytes.
    pub source_hash: u64,
    /// The graph inputs.
    pub inputs: Vec<IoDesc>,
    /// The graph outputs.
    pub outputs: Vec<IoDesc>,
    /// The constants stored in 16 bits.
    pub stored_16bit: Vec<String>,
    /// The graph as ONNX model bytes.
    pub graph: Vec<u8>,
}

/// FNV-1a, 64 bits: a fast, stable hash for identifying byte strings (not for security).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_io(out: &mut Vec<u8>, list: &[IoDesc]) {
    out.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for io in list {
        put_str(out, &io.name);
        out.extend_from_slice(&io.data_type.onnx_code().to_le_bytes());
        out.extend_from_slice(&(io.shape.len() as u32).to_le_bytes());
        for &dim in &io.shape {
            out.extend_from_slice(&(dim as u64).to_le_bytes());
        }
    }
}

fn put_strs(out: &mut Vec<u8>, list: &[String]) {
    out.extend_from_slice(&(list.len() as u32).to_le_bytes());
    list.iter().for_each(|text| put_str(out, text));
}

/// The bytes of `artifact` (deterministic: same fields, same bytes).
pub fn encode(artifact: &Artifact) -> Vec<u8> {
    let mut out = Vec::with_capacity(artifact.graph.len() + 4096);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // total size, patched below
    put_str(&mut out, &artifact.plugin_name);
    put_str(&mut out, &artifact.plugin_version);
    out.extend_from_slice(&artifact.abi.0.to_le_bytes());
    out.extend_from_slice(&artifact.abi.1.to_le_bytes());
    put_str(&mut out, &artifact.cpu_model);
    put_strs(&mut out, &artifact.isa);
    put_str(&mut out, &artifact.precision);
    out.extend_from_slice(&artifact.source_hash.to_le_bytes());
    put_io(&mut out, &artifact.inputs);
    put_io(&mut out, &artifact.outputs);
    put_strs(&mut out, &artifact.stored_16bit);
    out.extend_from_slice(&fnv1a64(&artifact.graph).to_le_bytes());
    out.extend_from_slice(&(artifact.graph.len() as u64).to_le_bytes());
    out.extend_from_slice(&artifact.graph);
    let total = (out.len() + CHECKSUM) as u64;
    out[12..20].copy_from_slice(&total.to_le_bytes());
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

fn incompatible(message: impl Into<String>) -> PluginError {
    PluginError::incompatible_artifact(message)
}

/// A bounds-checked reader over the artifact's fields.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, field: &str) -> PluginResult<&'a [u8]> {
        let end =
            self.at.checked_add(count).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
                incompatible(format!(
                    "corrupt artifact: field '{field}' runs past the end of the data"
                ))
            })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self, field: &str) -> PluginResult<u32> {
        Ok(u32::from_le_bytes(self.take(4, field)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, field: &str) -> PluginResult<u64> {
        Ok(u64::from_le_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }

    fn str(&mut self, field: &str) -> PluginResult<String> {
        let length = self.u32(field)? as usize;
        let bytes = self.take(length, field)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| incompatible(format!("corrupt artifact: field '{field}' is not UTF-8")))
    }

    /// A list count, checked against the bytes left (each item takes at least `min_item`).
    fn count(&mut self, field: &str, min_item: usize) -> PluginResult<usize> {
        let count = self.u32(field)? as usize;
        if count.saturating_mul(min_item) > self.bytes.len() - self.at {
            return Err(incompatible(format!(
                "corrupt artifact: field '{field}' announces {count} items"
            )));
        }
        Ok(count)
    }

    fn strs(&mut self, field: &str) -> PluginResult<Vec<String>> {
        let count = self.count(field, 4)?;
        (0..count).map(|_| self.str(field)).collect()
    }

    fn io(&mut self, field: &str) -> PluginResult<Vec<IoDesc>> {
        let count = self.count(field, 12)?;
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.str(field)?;
            let code = self.u32(field)? as i32;
            let data_type = DataType::from_onnx_code(code).ok_or_else(|| {
                incompatible(format!(
                    "corrupt artifact: '{name}' in '{field}' has element type {code}"
                ))
            })?;
            let rank = self.count(field, 8)?;
            let shape = (0..rank)
                .map(|_| {
                    let dim = self.u64(field)?;
                    usize::try_from(dim).map_err(|_| {
                        incompatible(format!("corrupt artifact: dimension {dim} of '{name}'"))
                    })
                })
                .collect::<PluginResult<Vec<_>>>()?;
            list.push(IoDesc { name, data_type, shape });
        }
        Ok(list)
    }
}

/// Checks the envelope of `bytes` (magic, format version, size, checksum) and reads the
/// fields (see the module documentation for the order of checks).
pub fn decode(bytes: &[u8]) -> PluginResult<Artifact> {
    let magic_length = bytes.len().min(MAGIC.len());
    if bytes[..magic_length] != MAGIC[..magic_length] {
        return Err(incompatible("not a dlopt_cpu artifact (wrong magic bytes)"));
    }
    if bytes.len() < FIXED_HEADER + CHECKSUM {
        return Err(incompatible(format!(
            "truncated artifact: {} bytes, the header alone takes {}",
            bytes.len(),
            FIXED_HEADER + CHECKSUM
        )));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(incompatible(format!(
            "artifact format version {version}, this dlopt_cpu reads version {FORMAT_VERSION}"
        )));
    }
    let total = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let length = bytes.len() as u64;
    if total > length {
        return Err(incompatible(format!("truncated artifact: {length} of {total} bytes")));
    }
    if total < length {
        return Err(incompatible(format!(
            "corrupt artifact: {length} bytes where its header announces {total}"
        )));
    }
    let (body, stored) = bytes.split_at(bytes.len() - CHECKSUM);
    let stored = u32::from_le_bytes(stored.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(incompatible(format!(
            "corrupt artifact: checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        )));
    }
    let mut reader = Reader { bytes: body, at: FIXED_HEADER };
    let plugin_name = reader.str("plugin name")?;
    let plugin_version = reader.str("plugin version")?;
    let abi = (reader.u32("ABI major")?, reader.u32("ABI minor")?);
    let cpu_model = reader.str("CPU model")?;
    let isa = reader.strs("ISA")?;
    let precision = reader.str("precision")?;
    let source_hash = reader.u64("source hash")?;
    let inputs = reader.io("inputs")?;
    let outputs = reader.io("outputs")?;
    let stored_16bit = reader.strs("stored 16-bit")?;
    let graph_hash = reader.u64("graph hash")?;
    let graph_length = reader.u64("graph")?;
    let graph_length = usize::try_from(graph_length)
        .map_err(|_| incompatible(format!("corrupt artifact: a graph of {graph_length} bytes")))?;
    let graph = reader.take(graph_length, "graph")?.to_vec();
    if reader.at != body.len() {
        return Err(incompatible(format!(
            "corrupt artifact: {} unread bytes after the graph",
            body.len() - reader.at
        )));
    }
    if fnv1a64(&graph) != graph_hash {
        return Err(incompatible("corrupt artifact: the graph does not match its hash"));
    }
    Ok(Artifact {
        plugin_name,
        plugin_version,
        abi,
        cpu_model,
        isa,
        precision,
        source_hash,
        inputs,
        outputs,
        stored_16bit,
        graph,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Artifact {
        Artifact {
            plugin_name: "dlopt_cpu".into(),
            plugin_version: "0.1.0".into(),
            abi: (1, 0),
            cpu_model: "Test CPU".into(),
            isa: vec!["avx2".into(), "fma".into()],
            precision: "float16".into(),
            source_hash: fnv1a64(b"model"),
            inputs: vec![IoDesc {
                name: "x".into(),
                data_type: DataType::F32,
                shape: vec![1, 3, 8, 8],
            }],
            outputs: vec![IoDesc { name: "y".into(), data_type: DataType::I64, shape: vec![1] }],
            stored_16bit: vec!["w".into()],
            graph: b"graph bytes".to_vec(),
        }
    }

    fn message(bytes: &[u8]) -> String {
        let error = decode(bytes).unwrap_err();
        assert_eq!(error.code, dlopt_ai2::sdk::ErrorCode::IncompatibleArtifact);
        error.message
    }

    #[test]
    fn artifacts_round_trip_and_are_deterministic() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
        assert_eq!(encode(&sample()), bytes);
        assert_eq!(&bytes[..8], b"DLAI2CPU");
    }

    #[test]
    fn every_truncation_is_refused_with_a_reason() {
        let bytes = encode(&sample());
        for length in 0..bytes.len() {
            let text = message(&bytes[..length]);
            assert!(text.contains("truncated"), "{length}: {text}");
        }
        assert!(message(&[bytes.as_slice(), b"x"].concat()).contains("announces"));
    }

    #[test]
    fn every_bit_flip_is_refused() {
        let bytes = encode(&sample());
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = message(&flipped);
        }
    }

    #[test]
    fn wrong_magic_and_version_are_named() {
        let mut bytes = encode(&sample());
        assert_eq!(message(b"PK\x03\x04 zip"), "not a dlopt_cpu artifact (wrong magic bytes)");
        bytes[8] = 2;
        assert_eq!(message(&bytes), "artifact format version 2, this dlopt_cpu reads version 1");
    }

    #[test]
    fn consistent_envelopes_with_garbage_fields_are_refused() {
        // Valid magic, version, size and checksum around fields that make no sense.
        for garbage in [vec![0xff; 40], vec![0; 3], (0..200u8).collect()] {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            bytes.extend_from_slice(
                &((FIXED_HEADER + garbage.len() + CHECKSUM) as u64).to_le_bytes(),
            );
            bytes.extend_from_slice(&garbage);
            let checksum = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&checksum.to_le_bytes());
            assert!(message(&bytes).starts_with("corrupt artifact"), "{}", message(&bytes));
        }
    }
}

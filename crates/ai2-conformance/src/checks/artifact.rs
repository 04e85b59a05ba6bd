//! serialize and deserialize: determinism, round trips, and every way an artifact can be
//! wrong (truncated, a flipped bit anywhere, trailing bytes, empty, another plugin's or no
//! artifact at all), which must give INCOMPATIBLE_ARTIFACT and never a crash.

use std::ptr;

use dlopt_ai2::abi::{
    DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT, DLOPT_AI2_ERROR_INVALID_ARGUMENT,
    DLOPT_AI2_ERROR_OUT_OF_MEMORY,
};

use super::compile::{compile, run_and_compare, supported_graphs};
use super::{Config, DeviceFacts, same_outputs};
use crate::graphs::KitGraph;
use crate::plugin::{Session, expect_code, expect_ok, function};
use crate::reference::noise;
use crate::report::{CheckResult, Reporter, ensure, pass};
use crate::sinks::ByteSink;

/// Artifacts up to this size are cut at every length and flipped at every byte; larger
/// ones at this many evenly spread places (plus the first and last 256 bytes).
const EXHAUSTIVE_BYTES: usize = 4096;

pub(super) fn run(session: &Session, config: &Config, reporter: &mut Reporter) {
    let device = config.device;
    let facts = match DeviceFacts::read(session, device) {
        Ok(facts) => facts,
        Err(problem) => return reporter.fail("artifact.setup", &problem),
    };
    let graphs = if facts.runs_float32() { supported_graphs(session, device) } else { Vec::new() };
    let Some(probe) = graphs.first() else {
        reporter.skip("artifact", "no kit graph compiles on this device (see the compile group)");
        return;
    };
    for graph in &graphs {
        reporter.check(&format!("artifact.{}.round_trip", graph.name), || {
            round_trip(session, device, graph, &facts)
        });
    }
    let artifact = match compile(session, device, probe).and_then(|compiled| compiled.serialize()) {
        Ok((bytes, _)) => bytes,
        Err(problem) => return reporter.fail("artifact.setup", &problem),
    };
    reporter.check("artifact.deterministic", || {
        let again = compile(session, device, probe)?.serialize()?.0;
        ensure(again == artifact, || {
            "compiling the same graph twice gave different artifacts".into()
        })?;
        pass(format!("two compiles, identical {}-byte artifacts", artifact.len()))
    });
    reporter.check("artifact.refused_writes", || refused_writes(session, device, probe));
    reporter.check("artifact.serialize_null_arguments", || {
        let serialize = function!(session.api, serialize);
        let compiled = compile(session, device, probe)?;
        let sink = ByteSink::new(None);
        // SAFETY: NULL arguments are what is checked.
        let results = unsafe {
            [
                ("NULL compiled", serialize(ptr::null_mut(), sink.as_ptr())),
                ("NULL sink", serialize(compiled.raw, ptr::null())),
            ]
        };
        for (what, error) in results {
            expect_code(
                session.result(error),
                DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                &format!("serialize({what})"),
            )?;
        }
        pass("")
    });
    reporter.check("artifact.truncated", || {
        let lengths = places(artifact.len());
        for &length in &lengths {
            refuse(
                session,
                device,
                &artifact[..length],
                &format!("the first {length} of {} bytes", artifact.len()),
            )?;
        }
        pass(format!("{} truncations refused", lengths.len()))
    });
    reporter.check("artifact.bit_flips", || {
        let positions = places(artifact.len());
        for &at in &positions {
            let mut flipped = artifact.clone();
            flipped[at] ^= 1 << (at % 8);
            refuse(session, device, &flipped, &format!("bit {} of byte {at} flipped", at % 8))?;
        }
        pass(format!("{} single-bit flips refused", positions.len()))
    });
    reporter.check("artifact.trailing_bytes", || {
        for extra in [1, 16] {
            let mut longer = artifact.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            refuse(session, device, &longer, &format!("{extra} byte(s) appended"))?;
        }
        pass("")
    });
    reporter.check("artifact.empty", || {
        refuse(session, device, &artifact[..0], "an empty artifact")?;
        let mut compiled = ptr::null_mut();
        let deserialize = function!(session.api, deserialize);
        // SAFETY: NULL data with size 0.
        let result = session
            .result(unsafe { deserialize(session.plugin, device, ptr::null(), 0, &mut compiled) });
        match result {
            Err(error)
                if error.malformed.is_none()
                    && [
                        DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
                        DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                    ]
                    .contains(&error.code) => {}
            other => {
                return Err(format!(
                    "deserialize(NULL, 0): {other:?}; expected INCOMPATIBLE_ARTIFACT or \
                     INVALID_ARGUMENT"
                ));
            }
        }
        pass("")
    });
    reporter.check("artifact.foreign", || {
        let random: Vec<u8> = noise(artifact.len().div_ceil(4), 7)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .take(artifact.len())
            .collect();
        refuse(session, device, &random, "random bytes")?;
        let mut other_magic = b"DLOPT-AI2-FOREIGN-PLUGIN\0".to_vec();
        other_magic.extend_from_slice(&artifact);
        refuse(session, device, &other_magic, "another plugin's magic before the artifact")?;
        let library = std::fs::read(&config.plugin).map_err(|error| error.to_string())?;
        refuse(
            session,
            device,
            &library[..library.len().min(8192)],
            "the plugin library's own bytes",
        )?;
        pass("random bytes, another plugin's magic and a shared library refused")
    });
    reporter.check("artifact.deserialize_null_arguments", || {
        let deserialize = function!(session.api, deserialize);
        let mut compiled = ptr::null_mut();
        let (data, size) = (artifact.as_ptr(), artifact.len());
        // SAFETY: NULL arguments and a device out of range are what is checked.
        let results = unsafe {
            [
                ("NULL plugin", deserialize(ptr::null_mut(), device, data, size, &mut compiled)),
                (
                    "NULL data with a size",
                    deserialize(session.plugin, device, ptr::null(), size, &mut compiled),
                ),
                ("NULL compiled", deserialize(session.plugin, device, data, size, ptr::null_mut())),
                (
                    "device out of range",
                    deserialize(session.plugin, session.device_count, data, size, &mut compiled),
                ),
            ]
        };
        for (what, error) in results {
            expect_code(
                session.result(error),
                DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                &format!("deserialize({what})"),
            )?;
        }
        ensure(compiled.is_null(), || "a refused deserialize wrote a model".into())?;
        pass("")
    });
    if session.device_count > 1 {
        reporter.check("artifact.other_device", || {
            let other = (device + 1) % session.device_count;
            match session.deserialize(other, &artifact) {
                Ok(compiled) => {
                    run_and_compare(&compiled, probe, 1)?;
                    pass(format!(
                        "device {other} accepts device {device}'s artifact and computes the same"
                    ))
                }
                Err(error) => {
                    let message = expect_code(
                        Err::<(), _>(error),
                        DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
                        "deserialize for another device",
                    )?;
                    pass(format!("INCOMPATIBLE_ARTIFACT: {message}"))
                }
            }
        });
    }
}

/// Serialize twice (same bytes), deserialize (same outputs), serialize again (same bytes).
fn round_trip(
    session: &Session,
    device: usize,
    graph: &KitGraph,
    facts: &DeviceFacts,
) -> CheckResult {
    let compiled = compile(session, device, graph)?;
    let (bytes, writes) = compiled.serialize()?;
    ensure(!bytes.is_empty(), || "serialize wrote nothing".into())?;
    let (again, _) = compiled.serialize()?;
    ensure(again == bytes, || "serializing one model twice gave different bytes".into())?;
    let loaded = expect_ok(session.deserialize(device, &bytes), "deserialize")?;
    ensure(!loaded.raw.is_null(), || "deserialize succeeded but gave a NULL model".into())?;
    let (original, _) = run_and_compare(&compiled, graph, 3)?;
    let (reloaded, _) = run_and_compare(&loaded, graph, 3)?;
    same_outputs(&original, &reloaded, facts.deterministic)
        .map_err(|problem| format!("the reloaded model computes differently: {problem}"))?;
    let (reserialized, _) = loaded.serialize()?;
    ensure(reserialized == bytes, || {
        "serializing the reloaded model gave other bytes than the original".into()
    })?;
    pass(format!(
        "{} bytes in {writes} write(s); reloaded model computes the same and serializes to the \
         same bytes",
        bytes.len()
    ))
}

/// Expects deserialize to refuse `bytes` with INCOMPATIBLE_ARTIFACT.
fn refuse(session: &Session, device: usize, bytes: &[u8], what: &str) -> Result<(), String> {
    // Give the plugin its own allocation of exactly this size, so that reading past the end
    // is caught by memory checkers.
    let exact: Box<[u8]> = bytes.into();
    expect_code(
        session.deserialize(device, &exact),
        DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT,
        &format!("deserialize({what})"),
    )?;
    Ok(())
}

/// The positions (0..len) to cut or flip at.
fn places(len: usize) -> Vec<usize> {
    if len <= EXHAUSTIVE_BYTES {
        return (0..len).collect();
    }
    let mut places: Vec<usize> = (0..256).chain(len - 256..len).collect();
    places.extend((0..EXHAUSTIVE_BYTES).map(|at| at * len / EXHAUSTIVE_BYTES));
    places.sort_unstable();
    places.dedup();
    places
}

/// A host out of memory: the sink refuses the first write, then the second.
fn refused_writes(session: &Session, device: usize, probe: &KitGraph) -> CheckResult {
    let compiled = compile(session, device, probe)?;
    let (_, writes) = compiled.serialize()?;
    for refused in 0..writes.min(2) {
        let sink = ByteSink::new(Some(refused));
        expect_code(
            compiled.serialize_into(&sink),
            DLOPT_AI2_ERROR_OUT_OF_MEMORY,
            &format!("serialize with write {refused} refused"),
        )?;
    }
    pass(format!("OUT_OF_MEMORY when the sink refuses (the plugin writes {writes} time(s))"))
}

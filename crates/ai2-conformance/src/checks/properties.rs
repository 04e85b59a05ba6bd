//! Device properties and settable parameters, for every device.
//!
//! Every well-known key must answer with the right shape through a strict sink (exactly one
//! value; lists and maps balanced; keys only in maps, unique and non-empty), the same answer
//! twice; unknown keys give UNKNOWN_PARAMETER, NULL arguments and devices out of range
//! INVALID_ARGUMENT. Every settable parameter takes its current value back (and reads the
//! same afterwards) and refuses a value of the wrong kind with INVALID_PARAMETER_VALUE.

use std::ffi::CString;
use std::ptr;

use dlopt_ai2::abi::{
    DLOPT_AI2_ERROR_INVALID_ARGUMENT, DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE,
    DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
};

use crate::graph_view::ValueView;
use crate::plugin::{Session, expect_code, expect_ok, function};
use crate::report::{CheckResult, Reporter, ensure, pass};
use crate::sinks::{PropValue, ValueSink, c_text};

/// The precisions `compile` knows (DlAi2CompileArgs::precision).
pub const KNOWN_PRECISIONS: [&str; 4] = ["float32", "float16", "bfloat16", "int8"];

/// The shape a well-known property must have.
#[derive(Clone, Copy)]
enum Shape {
    NonEmptyString,
    PrecisionList { non_empty: bool },
    Flag,
    Map,
}

/// The well-known keys of ABI 1.0 and their shapes.
const WELL_KNOWN: [(&str, Shape); 11] = [
    ("name", Shape::NonEmptyString),
    ("type", Shape::NonEmptyString),
    ("precisions", Shape::PrecisionList { non_empty: true }),
    ("cast_precisions", Shape::PrecisionList { non_empty: false }),
    ("calibration_precisions", Shape::PrecisionList { non_empty: false }),
    ("calibrates_itself", Shape::Flag),
    ("optimize_for_inference_params", Shape::Map),
    ("settable_device_params", Shape::Map),
    ("info", Shape::Map),
    ("deterministic", Shape::Flag),
    ("execute_concurrently", Shape::Flag),
];

/// The names of the well-known keys.
pub fn well_known_keys() -> impl Iterator<Item = &'static str> {
    WELL_KNOWN.iter().map(|(key, _)| *key)
}

fn check_shape(value: &PropValue, shape: Shape) -> Result<String, String> {
    match (shape, value) {
        (Shape::NonEmptyString, PropValue::Str(text)) if !text.is_empty() => {
            Ok(format!("'{text}'"))
        }
        (Shape::NonEmptyString, _) => {
            Err(format!("is {}; expected a non-empty string", describe(value)))
        }
        (Shape::PrecisionList { non_empty }, PropValue::List(items)) => {
            let mut names = Vec::new();
            for item in items {
                match item {
                    PropValue::Str(name) if KNOWN_PRECISIONS.contains(&name.as_str()) => {
                        ensure(!names.contains(name), || format!("lists '{name}' twice"))?;
                        names.push(name.clone());
                    }
                    other => {
                        return Err(format!(
                            "holds {}; expected one of {KNOWN_PRECISIONS:?}",
                            describe(other)
                        ));
                    }
                }
            }
            ensure(!non_empty || !names.is_empty(), || {
                "is empty; a device runs at least one precision".into()
            })?;
            Ok(format!("{names:?}"))
        }
        (Shape::PrecisionList { .. }, _) => {
            Err(format!("is {}; expected a list of strings", describe(value)))
        }
        (Shape::Flag, PropValue::Int(flag @ (0 | 1))) => Ok(flag.to_string()),
        (Shape::Flag, _) => Err(format!("is {}; expected the int 0 or 1", describe(value))),
        (Shape::Map, PropValue::Map(entries)) => {
            let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
            Ok(format!("map {{{}}}", keys.join(", ")))
        }
        (Shape::Map, _) => Err(format!("is {}; expected a map", describe(value))),
    }
}

fn describe(value: &PropValue) -> String {
    let text = format!("{value:?}");
    if text.len() > 80 { format!("{}...", &text[..77]) } else { text }
}

/// Reads `key` and returns the value, or why it could not be read.
fn read(session: &Session, device: usize, key: &str) -> Result<PropValue, String> {
    expect_ok(session.property(device, key), &format!("device_property('{key}')"))?
        .map_err(|problem| format!("'{key}': {problem}"))
}

pub(super) fn run(session: &Session, reporter: &mut Reporter) {
    for device in 0..session.device_count {
        let prefix = if device == 0 {
            "properties".to_string()
        } else {
            format!("properties.device{device}")
        };
        for (key, shape) in WELL_KNOWN {
            reporter.check(&format!("{prefix}.{key}"), || {
                let value = read(session, device, key)?;
                let seen = check_shape(&value, shape).map_err(|why| format!("'{key}' {why}"))?;
                let again = read(session, device, key)?;
                ensure(again == value, || format!("'{key}' answered {value:?}, then {again:?}"))?;
                pass(seen)
            });
        }
        reporter.check(&format!("{prefix}.unknown_keys"), || unknown_keys(session, device));
        reporter.check(&format!("{prefix}.larger_sink"), || {
            let plain = read(session, device, "name")?;
            let larger = expect_ok(
                session.property_with(device, "name", true),
                "device_property with a larger sink",
            )?;
            ensure(larger.as_ref() == Ok(&plain), || {
                format!("a larger sink got {larger:?}, a plain one {plain:?}")
            })?;
            pass("a DlAi2ValueSink larger than ABI 1.0's works")
        });
        reporter.check(&format!("{prefix}.null_arguments"), || null_arguments(session, device));
        settable(session, device, &prefix, reporter);
    }
}

fn unknown_keys(session: &Session, device: usize) -> CheckResult {
    // SAFETY: the table's interface name is a static string.
    let interface = unsafe { c_text(session.api.table.interface_name, "interface_name") }?;
    for key in [
        "dlopt_conformance_no_such_property",
        &format!("{interface}.dlopt_conformance_no_such_key"),
        "",
    ] {
        expect_code(
            session.property(device, key),
            DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
            &format!("device_property('{key}')"),
        )?;
    }
    pass("unknown, unknown vendor and empty keys give UNKNOWN_PARAMETER")
}

fn null_arguments(session: &Session, device: usize) -> CheckResult {
    let property = function!(session.api, device_property);
    let key = c"name";
    let sink = ValueSink::new(false);
    let cases = [
        ("NULL plugin", ptr::null_mut(), device, key.as_ptr(), sink.as_ptr()),
        ("NULL key", session.plugin, device, ptr::null(), sink.as_ptr()),
        ("NULL sink", session.plugin, device, key.as_ptr(), ptr::null()),
        ("device out of range", session.plugin, session.device_count, key.as_ptr(), sink.as_ptr()),
    ];
    for (what, plugin, device, key, sink) in cases {
        // SAFETY: the arguments are valid except for the one being checked.
        let result = session.result(unsafe { property(plugin, device, key, sink) });
        expect_code(result, DLOPT_AI2_ERROR_INVALID_ARGUMENT, &format!("device_property({what})"))?;
    }
    let set = function!(session.api, set_device_param);
    let value = ValueView::new(&PropValue::Int(0));
    let name = CString::new("dlopt_conformance_no_such_param").unwrap_or_default();
    let cases = [
        ("NULL plugin", ptr::null_mut(), device, name.as_ptr(), value.as_ptr()),
        ("NULL key", session.plugin, device, ptr::null(), value.as_ptr()),
        ("NULL value", session.plugin, device, name.as_ptr(), ptr::null()),
    ];
    for (what, plugin, device, key, value) in cases {
        // SAFETY: as above.
        let result = session.result(unsafe { set(plugin, device, key, value) });
        expect_code(
            result,
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            &format!("set_device_param({what})"),
        )?;
    }
    pass("device_property and set_device_param refuse NULL arguments and a device out of range")
}

fn settable(session: &Session, device: usize, prefix: &str, reporter: &mut Reporter) {
    reporter.check(&format!("{prefix}.set_unknown_key"), || {
        let result =
            session.set_param(device, "dlopt_conformance_no_such_param", &PropValue::Int(1));
        expect_code(
            result,
            DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
            "set_device_param('dlopt_conformance_no_such_param')",
        )?;
        let out_of_range = session.set_param(
            session.device_count,
            "dlopt_conformance_no_such_param",
            &PropValue::Int(1),
        );
        expect_code(
            out_of_range,
            DLOPT_AI2_ERROR_INVALID_ARGUMENT,
            "set_device_param(device out of range)",
        )?;
        pass("")
    });
    let Ok(PropValue::Map(entries)) = read(session, device, "settable_device_params") else {
        return; // reported by the well-known key's check
    };
    for (key, current) in entries {
        reporter.check(&format!("{prefix}.set.{key}"), || {
            expect_ok(
                session.set_param(device, &key, &current),
                &format!("set_device_param('{key}', its current value {current:?})"),
            )?;
            let after = read(session, device, "settable_device_params")?;
            let now = match &after {
                PropValue::Map(entries) => {
                    entries.iter().find(|(name, _)| *name == key).map(|(_, value)| value)
                }
                _ => None,
            };
            ensure(now == Some(&current), || {
                format!("after setting '{key}' to {current:?} it reads {now:?}")
            })?;
            let wrong = if matches!(current, PropValue::Map(_)) {
                PropValue::Str("dlopt conformance: not a map".into())
            } else {
                PropValue::Map(vec![("dlopt_conformance".into(), PropValue::Int(1))])
            };
            let refused = session.set_param(device, &key, &wrong);
            expect_code(
                refused,
                DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE,
                &format!("set_device_param('{key}', {})", wrong.kind()),
            )?;
            pass(format!("takes its current value {current:?} back; refuses {}", wrong.kind()))
        });
    }
}

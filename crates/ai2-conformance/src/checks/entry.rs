//! Loading, negotiation, the function table, initialize and device enumeration.
//!
//! Negotiation rule as the kit reads it: the host offers the newest version it speaks; the
//! plugin answers the version it will use, which the host must speak, or refuses (non-zero).
//! - host 1.0 → 1.0;
//! - host 1.7 (a newer minor) → major 1, minor ≤ 7 and ≤ the table's `abi_minor`;
//! - host 2.0 (a newer major, which may still speak 1) → refusal, or major 1 or 2 with a
//!   table for it (a 1.x plugin answers 1.x and the host decides);
//! - host 0.x (older than any ABI) → refusal;
//! - NULL out-pointers → refusal, not a crash.

use std::ptr;

use dlopt_ai2::abi::{DLOPT_AI2_ERROR_INVALID_ARGUMENT, DlAi2Api};

use super::{Config, GroupEnd};
use crate::plugin::{Entry, Session, expect_code, function, load, missing_functions};
use crate::report::{Reporter, ensure, pass};
use crate::sinks::c_text;

/// Calls negotiate with valid out-pointers: (returned, major, minor).
fn negotiate(entry: &Entry, major: u32, minor: u32) -> (i32, u32, u32) {
    let (mut answer_major, mut answer_minor) = (u32::MAX, u32::MAX);
    // SAFETY: the frozen signature; both out-pointers are valid.
    let refused = unsafe { (entry.negotiate)(major, minor, &mut answer_major, &mut answer_minor) };
    (refused, answer_major, answer_minor)
}

/// The table for major 1, if any.
fn table(entry: &Entry) -> Option<&'static DlAi2Api> {
    // SAFETY: the frozen signature; a non-NULL table is static.
    unsafe { (entry.api)(1).as_ref() }
}

pub(super) fn run(config: &Config, reporter: &mut Reporter) -> GroupEnd {
    let mut entry = None;
    reporter.check("entry.symbols", || {
        entry = Some(load(&config.plugin)?);
        pass("dlopt_ai2_negotiate and dlopt_ai2_api found")
    });
    let Some(entry) = entry else { return GroupEnd::Fatal };

    let accepted = reporter.check("entry.negotiate.host_1_0", || {
        let answer = negotiate(&entry, 1, 0);
        ensure(answer == (0, 1, 0), || {
            format!(
                "host 1.0: returned {}, answered {}.{}; expected 0 and 1.0",
                answer.0, answer.1, answer.2
            )
        })?;
        pass("answered 1.0")
    });
    reporter.check("entry.negotiate.newer_minor", || {
        let (refused, major, minor) = negotiate(&entry, 1, 7);
        ensure(refused == 0 && major == 1 && minor <= 7, || {
            format!(
                "host 1.7: returned {refused}, answered {major}.{minor}; expected 0 and 1.x with x \
                 <= 7"
            )
        })?;
        let table_minor = table(&entry).map_or(u32::MAX, |table| table.abi_minor);
        ensure(minor <= table_minor, || {
            format!("answered minor {minor} above the table's abi_minor {table_minor}")
        })?;
        pass(format!("answered 1.{minor}"))
    });
    reporter.check("entry.negotiate.newer_major", || {
        let (refused, major, minor) = negotiate(&entry, 2, 0);
        if refused != 0 {
            return pass("host 2.0 refused");
        }
        ensure((1..=2).contains(&major), || {
            format!("host 2.0: answered major {major}, which is neither 1 nor 2")
        })?;
        ensure(major < 2 || minor == 0, || {
            format!("host 2.0: answered 2.{minor}, above the host's minor")
        })?;
        // SAFETY: the frozen signature.
        let answered_table = unsafe { (entry.api)(major) };
        ensure(!answered_table.is_null(), || {
            format!("answered major {major} but dlopt_ai2_api({major}) is NULL")
        })?;
        pass(format!("host 2.0: answered {major}.{minor} (the host decides)"))
    });
    reporter.check("entry.negotiate.older_major", || {
        for minor in [0, 9] {
            let (refused, major, answered_minor) = negotiate(&entry, 0, minor);
            ensure(refused != 0, || {
                format!(
                    "host 0.{minor} was accepted with {major}.{answered_minor}; no ABI 0 exists, \
                     so it must be refused"
                )
            })?;
        }
        pass("host 0.x refused")
    });
    reporter.check("entry.negotiate.null_out_pointers", || {
        let mut value = 0u32;
        // SAFETY: the ABI's signature; NULL out-pointers are what is checked.
        let results = unsafe {
            [
                (entry.negotiate)(1, 0, ptr::null_mut(), ptr::null_mut()),
                (entry.negotiate)(1, 0, &mut value, ptr::null_mut()),
                (entry.negotiate)(1, 0, ptr::null_mut(), &mut value),
            ]
        };
        ensure(results.iter().all(|&result| result != 0), || {
            format!(
                "returned {results:?} with NULL out-pointers; expected a refusal (non-zero) each \
                 time"
            )
        })?;
        pass("refused without crashing")
    });
    reporter.check("entry.negotiate.any_thread", || {
        let answers: Vec<(i32, u32, u32)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| (0..100).map(|_| negotiate(&entry, 1, 0)).collect::<Vec<_>>())
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
        });
        ensure(answers.len() == 400 && answers.iter().all(|&answer| answer == (0, 1, 0)), || {
            "concurrent negotiation gave different answers".into()
        })?;
        pass("400 concurrent calls, same answer")
    });
    if !accepted {
        return GroupEnd::Fatal;
    }

    let mut api = None;
    reporter.check("entry.api.table", || {
        let first = table(&entry).ok_or("dlopt_ai2_api(1) returned NULL")?;
        let again = table(&entry).ok_or("a second dlopt_ai2_api(1) returned NULL")?;
        ensure(ptr::eq(first, again), || {
            "dlopt_ai2_api(1) returned different tables; the table must be static".into()
        })?;
        ensure(first.struct_size >= size_of::<DlAi2Api>(), || {
            format!(
                "struct_size {} is below ABI 1.0's {}",
                first.struct_size,
                size_of::<DlAi2Api>()
            )
        })?;
        ensure(first.abi_major == 1, || format!("abi_major is {}", first.abi_major))?;
        api = Some(first);
        pass(format!(
            "ABI {}.{}, struct_size {}",
            first.abi_major, first.abi_minor, first.struct_size
        ))
    });
    let Some(api) = api else { return GroupEnd::Fatal };
    reporter.check("entry.api.names", || {
        // SAFETY: the table's strings are static NUL-terminated strings (or NULL: caught).
        let (name, version, interface) = unsafe {
            (
                c_text(api.plugin_name, "plugin_name")?,
                c_text(api.plugin_version, "plugin_version")?,
                c_text(api.interface_name, "interface_name")?,
            )
        };
        ensure(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            || format!("plugin_name '{name}' is not made of ASCII letters, digits and '_'"),
        )?;
        ensure(!version.is_empty(), || "plugin_version is empty".into())?;
        ensure(!interface.is_empty(), || "interface_name is empty".into())?;
        pass(format!("plugin '{name}' version '{version}', interface '{interface}'"))
    });
    let complete = reporter.check("entry.api.functions", || {
        let missing = missing_functions(api);
        ensure(missing.is_empty(), || format!("NULL function pointers: {}", missing.join(", ")))?;
        pass("all 11 functions present")
    });
    reporter.check("entry.api.unknown_majors", || {
        for major in [0, 99, u32::MAX] {
            // SAFETY: the frozen signature.
            let table = unsafe { (entry.api)(major) };
            ensure(table.is_null(), || format!("dlopt_ai2_api({major}) is not NULL"))?;
        }
        pass("dlopt_ai2_api(0 / 99 / 2^32-1) are NULL")
    });
    if !complete {
        return GroupEnd::Fatal;
    }
    reporter.check("entry.error_destroy_null", || {
        // SAFETY: the ABI says error_destroy accepts NULL.
        unsafe { api.error_destroy.ok_or("NULL")?(ptr::null_mut()) };
        pass("")
    });
    reporter.check("entry.compiled_destroy_null", || {
        // SAFETY: the ABI says compiled_destroy accepts NULL.
        unsafe { api.compiled_destroy.ok_or("NULL")?(ptr::null_mut()) };
        pass("")
    });

    let mut session = None;
    reporter.check("entry.initialize", || {
        // A host struct larger than ABI 1.0's, as a newer 1.x host passes.
        let opened = Session::open(&config.plugin, true)?;
        let count = opened.device_count;
        session = Some(opened);
        pass(format!("with a larger DlAi2Host; {count} device(s)"))
    });
    let Some(session) = session else { return GroupEnd::Fatal };
    let enumerated = reporter.check("entry.device_count", || {
        ensure(session.device_count >= 1, || "device_count is 0".into())?;
        let mut count = 0usize;
        let device_count = function!(session.api, device_count);
        // SAFETY: NULL arguments are what is checked.
        let null_plugin = session.result(unsafe { device_count(ptr::null_mut(), &mut count) });
        expect_code(null_plugin, DLOPT_AI2_ERROR_INVALID_ARGUMENT, "device_count(NULL plugin)")?;
        // SAFETY: as above.
        let null_count = session.result(unsafe { device_count(session.plugin, ptr::null_mut()) });
        expect_code(null_count, DLOPT_AI2_ERROR_INVALID_ARGUMENT, "device_count(NULL count)")?;
        pass(format!("{} device(s); NULL arguments refused", session.device_count))
    });
    super::check_host_log("entry", reporter);
    if enumerated { GroupEnd::Completed } else { GroupEnd::Fatal }
}

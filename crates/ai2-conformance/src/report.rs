//! Running checks and printing one line per check.
//!
//! Lines (stdout, flushed at once so that a crash loses nothing):
//! - `RUN <name>` before a check starts (the parent process uses it to name the check that
//!   was running when a child crashed);
//! - `PASS <name>[: detail]`, `FAIL <name>: reason`, `SKIP <name>: why` when it ends.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// How a check ended when it did not fail.
#[derive(Debug)]
pub enum Verdict {
    /// The contract holds; the text (may be empty) says what was seen.
    Pass(String),
    /// The check does not apply to this plugin; the text says why.
    Skip(String),
}

/// What a check returns: a verdict, or why the contract is broken.
pub type CheckResult = Result<Verdict, String>;

/// A passing result with a detail.
pub fn pass(detail: impl Into<String>) -> CheckResult {
    Ok(Verdict::Pass(detail.into()))
}

/// A skipped result.
pub fn skip(why: impl Into<String>) -> CheckResult {
    Ok(Verdict::Skip(why.into()))
}

/// Fails with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// Counts of finished checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks that did not apply.
    pub skipped: usize,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Runs checks, prints their lines and counts them.
#[derive(Default)]
pub struct Reporter {
    counts: Counts,
}

impl Reporter {
    /// A reporter with nothing counted yet.
    pub fn new() -> Reporter {
        Reporter::default()
    }

    /// What has been counted so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Runs check `name`. A panic inside the check (a broken assumption of the kit, or a
    /// plugin answer the kit could not digest) counts as a failure.
    pub fn check(&mut self, name: &str, check: impl FnOnce() -> CheckResult) -> bool {
        emit(&format!("RUN {name}"));
        let result = catch_unwind(AssertUnwindSafe(check)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("the check panicked: {message}"))
        });
        let line = match &result {
            Ok(Verdict::Pass(detail)) if detail.is_empty() => format!("PASS {name}"),
            Ok(Verdict::Pass(detail)) => format!("PASS {name}: {detail}"),
            Ok(Verdict::Skip(why)) => format!("SKIP {name}: {why}"),
            Err(reason) => format!("FAIL {name}: {reason}"),
        };
        emit(&line);
        match result {
            Ok(Verdict::Pass(_)) => self.counts.passed += 1,
            Ok(Verdict::Skip(_)) => self.counts.skipped += 1,
            Err(_) => self.counts.failed += 1,
        }
        result.is_ok()
    }

    /// Records a failure that did not come from a check (e.g. a setup step).
    pub fn fail(&mut self, name: &str, reason: &str) {
        emit(&format!("FAIL {name}: {reason}"));
        self.counts.failed += 1;
    }

    /// Records a skipped check without running it.
    pub fn skip(&mut self, name: &str, why: &str) {
        emit(&format!("SKIP {name}: {why}"));
        self.counts.skipped += 1;
    }
}

/// Prints a line and flushes it (one line per message, newlines inside flattened).
pub fn emit(line: &str) {
    let line = line.replace('\n', " | ");
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

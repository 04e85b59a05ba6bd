//! The AI² conformance kit: loads any plugin library and checks the contract of
//! `include/dlopt_ai2.h` (ABI 1.0). The binary `dlopt-ai2-conformance <plugin.so>
//! [--model <model.onnx> [--input-shape d,d,...]]... [--device N]` prints one
//! `PASS` / `FAIL` / `SKIP` line per check and exits non-zero if any check failed.
//!
//! What is checked, by group (each group runs in a child process of its own, so a crash
//! is reported with the check that was running and does not hide the other groups):
//!
//! - **entry**: both symbols exported; negotiation (1.0 accepted as 1.0; a newer minor
//!   answered with a minor not above the host's; a newer major refused or answered with a
//!   major the plugin has a table for; major 0 refused; NULL out-pointers refused; callable
//!   from any thread); `dlopt_ai2_api(1)` static, `struct_size` at least ABI 1.0's,
//!   `abi_major` 1, names non-empty (`plugin_name` of ASCII letters, digits and `_`), every
//!   function present; `dlopt_ai2_api(0 / 99 / max)` NULL; `error_destroy(NULL)` and
//!   `compiled_destroy(NULL)` safe; initialize with a `DlAi2Host` larger than 1.0's;
//!   `device_count` ≥ 1 and NULL arguments refused.
//! - **properties** (every device): each well-known key with the right shape through a
//!   strict sink, answered alike twice; unknown keys → UNKNOWN_PARAMETER; NULL arguments and
//!   devices out of range → INVALID_ARGUMENT; a larger sink struct works; every settable
//!   parameter takes its current value back and refuses a value of the wrong kind.
//! - **compile**: check_support on the kit's graphs ([`graphs`]) with well-formed reports;
//!   supported graphs compile and execute to the kit's own reference values ([`reference`])
//!   within 1e-5 relative, twice alike, inputs untouched; graphs with unsupported nodes are
//!   refused with UNSUPPORTED naming a reported node; unknown operators and unknown fused
//!   activations must be reported; callbacks (log / progress / cancellation, all-NULL
//!   callbacks, cancellation requested); larger argument structs; unlisted precisions
//!   refused; NULL arguments, devices out of range and wrong execute buffers refused.
//! - **artifact**: serialize → deserialize round trips compute the same and serialize to
//!   the same bytes; two compiles give identical artifacts; a sink refusing writes gives
//!   OUT_OF_MEMORY; truncations, single-bit flips, trailing bytes, empty, random, foreign
//!   artifacts → INCOMPATIBLE_ARTIFACT; NULL arguments refused.
//! - **concurrency**: one model executed from 4 threads with distinct inputs (at once if
//!   the device reports `execute_concurrently` = 1, else serialized by the kit), distinct
//!   models at once, concurrent compiles (identical artifacts) and deserializes, concurrent
//!   property reads.
//! - **model:N** (per `--model`): the ONNX model through the structured graph view, as
//!   imported and after dlopt's passes, compiled and compared with dlopt's runtime within
//!   1e-5 relative, and reloaded from its artifact; if the plugin reports unsupported nodes,
//!   compile must refuse naming one, and the comparison is skipped.
//!
//! Every error object the plugin returns is checked too (size, known code, non-empty UTF-8
//! message), and every log line sent through initialize's callbacks.

pub mod checks;
pub mod dlopt_ir;
pub mod graph_view;
pub mod graphs;
pub mod plugin;
pub mod reference;
pub mod report;
pub mod sinks;

pub use checks::{Config, GroupEnd, ModelSpec, group_names, run_group};
pub use report::{Counts, Reporter};

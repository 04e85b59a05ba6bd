//! The host side of the plugin's callbacks, strict about the protocol: a value sink that
//! records every misuse (two values, unbalanced lists and maps, keys outside maps, calls
//! from another thread, NULL or non-UTF-8 strings), a byte sink that can refuse writes, and
//! recorders for the log / progress / cancellation callbacks and check_support's reports.

use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use dlopt_ai2::abi::{DlAi2ByteSink, DlAi2Callbacks, DlAi2ValueSink};

/// A value a plugin wrote into a value sink.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue {
    /// `write_int`.
    Int(i64),
    /// `write_real`.
    Real(f64),
    /// `write_string`.
    Str(String),
    /// `begin_list` ... `end_list`.
    List(Vec<PropValue>),
    /// `begin_map` ... `end_map`, keys in order.
    Map(Vec<(String, PropValue)>),
}

impl PropValue {
    /// A short description of the value's shape, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PropValue::Int(_) => "an int",
            PropValue::Real(_) => "a real",
            PropValue::Str(_) => "a string",
            PropValue::List(_) => "a list",
            PropValue::Map(_) => "a map",
        }
    }
}

/// The strings a C callback passed, as UTF-8, or why not.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
pub unsafe fn c_text(text: *const c_char, what: &str) -> Result<String, String> {
    if text.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: the caller promises a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

enum Frame {
    List(Vec<PropValue>),
    Map(Vec<(String, PropValue)>, Option<String>),
}

struct Builder {
    thread: ThreadId,
    stack: Vec<Frame>,
    done: Option<PropValue>,
    problems: Vec<String>,
}

impl Builder {
    fn problem(&mut self, problem: String) {
        if self.problems.len() < 8 {
            self.problems.push(problem);
        }
    }

    fn on_call(&mut self, name: &str) {
        if std::thread::current().id() != self.thread {
            self.problem(format!("{name} was called from another thread than the sink's"));
        }
    }

    fn push(&mut self, value: PropValue) {
        let problem = match self.stack.last_mut() {
            None if self.done.is_some() => {
                Some(format!("a second value ({}) after the first", value.kind()))
            }
            None => {
                self.done = Some(value);
                None
            }
            Some(Frame::List(items)) => {
                items.push(value);
                None
            }
            Some(Frame::Map(entries, key)) => match key.take() {
                Some(key) => {
                    entries.push((key, value));
                    None
                }
                None => Some(format!("{} in a map without write_key", value.kind())),
            },
        };
        if let Some(problem) = problem {
            self.problem(problem);
        }
    }

    fn write_key(&mut self, key: String) {
        let problem = match self.stack.last_mut() {
            Some(Frame::Map(entries, pending)) => {
                if pending.is_some() {
                    Some(format!("write_key('{key}') right after another key"))
                } else if entries.iter().any(|(existing, _)| *existing == key) {
                    Some(format!("key '{key}' twice in one map"))
                } else if key.is_empty() {
                    Some("an empty key".to_string())
                } else {
                    *pending = Some(key);
                    None
                }
            }
            _ => Some(format!("write_key('{key}') outside a map")),
        };
        if let Some(problem) = problem {
            self.problem(problem);
        }
    }

    fn end(&mut self, list: bool) {
        match (self.stack.pop(), list) {
            (Some(Frame::List(items)), true) => self.push(PropValue::List(items)),
            (Some(Frame::Map(entries, None)), false) => self.push(PropValue::Map(entries)),
            (Some(Frame::Map(entries, Some(key))), false) => {
                self.problem(format!("end_map after key '{key}' without its value"));
                self.push(PropValue::Map(entries));
            }
            (Some(frame), _) => {
                let (opened, closed) = if list { ("map", "end_list") } else { ("list", "end_map") };
                self.problem(format!("{closed} closes a {opened}"));
                self.stack.push(frame);
            }
            (None, _) => self
                .problem(format!("{} without a begin", if list { "end_list" } else { "end_map" })),
        }
    }
}

/// A host value sink that accepts only well-formed writes.
pub struct ValueSink {
    builder: Box<Mutex<Builder>>,
    /// The sink as the plugin sees it, inside room for fields a newer host would append.
    raw: Box<ExtendedValueSink>,
}

/// A value sink with room behind it, for checking that plugins accept larger structs.
#[repr(C)]
struct ExtendedValueSink {
    sink: DlAi2ValueSink,
    appended: [usize; 4],
}

impl ValueSink {
    /// A sink for one value, to be used on this thread. With `extended`, `struct_size`
    /// claims fields beyond ABI 1.0's (as a newer 1.x host would).
    pub fn new(extended: bool) -> ValueSink {
        let builder = Box::new(Mutex::new(Builder {
            thread: std::thread::current().id(),
            stack: Vec::new(),
            done: None,
            problems: Vec::new(),
        }));
        let context = &*builder as *const Mutex<Builder> as *mut c_void;
        let struct_size =
            if extended { size_of::<ExtendedValueSink>() } else { size_of::<DlAi2ValueSink>() };
        let raw = Box::new(ExtendedValueSink {
            sink: DlAi2ValueSink {
                struct_size,
                context,
                write_int: Some(write_int),
                write_real: Some(write_real),
                write_string: Some(write_string),
                begin_list: Some(begin_list),
                end_list: Some(end_list),
                begin_map: Some(begin_map),
                write_key: Some(write_key),
                end_map: Some(end_map),
            },
            appended: [0; 4],
        });
        ValueSink { builder, raw }
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2ValueSink {
        &self.raw.sink
    }

    /// The value written, or every protocol problem seen.
    pub fn finish(self) -> Result<PropValue, String> {
        let mut builder = self.builder.into_inner().unwrap_or_else(|error| error.into_inner());
        if !builder.stack.is_empty() {
            let open = builder.stack.len();
            builder.problem(format!("{open} list(s) or map(s) left open"));
        }
        if builder.done.is_none() && builder.problems.is_empty() {
            builder.problem("no value was written".into());
        }
        match (builder.problems.is_empty(), builder.done) {
            (true, Some(value)) => Ok(value),
            _ => Err(format!("malformed value: {}", builder.problems.join("; "))),
        }
    }
}

/// Runs `action` on the builder behind a sink context.
fn with_builder(context: *mut c_void, name: &str, action: impl FnOnce(&mut Builder)) {
    // SAFETY: every ValueSink passes a pointer to its own boxed Mutex<Builder> as context,
    // and the box lives as long as the sink.
    let mutex = unsafe { &*(context as *const Mutex<Builder>) };
    let mut builder = mutex.lock().unwrap_or_else(|error| error.into_inner());
    builder.on_call(name);
    action(&mut builder);
}

unsafe extern "C" fn write_int(context: *mut c_void, value: i64) {
    with_builder(context, "write_int", |b| b.push(PropValue::Int(value)));
}

unsafe extern "C" fn write_real(context: *mut c_void, value: f64) {
    with_builder(context, "write_real", |b| b.push(PropValue::Real(value)));
}

unsafe extern "C" fn write_string(context: *mut c_void, value: *const c_char) {
    // SAFETY: the plugin passes a NUL-terminated string or NULL (caught).
    let text = unsafe { c_text(value, "write_string's value") };
    with_builder(context, "write_string", |b| match text {
        Ok(text) => b.push(PropValue::Str(text)),
        Err(problem) => b.problem(problem),
    });
}

unsafe extern "C" fn begin_list(context: *mut c_void) {
    with_builder(context, "begin_list", |b| b.stack.push(Frame::List(Vec::new())));
}

unsafe extern "C" fn end_list(context: *mut c_void) {
    with_builder(context, "end_list", |b| b.end(true));
}

unsafe extern "C" fn begin_map(context: *mut c_void) {
    with_builder(context, "begin_map", |b| b.stack.push(Frame::Map(Vec::new(), None)));
}

unsafe extern "C" fn write_key(context: *mut c_void, key: *const c_char) {
    // SAFETY: as in write_string.
    let key = unsafe { c_text(key, "write_key's key") };
    with_builder(context, "write_key", |b| match key {
        Ok(key) => b.write_key(key),
        Err(problem) => b.problem(problem),
    });
}

unsafe extern "C" fn end_map(context: *mut c_void) {
    with_builder(context, "end_map", |b| b.end(false));
}

/// What a byte sink received.
#[derive(Default)]
struct Bytes {
    data: Vec<u8>,
    writes: usize,
    refuse_write: Option<usize>,
    problems: Vec<String>,
}

/// A host byte sink collecting an artifact; optionally refusing write number `n` (0-based)
/// as a host out of memory would.
pub struct ByteSink {
    bytes: Box<Mutex<Bytes>>,
    raw: Box<DlAi2ByteSink>,
}

impl ByteSink {
    /// A sink that accepts everything, or refuses write number `refuse_write`.
    pub fn new(refuse_write: Option<usize>) -> ByteSink {
        let bytes = Box::new(Mutex::new(Bytes { refuse_write, ..Bytes::default() }));
        let context = &*bytes as *const Mutex<Bytes> as *mut c_void;
        let raw = Box::new(DlAi2ByteSink {
            struct_size: size_of::<DlAi2ByteSink>(),
            context,
            write: Some(write_bytes),
        });
        ByteSink { bytes, raw }
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2ByteSink {
        &*self.raw
    }

    /// The bytes written and the number of `write` calls, or the protocol problems seen.
    pub fn finish(self) -> Result<(Vec<u8>, usize), String> {
        let bytes = self.bytes.into_inner().unwrap_or_else(|error| error.into_inner());
        if bytes.problems.is_empty() {
            Ok((bytes.data, bytes.writes))
        } else {
            Err(bytes.problems.join("; "))
        }
    }
}

unsafe extern "C" fn write_bytes(context: *mut c_void, data: *const u8, size: usize) -> i32 {
    // SAFETY: the context is the sink's boxed Mutex<Bytes>, alive as long as the sink.
    let mutex = unsafe { &*(context as *const Mutex<Bytes>) };
    let mut bytes = mutex.lock().unwrap_or_else(|error| error.into_inner());
    let number = bytes.writes;
    bytes.writes += 1;
    if bytes.refuse_write == Some(number) {
        return 1;
    }
    if size == 0 {
        return 0;
    }
    if data.is_null() {
        bytes.problems.push(format!("write({size} bytes) with a NULL pointer"));
        return 1;
    }
    // SAFETY: the plugin passes `size` readable bytes at `data`.
    bytes.data.extend_from_slice(unsafe { std::slice::from_raw_parts(data, size) });
    0
}

/// Everything the callbacks of one call saw.
#[derive(Default)]
pub struct Seen {
    /// Log lines: level and text.
    pub logs: Vec<(i32, String)>,
    /// Progress reports: stage, done, total.
    pub progress: Vec<(String, u64, u64)>,
    /// How often `is_cancelled` was asked.
    pub cancel_queries: usize,
    /// Misuse: bad levels, NULL or non-UTF-8 text, done above total, calls after return.
    pub problems: Vec<String>,
}

struct RecorderState {
    seen: Mutex<Seen>,
    cancel: bool,
    returned: AtomicBool,
}

/// Host callbacks (log, progress, cancellation) that record what the plugin reports.
pub struct CallbackRecorder {
    state: Box<RecorderState>,
    raw: Box<DlAi2Callbacks>,
}

impl CallbackRecorder {
    /// Callbacks whose `is_cancelled` answers `cancel`; with `functions` false, every
    /// function pointer is NULL (the ABI allows that).
    pub fn new(cancel: bool, functions: bool) -> CallbackRecorder {
        let state = Box::new(RecorderState {
            seen: Mutex::new(Seen::default()),
            cancel,
            returned: AtomicBool::new(false),
        });
        let context = &*state as *const RecorderState as *mut c_void;
        let raw = Box::new(DlAi2Callbacks {
            struct_size: size_of::<DlAi2Callbacks>(),
            context,
            log: functions.then_some(record_log as _),
            progress: functions.then_some(record_progress as _),
            is_cancelled: functions.then_some(record_is_cancelled as _),
        });
        CallbackRecorder { state, raw }
    }

    /// The pointer to pass to the plugin.
    pub fn as_ptr(&self) -> *const DlAi2Callbacks {
        &*self.raw
    }

    /// Marks the call as returned: callbacks arriving later are a problem.
    pub fn call_returned(&self) {
        self.state.returned.store(true, Ordering::SeqCst);
    }

    /// What was seen so far.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.seen.lock().unwrap_or_else(|error| error.into_inner())
    }
}

fn with_state(context: *mut c_void, name: &str, action: impl FnOnce(&RecorderState, &mut Seen)) {
    // SAFETY: the context is the recorder's boxed state, which outlives the calls it is
    // passed to (recorders are dropped only after the plugin call returned).
    let state = unsafe { &*(context as *const RecorderState) };
    let mut seen = state.seen.lock().unwrap_or_else(|error| error.into_inner());
    if state.returned.load(Ordering::SeqCst) && seen.problems.len() < 8 {
        seen.problems.push(format!("{name} was called after the call returned"));
    }
    action(state, &mut seen);
}

unsafe extern "C" fn record_log(context: *mut c_void, level: i32, message: *const c_char) {
    // SAFETY: the plugin passes a NUL-terminated message (NULL is caught).
    let text = unsafe { c_text(message, "log's message") };
    with_state(context, "log", |_, seen| {
        if !(1..=4).contains(&level) {
            seen.problems.push(format!("log level {level} is not a DLOPT_AI2_LOG_* level"));
        }
        match text {
            Ok(text) => seen.logs.push((level, text)),
            Err(problem) => seen.problems.push(problem),
        }
    });
}

unsafe extern "C" fn record_progress(
    context: *mut c_void,
    stage: *const c_char,
    done: u64,
    total: u64,
) {
    // SAFETY: as in record_log.
    let stage = unsafe { c_text(stage, "progress's stage") };
    with_state(context, "progress", |_, seen| match stage {
        Ok(stage) => {
            if done > total {
                seen.problems.push(format!("progress '{stage}': done {done} above total {total}"));
            }
            if stage.is_empty() {
                seen.problems.push("progress with an empty stage".into());
            }
            seen.progress.push((stage, done, total));
        }
        Err(problem) => seen.problems.push(problem),
    });
}

unsafe extern "C" fn record_is_cancelled(context: *mut c_void) -> i32 {
    let mut cancel = false;
    with_state(context, "is_cancelled", |state, seen| {
        seen.cancel_queries += 1;
        cancel = state.cancel;
    });
    i32::from(cancel)
}

/// What check_support reported: node indices with reasons, and protocol problems.
#[derive(Default)]
pub struct SupportReport {
    /// `(node, reason)` in the order reported.
    pub unsupported: Vec<(usize, String)>,
    /// NULL or non-UTF-8 reasons.
    pub problems: Vec<String>,
}

/// check_support's `unsupported` callback; the context is a `Mutex<SupportReport>`.
///
/// # Safety
/// `context` points to a live `Mutex<SupportReport>`; `reason` is NULL or NUL-terminated.
pub unsafe extern "C" fn record_unsupported(
    context: *mut c_void,
    node: usize,
    reason: *const c_char,
) {
    // SAFETY: guaranteed by the caller (the kit passes its own report).
    let report = unsafe { &*(context as *const Mutex<SupportReport>) };
    // SAFETY: as in record_log.
    let reason = unsafe { c_text(reason, "the reason") };
    let mut report = report.lock().unwrap_or_else(|error| error.into_inner());
    match reason {
        Ok(reason) => report.unsupported.push((node, reason)),
        Err(problem) => report.problems.push(format!("node {node}: {problem}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a fresh sink with `calls` the way a plugin would, then finishes it.
    fn drive(calls: impl FnOnce(&DlAi2ValueSink)) -> Result<PropValue, String> {
        let sink = ValueSink::new(false);
        // SAFETY: the sink outlives the calls.
        calls(unsafe { &*sink.as_ptr() });
        sink.finish()
    }

    // Thin wrappers: every callback of a ValueSink is present.
    fn int(s: &DlAi2ValueSink, value: i64) {
        unsafe { s.write_int.unwrap()(s.context, value) }
    }
    fn text(s: &DlAi2ValueSink, value: &CStr) {
        unsafe { s.write_string.unwrap()(s.context, value.as_ptr()) }
    }
    fn key(s: &DlAi2ValueSink, value: &CStr) {
        unsafe { s.write_key.unwrap()(s.context, value.as_ptr()) }
    }
    fn list(s: &DlAi2ValueSink) {
        unsafe { s.begin_list.unwrap()(s.context) }
    }
    fn end_list(s: &DlAi2ValueSink) {
        unsafe { s.end_list.unwrap()(s.context) }
    }
    fn map(s: &DlAi2ValueSink) {
        unsafe { s.begin_map.unwrap()(s.context) }
    }
    fn end_map(s: &DlAi2ValueSink) {
        unsafe { s.end_map.unwrap()(s.context) }
    }

    #[test]
    fn well_formed_nested_values_are_read() {
        let value = drive(|s| {
            map(s);
            key(s, c"ops");
            list(s);
            text(s, c"Gemm");
            text(s, c"Relu");
            end_list(s);
            key(s, c"rank");
            int(s, 8);
            end_map(s);
        });
        let expected = PropValue::Map(vec![
            (
                "ops".into(),
                PropValue::List(vec![PropValue::Str("Gemm".into()), PropValue::Str("Relu".into())]),
            ),
            ("rank".into(), PropValue::Int(8)),
        ]);
        assert_eq!(value, Ok(expected));
    }

    #[test]
    fn protocol_misuse_is_named() {
        type Calls = fn(&DlAi2ValueSink);
        let cases: [(&str, Calls); 8] = [
            ("a second value (an int) after the first", |s| {
                int(s, 1);
                int(s, 2)
            }),
            ("write_key('k') outside a map", |s| {
                list(s);
                key(s, c"k");
                end_list(s)
            }),
            ("an int in a map without write_key", |s| {
                map(s);
                int(s, 1);
                end_map(s)
            }),
            ("key 'k' twice in one map", |s| {
                map(s);
                key(s, c"k");
                int(s, 1);
                key(s, c"k");
                int(s, 2);
                end_map(s)
            }),
            ("end_map after key 'k' without its value", |s| {
                map(s);
                key(s, c"k");
                end_map(s)
            }),
            ("end_list closes a map", |s| {
                map(s);
                end_list(s);
                end_map(s)
            }),
            ("1 list(s) or map(s) left open", list),
            ("no value was written", |_| {}),
        ];
        for (expected, calls) in cases {
            let problem = drive(calls).expect_err(expected);
            assert!(problem.contains(expected), "'{problem}' does not say '{expected}'");
        }
    }

    #[test]
    fn a_null_string_is_a_problem() {
        let problem = drive(|s| unsafe { s.write_string.unwrap()(s.context, std::ptr::null()) });
        assert_eq!(problem, Err("malformed value: write_string's value is NULL".into()));
    }

    #[test]
    fn calls_from_another_thread_are_a_problem() {
        let sink = ValueSink::new(false);
        let address = sink.as_ptr() as usize;
        std::thread::spawn(move || {
            // SAFETY: the sink outlives this thread (joined below).
            let s = unsafe { &*(address as *const DlAi2ValueSink) };
            int(s, 1);
        })
        .join()
        .unwrap();
        let problem = sink.finish().unwrap_err();
        assert!(problem.contains("write_int was called from another thread"), "{problem}");
    }

    #[test]
    fn a_byte_sink_refuses_the_write_it_was_told_to() {
        let sink = ByteSink::new(Some(1));
        // SAFETY: the sink outlives the calls.
        let raw = unsafe { &*sink.as_ptr() };
        let write = raw.write.unwrap();
        let results = unsafe {
            [
                write(raw.context, b"ab".as_ptr(), 2),
                write(raw.context, b"cd".as_ptr(), 2),
                write(raw.context, b"ef".as_ptr(), 2),
            ]
        };
        assert_eq!(results, [0, 1, 0]);
        assert_eq!(sink.finish(), Ok((b"abef".to_vec(), 3)));
    }
}

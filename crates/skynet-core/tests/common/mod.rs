//! Shared harness of the skynet-core integration tests: boots a real node
//! in-process (the reference's `skynet_start`) with native test services,
//! a logger service that records every log line, and a safety timeout that
//! fails a test instead of letting it hang.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use skynet_core::command::command;
use skynet_core::env::Env;
use skynet_core::message::{PTYPE_RESPONSE, PTYPE_TEXT};
use skynet_core::start::{build_node, run, StartConfig};
use skynet_core::{Context, Handle, Message, Node, Payload, Service};

/// Name the recording logger is registered under.
pub const TEST_LOGGER: &str = "testlog";

/// One line the logger received: who logged it and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: Handle,
    pub text: String,
}

/// A callback the logger runs on every line it records.
pub type LogWatch = Arc<dyn Fn(&LogLine) + Send + Sync>;

/// A shared, append-only list (what test services report to the test).
pub struct Journal<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Journal<T> {
    fn clone(&self) -> Self {
        Journal(self.0.clone())
    }
}

impl<T> Default for Journal<T> {
    fn default() -> Self {
        Journal(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Journal<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, item: T) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(item);
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Counts how many instances of a service have been dropped (released).
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The test logger: records every PTYPE_TEXT message as a [`LogLine`].
struct RecordingLogger {
    lines: Journal<LogLine>,
    watch: Option<LogWatch>,
    released: DropCounter,
}

impl Service for RecordingLogger {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, _ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_TEXT {
            return;
        }
        let line = LogLine {
            source: msg.source,
            text: String::from_utf8_lossy(msg.payload.as_slice()).into_owned(),
        };
        if let Some(w) = &self.watch {
            w(&line);
        }
        self.lines.push(line);
    }
}

impl Drop for RecordingLogger {
    fn drop(&mut self) {
        self.released.bump();
    }
}

/// Replies to every message that carries a session with a PTYPE_RESPONSE
/// holding the same bytes; ignores the rest.
pub struct Echo;

impl Service for Echo {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.session != 0 {
            reply(ctx, &msg, msg.payload.as_slice().to_vec());
        }
    }
}

/// Does nothing with its messages; counts its release.
pub struct Idle(pub DropCounter);

impl Service for Idle {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, _ctx: &Arc<Context>, _msg: Message) {}
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.0.bump();
    }
}

/// How to boot a test node.
pub struct Setup {
    pub threads: usize,
    pub bootstrap: String,
    pub profile: bool,
    pub logservice: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub watch: Option<LogWatch>,
}

impl Setup {
    /// `threads` workers, `bootstrap` as the bootstrap command line.
    pub fn new(threads: usize, bootstrap: &str) -> Setup {
        Setup {
            threads,
            bootstrap: bootstrap.to_string(),
            profile: true,
            logservice: TEST_LOGGER.to_string(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
            watch: None,
        }
    }

    pub fn profile(mut self, on: bool) -> Setup {
        self.profile = on;
        self
    }

    pub fn logservice(mut self, name: &str) -> Setup {
        self.logservice = name.to_string();
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Setup {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn timeout(mut self, t: Duration) -> Setup {
        self.timeout = t;
        self
    }

    pub fn watch(mut self, w: LogWatch) -> Setup {
        self.watch = Some(w);
        self
    }
}

/// What a finished node left behind.
pub struct Finished {
    pub result: Result<(), String>,
    pub logs: Vec<LogLine>,
    pub node: Arc<Node>,
    pub logger_released: usize,
}

impl Finished {
    /// The texts logged by `source`, in order.
    pub fn lines_from(&self, source: Handle) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|l| l.source == source)
            .map(|l| l.text.as_str())
            .collect()
    }

    /// Whether exactly this line was logged.
    pub fn logged(&self, source: Handle, text: &str) -> bool {
        self.logs
            .iter()
            .any(|l| l.source == source && l.text == text)
    }

    /// Lines whose text starts with `prefix`.
    pub fn lines_starting(&self, prefix: &str) -> Vec<&LogLine> {
        self.logs
            .iter()
            .filter(|l| l.text.starts_with(prefix))
            .collect()
    }

    /// The source of the first line with exactly `text`.
    pub fn source_of(&self, text: &str) -> Option<Handle> {
        self.logs.iter().find(|l| l.text == text).map(|l| l.source)
    }

    /// Index of the first line (source, text), for ordering checks.
    pub fn position(&self, source: Handle, text: &str) -> Option<usize> {
        self.logs
            .iter()
            .position(|l| l.source == source && l.text == text)
    }

    /// Panics with the whole log unless the node ended normally.
    pub fn expect_ok(&self) {
        if let Err(e) = &self.result {
            panic!("node failed: {e:?}\nlog: {:#?}", self.logs);
        }
    }
}

/// Boots a node as `setup` says, lets `modules` add the test's modules,
/// runs it to its end on another thread and returns what it left. Fails the
/// test if the node has not ended after `setup.timeout`.
pub fn run_node(setup: Setup, modules: impl FnOnce(&Arc<Node>)) -> Finished {
    let env = Env::new();
    env.set("thread", &setup.threads.to_string());
    env.set("harbor", "0");
    env.set("bootstrap", &setup.bootstrap);
    env.set("logservice", &setup.logservice);
    env.set("profile", if setup.profile { "true" } else { "false" });
    env.set("cpath", "./no-such-cservice-dir/?.so");
    for (k, v) in &setup.env {
        env.set(k, v);
    }
    let config = StartConfig::from_env(&env).expect("start config");
    let node = build_node(&config, env);

    let lines: Journal<LogLine> = Journal::new();
    let released = DropCounter::new();
    {
        let lines = lines.clone();
        let watch = setup.watch.clone();
        let released = released.clone();
        node.modules().register(
            TEST_LOGGER,
            Arc::new(move || {
                Box::new(RecordingLogger {
                    lines: lines.clone(),
                    watch: watch.clone(),
                    released: released.clone(),
                }) as Box<dyn Service>
            }),
        );
    }
    modules(&node);

    let (tx, rx) = mpsc::channel();
    let runner = node.clone();
    thread::Builder::new()
        .name("test-node".to_string())
        .spawn(move || {
            let r = run(&runner, &config);
            let _ = tx.send(r);
        })
        .expect("spawn the node thread");
    let result = match rx.recv_timeout(setup.timeout) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => panic!(
            "the node did not end within {:?}; log so far: {:#?}",
            setup.timeout,
            lines.snapshot()
        ),
        Err(RecvTimeoutError::Disconnected) => panic!(
            "the node thread panicked; log so far: {:#?}",
            lines.snapshot()
        ),
    };
    Finished {
        result,
        logs: lines.snapshot(),
        node,
        logger_released: released.get(),
    }
}

/// Registers a module whose instances `make` builds.
pub fn register<S: Service>(
    node: &Arc<Node>,
    name: &str,
    make: impl Fn() -> S + Send + Sync + 'static,
) {
    node.modules()
        .register(name, Arc::new(move || Box::new(make()) as Box<dyn Service>));
}

/// Runs a text command.
pub fn cmd(ctx: &Arc<Context>, name: &str, param: &str) -> Option<String> {
    command(ctx, name, Some(param))
}

/// `LAUNCH` and the handle from its `:%08X` answer.
pub fn launch(ctx: &Arc<Context>, line: &str) -> Option<Handle> {
    cmd(ctx, "LAUNCH", line).map(|r| parse_handle(&r).expect("LAUNCH answers a handle"))
}

/// Parses `:hex` (either case); `None` for anything else.
pub fn parse_handle(s: &str) -> Option<Handle> {
    let hex = s.strip_prefix(':')?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Sends bytes as PTYPE_TEXT with an explicit session; returns what
/// `Context::send` returns.
pub fn send_text(ctx: &Arc<Context>, dest: Handle, session: i32, text: &str) -> i32 {
    ctx.send(0, dest, PTYPE_TEXT as i32, session, Payload::from(text))
}

/// Answers `msg` with a PTYPE_RESPONSE of the same session.
pub fn reply(ctx: &Arc<Context>, msg: &Message, bytes: Vec<u8>) {
    ctx.send(
        0,
        msg.source,
        PTYPE_RESPONSE as i32,
        msg.session,
        Payload::from(bytes),
    );
}

/// The payload as text.
pub fn text_of(msg: &Message) -> String {
    String::from_utf8_lossy(msg.payload.as_slice()).into_owned()
}

/// Ends the node (every service is retired).
pub fn abort(ctx: &Arc<Context>) {
    command(ctx, "ABORT", None);
}

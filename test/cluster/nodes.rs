//! Shared by tests/cluster.rs and tests/harbor.rs (included with
//! `#[path]`): runs skynet nodes (the crate's binary) as child processes
//! and lets a test wait for lines of their output.
//!
//! Every line a node prints (stdout and stderr) is kept; `wait_for` blocks
//! on a condition variable until a line containing a text arrives, the
//! node's output ends, or a generous safety timeout passes (only to stop a
//! hung test: nothing is timed). Nodes are killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Bound for one wait, only to stop a hung test.
pub const SAFETY_TIMEOUT: Duration = Duration::from_secs(120);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// A fresh directory for one test's files, removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("skynet-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch { dir }
    }

    /// Writes `text` to `name` (through a rename, so readers never see a
    /// half-written file) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).expect("write a scratch file");
        std::fs::rename(&tmp, &path).expect("rename a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    /// Streams (stdout, stderr) that reached their end.
    closed: usize,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

/// A running node.
pub struct Node {
    pub name: String,
    child: Child,
    output: Shared,
}

fn collect<R: Read + Send + 'static>(stream: R, output: Shared) {
    thread::spawn(move || {
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line).into_owned();
            let (lock, cond) = &*output;
            lock.lock()
                .unwrap_or_else(|e| e.into_inner())
                .lines
                .push(text);
            cond.notify_all();
        }
        let (lock, cond) = &*output;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed += 1;
        cond.notify_all();
    });
}

impl Node {
    /// Starts the binary on `config` (run from the repository root).
    pub fn start(name: &str, config: &Path) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
            .arg(config)
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the skynet binary");
        let output: Shared = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        collect(child.stdout.take().expect("piped stdout"), output.clone());
        collect(child.stderr.take().expect("piped stderr"), output.clone());
        Node {
            name: name.to_string(),
            child,
            output,
        }
    }

    /// All lines so far.
    pub fn lines(&self) -> Vec<String> {
        let (lock, _) = &*self.output;
        lock.lock().unwrap_or_else(|e| e.into_inner()).lines.clone()
    }

    pub fn dump(&self) -> String {
        format!(
            "===== output of node {} =====\n{}\n",
            self.name,
            self.lines().join("\n")
        )
    }

    /// Waits for a line containing `text`; returns it. Panics (with the
    /// output) when the node's output ends first or the safety timeout
    /// passes.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + SAFETY_TIMEOUT;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(l) = out.lines.iter().find(|l| l.contains(text)) {
                return l.clone();
            }
            let now = Instant::now();
            if out.closed == 2 || now >= deadline {
                let why = if out.closed == 2 {
                    "the node's output ended"
                } else {
                    "the safety timeout passed"
                };
                drop(out);
                panic!(
                    "node {}: no line with {text:?} ({why})\n{}",
                    self.name,
                    self.dump()
                );
            }
            out = cond
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The line starting with `prefix` (waiting for it), without the prefix.
    pub fn value(&self, prefix: &str) -> String {
        let line = self.wait_for(prefix);
        let at = line.find(prefix).unwrap_or(0) + prefix.len();
        line[at..].trim().to_string()
    }

    /// Waits until the node's output ends (it exited); panics after the
    /// safety timeout.
    pub fn wait_exit(&mut self) {
        let deadline = Instant::now() + SAFETY_TIMEOUT;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
        while out.closed < 2 {
            let now = Instant::now();
            if now >= deadline {
                drop(out);
                panic!("node {} did not exit\n{}", self.name, self.dump());
            }
            out = cond
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(out);
        let _ = self.child.wait();
    }

    /// Kills the node (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        // A failing multi-node test shows every node's output, not only the
        // one whose wait failed.
        if thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// The common part of a test node's config: run from the repository root,
/// services from service/ and test/cluster/.
pub fn base_config(start: &str) -> String {
    let r = repo();
    let r = r.display();
    format!(
        r#"-- written by a test (test/cluster/nodes.rs)
thread = 2
bootstrap = "snlua bootstrap"
start = "{start}"
luaservice = "{r}/service/?.lua;{r}/test/cluster/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua"
lua_cpath = "{r}/luaclib/?.so"
snax = "{r}/test/cluster/?.lua"
"#
    )
}

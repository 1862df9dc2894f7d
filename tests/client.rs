//! The example clients end to end: a plain `lua5.4` interpreter loads
//! `client.so` (crates/skynet-client) and runs the example client scripts
//! against a skynet-rs node running the matching example services, all on
//! 127.0.0.1.
//!
//! - `examples/client.lua` against `examples/main.lua` (protoloader,
//!   watchdog, gate, agent, simpledb): handshake, set, get, a heartbeat,
//!   quit (the server closes the connection, the client stops with
//!   "Server closed");
//! - `examples/login/client.lua` against `examples/config.login`
//!   (snax.loginserver + snax.msgserver): the DH/HMAC/DES login, the gate
//!   handshake, a request left unanswered over a reconnect and answered from
//!   the gate's cache, a new request;
//! - `test/client/crypt_vectors.lua`: `client.crypt` under lua5.4 against the
//!   reference's crypt vectors (crates/skynet-lua/tests/data/crypt.txt);
//! - `test/client/socket_check.lua`: `client.socket`'s error texts, a large
//!   send, shutdown, recv to the peer's close and `readstdin`, against a
//!   peer in this test.
//!
//! Stands for running the reference's `examples/client.lua` and
//! `examples/login/client.lua` by hand; the reference has no test for them.
//! Needs `lua5.4` on PATH (Debian's `lua5.4`, installed by .ci/run). Waits
//! are on output lines and process ends, with generous safety timeouts;
//! every process started is killed at the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Upper bound of one wait (for a line or a process end). Only stops a hung
/// run; nothing is timed. The heartbeat of the watchdog example comes every
/// 5 s, far below it.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds `client.so` (a cdylib, which `cargo test` builds only when the
/// skynet-client package is part of the run) and returns its path.
fn client_library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "skynet-client"])
            .current_dir(repo())
            .status()
            .expect("run cargo build -p skynet-client");
        assert!(status.success(), "building client.so failed: {status}");
        // the test binary is target/release/deps/<name>: the library is
        // target/release/libclient.so
        let exe = std::env::current_exe().expect("test binary path");
        let release = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/release directory");
        let lib = release.join("libclient.so");
        assert!(lib.exists(), "{} missing after the build", lib.display());
        lib
    })
}

/// A test's scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover temp directory harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory laid out as the client scripts expect their working
/// directory (the reference's repository root): `lualib/` and `examples/`
/// of this repository, and `luaclib/` with `client.so` and `sproto.so`.
/// The node of the test keeps its config and logs in `node/` inside.
fn client_dir(name: &str) -> Scratch {
    let lib = client_library();
    let dir = std::env::temp_dir().join(format!("skynet-client-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("luaclib")).expect("create the client directory");
    std::fs::create_dir_all(dir.join("node")).expect("create the node directory");
    for sub in ["lualib", "examples", "test"] {
        std::os::unix::fs::symlink(repo().join(sub), dir.join(sub)).expect("link into the repo");
    }
    std::fs::copy(lib, dir.join("luaclib/client.so")).expect("install client.so");
    std::os::unix::fs::symlink("client.so", dir.join("luaclib/sproto.so")).expect("link sproto.so");
    Scratch(dir)
}

/// Reads `from` line by line into a channel, and keeps a copy of all.
fn line_reader(from: impl Read + Send + 'static) -> (Receiver<String>, Arc<Mutex<String>>) {
    let (tx, rx) = mpsc::channel();
    let all = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&all);
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut text) = sink.lock() {
                text.push_str(&line);
                text.push('\n');
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (rx, all)
}

/// A started process whose stdout is read line by line; killed and reaped
/// when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// stderr's lines; drained by `wait_exit` so all of stderr is kept
    err_lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e} (is it installed?)"));
        let stdin = child.stdin.take();
        let (lines, stdout) = line_reader(child.stdout.take().expect("piped stdout"));
        let (err_lines, stderr) = line_reader(child.stderr.take().expect("piped stderr"));
        Proc {
            name,
            child,
            stdin,
            lines,
            err_lines,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        let out = self.stdout.lock().map(|s| s.clone()).unwrap_or_default();
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!(
            "--- {} stdout:\n{out}--- {} stderr:\n{err}",
            self.name, self.name
        )
    }

    /// Waits for the next line that satisfies `pred` and returns it; lines
    /// before it are skipped (they stay in the copy of the output).
    fn expect_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SAFETY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no line {what} in time\n{}", self.name, self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: output ended before {what}\n{}",
                        self.name,
                        self.output()
                    )
                }
            }
        }
    }

    /// The next line, which must be `want`.
    fn expect_next(&self, want: &str) {
        match self.lines.recv_timeout(SAFETY_TIMEOUT) {
            Ok(line) if line == want => {}
            Ok(line) => panic!(
                "{}: expected {want:?}, got {line:?}\n{}",
                self.name,
                self.output()
            ),
            Err(e) => panic!("{}: expected {want:?}: {e}\n{}", self.name, self.output()),
        }
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to the client's stdin");
        stdin.flush().expect("flush the client's stdin");
    }

    /// Waits for the process to end (its stdout closes first) and returns
    /// how it ended.
    /// Waits until the process has closed stdout and stderr (so both are
    /// read to the end), then reaps it.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + SAFETY_TIMEOUT;
        for stream in [&self.lines, &self.err_lines] {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match stream.recv_timeout(left) {
                    Ok(_) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        panic!("{}: did not end in time\n{}", self.name, self.output())
                    }
                }
            }
        }
        self.child.wait().expect("reap the process")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Either already ended (then these fail harmlessly) or still running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node from the repository root (as the example configs expect)
/// with a config in `scratch/node/` that includes `base` and adds `extra`
/// lines.
fn start_node(scratch: &Scratch, base: &str, extra: &str) -> Proc {
    let dir = scratch.0.join("node");
    let config = dir.join("config");
    let text = format!(
        "-- written by tests/client.rs\ninclude \"{}\"\nlogpath = \"{}\"\n{extra}",
        repo().join(base).display(),
        dir.display()
    );
    std::fs::write(&config, text).expect("write the node config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skynet"));
    cmd.arg(&config).current_dir(repo());
    Proc::spawn("node", cmd)
}

fn lua(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("lua5.4");
    cmd.args(args).current_dir(dir);
    cmd
}

#[test]
fn crypt_vectors_under_lua54() {
    let scratch = client_dir("vectors");
    let dir = &scratch.0;
    let vectors = repo().join("crates/skynet-lua/tests/data/crypt.txt");
    let cpath = format!("{}/luaclib/?.so", dir.display());
    let vectors = vectors.to_string_lossy();
    let mut run = Proc::spawn(
        "lua5.4 crypt_vectors.lua",
        lua(dir, &["test/client/crypt_vectors.lua", &vectors, &cpath]),
    );
    let summary = run.expect_line("with the summary", |l| l.starts_with("crypt vectors:"));
    let status = run.wait_exit();
    assert!(
        status.success() && summary.ends_with(" 0 failed") && !summary.contains(": 0 passed"),
        "{summary}\n{}",
        run.output()
    );
}

#[test]
fn client_socket_under_lua54() {
    let scratch = client_dir("socket");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let port = listener.local_addr().expect("listener address").port();
    // the peer: read all until the client shuts its side, answer, close
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept the client");
        conn.set_read_timeout(Some(SAFETY_TIMEOUT))
            .expect("set a safety timeout");
        let mut all = Vec::new();
        conn.read_to_end(&mut all)
            .expect("read until the client's shutdown");
        conn.write_all(format!("got {}\n", all.len()).as_bytes())
            .expect("answer");
        all
    });
    let cpath = format!("{}/luaclib/?.so", scratch.0.display());
    let port = port.to_string();
    let mut run = Proc::spawn(
        "lua5.4 socket_check.lua",
        lua(&scratch.0, &["test/client/socket_check.lua", &cpath, &port]),
    );
    let shutdown = run.expect_line("SHUTDOWN", |l| l.starts_with("SHUTDOWN "));
    assert!(
        shutdown.ends_with(" 1"),
        "shutdown(fd, \"w\") is SHUT_WR: {shutdown}"
    );
    let received = peer.join().expect("peer thread");
    assert_eq!(received.len(), 640_000);
    assert!(received.chunks(16).all(|c| c == b"0123456789abcdef"));
    // the script waits for a line on its stdin
    run.expect_line("the answer case", |l| l.starts_with("CASE answer "));
    run.send_line("a line from stdin");
    let summary = run.expect_line("the summary", |l| l.ends_with(" failed"));
    let status = run.wait_exit();
    assert!(
        status.success() && summary.ends_with(" 0 failed") && !run.output().contains(" FAIL"),
        "{}",
        run.output()
    );
}

#[test]
fn watchdog_example_end_to_end() {
    let scratch = client_dir("watchdog");
    let node = start_node(
        &scratch,
        "examples/config.standalone",
        "thread = 2\nwatchdog_address = \"127.0.0.1\"\nwatchdog_port = 0\ndebug_console_port = 0\n",
    );
    let listen = node.expect_line("Watchdog listen on", |l| {
        l.contains("Watchdog listen on 127.0.0.1:")
    });
    let port = listen.rsplit(':').next().expect("port").trim().to_string();
    assert_ne!(port, "0", "{listen}");

    let mut client = Proc::spawn(
        "lua5.4 examples/client.lua",
        lua(&scratch.0, &["examples/client.lua", "127.0.0.1", &port]),
    );
    client.expect_next("Request:\t1");
    client.expect_next("Request:\t2");
    // handshake (session 1) and set (session 2, no content) are answered;
    // a heartbeat from the agent may come in between
    client.expect_line("RESPONSE 1", |l| l == "RESPONSE\t1");
    client.expect_next("msg\tWelcome to skynet, I will send heartbeat every 5 sec.");
    client.expect_line("RESPONSE 2", |l| l == "RESPONSE\t2");
    node.expect_line("the agent's set", |l| l == "set\thello\tworld");

    // a line typed on stdin becomes a get request
    client.send_line("hello");
    client.expect_line("Request 3", |l| l == "Request:\t3");
    client.expect_line("RESPONSE 3", |l| l == "RESPONSE\t3");
    client.expect_next("result\tworld");
    node.expect_line("the agent's get", |l| l == "get\thello");

    // the agent's heartbeat (every 5 s) reaches the client
    client.expect_line("a heartbeat", |l| l == "REQUEST\theartbeat");

    // quit: the watchdog kicks the client, whose script stops with an error
    client.send_line("quit");
    client.expect_line("Request 4", |l| l == "Request:\t4");
    let status = client.wait_exit();
    let err = client.stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        !status.success() && err.contains("Server closed"),
        "the client should stop on the server's close\n{}",
        client.output()
    );
    node.expect_line("the watchdog's close", |l| l.starts_with("socket close\t"));
    drop(node);
}

#[test]
fn login_example_end_to_end() {
    let scratch = client_dir("login");
    let (login_port, gate_port) = (free_port(), free_port());
    let node = start_node(
        &scratch,
        "examples/config.login",
        &format!(
            "thread = 2\nlogin_port = {login_port}\ngate_port = {gate_port}\ngate_address = \"127.0.0.1\"\n"
        ),
    );
    node.expect_line("the gate listening", |l| {
        l.ends_with(&format!("Listen on 127.0.0.1 {gate_port}"))
    });
    // the bootstrap service ends once main's start (login server and gate
    // open, both bound) has returned
    node.expect_line("bootstrap done", |l| l.ends_with(":00000002] KILL self"));

    let (lp, gp) = (login_port.to_string(), gate_port.to_string());
    let mut client = Proc::spawn(
        "lua5.4 examples/login/client.lua",
        lua(&scratch.0, &["examples/login/client.lua", &lp, &gp]),
    );
    let secret_line = client.expect_line("the secret", |l| l.starts_with("sceret is \t"));
    let secret = secret_line
        .rsplit('\t')
        .next()
        .expect("hex secret")
        .to_string();
    assert_eq!(secret.len(), 16, "{secret_line}");
    client.expect_line("200 and the subid", |l| l.starts_with("200 "));
    client.expect_next("login ok, subid=\t1");
    client.expect_next("connect");
    client.expect_next("200 OK");
    client.expect_next("===>\techo\t0");
    client.expect_next("disconnect");
    client.expect_next("connect again");
    client.expect_next("200 OK");
    client.expect_next("===>\tfake\t0");
    client.expect_next("===>\tagain\t1");
    // session 0 is answered from the gate's cache with the first request
    client.expect_next("<===\ttrue\techo\t0");
    client.expect_next("<===\ttrue\tagain\t1");
    client.expect_next("disconnect");
    let status = client.wait_exit();
    assert!(status.success(), "{}", client.output());

    // both ends derived the same secret
    node.expect_line("the login server's view", |l| {
        l == format!("hello@sample is login, secret is {secret}")
    });
    node.expect_line("the agent's login", |l| l.ends_with("] hello is login"));
    node.expect_line("the agent told of the disconnect", |l| l.ends_with("] AFK"));
    drop(node);
}

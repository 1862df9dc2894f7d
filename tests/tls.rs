//! TLS suite: boots skynet-rs nodes (`harbor = 0`, `enablessl = true`) whose start service is
//! `test/tls/tls_test.lua`. It checks the `ltls.c` module (rustls) on its own and under
//! http.tlshelper: an https server (httpd) and an httpc client in the same node, and a wss
//! websocket round trip, all on 127.0.0.1. A second node without `enablessl` checks that
//! `require "ltls.c"` is refused with the reference's message.
//!
//! The certificates are made here, at test time, with rcgen (throwaway self-signed ECDSA
//! pairs written to the node's work directory); nothing secret is committed.
//!
//! Stands for the reference's manual https checks (test/testhttp.lua against a public host,
//! examples/simpleweb.lua); the reference has no automated harness for them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Upper bound for one node run. Not a timing assertion: it only stops a hung run.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

/// A fresh work directory for one node.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skynet-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the node's work directory");
    dir
}

/// Writes a new self-signed certificate for "localhost" / 127.0.0.1 and its key as PEM files
/// named `<stem>-cert.pem` / `<stem>-key.pem` in `dir`; returns both paths.
fn self_signed(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("generate a test certificate");
    let cert = dir.join(format!("{stem}-cert.pem"));
    let key = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write the test certificate");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("write the test key");
    (cert, key)
}

/// Runs a node with `config` (written to `dir`) until it exits or the safety timeout passes;
/// returns its stdout and stderr.
fn run_node(dir: &Path, config: &str) -> (String, String) {
    let path = dir.join("config");
    std::fs::write(&path, config).expect("write the node's config");
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&path)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the skynet binary");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (done_tx, done_rx) = mpsc::channel();
    let out = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(&mut stdout).lines() {
            let Ok(line) = line else { break };
            text.push_str(&line);
            text.push('\n');
        }
        let _ = done_tx.send(());
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // stdout closes when the node exits; past the safety bound it is killed.
    let deadline = Instant::now() + SAFETY_TIMEOUT;
    let left = deadline.saturating_duration_since(Instant::now());
    if done_rx.recv_timeout(left).is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    (stdout, stderr)
}

fn config_text(start: &str, dir: &Path, extra: &str) -> String {
    let repo = repo();
    let r = repo.display();
    format!(
        r#"-- written by tests/tls.rs
thread = 4
harbor = 0
bootstrap = "snlua bootstrap"
start = "{start}"
luaservice = "{r}/service/?.lua;{r}/test/tls/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua;{r}/test/tls/?.lua;{r}/test/net/?.lua"
lua_cpath = "{r}/luaclib/?.so"
cpath = "{r}/cservice/?.so"
logpath = "{w}"
{extra}"#,
        w = dir.display(),
    )
}

/// The text a logger line carries after its `[:xxxxxxxx] ` prefix.
fn logged(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("[:")?;
    let end = rest.find("] ")?;
    Some(&rest[end + 2..])
}

#[test]
fn https_and_wss_over_rustls() {
    let dir = workdir("suite");
    let (cert, key) = self_signed(&dir, "test-only-server");
    let (_, other_key) = self_signed(&dir, "test-only-other");
    let extra = format!(
        "enablessl = true\ncertfile = \"{}\"\nkeyfile = \"{}\"\ntls_otherkey = \"{}\"\n\
         tls_missing = \"{}\"\n",
        cert.display(),
        key.display(),
        other_key.display(),
        dir.join("no-such-file.pem").display(),
    );
    let (stdout, stderr) = run_node(&dir, &config_text("tls_test", &dir, &extra));
    let _ = std::fs::remove_dir_all(&dir);

    let cases = [
        "argument_errors",
        "memory_pair",
        "garbage_is_refused",
        "server_without_certificate",
        "cipher_restriction",
        "host_name",
        "https_get",
        "https_post_large_body",
        "wss_round_trip",
    ];
    let mut passed = BTreeSet::new();
    let mut failures = Vec::new();
    let mut finished = false;
    for text in stdout.lines().filter_map(logged) {
        if let Some(rest) = text.strip_prefix("CASE ") {
            match rest.strip_suffix(" PASS") {
                Some(id) => {
                    passed.insert(id.to_owned());
                }
                None => failures.push(rest.to_owned()),
            }
        }
        finished |= text.starts_with("NET tls: ");
    }
    let missing: Vec<&str> = cases
        .iter()
        .copied()
        .filter(|c| !passed.contains(*c))
        .collect();
    assert!(
        finished && failures.is_empty() && missing.is_empty(),
        "finished={finished}\nfailed: {failures:#?}\nnot passed: {missing:?}\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
}

#[test]
fn ltls_needs_enablessl() {
    let dir = workdir("disabled");
    let (stdout, stderr) = run_node(&dir, &config_text("tls_disabled", &dir, ""));
    let _ = std::fs::remove_dir_all(&dir);
    let report = stdout
        .lines()
        .filter_map(logged)
        .find_map(|t| t.strip_prefix("TLS REQUIRE "));
    let Some(report) = report else {
        panic!("no report\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    };
    assert!(
        report.starts_with("false ")
            && report.contains("ltls need init, Put enablessl = true in you config file."),
        "require \"ltls.c\" without enablessl gave: {report}"
    );
}

//! Library tests: one node per Lua library module (multicast, sharedata,
//! sharetable, datasheet, mqueue, sharemap, stm, snax, memory), each running
//! the test service `test/lib/test_<module>.lua` as its `start` service;
//! multicast also runs across two harbor nodes (`test_mcharbor.lua`, node 2
//! started once node 1, the master, is ready).
//!
//! A test service runs its cases through `test/lib/libtest.lua`, which logs
//! `TESTLIB <suite> <case> PASS|FAIL: <why>` for each case and
//! `TESTLIB <suite> DONE <passed> <failed>` before it aborts the node. This
//! harness checks that every listed case passed and that the log holds the
//! lines the services were expected to log (error texts and the like, which
//! the Lua side cannot see). `TESTLIB NOTE` lines (figures such as memory
//! sizes) are echoed to the test's output.
//!
//! Stands for the reference's way of testing its Lua library (test services
//! run on a node, their log read by a person); the reference has no harness.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

mod support;
use support::*;

/// Bound for one node run, only to stop a hung node; nodes normally exit
/// by themselves (skynet.abort) long before. Not a timing assertion.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

fn config_text(suite: &str, repo: &Path, extra: &str) -> String {
    let r = repo.display();
    format!(
        r#"-- written by tests/lib.rs
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "test_{suite}"
luaservice = "{r}/service/?.lua;{r}/test/lib/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua;{r}/test/lib/?.lua"
lua_cpath = "{r}/luaclib/?.so"
snax = "{r}/test/lib/?.lua"
testlib_dir = "{r}/test/lib"
{extra}
"#
    )
}

struct Run {
    stdout: String,
    stderr: String,
    timed_out: bool,
}

fn run_node(suite: &str, extra_config: &str) -> Run {
    let repo = repo();
    let workdir = std::env::temp_dir().join(format!("skynet-lib-{}-{}", std::process::id(), suite));
    std::fs::create_dir_all(&workdir).expect("create the node's work directory");
    let config = workdir.join("config");
    std::fs::write(&config, config_text(suite, &repo, extra_config))
        .expect("write the node's config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the skynet binary");
    let (done_tx, done_rx) = mpsc::channel();
    let out = capture(child.stdout.take().expect("piped stdout"), Some(done_tx));
    let err = capture(child.stderr.take().expect("piped stderr"), None);
    // stdout reaches end-of-file when the node exits.
    let timed_out = done_rx.recv_timeout(SAFETY_TIMEOUT).is_err();
    if timed_out {
        let _ = child.kill();
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&workdir);
    Run {
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        timed_out,
    }
}

/// Text after the `[:xxxxxxxx] ` logger prefix.
fn logged(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("[:")?;
    let (handle, text) = rest.split_once("] ")?;
    (handle.len() == 8 && handle.bytes().all(|b| b.is_ascii_hexdigit())).then_some(text)
}

/// What a suite must report and log.
struct Suite<'a> {
    name: &'a str,
    /// Every case the service must report as passed.
    cases: &'a [&'a str],
    /// Texts that must appear in the node's stdout (log lines and `print`).
    logs: &'a [&'a str],
    /// Extra config lines.
    config: &'a str,
}

fn check(suite: &Suite) {
    let run = run_node(suite.name, suite.config);
    for text in run.stdout.lines().filter_map(logged) {
        if let Some(note) = text.strip_prefix("TESTLIB NOTE ") {
            eprintln!("[{}] {note}", suite.name);
        }
    }
    let problems = check_run(&run, suite);
    if !problems.is_empty() {
        eprintln!(
            "===== stdout =====\n{}\n===== stderr =====\n{}",
            run.stdout, run.stderr
        );
        panic!(
            "library suite {} failed:\n  - {}",
            suite.name,
            problems.join("\n  - ")
        );
    }
}

/// Boots a standalone harbor node, output collected line by line.
struct LiveNode {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: thread::JoinHandle<Vec<u8>>,
    workdir: PathBuf,
}

impl LiveNode {
    fn start(name: &str, config: &str) -> LiveNode {
        let workdir =
            std::env::temp_dir().join(format!("skynet-lib-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&workdir).expect("create the node's work directory");
        let path = workdir.join("config");
        std::fs::write(&path, config).expect("write the node's config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
            .arg(&path)
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the skynet binary");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = capture(child.stderr.take().expect("piped stderr"), None);
        LiveNode {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            workdir,
        }
    }

    /// Reads output until a line contains `text` (false if the node ended
    /// or the safety bound passed first).
    fn wait_for(&mut self, text: &str) -> bool {
        while let Ok(line) = self.lines.recv_timeout(SAFETY_TIMEOUT) {
            let found = line.contains(text);
            self.stdout.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// Reads the rest of the output (until the node exits) and reaps it.
    fn finish(mut self) -> Run {
        let mut timed_out = false;
        loop {
            match self.lines.recv_timeout(SAFETY_TIMEOUT) {
                Ok(line) => self.stdout.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break;
                }
            }
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.workdir);
        Run {
            stdout: self.stdout.join("\n"),
            stderr: String::from_utf8_lossy(&self.stderr.join().unwrap_or_default()).into_owned(),
            timed_out,
        }
    }
}

fn harbor_config(harbor: u8, address: u16, master: u16, standalone: bool, role: &str) -> String {
    let r = repo();
    let r = r.display();
    let standalone = if standalone {
        format!("standalone = \"127.0.0.1:{master}\"")
    } else {
        String::new()
    };
    format!(
        r#"-- written by tests/lib.rs
thread = 2
harbor = {harbor}
address = "127.0.0.1:{address}"
master = "127.0.0.1:{master}"
{standalone}
bootstrap = "snlua bootstrap"
start = "test_mcharbor"
luaservice = "{r}/service/?.lua;{r}/test/lib/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua;{r}/test/lib/?.lua"
lua_cpath = "{r}/luaclib/?.so"
mc_role = "{role}"
"#
    )
}

/// Checks a finished run against what its suite must report: every listed
/// case passed (and no other), a DONE line without failures, the log texts.
fn check_run(run: &Run, suite: &Suite) -> Vec<String> {
    let name = suite.name;
    let mut problems = Vec::new();
    if run.timed_out {
        problems.push(format!(
            "{name}: the node did not exit within {} s and was killed",
            SAFETY_TIMEOUT.as_secs()
        ));
    }
    let prefix = format!("TESTLIB {name} ");
    let mut done = None;
    let mut passed = Vec::new();
    for text in run.stdout.lines().filter_map(logged) {
        let Some(rest) = text.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(counts) = rest.strip_prefix("DONE ") {
            done = Some(counts.to_string());
        } else if let Some(case) = rest.strip_suffix(" PASS") {
            passed.push(case.to_string());
        } else if let Some((case, why)) = rest.split_once(" FAIL: ") {
            problems.push(format!("{name}: case {case} failed: {why}"));
        }
    }
    match done.as_deref() {
        None => problems.push(format!(
            "{name}: no DONE line: the test service did not finish"
        )),
        Some(counts) if !counts.ends_with(" 0") => problems.push(format!(
            "{name}: the service reports failures (passed, failed = {counts})"
        )),
        Some(_) => {}
    }
    for case in suite.cases {
        if !passed.iter().any(|p| p == case) {
            problems.push(format!("{name}: case {case} did not pass"));
        }
    }
    for case in &passed {
        if !suite.cases.contains(&case.as_str()) {
            problems.push(format!(
                "{name}: case {case} passed but is not listed in tests/lib.rs"
            ));
        }
    }
    for want in suite.logs {
        if !run.stdout.contains(want) {
            problems.push(format!("{name}: the log lacks {want:?}"));
        }
    }
    problems
}

#[test]
fn mqueue() {
    check(&Suite {
        name: "mqueue",
        cases: &["call", "order", "error", "send", "send_error", "size"],
        logs: &[
            "Maybe forgot response session",
            "send a message to",
            "throw an error : ",
            "return something",
        ],
        config: "",
    });
}

#[test]
fn snax() {
    check(&Suite {
        name: "snax",
        cases: &[
            "newservice",
            "unknown_method",
            "request",
            "post",
            "response_error",
            "profile",
            "hotfix",
            "hotfix_mismatch",
            "unique_query_bind",
            "kill",
            "self_exit",
            "init_error",
            "bad_file",
        ],
        logs: &[
            "LAUNCH snlua snaxd snaxping",
            "ping start: arg1",
            "throw an error",
            "ping exit: bye",
            "ping exit: self",
            "init refused: nope",
        ],
        config: "",
    });
}

#[test]
fn stm() {
    check(&Suite {
        name: "stm",
        cases: &["first_read", "update", "bad_ticket", "writer_gone"],
        logs: &[],
        config: "",
    });
}

#[test]
fn multicast() {
    check(&Suite {
        name: "multicast",
        cases: &[
            "new",
            "publish",
            "self_subscribe",
            "unsubscribe",
            "subscribed_kept",
            "dispatch_error",
            "custom_pack",
            "delete",
            "bad_message",
        ],
        logs: &[
            "LAUNCH snlua multicastd",
            "dispatch failed",
            "Invalid multicast package 4050765991979987505",
            "Invalid multicast package size 5",
        ],
        config: "",
    });
}

#[test]
fn memory() {
    check(&Suite {
        name: "memory",
        cases: &["current", "info", "gc_mode", "no_jemalloc"],
        logs: &[
            "[:00000000] No jemalloc\n",
            "[:00000000] No jemalloc : mallctl_int64 opt.narenas.",
            "[:00000000] No jemalloc : mallctl_int64 epoch.",
            "[:00000000] No jemalloc : mallctl_int64 stats.allocated.",
            "[:00000000] No jemalloc : mallctl_bool prof.active.",
            "[:00000000] No jemalloc : mallctl_cmd prof.dump.",
            "[:00000000] dump all service mem:",
            "[:00000000] +total: ",
        ],
        config: "",
    });
}

#[test]
fn sharedata() {
    check(&Suite {
        name: "sharedata",
        cases: &[
            "new_query",
            "new_twice",
            "from_string",
            "from_file",
            "empty",
            "write_error",
            "missing",
            "bad_types",
            "shared_structure",
            "reader",
            "update",
            "update_twice",
            "deepcopy",
            "delete",
            "memory_1000_readers",
        ],
        logs: &[
            "LAUNCH snlua sharedatad",
            "Unsupport value type function",
            "Invalid key type boolean",
            "Invalid key 1.500000",
            "Unknown data type number",
        ],
        config: "",
    });
}

#[test]
fn sharetable() {
    check(&Suite {
        name: "sharetable",
        cases: &[
            "loadtable_query",
            "write",
            "iterate",
            "loadstring_loadfile",
            "bad_input",
            "functions",
            "shared_structure",
            "queryall",
            "reader",
            "update_inplace",
            "update_removed",
            "memory_1000_readers",
        ],
        logs: &[
            "LAUNCH snlua service_provider",
            "LAUNCH snlua service_cell sharetable",
            "bad argument #2 to 'matrix' (Type invalid)",
            "Not a table, it's a number.",
            "Can't share metatable",
            "Invalid function with upvalue",
            "Invalid type [thread]",
            "cannot open /nonexistent/file.lua",
        ],
        config: "",
    });
}

#[test]
fn datasheet() {
    check(&Suite {
        name: "datasheet",
        cases: &[
            "compile",
            "undump_diff",
            "query",
            "update",
            "update_type_change",
            "versions_released",
            "assign",
            "missing",
            "concurrent_query",
            "bad_proxy",
        ],
        logs: &["LAUNCH snlua service_cell datasheet", "create data first"],
        config: "",
    });
}

#[test]
fn sharemap() {
    check(&Suite {
        name: "sharemap",
        cases: &[
            "register_writer",
            "commit_update",
            "no_change",
            "read_only",
            "bad_type",
        ],
        logs: &[],
        config: "",
    });
}

#[test]
fn multicast_harbor() {
    // Node 1 hosts the master, so node 2 starts once node 1 is ready. The
    // test service makes node 1 leave last (see test_mcharbor.lua). A port
    // picked here can be taken by another process before the node listens
    // on it; a node that reports "Listen error" is started again on fresh
    // ports (a few times at most).
    const ATTEMPTS: usize = 3;
    let started = |name: &str, config: &str| {
        let mut node = LiveNode::start(name, config);
        if node.wait_for("Shakehand ready") {
            Ok(node)
        } else {
            Err(node.finish())
        }
    };
    let port_clash = |run: &Run| run.stdout.contains("Listen error");
    let mut problems = Vec::new();
    let mut runs = None;
    for attempt in 1..=ATTEMPTS {
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let (master, a1, a2) = (ports[0], ports[1], ports[2]);
        let owner = match started("mc-owner", &harbor_config(1, a1, master, true, "owner")) {
            Ok(node) => node,
            Err(run) if port_clash(&run) && attempt < ATTEMPTS => continue,
            Err(run) => {
                problems.push("node 1 never became ready".to_string());
                runs = Some((run, None));
                break;
            }
        };
        match started("mc-remote", &harbor_config(2, a2, master, false, "remote")) {
            Ok(remote) => {
                let remote = remote.finish();
                runs = Some((owner.finish(), Some(remote)));
                break;
            }
            Err(remote) => {
                // node 1 waits for node 2 for ever: stop it
                let mut owner = owner;
                let _ = owner.child.kill();
                let owner = owner.finish();
                if port_clash(&remote) && attempt < ATTEMPTS {
                    continue;
                }
                problems.push("node 2 never became ready".to_string());
                runs = Some((owner, Some(remote)));
                break;
            }
        }
    }
    // the last attempt always ends with the runs (it does not retry)
    let (owner, remote) = runs.expect("the last attempt keeps its runs");
    problems.extend(check_run(
        &owner,
        &Suite {
            name: "mcharbor_owner",
            cases: &[
                "owner_channel",
                "owner_publish",
                "remote_publish",
                "owner_delete",
            ],
            logs: &["LAUNCH snlua multicastd"],
            config: "",
        },
    ));
    if let Some(remote) = &remote {
        problems.extend(check_run(
            remote,
            &Suite {
                name: "mcharbor_remote",
                cases: &[
                    "remote_subscribe",
                    "remote_receive",
                    "remote_publish",
                    "after_delete",
                ],
                logs: &["LAUNCH snlua multicastd"],
                config: "",
            },
        ));
    }
    if !problems.is_empty() {
        let (out2, err2) = remote
            .as_ref()
            .map_or(("(not started)", ""), |r| (&r.stdout[..], &r.stderr[..]));
        eprintln!(
            "===== node 1 =====\n{}\n{}\n===== node 2 =====\n{}\n{}",
            owner.stdout, owner.stderr, out2, err2
        );
        panic!(
            "multicast across harbors failed:\n  - {}",
            problems.join("\n  - ")
        );
    }
}

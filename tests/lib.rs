//! Library tests: one node per Lua library module (multicast, sharedata,
//! sharetable, datasheet, mqueue, sharemap, stm, snax, memory), each running
//! the test service `test/lib/test_<module>.lua` as its `start` service.
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

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Bound for one node run, only to stop a hung node; nodes normally exit
/// by themselves (skynet.abort) long before. Not a timing assertion.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

fn capture<R: Read + Send + 'static>(
    mut r: R,
    done: Option<mpsc::Sender<()>>,
) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = r.read_to_end(&mut buf);
        if let Some(done) = done {
            let _ = done.send(());
        }
        buf
    })
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
    let mut problems = Vec::new();
    if run.timed_out {
        problems.push(format!(
            "the node did not exit within {} s and was killed",
            SAFETY_TIMEOUT.as_secs()
        ));
    }
    let prefix = format!("TESTLIB {} ", suite.name);
    let mut done = None;
    let mut passed = Vec::new();
    for line in run.stdout.lines() {
        let Some(text) = logged(line) else { continue };
        if let Some(note) = text.strip_prefix("TESTLIB NOTE ") {
            eprintln!("[{}] {note}", suite.name);
        }
        let Some(rest) = text.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(counts) = rest.strip_prefix("DONE ") {
            done = Some(counts.to_string());
        } else if let Some(case) = rest.strip_suffix(" PASS") {
            passed.push(case.to_string());
        } else if let Some((case, why)) = rest.split_once(" FAIL: ") {
            problems.push(format!("case {case} failed: {why}"));
        }
    }
    match done.as_deref() {
        None => problems.push("no DONE line: the test service did not finish".to_string()),
        Some(counts) if !counts.ends_with(" 0") => problems.push(format!(
            "the service reports failures (passed, failed = {counts})"
        )),
        Some(_) => {}
    }
    for case in suite.cases {
        if !passed.iter().any(|p| p == case) {
            problems.push(format!("case {case} did not pass"));
        }
    }
    for case in &passed {
        if !suite.cases.contains(&case.as_str()) {
            problems.push(format!(
                "case {case} passed but is not listed in tests/lib.rs"
            ));
        }
    }
    for want in suite.logs {
        if !run.stdout.contains(want) {
            problems.push(format!("the log lacks {want:?}"));
        }
    }
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
        cases: &["current", "info", "no_jemalloc"],
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

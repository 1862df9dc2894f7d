//! Conformance suite: boots real skynet-rs nodes, one per section of
//! `shared/spec/conformance-cases.md`, each with one Lua test service of `test/conformance/`
//! as its `start` service, and checks what the node reports.
//!
//! A test service runs its cases and logs `CASE <id> PASS` / `CASE <id> FAIL: <reason>`, then
//! `CONFORMANCE <suite>: N passed, M failed`, and aborts the node. What the Lua side cannot see
//! (log lines: error texts, tracebacks, LAUNCH/KILL lines) it states as `EXPECT <id> <kind>
//! <glob>` lines that this harness checks against the node's stdout; a few expectations that do
//! not depend on run-time values (the boot order, a stderr line) are listed here.
//!
//! Glob syntax (shared with test/conformance/check.lua): `*` matches any run of characters
//! except a newline; `{H}` matches eight hex digits, the same ones everywhere in one expectation
//! (both sides of an `order`); `\n` is a newline, `\e` ESC, `\*` a literal star, `\\` a
//! backslash.
//!
//! Stands for the reference's way of testing (running test services on a node and reading its
//! log); the reference has no automated harness.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod support;
use support::*;

/// Upper bound for one node run. Not a timing assertion: nodes normally exit on their own
/// (skynet.abort) long before; this only stops a hung node.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

/// A log expectation that does not depend on run-time values.
enum Static {
    /// The first logger lines (lines starting with `[:`) of stdout are exactly these.
    LogBegins(&'static [&'static str]),
    /// The glob matches somewhere in the node's stderr.
    StderrHas(&'static str),
}

struct Suite {
    /// File stem in test/conformance/, used as the node's `start` service.
    file: &'static str,
    /// Worker threads of the node.
    threads: u32,
    /// Every case id the test service must report as passed.
    cases: &'static [&'static str],
    /// Static expectations, with the case they belong to.
    statics: &'static [(&'static str, Static)],
}

fn config_text(suite: &Suite, repo: &Path, logdir: &Path) -> String {
    let r = repo.display();
    format!(
        r#"-- written by tests/conformance.rs
thread = {threads}
harbor = 0
bootstrap = "snlua bootstrap"
start = "{start}"
luaservice = "{r}/service/?.lua;{r}/test/conformance/?.lua;{r}/test/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua;{r}/test/conformance/?.lua"
lua_cpath = "{r}/luaclib/?.so;/usr/lib/x86_64-linux-gnu/lua/5.4/?.so"
cpath = "{r}/cservice/?.so"
snax = "{r}/test/conformance/?.lua;{r}/test/?.lua"
logpath = "{logdir}"
myenv = "hello"
conformance_thread = "{threads}"
"#,
        threads = suite.threads,
        start = suite.file,
        logdir = logdir.display(),
    )
}

/// What one node run produced.
struct Run {
    stdout: String,
    stderr: String,
    exit: Option<std::process::ExitStatus>,
    timed_out: bool,
    workdir: PathBuf,
}

fn run_node(suite: &Suite) -> Run {
    let repo = repo();
    let workdir = std::env::temp_dir().join(format!(
        "skynet-conformance-{}-{}-t{}",
        std::process::id(),
        suite.file,
        suite.threads
    ));
    let logdir = workdir.join("log");
    std::fs::create_dir_all(&logdir).expect("create the node's work directory");
    let config = workdir.join("config");
    std::fs::write(&config, config_text(suite, &repo, &logdir)).expect("write the node's config");

    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_skynet"))
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
    let exit = child.wait().ok();
    let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    Run {
        stdout,
        stderr,
        exit,
        timed_out,
        workdir,
    }
}

// ---------------------------------------------------------------------------------------------
// Globs

#[derive(Debug, PartialEq)]
enum Seg {
    Lit(Vec<u8>),
    Any,
    /// `{H}`: eight hex digits, the same ones everywhere in one expectation.
    Handle,
}

/// Parses a glob into literal runs, wildcards and handle placeholders.
fn parse_glob(glob: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut lit = Vec::new();
    let raw = glob.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        match b {
            b'*' => {
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                if segs.last() != Some(&Seg::Any) {
                    segs.push(Seg::Any);
                }
            }
            b'{' if raw[i..].starts_with(b"H}") => {
                i += 2;
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                segs.push(Seg::Handle);
            }
            b'\\' => {
                let esc = raw.get(i).copied();
                i += 1;
                match esc {
                    Some(b'n') => lit.push(b'\n'),
                    Some(b'e') => lit.push(0x1b),
                    Some(b'*') => lit.push(b'*'),
                    Some(b'\\') => lit.push(b'\\'),
                    other => {
                        return Err(format!(
                            "bad escape \\{} in glob {glob:?}",
                            other.map(|c| (c as char).to_string()).unwrap_or_default()
                        ))
                    }
                }
            }
            _ => lit.push(b),
        }
    }
    if !lit.is_empty() {
        segs.push(Seg::Lit(lit));
    }
    Ok(segs)
}

/// A successful match: where it starts and ends, and the handle `{H}` stood for.
#[derive(Debug, PartialEq)]
struct Found {
    start: usize,
    end: usize,
    handle: Option<Vec<u8>>,
}

/// Matches `segs` at `pos`, wildcards as short as possible, `{H}` bound to `handle` if given;
/// returns the end of the match and the handle.
fn match_at(
    text: &[u8],
    pos: usize,
    segs: &[Seg],
    handle: Option<&[u8]>,
) -> Option<(usize, Option<Vec<u8>>)> {
    match segs.split_first() {
        None => Some((pos, handle.map(<[u8]>::to_vec))),
        Some((Seg::Lit(l), rest)) => {
            if text[pos..].starts_with(l) {
                match_at(text, pos + l.len(), rest, handle)
            } else {
                None
            }
        }
        Some((Seg::Handle, rest)) => {
            let digits = text.get(pos..pos + 8)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) || handle.is_some_and(|h| h != digits) {
                return None;
            }
            match_at(text, pos + 8, rest, Some(digits))
        }
        Some((Seg::Any, rest)) => {
            let mut j = pos;
            loop {
                if let Some(found) = match_at(text, j, rest, handle) {
                    return Some(found);
                }
                if j < text.len() && text[j] != b'\n' {
                    j += 1;
                } else {
                    return None;
                }
            }
        }
    }
}

/// First match starting at or after `from`.
fn find(text: &[u8], segs: &[Seg], from: usize, handle: Option<&[u8]>) -> Option<Found> {
    let first = match segs.first() {
        Some(Seg::Lit(l)) => Some(l[0]),
        _ => None,
    };
    (from..=text.len())
        .filter(|&i| first.is_none_or(|b| text.get(i) == Some(&b)))
        .find_map(|start| {
            match_at(text, start, segs, handle).map(|(end, handle)| Found { start, end, handle })
        })
}

fn count(text: &[u8], segs: &[Seg]) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(found) = find(text, segs, from, None) {
        n += 1;
        from = found.start + 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Reading the node's report

/// Text after the `[:xxxxxxxx] ` logger prefix, if the line has one.
fn logged(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("[:")?;
    let close = rest.find("] ")?;
    if close == 8 && rest[..8].bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(&rest[close + 2..])
    } else {
        None
    }
}

#[derive(Debug)]
enum Verdict {
    Pass,
    Fail(String),
}

struct Report {
    cases: BTreeMap<String, Verdict>,
    /// (passed, failed) of the CONFORMANCE line.
    summary: Option<(u32, u32)>,
    /// (case, kind, glob) of the EXPECT lines.
    expects: Vec<(String, String, String)>,
    /// stdout without the EXPECT lines, with a leading newline so that `\n` can anchor the
    /// first line.
    log: String,
}

fn parse_report(suite: &str, stdout: &str) -> Report {
    let mut cases = BTreeMap::new();
    let mut summary = None;
    let mut expects = Vec::new();
    let mut log = String::from("\n");
    let marker = format!("CONFORMANCE {suite}: ");
    for line in stdout.split_inclusive('\n') {
        let text = logged(line.trim_end_matches('\n'));
        if let Some(rest) = text.and_then(|t| t.strip_prefix("EXPECT ")) {
            let mut parts = rest.splitn(3, ' ');
            if let (Some(id), Some(kind), Some(glob)) = (parts.next(), parts.next(), parts.next()) {
                expects.push((id.to_string(), kind.to_string(), glob.to_string()));
            }
            continue;
        }
        log.push_str(line);
        let Some(text) = text else { continue };
        if let Some(rest) = text.strip_prefix("CASE ") {
            if let Some(id) = rest.strip_suffix(" PASS") {
                cases.insert(id.to_string(), Verdict::Pass);
            } else if let Some((id, reason)) = rest.split_once(" FAIL: ") {
                cases.insert(id.to_string(), Verdict::Fail(reason.to_string()));
            }
        } else if let Some(rest) = text.strip_prefix(&marker) {
            let nums: Vec<u32> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            if let [passed, failed] = nums[..] {
                summary = Some((passed, failed));
            }
        }
    }
    Report {
        cases,
        summary,
        expects,
        log,
    }
}

/// Checks one EXPECT line; `None` if it holds, else what is wrong.
fn check_expect(log: &[u8], kind: &str, glob: &str) -> Option<String> {
    let parse = |g: &str| parse_glob(g).map_err(|e| format!("unusable expectation: {e}"));
    let result = (|| -> Result<Option<String>, String> {
        if kind == "present" {
            let segs = parse(glob)?;
            return Ok(find(log, &segs, 0, None)
                .is_none()
                .then(|| format!("log lacks {glob:?}")));
        }
        if kind == "absent" {
            let segs = parse(glob)?;
            return Ok(find(log, &segs, 0, None).map(|f| {
                format!(
                    "log must not contain {glob:?}, found {:?}",
                    String::from_utf8_lossy(&log[f.start..f.end])
                )
            }));
        }
        if let Some(n) = kind.strip_prefix("count=") {
            let want: usize = n.parse().map_err(|_| format!("bad count in {kind:?}"))?;
            let got = count(log, &parse(glob)?);
            return Ok(
                (got != want).then(|| format!("log has {got} matches of {glob:?}, want {want}"))
            );
        }
        if kind == "order" {
            let (a, b) = glob
                .split_once(" >>> ")
                .ok_or_else(|| format!("order expectation without ' >>> ': {glob:?}"))?;
            let Some(first) = find(log, &parse(a)?, 0, None) else {
                return Ok(Some(format!("log lacks {a:?}")));
            };
            let b_segs = parse(b)?;
            return Ok(match find(log, &b_segs, 0, first.handle.as_deref()) {
                None if find(log, &b_segs, 0, None).is_some() => {
                    Some(format!("log lacks {b:?} for the handle of the first {a:?}"))
                }
                None => Some(format!("log lacks {b:?}")),
                Some(second) if second.start <= first.start => {
                    Some(format!("{b:?} is logged before {a:?}"))
                }
                Some(_) => None,
            });
        }
        Err(format!("unknown expectation kind {kind:?}"))
    })();
    result.unwrap_or_else(Some)
}

fn check_static(run: &Run, expect: &Static) -> Option<String> {
    match expect {
        Static::LogBegins(lines) => {
            let got: Vec<&str> = run
                .stdout
                .lines()
                .filter(|l| l.starts_with("[:"))
                .take(lines.len())
                .collect();
            (got != *lines).then(|| format!("log begins with {got:#?}, want {lines:#?}"))
        }
        Static::StderrHas(glob) => {
            let text = format!("\n{}", run.stderr);
            check_expect(text.as_bytes(), "present", glob).map(|e| format!("stderr: {e}"))
        }
    }
}

/// Boots the node of `suite` and asserts its report; panics with every problem found.
fn run_suite(suite: &Suite) {
    let run = run_node(suite);
    let report = parse_report(suite.file, &run.stdout);
    let mut problems: Vec<String> = Vec::new();

    if run.timed_out {
        problems.push(format!(
            "the node did not exit within {} s and was killed",
            SAFETY_TIMEOUT.as_secs()
        ));
    } else if run.exit.is_none() {
        problems.push("could not collect the node's exit status".to_string());
    }
    match report.summary {
        None => problems.push(format!(
            "no `CONFORMANCE {}: ...` line in the log",
            suite.file
        )),
        Some((_, failed)) if failed > 0 => {
            problems.push(format!("the test service reports {failed} failed case(s)"))
        }
        Some(_) => {}
    }
    for id in suite.cases {
        match report.cases.get(*id) {
            Some(Verdict::Pass) => {}
            Some(Verdict::Fail(reason)) => problems.push(format!("case {id} failed: {reason}")),
            None => problems.push(format!("case {id} was not reported")),
        }
    }
    for (id, verdict) in &report.cases {
        if !suite.cases.contains(&id.as_str()) {
            problems.push(format!(
                "case {id} is reported ({verdict:?}) but not listed in tests/conformance.rs"
            ));
        }
    }
    let log = report.log.as_bytes();
    for (id, kind, glob) in &report.expects {
        if let Some(p) = check_expect(log, kind, glob) {
            problems.push(format!("case {id}: {p}"));
        }
    }
    for (id, expect) in suite.statics {
        if let Some(p) = check_static(&run, expect) {
            problems.push(format!("case {id}: {p}"));
        }
    }

    if problems.is_empty() {
        // Keep the work directory of failed runs for inspection.
        let _ = std::fs::remove_dir_all(&run.workdir);
        return;
    }
    let mut msg = format!(
        "conformance suite {} (thread = {}) failed; work directory {}\n",
        suite.file,
        suite.threads,
        run.workdir.display()
    );
    for p in &problems {
        let _ = writeln!(msg, "  - {p}");
    }
    eprintln!(
        "===== stdout of the node =====\n{}\n===== stderr of the node =====\n{}",
        run.stdout, run.stderr
    );
    panic!("{msg}");
}

// ---------------------------------------------------------------------------------------------
// The suites, one per section of conformance-cases.md

const BOOT_ORDER: &[&str] = &[
    "[:00000002] LAUNCH snlua bootstrap",
    "[:00000003] LAUNCH snlua launcher",
    "[:00000004] LAUNCH snlua cdummy",
    "[:00000005] LAUNCH harbor 0 4",
    "[:00000006] LAUNCH snlua datacenterd",
    "[:00000007] LAUNCH snlua service_mgr",
    "[:00000008] LAUNCH snlua boot_logging",
];

#[test]
fn boot_logging() {
    run_suite(&Suite {
        file: "boot_logging",
        threads: 2,
        cases: &["A1", "A2", "A3", "A4", "A5"],
        statics: &[("A1", Static::LogBegins(BOOT_ORDER))],
    });
}

const SEND_CALL_CASES: &[&str] = &[
    "B4-start", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B13",
    "B14", "B15", "B16",
];

#[test]
fn send_call() {
    run_suite(&Suite {
        file: "send_call",
        threads: 2,
        cases: SEND_CALL_CASES,
        statics: &[],
    });
}

#[test]
fn send_call_one_thread() {
    run_suite(&Suite {
        file: "send_call",
        threads: 1,
        cases: SEND_CALL_CASES,
        statics: &[],
    });
}

#[test]
fn replies() {
    run_suite(&Suite {
        file: "replies",
        threads: 2,
        cases: &[
            "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12",
        ],
        statics: &[],
    });
}

#[test]
fn errors() {
    run_suite(&Suite {
        file: "errors",
        threads: 2,
        cases: &[
            "D1", "D2", "D3", "D4", "D5", "D6", "D7", "D7b", "D8", "D9", "D10", "D11", "D12",
            "D13", "D14", "D15",
        ],
        statics: &[],
    });
}

const COROUTINES_TIMERS_CASES: &[&str] = &[
    "E12-init", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10", "E11", "E12", "E13",
    "E14", "E15", "E16", "E17",
];

#[test]
fn coroutines_timers() {
    run_suite(&Suite {
        file: "coroutines_timers",
        threads: 2,
        cases: COROUTINES_TIMERS_CASES,
        statics: &[],
    });
}

#[test]
fn coroutines_timers_one_thread() {
    run_suite(&Suite {
        file: "coroutines_timers",
        threads: 1,
        cases: COROUTINES_TIMERS_CASES,
        statics: &[],
    });
}

#[test]
fn select() {
    run_suite(&Suite {
        file: "select",
        threads: 2,
        cases: &["F1", "F2", "F3", "F4", "F5", "F6"],
        statics: &[],
    });
}

#[test]
fn names() {
    run_suite(&Suite {
        file: "names",
        threads: 2,
        cases: &[
            "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10", "G11", "G12", "G13",
            "G14", "G15", "G16",
        ],
        statics: &[("G8", Static::StderrHas("try open nosuchmod failed : "))],
    });
}

#[test]
fn launcher_cmds() {
    run_suite(&Suite {
        file: "launcher_cmds",
        threads: 2,
        cases: &["H1", "H2", "H3", "H4", "H5", "H6"],
        statics: &[],
    });
}

#[test]
fn debug_protocol() {
    run_suite(&Suite {
        file: "debug_protocol",
        threads: 2,
        cases: &[
            "I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9", "I10", "I11", "I12",
        ],
        statics: &[],
    });
}

#[test]
fn environment() {
    run_suite(&Suite {
        file: "environment",
        threads: 2,
        cases: &["J1", "J2", "J3", "J4"],
        statics: &[],
    });
}

#[test]
fn serialization() {
    run_suite(&Suite {
        file: "serialization",
        threads: 2,
        cases: &["K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "K9"],
        statics: &[],
    });
}

#[test]
fn library() {
    run_suite(&Suite {
        file: "library",
        threads: 2,
        cases: &[
            "L5-start", "L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9", "L10", "L11", "L12",
            "L13", "L14", "L26", "L27", "L28",
        ],
        statics: &[],
    });
}

#[test]
fn protection() {
    run_suite(&Suite {
        file: "protection",
        threads: 2,
        cases: &["M1", "M2", "M3", "M4", "M5", "M6"],
        statics: &[],
    });
}

#[test]
fn tracing() {
    run_suite(&Suite {
        file: "tracing",
        threads: 2,
        cases: &["N1", "N2", "N3", "N4"],
        statics: &[],
    });
}

// Section L, library modules with their own node. Modules that are not part of skynet-rs yet
// keep their test ignored until the module lands (run them with `--ignored`).

#[test]
fn lib_service() {
    run_suite(&Suite {
        file: "lib_service",
        threads: 2,
        cases: &["L24", "L25"],
        statics: &[],
    });
}

#[test]
fn lib_mqueue() {
    run_suite(&Suite {
        file: "lib_mqueue",
        threads: 2,
        cases: &["L29"],
        statics: &[],
    });
}

#[test]
fn lib_multicast() {
    run_suite(&Suite {
        file: "lib_multicast",
        threads: 2,
        cases: &["L15", "L16"],
        statics: &[],
    });
}

#[test]
fn lib_sharedata() {
    run_suite(&Suite {
        file: "lib_sharedata",
        threads: 2,
        cases: &["L17", "L18", "L19", "L20"],
        statics: &[],
    });
}

#[test]
fn lib_sharetable() {
    run_suite(&Suite {
        file: "lib_sharetable",
        threads: 2,
        cases: &["L21", "L22", "L23"],
        statics: &[],
    });
}

#[test]
fn lib_snax() {
    run_suite(&Suite {
        file: "lib_snax",
        threads: 2,
        cases: &["L30", "L31", "L32"],
        statics: &[],
    });
}

#[test]
fn lib_datasheet() {
    run_suite(&Suite {
        file: "lib_datasheet",
        threads: 2,
        cases: &["L33", "L34"],
        statics: &[],
    });
}

// ---------------------------------------------------------------------------------------------
// The harness's own pieces

#[test]
fn glob_matching() {
    let text = b"\n[:00000008] a\nb\n[:00000009] KILL :f\nx*y\n[:00000009] KILL self\n";
    let segs = |g: &str| parse_glob(g).expect("valid glob");
    let span = |g: &str| find(text, &segs(g), 0, None).map(|f| (f.start, f.end));
    assert_eq!(span("\\n[:00000008] a\\nb\\n"), Some((0, 17)));
    assert_eq!(span("] KILL :*\\n"), Some((27, 37)));
    // A wildcard does not cross a line end.
    assert_eq!(span("a*KILL"), None);
    assert_eq!(span("x\\*y"), Some((37, 40)));
    assert_eq!(span("x*y"), Some((37, 40)));
    assert_eq!(count(text, &segs("[:0000000*]")), 3);
    assert_eq!(
        find(text, &segs("[:{H}] KILL"), 0, None).and_then(|f| f.handle),
        Some(b"00000009".to_vec())
    );
    assert!(parse_glob("bad \\q").is_err());
    assert_eq!(
        check_expect(text, "order", "KILL >>> a\\nb"),
        Some("\"a\\\\nb\" is logged before \"KILL\"".to_string())
    );
    assert_eq!(check_expect(text, "order", "a\\nb >>> KILL"), None);
    assert_eq!(
        check_expect(text, "order", "[:{H}] KILL : >>> [:{H}] KILL self"),
        None
    );
    assert!(check_expect(text, "order", "[:{H}] a >>> [:{H}] KILL").is_some());
    assert_eq!(check_expect(text, "count=3", "[:0000000*]"), None);
    assert!(check_expect(text, "absent", "KILL").is_some());
    assert!(check_expect(text, "sometimes", "KILL").is_some());
}

#[test]
fn report_parsing() {
    let out = "[:00000008] CASE X1 PASS\n[:00000008] CASE X2 FAIL: got 1, want 2\n\
               [:00000008] EXPECT X1 present a*b\n[:00000009] plain line\n\
               [:00000008] CONFORMANCE demo: 1 passed, 1 failed\n";
    let r = parse_report("demo", out);
    assert!(matches!(r.cases.get("X1"), Some(Verdict::Pass)));
    assert!(matches!(r.cases.get("X2"), Some(Verdict::Fail(reason)) if reason == "got 1, want 2"));
    assert_eq!(r.summary, Some((1, 1)));
    assert_eq!(
        r.expects,
        vec![("X1".to_string(), "present".to_string(), "a*b".to_string())]
    );
    assert!(!r.log.contains("EXPECT"));
    assert!(r.log.contains("\n[:00000009] plain line\n"));
}

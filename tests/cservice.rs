//! C services through `cpath` and the skynet.h ABI of `include/`: compiles
//! the test modules of `test/cservice/` with the system C compiler, boots
//! the `skynet` binary with a C bootstrap (`echo_driver`, no Lua at all) and
//! checks what the node logged. Stands for the reference's C service
//! loading (`skynet_module.c`) and the C API of `skynet.h` as third-party
//! services use it.
//!
//! The driver logs one `CSERVICE PASS|FAIL <check> ...` line per check it
//! makes on echo_c's answers; this test checks those lines, the lines the
//! runtime and echo_c log around them (LAUNCH, formatted `skynet_error`
//! text, launch failures, SIGNAL, KILL, release), the stderr line of a
//! module missing from `cpath`, and a clean exit after ABORT.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a node may run before the test kills it (a safety net for a
/// hung node, not a timing assertion).
const SAFETY_TIMEOUT: Duration = Duration::from_secs(60);

/// The C modules of `test/cservice/`.
const MODULES: [&str; 3] = ["echo_c", "echo_driver", "noinit"];

/// A fresh directory for one test's modules and config.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cservice-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Compiles `test/cservice/NAME.c` into `dir/NAME.so` against `include/`.
fn compile_module(dir: &Path, name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join(format!("{name}.so"));
    let output = Command::new("cc")
        .current_dir(root)
        .args(["-shared", "-fPIC", "-I", "include", "-o"])
        .arg(&out)
        .arg(format!("test/cservice/{name}.c"))
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "cc failed for {name}.c:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Writes a reference-format config running `bootstrap` with C services
/// from `dir`.
fn write_config(dir: &Path, bootstrap: &str) -> PathBuf {
    let path = dir.join("config");
    let text = format!(
        "-- C services only\nthread = 2\nharbor = 0\ncpath = \"{}/?.so\"\nbootstrap = \"{bootstrap}\"\n",
        dir.display()
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

/// Runs `skynet CONFIG` in `dir` to its end, killing it after
/// [`SAFETY_TIMEOUT`].
fn run_node(dir: &Path, config: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the skynet binary");
    let pid = child.id().to_string();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let timed_out = matches!(
            finished.recv_timeout(SAFETY_TIMEOUT),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if timed_out {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        timed_out
    });
    let output = child.wait_with_output().expect("wait for the node");
    drop(done);
    let timed_out = watchdog.join().expect("watchdog thread");
    assert!(
        !timed_out,
        "the node did not end within {SAFETY_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Asserts that `wanted` appear as whole lines of `lines`, in this order.
fn assert_lines_in_order(lines: &[&str], wanted: &[String], all: &str) {
    let mut from = 0;
    for w in wanted {
        match lines[from..].iter().position(|l| l == w) {
            Some(i) => from += i + 1,
            None => panic!("missing line (or out of order): {w:?}\nlog:\n{all}"),
        }
    }
}

/// The `[:%08x]` source of a log line and the text after it.
fn split_source(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix("[:")?;
    let (hex, text) = rest.split_once("] ")?;
    Some((u32::from_str_radix(hex, 16).ok()?, text))
}

/// The handle that logged `text` exactly.
fn source_of(lines: &[&str], text: &str, all: &str) -> u32 {
    lines
        .iter()
        .filter_map(|l| split_source(l))
        .find(|(_, t)| *t == text)
        .map(|(h, _)| h)
        .unwrap_or_else(|| panic!("no line {text:?}\nlog:\n{all}"))
}

#[test]
fn c_services_talk_through_the_skynet_h_abi() {
    let dir = scratch_dir("echo");
    for m in MODULES {
        compile_module(&dir, m);
    }
    let config = write_config(&dir, "echo_driver");
    let output = run_node(&dir, &config);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();

    // The driver's verdicts: all passed, none failed, every check ran.
    let fails: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("CSERVICE FAIL"))
        .collect();
    assert!(fails.is_empty(), "failed checks: {fails:?}\n{all}");
    let driver = source_of(&lines, "CSERVICE DONE passed=19 failed=0", &all);
    let echo_text = lines
        .iter()
        .filter_map(|l| split_source(l))
        .find_map(|(h, t)| {
            (h == driver)
                .then_some(t)?
                .strip_prefix("CSERVICE PASS launch echo_c :")
        })
        .unwrap_or_else(|| panic!("no launch verdict\n{all}"));
    let echo = u32::from_str_radix(echo_text, 16).expect("echo_c's handle");
    assert_ne!(echo, driver);
    let d = |text: &str| format!("[:{driver:08x}] {text}");
    let e = |text: &str| format!("[:{echo:08x}] {text}");

    // Launch, init's formatted skynet_error lines, then the echo rounds in
    // the order the driver runs them; the session numbers come from
    // PTYPE_TAG_ALLOCSESSION (1, 2, ...) except the explicit 77.
    let wide = "w".repeat(300);
    let mut wanted = vec![
        e("echo_c init args=[args] int=42 hex=0x2a str=ab    | float=  3.14 pct=100%"),
        e(&format!("echo_c wide {wide} end")),
        e("LAUNCH echo_c args"),
        d(&format!("CSERVICE PASS launch echo_c :{echo:08X}")),
        d("LAUNCH echo_driver "),
        d("CSERVICE PASS copy session=1 sz=16"),
        d("CSERVICE PASS dontcopy session=2 sz=20"),
        d("CSERVICE PASS sendname notice session=0 sz=21"),
        d("CSERVICE PASS sendname .echo_c session=3 sz=22"),
        d("CSERVICE PASS sendname :hex session=77 sz=19"),
        d("CSERVICE PASS keep session=4 sz=16"),
        d("CSERVICE PASS release session=5 sz=7"),
    ];
    assert_lines_in_order(&lines, &wanted, &all);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&d("CSERVICE PASS info session=6 sz="))),
        "no info verdict\n{all}"
    );

    // The faults: a module missing from cpath, one without NAME_init and an
    // init that fails leave the node running (the echo after them works).
    let failed = source_of(&lines, "echo_c: init refuses the argument [fail]", &all);
    let f = |text: &str| format!("[:{failed:08x}] {text}");
    wanted = vec![
        d("CSERVICE PASS launch nosuch returned NULL"),
        d("CSERVICE PASS launch noinit returned NULL"),
        f("echo_c: init refuses the argument [fail]"),
        f("error: launch echo_c FAILED"),
        f("echo_c release args=[fail] kept=0 answered=0"),
        d("CSERVICE PASS launch echo_c fail returned NULL"),
        d("CSERVICE PASS send to a missing service returned -1"),
        d("CSERVICE PASS dontcopy send to a missing service returned -1"),
        d("CSERVICE PASS queryname .nosuchname is 0"),
        d("CSERVICE PASS echo after faults session=7 sz=21"),
    ];
    assert_lines_in_order(&lines, &wanted, &all);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("LAUNCH nosuch") || l.contains("LAUNCH noinit")),
        "a broken module was launched\n{all}"
    );
    assert!(
        stderr.contains(&format!(
            "try open nosuch failed : {}/nosuch.so: cannot open shared object file: No such file or directory",
            dir.display()
        )),
        "no dlopen error for nosuch\n{all}"
    );
    // A module without NAME_init opens fine; the reference refuses it silently.
    assert!(!stderr.contains("try open noinit"), "{all}");

    // A second instance: the name is taken, SIGNAL reaches NAME_signal, KILL
    // releases it at once, and the first keeps its name.
    let second = source_of(&lines, "LAUNCH echo_c second", &all);
    let s = |text: &str| format!("[:{second:08x}] {text}");
    wanted = vec![
        s("echo_c: the name .echo_c is taken"),
        s("LAUNCH echo_c second"),
        d(&format!("CSERVICE PASS launch echo_c second :{second:08x}")),
        s("echo_c signal 7"),
        d(&format!("KILL :{second:x}")),
        s("echo_c release args=[second] kept=0 answered=0"),
        d("CSERVICE PASS name .echo_c kept"),
        d("CSERVICE PASS echo after kill session=8 sz=19"),
        d("CSERVICE DONE passed=19 failed=0"),
    ];
    assert_lines_in_order(&lines, &wanted, &all);

    // skynet_debug_memory writes its info to stderr.
    assert!(stderr.contains("] echo_c debug memory"), "{all}");
    // ABORT ends the node normally.
    assert_eq!(output.status.code(), Some(0), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bootstrap_module_missing_from_cpath_stops_the_node() {
    let dir = scratch_dir("missing");
    let config = write_config(&dir, "nosuch");
    let output = run_node(&dir, &config);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "try open nosuch failed : {}/nosuch.so: cannot open shared object file",
            dir.display()
        )),
        "{all}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l == "[:00000000] Bootstrap error : nosuch"),
        "{all}"
    );
    assert_eq!(output.status.code(), Some(1), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bootstrap_module_without_init_stops_the_node() {
    let dir = scratch_dir("noinit");
    compile_module(&dir, "noinit");
    let config = write_config(&dir, "noinit");
    let output = run_node(&dir, &config);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("try open noinit"), "{all}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "[:00000000] Bootstrap error : noinit"),
        "{all}"
    );
    assert_eq!(output.status.code(), Some(1), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

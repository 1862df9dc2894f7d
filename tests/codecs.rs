//! The codec libraries on a real node: `test/codecs/test_codecs.lua` (start
//! service) and `codecs_peer.lua` use `skynet.crypt`, `md5`, `bson`, `sproto`
//! and `sprotoloader` from snlua services, across services. The start service
//! logs `CODECS <case> PASS|FAIL: ...` and `CODECS DONE <passed> <failed>`,
//! then aborts the node; this test reads the log.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Bound for the node run, only to stop a hung node (it aborts itself).
const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

const CASES: &[&str] = &[
    "crypt",
    "md5",
    "bson",
    "login handshake",
    "sproto rpc across services",
    "bson across services",
];

#[test]
fn codecs_work_in_services() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let r = repo.display();
    let dir = std::env::temp_dir().join(format!("skynet-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            r#"-- written by tests/codecs.rs
thread = 2
harbor = 0
bootstrap = "snlua bootstrap"
start = "test_codecs"
luaservice = "{r}/service/?.lua;{r}/test/codecs/?.lua"
lualoader = "{r}/lualib/loader.lua"
lua_path = "{r}/lualib/?.lua;{r}/lualib/?/init.lua"
lua_cpath = "{r}/luaclib/?.so"
"#
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start skynet");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send(());
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let timed_out = rx.recv_timeout(SAFETY_TIMEOUT).is_err();
    if timed_out {
        let _ = child.kill();
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!timed_out, "node hung\n{report}");
    for case in CASES {
        assert!(
            stdout.contains(&format!("CODECS {case} PASS")),
            "case {case} did not pass\n{report}"
        );
    }
    assert!(
        stdout.contains(&format!("CODECS DONE {} 0", CASES.len())),
        "{report}"
    );
}

//! Lua C modules built for Lua 5.4 load through `lua_cpath`: Debian's
//! `lua-cjson` and `lua-lpeg` (installed by `.ci/run`) are required and
//! used inside services of a real node (test/cmodules/). Stands for the
//! reference's C module loading through `package.cpath`, which works
//! because the binary exports the Lua C API to modules it dlopens.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const SAFETY_TIMEOUT: Duration = Duration::from_secs(60);

/// The folder holding Debian's Lua 5.4 C modules (`/usr/lib/<triplet>/lua/5.4`).
fn debian_lua_cmodule_dir() -> PathBuf {
    let lib = Path::new("/usr/lib");
    let entries = std::fs::read_dir(lib).expect("read /usr/lib");
    for e in entries.flatten() {
        let dir = e.path().join("lua/5.4");
        if dir.join("cjson.so").exists() && dir.join("lpeg.so").exists() {
            return dir;
        }
    }
    panic!(
        "lua-cjson and lua-lpeg for Lua 5.4 are not installed (apt-get install lua-cjson lua-lpeg)"
    );
}

#[test]
fn cjson_and_lpeg_load_through_lua_cpath() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cmodules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "thread = 2\nharbor = 0\nstart = \"cmodules\"\n\
             luaservice = \"{r}/service/?.lua;{r}/test/cmodules/?.lua\"\n\
             lualoader = \"{r}/lualib/loader.lua\"\n\
             lua_path = \"{r}/lualib/?.lua;{r}/lualib/?/init.lua\"\n\
             lua_cpath = \"{c}/?.so\"\n",
            r = root.display(),
            c = debian_lua_cmodule_dir().display()
        ),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start skynet");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if rx.recv_timeout(SAFETY_TIMEOUT).is_err() {
            // SAFETY: killing the node this test started, which hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait for skynet");
    let _ = tx.send(());
    let _ = watchdog.join();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{log}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("CMODULES DONE"), "{log}");
    assert!(!log.contains("CMODULE FAIL"), "{log}");
    for case in [
        "require-cjson",
        "cjson-roundtrip",
        "cjson-error",
        "require-lpeg",
        "lpeg-match",
        "cjson-other-service",
    ] {
        assert!(
            log.contains(&format!("CMODULE PASS {case} ")),
            "{case} missing:\n{log}"
        );
    }
}

//! `daemon` mode, the log file and SIGHUP, through the real binary. Stands
//! for the reference's `skynet_daemon.c` (pid file, detaching, refusing a
//! second instance), `service_logger.c` with a file (the time-stamped line
//! format, reopening on PTYPE_SYSTEM) and the SIGHUP handling of
//! `skynet_start.c`.
//!
//! The node detaches, so the test watches files: it waits (polling, with a
//! generous deadline as a safety net, never a timing assertion) for the pid
//! file and for lines in the log, renames the log as a rotation tool would,
//! sends SIGHUP and waits for the logger to create the file again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

fn scratch_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Polls `check` until it gives a value or the deadline passes.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills the daemon when the test ends, however it ends.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: sending SIGKILL to the daemon this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// A time stamp of the logger's file format: `dd/mm/yy HH:MM:SS.cc `.
fn has_time_stamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 21
        && b[2] == b'/'
        && b[5] == b'/'
        && b[8] == b' '
        && b[11] == b':'
        && b[14] == b':'
        && b[17] == b'.'
        && b[20] == b' '
        && [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

#[test]
fn daemon_pidfile_log_file_and_sighup_reopen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch_dir();
    let pidfile = dir.join("skynet.pid");
    let logfile = dir.join("skynet.log");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "thread = 2\nharbor = 0\nstart = \"daemon_probe\"\n\
             daemon = \"{pid}\"\nlogger = \"{log}\"\n\
             luaservice = \"{r}/service/?.lua;{r}/test/daemon/?.lua\"\n\
             lualoader = \"{r}/lualib/loader.lua\"\n\
             lua_path = \"{r}/lualib/?.lua;{r}/lualib/?/init.lua\"\n",
            pid = pidfile.display(),
            log = logfile.display(),
            r = root.display()
        ),
    )
    .expect("write the config");

    // The parent returns at once; the detached child carries on.
    let status = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .status()
        .expect("start skynet");
    assert!(status.success(), "the launching process failed: {status}");
    let pid: i32 = wait_for("the pid file", || read(&pidfile).trim().parse().ok());
    let _guard = Daemon(pid);
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(
        unsafe { libc::kill(pid, 0) },
        0,
        "daemon {pid} is not running"
    );

    // Lines go to the file, each with the logger's time stamp.
    let first = wait_for("the probe in the log", || {
        let text = read(&logfile);
        text.lines()
            .find(|l| l.ends_with("probe started"))
            .map(str::to_string)
    });
    assert!(has_time_stamp(&first), "no time stamp: {first:?}");
    assert!(first.contains("] probe started"), "{first:?}");
    assert!(first[21..].starts_with("[:0000000"), "{first:?}");

    // A second node with the same pid file refuses to start.
    let second = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("start a second skynet");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("Skynet is already running, pid = {pid}.")),
        "{err}"
    );

    // Rotate: rename the log, SIGHUP, and the logger opens a new file.
    let rotated = dir.join("skynet.log.1");
    std::fs::rename(&logfile, &rotated).expect("rotate the log");
    // SAFETY: sending SIGHUP to the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let reopened = wait_for("a tick in the reopened log", || {
        read(&logfile)
            .lines()
            .find(|l| l.contains("probe tick"))
            .map(str::to_string)
    });
    assert!(has_time_stamp(&reopened), "{reopened:?}");
    assert!(read(&rotated).contains("probe started"));
}

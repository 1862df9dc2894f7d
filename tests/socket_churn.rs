//! Bad and abandoned connections do not hurt a node: 10,000 TCP connections
//! opened and dropped against an echo server on `skynet.socket`, with
//! garbage bytes, half-closes and peers that vanish in the middle of a
//! large write, while a control connection keeps being served. The node's
//! descriptor count returns to where it was (no descriptor leak) and its
//! resident memory stays bounded; both figures are printed (run with
//! `--nocapture`). Stands for the reference's socket_server.c close paths.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);
const CONNECTIONS: usize = 10_000;
/// Connections open at once (the server listens with a backlog of 1024).
const BATCH: usize = 25;

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Node {
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?}"),
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Makes `close` reset the connection (SO_LINGER 0): a peer that vanishes
/// leaves no TIME_WAIT behind, so 10,000 connections do not run into the
/// loopback's port reuse (a SYN meeting an old TIME_WAIT waits a second).
fn abort_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn echo_round(s: &mut TcpStream, text: &[u8]) {
    s.write_all(text).expect("write to the node");
    let mut got = vec![0u8; text.len()];
    s.read_exact(&mut got).expect("read the echo");
    assert_eq!(got, text);
}

/// Waits (polling, with a deadline as a safety net) until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ten_thousand_connections_dropped_leave_no_trace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("churn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "thread = 2\nharbor = 0\nstart = \"churn_server\"\n\
             luaservice = \"{r}/service/?.lua;{r}/test/socket/?.lua\"\n\
             lualoader = \"{r}/lualib/loader.lua\"\n\
             lua_path = \"{r}/lualib/?.lua;{r}/lualib/?/init.lua\"\n",
            r = root.display()
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
        .arg(&config)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start skynet");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let node = Node { child, lines: rx };
    let pid = node.child.id();
    let line = node.wait_for("CHURN PORT ");
    let port: u16 = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));

    let mut control = TcpStream::connect(("127.0.0.1", port)).expect("control connection");
    control
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    echo_round(&mut control, b"before\n");
    let fds_before = fd_count(pid);
    let rss_before = rss_kb(pid);

    let garbage: Vec<u8> = (0..=255u8).cycle().take(1500).collect();
    let big = vec![0xabu8; 64 * 1024];
    for batch in 0..CONNECTIONS / BATCH {
        let mut open: Vec<TcpStream> = (0..BATCH)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        for (i, s) in open.iter_mut().enumerate() {
            abort_on_close(s);
            match (batch * BATCH + i) % 10 {
                // a peer that vanishes in the middle of a large write
                0 => {
                    let _ = s.write_all(&big);
                }
                // half-close: the node sees EOF while it may still write
                1 => {
                    let _ = s.write_all(&garbage);
                    let _ = s.shutdown(Shutdown::Write);
                }
                // garbage, then gone
                _ => {
                    let _ = s.write_all(&garbage[..(i * 37) % garbage.len() + 1]);
                }
            }
        }
        drop(open);
        if batch % 80 == 79 {
            // the node keeps serving everyone else meanwhile
            echo_round(&mut control, format!("batch {batch}\n").as_bytes());
        }
    }

    wait_until("the node to close the dropped connections", || {
        fd_count(pid) <= fds_before
    });
    echo_round(&mut control, b"after\n");
    let fds_after = fd_count(pid);
    let rss_after = rss_kb(pid);
    println!(
        "socket churn: {CONNECTIONS} connections; node fds before {fds_before} after {fds_after}; RSS before {rss_before} kB after {rss_after} kB"
    );
    assert!(
        fds_after <= fds_before,
        "descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "resident memory grew from {rss_before} kB to {rss_after} kB"
    );
}

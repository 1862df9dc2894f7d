//! Sockets on a real node: boots the `skynet` binary with a test service
//! of `test/socket/` and talks to it over 127.0.0.1 from this test.
//!
//! * `echo_server.lua` uses `skynet.socketdriver` directly: a line-echo
//!   TCP server on port 0 (its port is read from the log), a UDP socket
//!   that greets this test and echoes datagrams, `netstat` through
//!   `driver.info`, close after pending output, and `abort`.
//! * `gate_watchdog.lua` drives two native `gate` services (2- and 4-byte
//!   headers) as their watchdog and agent: split and coalesced frames,
//!   agent forwarding, watchdog `data` lines, `kick`, and the 16M limit.
//! * `csocket.c` is a C service compiled here against `include/`: an echo
//!   server on the `skynet_socket.h` API, booted without Lua.
//!
//! Every wait is for an event (a log line, bytes, end of stream) with a
//! generous safety timeout; nothing sleeps to synchronise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// Safety net against a hung node or socket (not a timing assertion).
const SAFETY: Duration = Duration::from_secs(60);

struct Node {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Node {
    /// Starts a node whose `start` service is `test/socket/<start>.lua`,
    /// with `extra` config lines.
    fn start(name: &str, start: &str, extra: &str) -> Node {
        let rd = repo().display().to_string();
        Node::boot(
            name,
            &format!(
                r#"bootstrap = "snlua bootstrap"
start = "{start}"
luaservice = "{rd}/service/?.lua;{rd}/test/socket/?.lua"
lualoader = "{rd}/lualib/loader.lua"
lua_path = "{rd}/lualib/?.lua;{rd}/lualib/?/init.lua"
lua_cpath = "{rd}/luaclib/?.so"
cpath = "{rd}/cservice/?.so"
{extra}"#
            ),
        )
    }

    /// Starts a node with `settings` after the common ones.
    fn boot(name: &str, settings: &str) -> Node {
        let r = repo();
        let config = scratch_dir(name).join("config");
        let text = format!("-- written by tests/socket.rs\nthread = 2\nharbor = 0\n{settings}\n");
        std::fs::write(&config, text).expect("write the config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
            .arg(&config)
            .current_dir(&r)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the skynet binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first log line (from now on) containing `needle`.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; the node logged:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the node to exit on its own (it is killed after the
    /// safety timeout); returns its status and the rest of its log.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("the node did not exit:\n{}", self.seen.join("\n"));
                }
            }
        }
        let status = self.child.wait().expect("wait for the node");
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("socket-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
    s.set_read_timeout(Some(SAFETY)).unwrap();
    s
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("read a line");
    line
}

/// A port that was free a moment ago.
fn word_after<'a>(line: &'a str, marker: &str) -> &'a str {
    let at = line.find(marker).expect("marker in line") + marker.len();
    line[at..].split_whitespace().next().unwrap_or("")
}

#[test]
fn socketdriver_tcp_and_udp_echo() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(SAFETY)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let mut node = Node::start(
        "echo",
        "echo_server",
        &format!("udp_peer_port = {udp_port}"),
    );
    let line = node.wait_for("ECHO TCP PORT ");
    let port: u16 = word_after(&line, "ECHO TCP PORT ").parse().unwrap();
    assert!(line.ends_with(" 127.0.0.1"), "{line}");

    // UDP: the service greets us, then echoes to whoever sent.
    let mut buf = [0u8; 256];
    let (n, service) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello from skynet");
    udp.send_to(b"ping udp", service).unwrap();
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"ping udp"[..], service));
    node.wait_for(&format!("ECHO UDP FROM 127.0.0.1 {udp_port} ping udp"));

    // TCP: lines split across writes come back whole and in order.
    let mut c1 = connect(port);
    let accept = node.wait_for("ECHO ACCEPT ");
    let local = c1.local_addr().unwrap();
    assert!(
        accept.ends_with(&format!(" 127.0.0.1:{}", local.port())),
        "{accept}"
    );
    c1.write_all(b"hello\nwor").unwrap();
    c1.write_all(b"ld\n").unwrap();
    let mut r1 = BufReader::new(c1.try_clone().unwrap());
    assert_eq!(read_line(&mut r1), "echo:hello\n");
    assert_eq!(read_line(&mut r1), "echo:world\n");
    // A long line spans many reads and blocks of the read buffer.
    let long: String = (0..200_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    c1.write_all(long.as_bytes()).unwrap();
    c1.write_all(b"\n").unwrap();
    assert_eq!(read_line(&mut r1), format!("echo:{long}\n"));

    let mut c2 = connect(port);
    node.wait_for("ECHO ACCEPT ");
    c2.write_all(b"netstat\n").unwrap();
    let mut r2 = BufReader::new(c2.try_clone().unwrap());
    assert_eq!(read_line(&mut r2), "netstat LISTEN=1 TCP=2 UDP=1\n");

    // `close` from the service: the reply is written, then end of stream.
    c1.write_all(b"close\n").unwrap();
    assert_eq!(read_line(&mut r1), "closing\n");
    assert_eq!(read_line(&mut r1), "", "end of stream after close");
    node.wait_for("ECHO CLOSE ");
    // The peer closes: the service sees CLOSE and closes its side.
    c2.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut r2), "");
    node.wait_for("ECHO CLOSE ");

    let mut c3 = connect(port);
    c3.write_all(b"abort\n").unwrap();
    let (status, log) = node.finish();
    assert!(status.success(), "exit status {status}");
    assert!(log.iter().any(|l| l.contains("ECHO ABORT")), "{log:?}");
    assert!(
        !log.iter().any(|l| l.contains("ECHO ERROR")),
        "no socket errors: {log:?}"
    );
}

fn frame_s(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn frame_l(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn read_frame(s: &mut TcpStream, header: usize) -> Vec<u8> {
    let mut head = vec![0u8; header];
    s.read_exact(&mut head).expect("read a frame header");
    let len = head.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("read a frame body");
    body
}

fn at_eof(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn native_gate_frames_and_forwards() {
    let port_s = free_port();
    let port_l = free_port();
    let mut node = Node::start(
        "gate",
        "gate_watchdog",
        &format!("gate_port_s = \"{port_s}\"\ngate_port_l = \"{port_l}\""),
    );
    node.wait_for(&format!("WATCHDOG GATE S {port_s}"));
    node.wait_for(&format!("WATCHDOG GATE L {port_l}"));

    // A: forwarded to the agent. One frame split in two writes, then two
    // frames in one write.
    let mut a = connect(port_s);
    let open = node.wait_for("WATCHDOG OPEN S ");
    let a_port = a.local_addr().unwrap().port();
    assert!(open.ends_with(&format!(" 127.0.0.1:{a_port}:0")), "{open}");
    let fd_a: i32 = word_after(&open, "WATCHDOG OPEN S ").parse().unwrap();
    let first = frame_s(b"split");
    a.write_all(&first[..1]).unwrap();
    a.write_all(&first[1..]).unwrap();
    let mut both = frame_s(b"one");
    both.extend(frame_s(b"two"));
    a.write_all(&both).unwrap();
    assert_eq!(read_frame(&mut a, 2), b"echo:split");
    assert_eq!(read_frame(&mut a, 2), b"echo:one");
    assert_eq!(read_frame(&mut a, 2), b"echo:two");
    node.wait_for(&format!("WATCHDOG AGENT {fd_a} two"));

    // B: no agent, so the watchdog gets `data` lines.
    let mut b = connect(port_s);
    let open = node.wait_for("WATCHDOG OPEN S ");
    let fd_b: i32 = word_after(&open, "WATCHDOG OPEN S ").parse().unwrap();
    assert_ne!(fd_a, fd_b);
    b.write_all(&frame_s(b"hello gate")).unwrap();
    assert_eq!(read_frame(&mut b, 2), b"data:hello gate");
    node.wait_for(&format!("WATCHDOG DATA {fd_b} hello gate"));
    b.write_all(&frame_s(b"kick")).unwrap();
    assert!(at_eof(&mut b), "kicked connection ends");
    node.wait_for(&format!("WATCHDOG CLOSE {fd_b}"));

    // C: 4-byte headers; an empty packet is skipped; a 16M header closes.
    let mut c = connect(port_l);
    let open = node.wait_for("WATCHDOG OPEN L ");
    let fd_c: i32 = word_after(&open, "WATCHDOG OPEN L ").parse().unwrap();
    let mut stream = frame_l(b"");
    stream.extend(frame_l(b"long header"));
    c.write_all(&stream).unwrap();
    assert_eq!(read_frame(&mut c, 4), b"data:long header");
    c.write_all(&[1, 0, 0, 0]).unwrap();
    assert!(at_eof(&mut c), "oversize packet closes the connection");
    node.wait_for("Recv socket message > 16M");
    node.wait_for(&format!("WATCHDOG CLOSE {fd_c}"));

    a.write_all(&frame_s(b"abort")).unwrap();
    let (status, log) = node.finish();
    assert!(status.success(), "exit status {status}");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("WATCHDOG AGENT {fd_a} abort"))),
        "{log:?}"
    );
}

#[test]
fn c_service_on_the_socket_api() {
    let dir = scratch_dir("csocket");
    let output = Command::new("cc")
        .current_dir(repo())
        .args(["-shared", "-fPIC", "-Wall", "-I", "include", "-o"])
        .arg(dir.join("csocket.so"))
        .arg("test/socket/csocket.c")
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut node = Node::boot(
        "csocket",
        &format!(
            "bootstrap = \"csocket\"\ncpath = \"{}/?.so\"",
            dir.display()
        ),
    );
    let line = node.wait_for("CSOCKET PORT ");
    let port: u16 = word_after(&line, "CSOCKET PORT ").parse().unwrap();
    let mut c = connect(port);
    let accept = node.wait_for("CSOCKET ACCEPT ");
    let local = c.local_addr().unwrap().port();
    assert!(accept.ends_with(&format!(" 127.0.0.1:{local}")), "{accept}");
    c.write_all(b"echo me").unwrap();
    let mut buf = [0u8; 7];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"echo me");
    c.write_all(b"info").unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_line(&mut r), "info LISTEN=1 TCP=1 mine=1\n");

    let mut d = connect(port);
    node.wait_for("CSOCKET ACCEPT ");
    d.shutdown(Shutdown::Write).unwrap();
    node.wait_for("CSOCKET CLOSE ");
    assert!(at_eof(&mut d));

    c.write_all(b"quit").unwrap();
    let (status, log) = node.finish();
    assert!(status.success(), "exit status {status}");
    assert!(!log.iter().any(|l| l.contains("FAILED")), "{log:?}");
}

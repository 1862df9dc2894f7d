//! Web example suite: boots skynet-rs nodes (`harbor = 0`) whose start service is one of the
//! web examples in `examples/` — `simpleweb` (HTTP server with 20 agents) and
//! `simplewebsocket` (WebSocket echo server with its own echo client) — each on a free port
//! given through the config (`simpleweb_port`, `simplewebsocket_port`), and talks to them over
//! 127.0.0.1 from here with hand-written HTTP requests and WebSocket frames, checking the
//! answers byte for byte and the lines the examples print or log.
//!
//! Stands for running the reference's examples/simpleweb.lua and examples/simplewebsocket.lua
//! by hand; the reference has no automated check for them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;
use support::*;

/// How long any single wait may take before the test gives up. Only a guard against a hung
/// node; nothing here depends on timing.
const GIVE_UP_AFTER: Duration = Duration::from_secs(180);

/// A TCP port nobody listened on a moment ago.
fn unused_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe listener");
    probe.local_addr().expect("probe address").port()
}

/// What the node printed so far, and whether its stdout has ended.
#[derive(Default)]
struct Output {
    lines: Vec<String>,
    closed: bool,
}

/// A node running one example as its start service; killed when dropped.
struct ExampleNode {
    child: Child,
    output: Arc<(Mutex<Output>, Condvar)>,
    dir: PathBuf,
}

static BOOTED: AtomicUsize = AtomicUsize::new(0);

fn write_config(dir: &Path, example: &str, port_key: &str, port: u16) -> PathBuf {
    let root = repo();
    let r = root.display();
    let text = format!(
        "-- written by tests/web_examples.rs\n\
         thread = 4\n\
         harbor = 0\n\
         bootstrap = \"snlua bootstrap\"\n\
         start = \"{example}\"\n\
         luaservice = \"{r}/service/?.lua;{r}/examples/?.lua\"\n\
         lualoader = \"{r}/lualib/loader.lua\"\n\
         lua_path = \"{r}/lualib/?.lua;{r}/lualib/?/init.lua\"\n\
         lua_cpath = \"{r}/luaclib/?.so\"\n\
         cpath = \"{r}/cservice/?.so\"\n\
         {port_key} = \"{port}\"\n"
    );
    let path = dir.join("config");
    std::fs::write(&path, text).expect("write the node's config");
    path
}

impl ExampleNode {
    /// Starts `example` with `port_key = port` in its config.
    fn boot(example: &str, port_key: &str, port: u16) -> ExampleNode {
        let dir = std::env::temp_dir().join(format!(
            "skynet-web-{}-{}-{example}",
            std::process::id(),
            BOOTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("make the node's directory");
        let config = write_config(&dir, example, port_key, port);
        let mut child = Command::new(env!("CARGO_BIN_EXE_skynet"))
            .arg(&config)
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the skynet binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let (lock, changed) = &*sink;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut out) = lock.lock() {
                    out.lines.push(line);
                }
                changed.notify_all();
            }
            if let Ok(mut out) = lock.lock() {
                out.closed = true;
            }
            changed.notify_all();
        });
        ExampleNode { child, output, dir }
    }

    fn transcript(&self) -> String {
        let (lock, _) = &*self.output;
        lock.lock().map(|o| o.lines.join("\n")).unwrap_or_default()
    }

    /// Waits until some line printed so far (or later) satisfies `pick` and returns what it
    /// picked. Panics with the node's output when the node ended or the guard ran out first.
    fn await_line<T>(&self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + GIVE_UP_AFTER;
        let (lock, changed) = &*self.output;
        let mut out = lock.lock().expect("output lock");
        let mut checked = 0;
        loop {
            for line in &out.lines[checked..] {
                if let Some(found) = pick(line) {
                    return found;
                }
            }
            checked = out.lines.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if out.closed || left.is_zero() {
                let all = out.lines.join("\n");
                drop(out);
                panic!("never saw {what}; node output:\n{all}");
            }
            out = changed.wait_timeout(out, left).expect("output lock").0;
        }
    }

    /// Waits for a line equal to `text`.
    fn await_exact(&self, text: &str) {
        self.await_line(&format!("{text:?}"), |l| (l == text).then_some(()));
    }
}

impl Drop for ExampleNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The text a logger line carries after its `[:xxxxxxxx] ` prefix.
fn log_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("[:")?;
    let close = rest.find("] ")?;
    Some(&rest[close + 2..])
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the example");
    stream
        .set_read_timeout(Some(GIVE_UP_AFTER))
        .expect("set a read guard");
    stream
}

// ---------------------------------------------------------------------------------------------
// simpleweb

/// A parsed HTTP answer.
struct Answer {
    status_line: String,
    fields: Vec<String>,
    body: String,
}

/// Sends `request` on a fresh connection and reads the answer until the agent closes it.
/// Returns the raw bytes and the local address used (as the example logs it).
fn exchange(port: u16, request: &str) -> (String, String) {
    let mut stream = connect(port);
    let local = stream.local_addr().expect("local address").to_string();
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("read the answer until the close");
    (String::from_utf8_lossy(&raw).into_owned(), local)
}

fn parse_answer(raw: &str) -> Answer {
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        panic!("no end of header in {raw:?}");
    };
    let mut head_lines = head.split("\r\n");
    let status_line = head_lines.next().unwrap_or_default().to_owned();
    Answer {
        status_line,
        fields: head_lines.map(str::to_owned).collect(),
        body: body.to_owned(),
    }
}

/// The page simpleweb answers a good request with, taken apart. Query and header lines come
/// in Lua table order, so they are sets.
#[derive(Debug, PartialEq)]
struct Page {
    /// `host: ...` (when the request had one) and `path: ...`
    intro: Vec<String>,
    queries: BTreeSet<String>,
    header: BTreeSet<String>,
    body: String,
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

/// Checks the status and length of a 200 answer and splits its page.
fn read_page(answer: &Answer) -> Page {
    assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        answer.fields,
        vec![format!("content-length: {}", answer.body.len())],
        "the only field is the body's length"
    );
    let Some((top, body)) = answer.body.split_once("\n-----body----\n") else {
        panic!("no body marker in {:?}", answer.body);
    };
    let Some((intro, header)) = top.split_once("\n-----header----") else {
        panic!("no header marker in {top:?}");
    };
    let (queries, intro): (Vec<&str>, Vec<&str>) =
        intro.split('\n').partition(|l| l.starts_with("query: "));
    Page {
        intro: intro.into_iter().map(str::to_owned).collect(),
        queries: queries.into_iter().map(str::to_owned).collect(),
        header: header
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        body: body.to_owned(),
    }
}

#[test]
fn simpleweb_answers_requests() {
    let port = unused_port();
    let node = ExampleNode::boot("simpleweb", "simpleweb_port", port);
    let listening = format!("Listen web port {port} protocol:http");
    node.await_line(&listening, |l| {
        (log_text(l) == Some(listening.as_str())).then_some(())
    });

    // a GET with an escaped path and a query
    let (raw, local) = exchange(
        port,
        "GET /hello%20web/x+y?a=1&b=two+words HTTP/1.1\r\nHost: example.test\r\n\
         X-Probe: yes\r\n\r\n",
    );
    assert_eq!(
        read_page(&parse_answer(&raw)),
        Page {
            intro: vec!["host: example.test".into(), "path: /hello web/x y".into()],
            queries: set(&["query: a= 1", "query: b= two words"]),
            header: set(&["host = example.test", "x-probe = yes"]),
            body: String::new(),
        },
        "{raw:?}"
    );
    // the listener logged the hand-over of this very connection
    let handed = format!("{local} connected, pass it to agent :");
    node.await_line(&handed, |l| {
        log_text(l).filter(|t| t.starts_with(&handed)).map(|_| ())
    });

    // a POST with a length-delimited body, no Host field
    let (raw, _) = exchange(
        port,
        "POST /form HTTP/1.0\r\nContent-Length: 9\r\n\r\nping=pong",
    );
    assert_eq!(
        read_page(&parse_answer(&raw)),
        Page {
            intro: vec!["path: /form".into()],
            queries: BTreeSet::new(),
            header: set(&["content-length = 9"]),
            body: "ping=pong".into(),
        },
        "{raw:?}"
    );

    // a chunked body is joined
    let (raw, _) = exchange(
        port,
        "POST /chunks HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
    );
    assert_eq!(
        read_page(&parse_answer(&raw)),
        Page {
            intro: vec!["host: h".into(), "path: /chunks".into()],
            queries: BTreeSet::new(),
            header: set(&["host = h", "transfer-encoding = chunked"]),
            body: "abcdefg".into(),
        },
        "{raw:?}"
    );

    // refusals: a body over the 8192-byte limit, an unknown HTTP version
    let (raw, _) = exchange(
        port,
        "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 9000\r\n\r\n",
    );
    assert_eq!(raw, "HTTP/1.1 413 Request Entity Too Large\r\n\r\n");
    let (raw, _) = exchange(port, "GET / HTTP/2.0\r\n\r\n");
    assert_eq!(raw, "HTTP/1.1 505 HTTP Version not supported\r\n\r\n");

    // a connection closed before a whole request came: the agent logs it
    drop(connect(port));
    node.await_line("socket closed", |l| {
        (log_text(l) == Some("socket closed")).then_some(())
    });
}

// ---------------------------------------------------------------------------------------------
// simplewebsocket

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A hand-driven WebSocket client.
struct WsPeer {
    stream: TcpStream,
}

impl WsPeer {
    /// Sends one final frame, masked as a client must.
    fn send(&mut self, opcode: u8, payload: &[u8]) {
        let key = [0x5a, 0x17, 0xc3, 0x01];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.stream.write_all(&frame).expect("send a frame");
    }

    fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream
            .read_exact(&mut buf)
            .expect("read from the example");
        buf
    }

    /// Reads one frame from the server: (first byte, payload). Server frames are not masked.
    fn recv(&mut self) -> (u8, Vec<u8>) {
        let head = self.read_exact(2);
        assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let b = self.read_exact(2);
                u16::from_be_bytes([b[0], b[1]]) as usize
            }
            127 => {
                let b = self.read_exact(8);
                let mut n = [0; 8];
                n.copy_from_slice(&b);
                usize::try_from(u64::from_be_bytes(n)).expect("a frame length that fits")
            }
            n => n as usize,
        };
        let payload = self.read_exact(len);
        (head[0], payload)
    }
}

/// Opens a connection and upgrades it with the sample key of RFC 6455 section 1.3; returns the
/// peer, the response header and the local address.
fn upgrade(port: u16, path: &str) -> (WsPeer, String, String) {
    let mut stream = connect(port);
    let local = stream.local_addr().expect("local address").to_string();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Probe: web-examples\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the upgrade request");
    // byte by byte: nothing after the blank line may be taken from the stream here
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        stream
            .read_exact(&mut byte)
            .expect("read the upgrade answer");
        head.push(byte[0]);
        assert!(head.len() < 4096, "answer header too long: {head:?}");
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    (WsPeer { stream }, head, local)
}

#[test]
fn simplewebsocket_echoes_and_runs_its_client() {
    let port = unused_port();
    let node = ExampleNode::boot("simplewebsocket", "simplewebsocket_port", port);
    let listening = format!("Listen websocket port {port} protocol:ws");
    node.await_line(&listening, |l| {
        (log_text(l) == Some(listening.as_str())).then_some(())
    });

    let (mut ws, head, local) = upgrade(port, "/probe?x=1");
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head:?}"
    );
    assert!(
        head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head:?}"
    );

    // the listener prints the socket id it hands over; the agent's lines carry it
    let accepted = "accept client socket_id: ";
    let addr_tail = format!(" addr:{local}");
    let id = node.await_line(&format!("{accepted}..{addr_tail}"), |l| {
        l.strip_prefix(accepted)?
            .strip_suffix(&addr_tail)
            .map(str::to_owned)
    });
    node.await_exact(&format!("ws connect from: {id}"));
    node.await_exact(&format!(
        "ws handshake from: {id}\turl\t/probe?x=1\taddr:\t{local}"
    ));
    node.await_exact("x-probe\tweb-examples");

    // messages come back as text frames, whatever they were sent as
    ws.send(TEXT, b"hello example");
    assert_eq!(ws.recv(), (0x80 | TEXT, b"hello example".to_vec()));
    ws.send(BINARY, &[0, 1, 2, 255]);
    assert_eq!(ws.recv(), (0x80 | TEXT, vec![0, 1, 2, 255]));
    let long: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    ws.send(TEXT, &long);
    assert_eq!(ws.recv(), (0x80 | TEXT, long));

    // a ping is answered with the same payload and printed
    ws.send(PING, b"are you there");
    assert_eq!(ws.recv(), (0x80 | PONG, b"are you there".to_vec()));
    node.await_exact(&format!("ws ping from: {id}"));

    // close with a code and a reason: answered with an empty close frame
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    ws.send(CLOSE, &close);
    assert_eq!(ws.recv(), (0x80 | CLOSE, Vec::new()));
    node.await_exact(&format!("ws close from: {id}\t1000\tdone"));

    // the example's own client got its greeting echoed
    node.await_exact(">: hello world!");
    node.await_exact("<: hello world!");
    let log = node.transcript();
    assert!(
        !log.contains("ws error from:"),
        "no connection failed:\n{log}"
    );
}

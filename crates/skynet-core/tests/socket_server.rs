//! The socket layer on its own: a `SocketServer` whose socket thread runs
//! in the test, with a sink that collects the events, driven against
//! std sockets on 127.0.0.1 (and ::1 when the machine has IPv6). Checks
//! the events and their numbers, the bytes on the wire, priorities, the
//! write-buffer warning, close semantics, UDP addressing (IPv4 and IPv6),
//! the socket options the layer sets (keepalive, nodelay) and `info`.
//! Stands for the behaviour of the reference's `socket_server.c`.

use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use skynet_core::socket::message::EventData;
use skynet_core::socket::{
    EventSink, SendData, SocketEvent, SocketInfoKind, SocketServer, SKYNET_SOCKET_TYPE_ACCEPT,
    SKYNET_SOCKET_TYPE_CLOSE, SKYNET_SOCKET_TYPE_CONNECT, SKYNET_SOCKET_TYPE_DATA,
    SKYNET_SOCKET_TYPE_ERROR, SKYNET_SOCKET_TYPE_UDP, SKYNET_SOCKET_TYPE_WARNING,
};
use skynet_core::Payload;

/// Safety net for a hung socket thread (not a timing assertion).
const SAFETY: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Seen {
    Event {
        owner: u32,
        kind: i32,
        id: i32,
        ud: i32,
        data: Vec<u8>,
    },
    Log(String),
}

struct ChannelSink(Sender<Seen>);

impl EventSink for ChannelSink {
    fn deliver(&mut self, owner: u32, event: SocketEvent) {
        let data = match event.data {
            EventData::Nothing => Vec::new(),
            EventData::Text(t) => t.into_bytes(),
            EventData::Buffer(p) => p.as_slice().to_vec(),
        };
        let _ = self.0.send(Seen::Event {
            owner,
            kind: event.kind,
            id: event.id,
            ud: event.ud,
            data,
        });
    }

    fn log(&mut self, text: String) {
        let _ = self.0.send(Seen::Log(text));
    }
}

struct Harness {
    server: Arc<SocketServer>,
    rx: Receiver<Seen>,
    thread: Option<JoinHandle<()>>,
}

/// One received event.
#[derive(Debug, Clone, PartialEq)]
struct Ev {
    owner: u32,
    kind: i32,
    id: i32,
    ud: i32,
    data: Vec<u8>,
}

impl Harness {
    fn new() -> Harness {
        let server = Arc::new(SocketServer::new());
        let (tx, rx) = mpsc::channel();
        let s = server.clone();
        let thread = thread::spawn(move || s.run(&mut ChannelSink(tx)));
        Harness {
            server,
            rx,
            thread: Some(thread),
        }
    }

    fn next_seen(&self) -> Seen {
        self.rx
            .recv_timeout(SAFETY)
            .expect("the socket thread reported nothing")
    }

    /// The next event (log lines are skipped).
    fn event(&self) -> Ev {
        loop {
            if let Seen::Event {
                owner,
                kind,
                id,
                ud,
                data,
            } = self.next_seen()
            {
                return Ev {
                    owner,
                    kind,
                    id,
                    ud,
                    data,
                };
            }
        }
    }

    /// The next log line (events in between are returned too).
    fn log_line(&self) -> (String, Vec<Ev>) {
        let mut skipped = Vec::new();
        loop {
            match self.next_seen() {
                Seen::Log(t) => return (t, skipped),
                Seen::Event {
                    owner,
                    kind,
                    id,
                    ud,
                    data,
                } => skipped.push(Ev {
                    owner,
                    kind,
                    id,
                    ud,
                    data,
                }),
            }
        }
    }

    /// Collects DATA of `id` until `n` bytes arrived.
    fn read_data(&self, id: i32, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            let e = self.event();
            assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_DATA, id), "{e:?}");
            assert_eq!(e.ud as usize, e.data.len());
            got.extend_from_slice(&e.data);
        }
        got
    }

    /// A listener on 127.0.0.1, started; returns (id, port).
    fn listen_started(&self, owner: u32, host: &str) -> (i32, u16) {
        let id = self.server.listen(owner, host, 0, 32).expect("listen");
        let e = self.event();
        assert_eq!(
            (e.owner, e.kind, e.id),
            (owner, SKYNET_SOCKET_TYPE_CONNECT, id)
        );
        assert!(e.ud > 0, "listen reports its port: {e:?}");
        let port = e.ud as u16;
        self.server.start(owner, id);
        let e = self.event();
        assert_eq!(e.kind, SKYNET_SOCKET_TYPE_CONNECT);
        assert_eq!(e.data, b"start");
        (id, port)
    }

    /// Waits until every request queued so far has been carried out: a
    /// start of a socket that does not exist answers with an ERROR.
    fn sync(&self) -> Vec<Ev> {
        let mut before = Vec::new();
        self.server.start(999, 0x3fff_fff0);
        loop {
            let e = self.event();
            if e.owner == 999 && e.kind == SKYNET_SOCKET_TYPE_ERROR && e.id == 0x3fff_fff0 {
                assert_eq!(e.data, b"invalid socket");
                return before;
            }
            before.push(e);
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.exit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_pair(h: &Harness, owner: u32, host: &str) -> (i32, TcpStream) {
    let (listener, port) = h.listen_started(owner, host);
    let client = TcpStream::connect((host, port)).expect("connect to the listener");
    let e = h.event();
    assert_eq!(
        (e.kind, e.id, e.owner),
        (SKYNET_SOCKET_TYPE_ACCEPT, listener, owner)
    );
    let peer = String::from_utf8(e.data.clone()).unwrap();
    let local = client.local_addr().unwrap();
    assert_eq!(peer, format!("{}:{}", local.ip(), local.port()));
    let conn = e.ud;
    h.server.start(owner + 1, conn);
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.data.as_slice()),
        (owner + 1, SKYNET_SOCKET_TYPE_CONNECT, conn, &b"start"[..])
    );
    (conn, client)
}

#[test]
fn tcp_listen_accept_echo_and_peer_close() {
    let h = Harness::new();
    let (conn, mut client) = accept_pair(&h, 10, "127.0.0.1");
    client.write_all(b"hello socket").unwrap();
    assert_eq!(h.read_data(conn, 12), b"hello socket");
    assert!(h.server.send(conn, SendData::Borrowed(b"borrowed ")));
    assert!(h
        .server
        .send(conn, SendData::Owned(Payload::from("owned "))));
    assert!(h.server.send_low(conn, SendData::Borrowed(b"low")));
    let mut buf = vec![0u8; 18];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(buf, b"borrowed owned low");

    // The peer closes: one CLOSE; closing it ourselves then says nothing.
    client.shutdown(Shutdown::Write).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id),
        (11, SKYNET_SOCKET_TYPE_CLOSE, conn)
    );
    // Writing after the peer's FIN still works (half close).
    assert!(h.server.send(conn, SendData::Borrowed(b"bye")));
    let mut buf = vec![0u8; 3];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(buf, b"bye");
    h.server.close(11, conn);
    assert!(h.sync().is_empty(), "no second CLOSE");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(!h.server.send(conn, SendData::Borrowed(b"gone")));
}

#[test]
fn connect_reports_the_peer_or_the_error() {
    let h = Harness::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let id = h.server.connect(5, "127.0.0.1", port as i32).unwrap();
    // Data sent before the connection is up waits for it.
    assert!(h.server.send(id, SendData::Borrowed(b"early")));
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.data.as_slice()),
        (5, SKYNET_SOCKET_TYPE_CONNECT, id, &b"127.0.0.1"[..])
    );
    let (mut peer, _) = listener.accept().unwrap();
    let mut buf = [0u8; 5];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"early");
    peer.write_all(b"pong").unwrap();
    assert_eq!(h.read_data(id, 4), b"pong");
    h.server.close(5, id);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, id));
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // Nothing listens on a port we just freed.
    drop(listener);
    let id = h.server.connect(5, "127.0.0.1", port as i32).unwrap();
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_ERROR, id));
    assert_eq!(e.data, b"Connection refused");
    // The failed socket is gone.
    assert!(!h.server.send(id, SendData::Borrowed(b"x")));
}

#[test]
fn ids_are_distinct_and_unknown_ids_are_refused() {
    let h = Harness::new();
    let a = h.server.listen(1, "127.0.0.1", 0, 8).unwrap();
    let b = h.server.listen(1, "127.0.0.1", 0, 8).unwrap();
    assert_ne!(a, b);
    let _ = h.sync();
    // Writing to a listener is refused with the reference's log line.
    assert!(h.server.send(a, SendData::Borrowed(b"x")));
    let (line, _) = h.log_line();
    assert_eq!(
        line,
        format!("socket-server error: write to listen fd {a}.")
    );
    h.server.close(1, a);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, a));
    // A closed id stays invalid.
    h.server.start(7, a);
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.data.as_slice()),
        (7, SKYNET_SOCKET_TYPE_ERROR, a, &b"invalid socket"[..])
    );
}

/// Fills the write buffer against a peer that does not read, then checks
/// the warnings, the priority order of what is queued and the drain.
#[test]
fn write_buffer_warnings_and_priorities() {
    let h = Harness::new();
    let (conn, mut client) = accept_pair(&h, 20, "127.0.0.1");
    let block: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let blocks = 64; // 16 MiB, far more than the kernel buffers take
    for _ in 0..blocks {
        assert!(h.server.send(conn, SendData::Borrowed(&block)));
    }
    assert!(h.server.send_low(conn, SendData::Borrowed(b"L1")));
    assert!(h.server.send(conn, SendData::Borrowed(b"H1")));
    assert!(h.server.send_low(conn, SendData::Borrowed(b"L2")));
    assert!(h.server.send(conn, SendData::Borrowed(b"H2")));

    let info = h.server.info();
    let me = info
        .iter()
        .find(|i| i.id == conn)
        .expect("the connection in info");
    assert_eq!(me.kind, SocketInfoKind::Tcp);
    assert!(me.wbuffer > 0 && me.writing);
    assert_eq!(me.owner, 21);

    let total = blocks * block.len() + 8;
    let reader = thread::spawn(move || {
        let mut all = vec![0u8; total];
        client.read_exact(&mut all).unwrap();
        (client, all)
    });
    let mut warnings = Vec::new();
    loop {
        let e = h.event();
        assert_eq!(
            (e.kind, e.id, e.owner),
            (SKYNET_SOCKET_TYPE_WARNING, conn, 21)
        );
        if e.ud == 0 {
            break;
        }
        warnings.push(e.ud);
    }
    let (_client, all) = reader.join().unwrap();
    assert!(!warnings.is_empty(), "at least one warning");
    assert!(warnings[0] >= 1024, "first warning at 1 MiB: {warnings:?}");
    for (i, w) in warnings.iter().enumerate() {
        assert!(*w >= 1024 << i, "thresholds double: {warnings:?}");
    }
    for (i, chunk) in all[..blocks * block.len()].chunks(block.len()).enumerate() {
        assert!(chunk == &block[..], "block {i} intact");
    }
    assert_eq!(&all[blocks * block.len()..], b"H1H2L1L2");
}

#[test]
fn close_flushes_and_shutdown_drops() {
    let h = Harness::new();
    let (conn, mut client) = accept_pair(&h, 30, "127.0.0.1");
    let big = vec![7u8; 8 * 1024 * 1024];
    assert!(h.server.send(conn, SendData::Borrowed(&big)));
    h.server.close(31, conn);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, conn));
    // Closing refuses more high-priority data.
    assert!(!h.server.send(conn, SendData::Borrowed(b"late")));
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), big.len(), "everything pending was written first");

    let (conn, mut client) = accept_pair(&h, 40, "127.0.0.1");
    let big = vec![7u8; 32 * 1024 * 1024];
    assert!(h.server.send(conn, SendData::Borrowed(&big)));
    h.server.shutdown(41, conn);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, conn));
    let mut all = Vec::new();
    let _ = client.read_to_end(&mut all);
    assert!(all.len() < big.len(), "shutdown drops what is pending");
}

#[test]
fn udp_dial_receive_reply_and_mismatch() {
    let h = Harness::new();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_port = peer.local_addr().unwrap().port();
    let id = h
        .server
        .udp_dial(50, "127.0.0.1", peer_port as i32)
        .unwrap();
    let _ = h.sync();
    assert!(h.server.send(id, SendData::Borrowed(b"ping")));
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    peer.send_to(b"pong!", from).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.ud),
        (50, SKYNET_SOCKET_TYPE_UDP, id, 5)
    );
    assert_eq!(&e.data[..5], b"pong!");
    let address = e.data[5..].to_vec();
    let mut expect = vec![1u8];
    expect.extend_from_slice(&peer_port.to_be_bytes());
    expect.extend_from_slice(&[127, 0, 0, 1]);
    assert_eq!(address, expect, "sender address in the reference's layout");
    assert!(h
        .server
        .udp_send(id, &address, SendData::Borrowed(b"reply")));
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply");
    assert!(!h
        .server
        .udp_send(id, &[9, 9, 9], SendData::Borrowed(b"bad")));

    let info = h.server.info();
    let me = info.iter().find(|i| i.id == id).unwrap();
    assert_eq!(me.kind, SocketInfoKind::Udp);
    assert_eq!(me.name, format!("127.0.0.1:{peer_port}"));
    assert_eq!((me.read, me.write), (5, 9));

    // An IPv6 destination for an IPv4 socket.
    h.server.udp_connect(id, "::1", 9).unwrap();
    let e = h.event();
    assert_eq!(
        (e.kind, e.id, e.data.as_slice()),
        (SKYNET_SOCKET_TYPE_ERROR, id, &b"protocol mismatch"[..])
    );
    // An unbound socket learns its peer from udp_connect.
    let plain = h.server.udp(51, None, 0).unwrap();
    let _ = h.sync();
    assert!(!h.server.send(plain, SendData::Borrowed(b"nowhere")));
    let (line, _) = h.log_line();
    assert_eq!(
        line,
        format!("socket-server : set udp ({plain}) error: address first.")
    );
    h.server
        .udp_connect(plain, "127.0.0.1", peer_port as i32)
        .unwrap();
    assert!(h.server.send(plain, SendData::Borrowed(b"second")));
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
}

#[test]
fn bind_pause_and_info() {
    let h = Harness::new();
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two descriptors that this test then owns.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: both are fresh descriptors owned by this test.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let id = h.server.bind(60, ours.as_raw_fd()).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.data.as_slice()),
        (60, SKYNET_SOCKET_TYPE_CONNECT, id, &b"binding"[..])
    );
    let mut other = std::os::unix::net::UnixStream::from(theirs);
    other.write_all(b"via bind").unwrap();
    assert_eq!(h.read_data(id, 8), b"via bind");
    h.server.pause(60, id);
    let _ = h.sync();
    let info = h.server.info();
    let me = info.iter().find(|i| i.id == id).unwrap();
    assert_eq!(me.kind, SocketInfoKind::Bind);
    assert!(!me.reading);
    assert_eq!(me.read, 8);
    h.server.start(60, id);
    let _ = h.sync();
    assert!(h.server.info().iter().any(|i| i.id == id && i.reading));
    h.server.close(60, id);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, id));
    // A bound descriptor is not ours to close.
    // SAFETY: fcntl on a descriptor number; no memory arguments.
    assert!(unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_GETFD) } >= 0);

    let (listener, port) = h.listen_started(70, "127.0.0.1");
    let info = h.server.info();
    let l = info.iter().find(|i| i.id == listener).unwrap();
    assert_eq!(l.kind, SocketInfoKind::Listen);
    assert_eq!(l.name, format!("127.0.0.1:{port}"));
    assert_eq!(l.read, 0);
    let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let e = h.event();
    assert_eq!(e.kind, SKYNET_SOCKET_TYPE_ACCEPT);
    let l = h
        .server
        .info()
        .into_iter()
        .find(|i| i.id == listener)
        .unwrap();
    assert_eq!(l.read, 1, "accept count");
}

#[test]
fn ipv6_listener() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let h = Harness::new();
    let id = h.server.listen(80, "::1", 0, 8).unwrap();
    let e = h.event();
    assert_eq!(
        (e.kind, e.id, e.data.as_slice()),
        (SKYNET_SOCKET_TYPE_CONNECT, id, &b"::1"[..])
    );
    let port = e.ud as u16;
    h.server.start(80, id);
    let _ = h.event();
    let mut client = TcpStream::connect(("::1", port)).unwrap();
    let e = h.event();
    assert_eq!(e.kind, SKYNET_SOCKET_TYPE_ACCEPT);
    assert!(String::from_utf8_lossy(&e.data).starts_with("::1:"));
    let conn = e.ud;
    h.server.start(80, conn);
    let _ = h.event();
    client.write_all(b"six").unwrap();
    assert_eq!(h.read_data(conn, 3), b"six");
}

/// The descriptor of this process whose socket has `local` as its own
/// address and `peer` as its peer's, found through `/proc/self/fd`: how a
/// test reaches a socket the layer opened, without an accessor in the
/// layer.
fn socket_fd(local: SocketAddr, peer: SocketAddr) -> Option<RawFd> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket {
            continue;
        }
        // SAFETY: the stream only lends std's getsockname/getpeername to a
        // descriptor number; ManuallyDrop keeps it from closing a
        // descriptor it does not own.
        let probe = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        if probe.local_addr().ok() == Some(local) && probe.peer_addr().ok() == Some(peer) {
            return Some(fd);
        }
    }
    None
}

/// An integer socket option of `fd`.
fn int_option(fd: RawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut value as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    value
}

fn keepalive(fd: RawFd) -> libc::c_int {
    int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)
}

fn nodelay(fd: RawFd) -> libc::c_int {
    int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)
}

/// Accepted and connected sockets get `SO_KEEPALIVE`; `nodelay` turns
/// `TCP_NODELAY` on, and only when asked.
#[test]
fn keepalive_and_nodelay_on_accepted_and_connected_sockets() {
    let h = Harness::new();
    let (conn, mut client) = accept_pair(&h, 90, "127.0.0.1");
    let fd = socket_fd(client.peer_addr().unwrap(), client.local_addr().unwrap())
        .expect("the accepted socket's descriptor");
    // A plain std socket has neither option: the checks can tell.
    assert_eq!(keepalive(client.as_raw_fd()), 0);
    assert_eq!(nodelay(client.as_raw_fd()), 0);
    assert_eq!(keepalive(fd), 1, "accepted sockets get keepalive");
    assert_eq!(nodelay(fd), 0, "nagle stays on until asked");
    h.server.nodelay(conn);
    assert!(h.sync().is_empty(), "nodelay reports nothing");
    assert_eq!(nodelay(fd), 1);
    // The connection still carries data both ways.
    assert!(h.server.send(conn, SendData::Borrowed(b"quick")));
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"quick");
    client.write_all(b"back").unwrap();
    assert_eq!(h.read_data(conn, 4), b"back");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let id = h.server.connect(92, "127.0.0.1", port as i32).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id),
        (92, SKYNET_SOCKET_TYPE_CONNECT, id)
    );
    let (peer, _) = listener.accept().unwrap();
    let fd = socket_fd(peer.peer_addr().unwrap(), peer.local_addr().unwrap())
        .expect("the connected socket's descriptor");
    assert_eq!(keepalive(fd), 1, "connected sockets get keepalive");
    assert_eq!(nodelay(fd), 0);
    h.server.nodelay(id);
    assert!(h.sync().is_empty());
    assert_eq!(nodelay(fd), 1);

    // Unknown and closed ids are ignored without a word.
    h.server.close(92, id);
    let e = h.event();
    assert_eq!((e.kind, e.id), (SKYNET_SOCKET_TYPE_CLOSE, id));
    h.server.nodelay(id);
    h.server.nodelay(0x3fff_fff1);
    assert!(h.sync().is_empty());
}

/// UDP on ::1: a dialled socket sends and receives, sender addresses
/// come in the reference's 19-byte IPv6 layout (protocol 2, port in
/// network order, 16 address bytes) and are accepted back by
/// `udp_send`; a socket bound on ::1 sends by address; an IPv4
/// destination is a protocol mismatch.
#[test]
fn udp_over_ipv6() {
    let peer = match UdpSocket::bind("[::1]:0") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("no IPv6 loopback here ({e}); skipped");
            return;
        }
    };
    let peer_port = peer.local_addr().unwrap().port();
    let h = Harness::new();
    let id = h.server.udp_dial(100, "::1", peer_port as i32).unwrap();
    let _ = h.sync();
    assert!(h.server.send(id, SendData::Borrowed(b"ping6")));
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping6");
    assert_eq!(from.ip(), std::net::Ipv6Addr::LOCALHOST);
    peer.send_to(b"pong6!", from).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.ud),
        (100, SKYNET_SOCKET_TYPE_UDP, id, 6)
    );
    assert_eq!(&e.data[..6], b"pong6!");
    let address = e.data[6..].to_vec();
    let mut expect = vec![2u8];
    expect.extend_from_slice(&peer_port.to_be_bytes());
    expect.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    assert_eq!(address.len(), 19);
    assert_eq!(address, expect, "sender address in the reference's layout");
    assert!(h
        .server
        .udp_send(id, &address, SendData::Borrowed(b"reply6")));
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply6");

    let info = h.server.info();
    let me = info.iter().find(|i| i.id == id).unwrap();
    assert_eq!(me.kind, SocketInfoKind::Udp);
    assert_eq!(me.name, format!("::1:{peer_port}"), "no brackets");
    assert_eq!((me.read, me.write), (6, 11));

    // An IPv4 destination for an IPv6 socket.
    h.server.udp_connect(id, "127.0.0.1", 9).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.data.as_slice()),
        (100, SKYNET_SOCKET_TYPE_ERROR, id, &b"protocol mismatch"[..])
    );

    // A socket bound on ::1 sends by address and hears the answer.
    let bound = h.server.udp(101, Some("::1"), 0).unwrap();
    let _ = h.sync();
    assert!(h
        .server
        .udp_send(bound, &address, SendData::Borrowed(b"from bound")));
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from bound");
    assert_eq!(from.ip(), std::net::Ipv6Addr::LOCALHOST);
    peer.send_to(b"ok", from).unwrap();
    let e = h.event();
    assert_eq!(
        (e.owner, e.kind, e.id, e.ud),
        (101, SKYNET_SOCKET_TYPE_UDP, bound, 2)
    );
    assert_eq!(&e.data[..2], b"ok");
    assert_eq!(
        &e.data[2..],
        &address[..],
        "the same peer, the same address"
    );
}

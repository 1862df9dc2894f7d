//! The socket layer out of descriptors. This file is its own test process
//! because it lowers the soft `RLIMIT_NOFILE` and fills every descriptor.
//! A listener whose accept fails with EMFILE gives up its spare
//! descriptor, takes the waiting connection and closes it, takes the
//! spare back and reports an ERROR with the `strerror` text; the listener
//! keeps working once descriptors are free again. Stands for
//! `report_accept` and `reserve_fd` of the reference's `socket_server.c`.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use skynet_core::socket::message::EventData;
use skynet_core::socket::{
    EventSink, SocketEvent, SocketInfoKind, SocketServer, SKYNET_SOCKET_TYPE_ACCEPT,
    SKYNET_SOCKET_TYPE_CONNECT, SKYNET_SOCKET_TYPE_DATA, SKYNET_SOCKET_TYPE_ERROR,
};

/// Safety net for a hung socket thread or peer (not a timing assertion).
const SAFETY: Duration = Duration::from_secs(60);

/// One event: (owner, kind, id, ud, data).
type Ev = (u32, i32, i32, i32, Vec<u8>);

struct ChannelSink(Sender<Ev>);

impl EventSink for ChannelSink {
    fn deliver(&mut self, owner: u32, event: SocketEvent) {
        let data = match event.data {
            EventData::Nothing => Vec::new(),
            EventData::Text(t) => t.into_bytes(),
            EventData::Buffer(p) => p.as_slice().to_vec(),
        };
        let _ = self.0.send((owner, event.kind, event.id, event.ud, data));
    }

    // Log lines are not looked at here.
    fn log(&mut self, _text: String) {}
}

struct Harness {
    server: Arc<SocketServer>,
    rx: Receiver<Ev>,
    thread: Option<JoinHandle<()>>,
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

    fn event(&self) -> Ev {
        self.rx
            .recv_timeout(SAFETY)
            .expect("the socket thread reported nothing")
    }

    /// Everything reported until the requests queued so far are done (a
    /// start of a socket that does not exist answers with an ERROR).
    fn sync(&self) -> Vec<Ev> {
        let mut before = Vec::new();
        self.server.start(999, 0x3fff_fff0);
        loop {
            let e = self.event();
            if (e.0, e.1, e.2) == (999, SKYNET_SOCKET_TYPE_ERROR, 0x3fff_fff0) {
                return before;
            }
            before.push(e);
        }
    }

    fn accepted_count(&self, listener: i32) -> u64 {
        let info = self.server.info();
        let l = info
            .iter()
            .find(|i| i.id == listener)
            .expect("the listener in info");
        assert_eq!(l.kind, SocketInfoKind::Listen);
        l.read
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

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile(lim: &libc::rlimit) {
    // SAFETY: setrlimit reads one rlimit from `lim`.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Opens /dev/null until the process has no descriptor left.
fn fill_descriptors() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}

#[test]
fn accept_without_descriptors_sheds_the_connection_and_recovers() {
    let h = Harness::new();
    let listener = h.server.listen(7, "127.0.0.1", 0, 32).expect("listen");
    let (owner, kind, id, port, _) = h.event();
    assert_eq!((owner, kind, id), (7, SKYNET_SOCKET_TYPE_CONNECT, listener));
    let port = port as u16;
    h.server.start(7, listener);
    let e = h.event();
    assert_eq!(
        (e.1, e.4.as_slice()),
        (SKYNET_SOCKET_TYPE_CONNECT, &b"start"[..])
    );

    // A low soft limit just above what is open, so filling is quick.
    let saved = nofile();
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let low = (highest + 32).min(saved.rlim_max);
    set_nofile(&libc::rlimit {
        rlim_cur: low,
        rlim_max: saved.rlim_max,
    });

    // Twice: the second round only sheds the connection if the spare
    // descriptor was taken back after the first.
    for round in 0..2 {
        let mut held = fill_descriptors();
        assert!(!held.is_empty(), "round {round}: something to fill");
        // One descriptor for the client; none is left for the accept.
        drop(held.pop());
        let mut victim = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (owner, kind, id, ud, data) = h.event();
        assert_eq!(
            (owner, kind, id, ud),
            (7, SKYNET_SOCKET_TYPE_ERROR, listener, 0),
            "round {round}"
        );
        assert_eq!(String::from_utf8_lossy(&data), "Too many open files");
        // The pending connection was taken and closed.
        victim.set_read_timeout(Some(SAFETY)).unwrap();
        let mut buf = [0u8; 8];
        match victim.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("round {round}: the shed connection reads {other:?}"),
        }
        // One ERROR only: the listener does not spin on the failure.
        assert!(h.sync().is_empty(), "round {round}: nothing more");
        assert_eq!(h.accepted_count(listener), 0);
        drop(victim);
        drop(held);
    }

    // Descriptors free again: the same listener accepts.
    set_nofile(&saved);
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (owner, kind, id, conn, peer) = h.event();
    assert_eq!((owner, kind, id), (7, SKYNET_SOCKET_TYPE_ACCEPT, listener));
    let local = client.local_addr().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&peer),
        format!("{}:{}", local.ip(), local.port())
    );
    h.server.start(8, conn);
    let e = h.event();
    assert_eq!((e.0, e.1, e.2), (8, SKYNET_SOCKET_TYPE_CONNECT, conn));
    client.write_all(b"alive").unwrap();
    let (owner, kind, id, ud, data) = h.event();
    assert_eq!(
        (owner, kind, id, ud, data.as_slice()),
        (8, SKYNET_SOCKET_TYPE_DATA, conn, 5, &b"alive"[..])
    );
    assert_eq!(h.accepted_count(listener), 1);
}

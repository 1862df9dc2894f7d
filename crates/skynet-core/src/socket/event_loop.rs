//! The socket thread: carries out the queued control requests, waits for
//! readiness and turns it into socket events for the owning services
//! (accepts, connects, reads, writes of pending output, errors, closes).
//! Stands for `socket_server_poll`, `ctrl_cmd` and the request handlers of
//! `socket_server.c`, and for `skynet_socket_poll`.
//!
//! Each readiness report names a socket id; a report whose id no longer
//! owns its slot (closed or replaced meanwhile) is ignored. Every handler
//! works under the socket's slot lock and returns the event to send, which
//! is delivered after the lock is released.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::handle::Handle;
use crate::payload::Payload;
use crate::socket::address::{ip_text, name_text, UdpAddress, PROTOCOL_TCP, PROTOCOL_UDP};
use crate::socket::message::SocketEvent;
use crate::socket::poll::{event_buffer, Readiness, WAKE_TOKEN};
use crate::socket::server::{Request, SocketServer};
use crate::socket::slot::{live, SocketData, SocketFd, SocketState, MIN_READ_BUFFER};
use crate::socket::sys::{self, error_text, strerror};
use crate::socket::write_buffer::{Flush, WriteOutcome};

/// Readiness reports taken per wait.
const MAX_EVENT: usize = 64;
/// Largest datagram.
const MAX_UDP_PACKAGE: usize = 65535;
/// Largest single read of a stream socket.
const MAX_READ_BUFFER: usize = 1 << 30;

/// Where the socket thread sends what it produces.
pub trait EventSink {
    /// Hands `event` to service `owner`.
    fn deliver(&mut self, owner: Handle, event: SocketEvent);
    /// Logs a line as the socket layer (source 0).
    fn log(&mut self, text: String);
}

/// An event for a service.
type Emit = Option<(Handle, SocketEvent)>;

/// What reading a socket gave.
enum Read {
    /// A full buffer: there may be more, read again.
    More(Handle, SocketEvent),
    /// Done for this report; `ended` when the socket closed or failed
    /// (then its write readiness is not looked at).
    Done { emit: Emit, ended: bool },
}

/// What the socket thread keeps between waits.
struct LoopState {
    events: Vec<libc::epoll_event>,
    ready: Vec<Readiness>,
    udp: Vec<u8>,
    /// A spare descriptor, given up to shed a connection on EMFILE.
    spare: Option<OwnedFd>,
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Reads at most `size` bytes into a fresh C-allocated buffer.
fn read_chunk(fd: i32, size: usize) -> io::Result<Payload> {
    // SAFETY: malloc gives `size` bytes (or null) that we own.
    let ptr = unsafe { libc::malloc(size) } as *mut u8;
    if ptr.is_null() {
        crate::alloc_failure(size);
    }
    // SAFETY: ptr is valid for `size` bytes of writes.
    match unsafe { sys::read_raw(fd, ptr, size) } {
        // SAFETY: the first n bytes are initialised by the read; the
        // buffer came from the C allocator and is owned by nobody else.
        Ok(n) => Ok(unsafe { Payload::from_raw(ptr, n) }),
        Err(e) => {
            // SAFETY: ptr came from malloc above and was not handed on.
            unsafe { libc::free(ptr.cast()) };
            Err(e)
        }
    }
}

impl SocketServer {
    /// The socket thread's loop; returns after [`SocketServer::exit`],
    /// having closed every socket.
    pub fn run(&self, sink: &mut dyn EventSink) {
        let Some(poller) = self.poller.as_ref() else {
            return;
        };
        let mut st = LoopState {
            events: event_buffer(MAX_EVENT),
            ready: Vec::with_capacity(MAX_EVENT),
            udp: vec![0u8; MAX_UDP_PACKAGE],
            spare: sys::dup(1),
        };
        loop {
            if !self.apply_requests(sink) {
                return;
            }
            let mut ready = std::mem::take(&mut st.ready);
            if let Err(e) = poller.wait(&mut st.events, &mut ready, -1) {
                sink.log(format!("socket-server error: {}", error_text(&e)));
            }
            // Requests queued before this readiness was reported go first.
            // A service that hands a socket over (start with a new owner)
            // and then writes to it may get the peer's answer in the same
            // wake-up; applying the hand-over first delivers that answer to
            // the new owner instead of the one that let the socket go.
            if ready.iter().any(|r| r.token == WAKE_TOKEN) {
                poller.clear_wake();
            }
            if !self.apply_requests(sink) {
                return;
            }
            for r in ready.iter().copied() {
                if r.token != WAKE_TOKEN {
                    self.handle_ready(r, sink, &mut st);
                }
            }
            st.ready = ready;
        }
    }

    /// Carries out every queued request; false after `Exit` (every socket
    /// is closed then).
    fn apply_requests(&self, sink: &mut dyn EventSink) -> bool {
        for req in self.take_requests() {
            if matches!(req, Request::Exit) {
                self.close_all();
                return false;
            }
            self.handle_request(req, sink);
        }
        true
    }

    fn deliver(sink: &mut dyn EventSink, emit: Emit) {
        if let Some((owner, event)) = emit {
            sink.deliver(owner, event);
        }
    }

    fn handle_request(&self, req: Request, sink: &mut dyn EventSink) {
        let emit = match req {
            Request::Listen { id, fd } => self.open_listen(id, fd),
            Request::Connect { id, host, port } => self.open_connect(id, &host, port),
            Request::Bind { id, fd } => self.open_bind(id, fd),
            Request::Start { id, owner } => self.resume(id, owner),
            Request::Pause { id, owner } => self.pause_reading(id, owner),
            Request::Close { id, shutdown } => self.close_socket(id, shutdown),
            Request::Nodelay { id } => {
                if let Some(d) = live(&mut self.slots.get(id).lock(), id) {
                    if d.fd.is_some() {
                        sys::set_nodelay(d.raw_fd(), true);
                    }
                }
                None
            }
            Request::Udp { id, fd } => self.open_udp(id, fd),
            Request::Deliver { owner, event } => Some((owner, event)),
            Request::Log(text) => {
                sink.log(text);
                None
            }
            Request::Exit => None,
        };
        Self::deliver(sink, emit);
    }

    /// Gives a reserved socket its descriptor and registers it; on failure
    /// the slot is freed (an owned descriptor closed) and false returned.
    fn register(&self, d: &mut SocketData, fd: SocketFd, reading: bool) -> bool {
        let raw = fd.raw();
        d.fd = Some(fd);
        d.reading = reading;
        d.writing = !d.wb.is_empty();
        d.closing = false;
        d.read_size = MIN_READ_BUFFER;
        let added = match &self.poller {
            Some(p) => p.add(raw, d.id as u64, d.reading, d.writing).is_ok(),
            None => false,
        };
        if added {
            d.registered = true;
        } else {
            self.slots.release(d);
        }
        added
    }

    /// Unregisters and frees a socket (the reference's `force_close`).
    fn force_close(&self, d: &mut SocketData) {
        if d.registered {
            if let Some(p) = &self.poller {
                p.remove(d.raw_fd());
            }
        }
        self.slots.release(d);
    }

    fn close_all(&self) {
        for slot in self.slots.iter() {
            if slot.state() == SocketState::Invalid {
                continue;
            }
            let mut g = slot.lock();
            if let Some(d) = g.as_deref_mut() {
                if d.id >= 0 {
                    self.force_close(d);
                }
            }
        }
    }

    fn open_listen(&self, id: i32, fd: OwnedFd) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        let owner = d.owner;
        let raw = fd.as_raw_fd();
        if !self.register(d, SocketFd::Owned(fd), false) {
            return Some((
                owner,
                SocketEvent::error(id, "reach skynet socket number limit"),
            ));
        }
        slot.set_state(SocketState::PListen);
        match sys::local_addr(raw) {
            Ok(Some(addr)) => Some((
                owner,
                SocketEvent::connect(id, addr.port() as i32, ip_text(&addr)),
            )),
            Ok(None) => Some((owner, SocketEvent::connect(id, 0, "listen"))),
            Err(e) => Some((owner, SocketEvent::error(id, error_text(&e)))),
        }
    }

    fn open_connect(&self, id: i32, host: &str, port: i32) -> Emit {
        let slot = self.slots.get(id);
        let owner = live(&mut slot.lock(), id)?.owner;
        let fail = |text: String| -> Emit {
            if let Some(d) = live(&mut slot.lock(), id) {
                self.slots.release(d);
            }
            Some((owner, SocketEvent::error(id, text)))
        };
        let list = match sys::resolve(
            Some(host),
            Some(&port.to_string()),
            libc::AF_UNSPEC,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP,
        ) {
            Ok(l) => l,
            Err(text) => return fail(text),
        };
        let mut last_error = io::Error::from_raw_os_error(libc::EHOSTUNREACH);
        let mut opened = None;
        for ai in &list {
            let sock = match sys::socket(ai.family, ai.socktype, ai.protocol) {
                Ok(s) => s,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            sys::set_keepalive(sock.as_raw_fd());
            sys::set_nonblocking(sock.as_raw_fd());
            match sys::connect(sock.as_raw_fd(), &ai.addr) {
                Ok(done) => {
                    opened = Some((sock, done, ai.addr));
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let Some((sock, done, addr)) = opened else {
            return fail(error_text(&last_error));
        };
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        if !self.register(d, SocketFd::Owned(sock), true) {
            return Some((
                owner,
                SocketEvent::error(id, "reach skynet socket number limit"),
            ));
        }
        if done {
            slot.set_state(SocketState::Connected);
            return Some((owner, SocketEvent::connect(id, 0, ip_text(&addr))));
        }
        if self.enable_write(d, true).is_err() {
            self.force_close(d);
            return Some((owner, SocketEvent::error(id, "enable write failed")));
        }
        slot.set_state(SocketState::Connecting);
        None
    }

    fn open_bind(&self, id: i32, fd: i32) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        let owner = d.owner;
        if !self.register(d, SocketFd::Borrowed(fd), true) {
            return Some((
                owner,
                SocketEvent::error(id, "reach skynet socket number limit"),
            ));
        }
        sys::set_nonblocking(fd);
        slot.set_state(SocketState::Bind);
        Some((owner, SocketEvent::connect(id, 0, "binding")))
    }

    fn open_udp(&self, id: i32, fd: OwnedFd) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        if self.register(d, SocketFd::Owned(fd), true) {
            slot.set_state(SocketState::Connected);
        }
        None
    }

    /// `start`: begin reading (or accepting) and take the socket over.
    fn resume(&self, id: i32, owner: Handle) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let Some(d) = live(&mut g, id) else {
            return Some((owner, SocketEvent::error(id, "invalid socket")));
        };
        let state = slot.state();
        if state == SocketState::HalfCloseRead {
            // The close may be on its way to the old owner.
            return Some((owner, SocketEvent::error(id, "socket closed")));
        }
        if state == SocketState::Reserve {
            // Not set up yet: nothing to start, as in the reference.
            return None;
        }
        if self.enable_read(d, true).is_err() {
            return Some((owner, SocketEvent::error(id, "enable read failed")));
        }
        match state {
            SocketState::PAccept | SocketState::PListen => {
                slot.set_state(if state == SocketState::PAccept {
                    SocketState::Connected
                } else {
                    SocketState::Listen
                });
                d.owner = owner;
                Some((owner, SocketEvent::connect(id, 0, "start")))
            }
            SocketState::Connected => {
                d.owner = owner;
                Some((owner, SocketEvent::connect(id, 0, "transfer")))
            }
            _ => None,
        }
    }

    fn pause_reading(&self, id: i32, _owner: Handle) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        if slot.state() == SocketState::Reserve {
            return None;
        }
        if self.enable_read(d, false).is_err() {
            return Some((d.owner, SocketEvent::error(id, "enable read failed")));
        }
        None
    }

    /// Stops reading: the socket is half closed for input.
    fn close_read(&self, d: &mut SocketData) {
        self.slots.get(d.id).set_state(SocketState::HalfCloseRead);
        let _ = self.enable_read(d, false);
        if d.fd.is_some() {
            sys::shutdown(d.raw_fd(), libc::SHUT_RD);
        }
    }

    fn nothing_to_send(d: &SocketData, state: SocketState) -> bool {
        d.wb.is_empty() || state == SocketState::HalfCloseWrite
    }

    /// `close`/`shutdown` (the reference's `close_socket`). CLOSE is sent
    /// once: here, unless the peer closed first.
    fn close_socket(&self, id: i32, shutdown: bool) -> Emit {
        let slot = self.slots.get(id);
        let mut g = slot.lock();
        let d = live(&mut g, id)?;
        let state = slot.state();
        let owner = d.owner;
        let read_closed = state == SocketState::HalfCloseRead;
        if shutdown || Self::nothing_to_send(d, state) || state == SocketState::Reserve {
            self.force_close(d);
            return (!read_closed).then(|| (owner, SocketEvent::close(id)));
        }
        d.closing = true;
        if !read_closed {
            self.close_read(d);
            return Some((owner, SocketEvent::close(id)));
        }
        None
    }

    fn handle_ready(&self, r: Readiness, sink: &mut dyn EventSink, st: &mut LoopState) {
        let Ok(id) = i32::try_from(r.token) else {
            return;
        };
        let mut read = r.read;
        loop {
            let slot = self.slots.get(id);
            let mut g = slot.lock();
            let Some(d) = live(&mut g, id) else {
                return;
            };
            let state = slot.state();
            match state {
                SocketState::Connecting => {
                    let emit = self.report_connect(d);
                    drop(g);
                    Self::deliver(sink, emit);
                    return;
                }
                SocketState::Listen => {
                    let accepted = self.accept_one(d, st);
                    drop(g);
                    let emit = match accepted {
                        Accepted::Nothing => None,
                        Accepted::Failed(emit) => emit,
                        Accepted::Client {
                            listener,
                            owner,
                            fd,
                            peer,
                        } => self.add_accepted(listener, owner, fd, peer),
                    };
                    Self::deliver(sink, emit);
                    return;
                }
                SocketState::Invalid | SocketState::Reserve => return,
                _ => {}
            }
            if read {
                let outcome = if d.protocol == PROTOCOL_TCP {
                    self.read_stream(d, state)
                } else {
                    self.read_datagram(d, &mut st.udp)
                };
                drop(g);
                match outcome {
                    Read::More(owner, event) => {
                        sink.deliver(owner, event);
                        continue;
                    }
                    Read::Done { emit, ended } => {
                        Self::deliver(sink, emit);
                        if r.write && !ended {
                            read = false;
                            continue;
                        }
                        return;
                    }
                }
            }
            let emit = if r.write {
                self.flush_output(d, state)
            } else if r.error {
                let text = match sys::take_error(d.raw_fd()) {
                    Err(e) => error_text(&e),
                    Ok(0) => "Unknown error".to_string(),
                    Ok(n) => strerror(n),
                };
                Some((d.owner, SocketEvent::error(id, text)))
            } else if r.eof {
                let owner = d.owner;
                self.force_close(d);
                (state != SocketState::HalfCloseRead).then(|| (owner, SocketEvent::close(id)))
            } else {
                None
            };
            drop(g);
            Self::deliver(sink, emit);
            return;
        }
    }

    /// A connect finished, well or not.
    fn report_connect(&self, d: &mut SocketData) -> Emit {
        let id = d.id;
        let owner = d.owner;
        let error = match sys::take_error(d.raw_fd()) {
            Err(e) => Some(error_text(&e)),
            Ok(0) => None,
            Ok(n) => Some(strerror(n)),
        };
        if let Some(text) = error {
            self.force_close(d);
            return Some((owner, SocketEvent::error(id, text)));
        }
        self.slots.get(id).set_state(SocketState::Connected);
        if d.wb.is_empty() && self.enable_write(d, false).is_err() {
            self.force_close(d);
            return Some((owner, SocketEvent::error(id, "disable write failed")));
        }
        match sys::peer_addr(d.raw_fd()) {
            Ok(Some(addr)) => Some((owner, SocketEvent::connect(id, 0, ip_text(&addr)))),
            _ => Some((owner, SocketEvent::connect_bare(id))),
        }
    }

    fn accept_one(&self, d: &mut SocketData, st: &mut LoopState) -> Accepted {
        match sys::accept(d.raw_fd()) {
            Ok((fd, peer)) => Accepted::Client {
                listener: d.id,
                owner: d.owner,
                fd,
                peer,
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                let emit = Some((d.owner, SocketEvent::error(d.id, error_text(&e))));
                // Out of descriptors: give up the spare one to take the
                // connection and drop it, so the listener does not spin.
                if st.spare.take().is_some() {
                    drop(sys::accept(d.raw_fd()));
                    st.spare = sys::dup(1);
                }
                Accepted::Failed(emit)
            }
            Err(_) => Accepted::Nothing,
        }
    }

    fn add_accepted(
        &self,
        listener: i32,
        owner: Handle,
        fd: OwnedFd,
        peer: Option<std::net::SocketAddr>,
    ) -> Emit {
        let id = self.slots.reserve(owner, PROTOCOL_TCP)?;
        sys::set_keepalive(fd.as_raw_fd());
        sys::set_nonblocking(fd.as_raw_fd());
        {
            let slot = self.slots.get(id);
            let mut g = slot.lock();
            let d = live(&mut g, id)?;
            if !self.register(d, SocketFd::Owned(fd), false) {
                return None;
            }
            slot.set_state(SocketState::PAccept);
        }
        if let Some(l) = live(&mut self.slots.get(listener).lock(), listener) {
            self.stat_read(l, 1);
        }
        Some((
            owner,
            SocketEvent::accept(listener, id, peer.map(|a| name_text(&a))),
        ))
    }

    fn read_stream(&self, d: &mut SocketData, state: SocketState) -> Read {
        let id = d.id;
        let owner = d.owner;
        let size = d.read_size;
        let data = match read_chunk(d.raw_fd(), size) {
            Ok(p) => p,
            Err(e) if would_block(&e) => {
                return Read::Done {
                    emit: None,
                    ended: false,
                }
            }
            Err(e) => {
                return Read::Done {
                    emit: Some((owner, SocketEvent::error(id, error_text(&e)))),
                    ended: true,
                }
            }
        };
        if data.is_empty() {
            // End of input.
            if d.closing {
                if Self::nothing_to_send(d, state) {
                    self.force_close(d);
                }
                return Read::Done {
                    emit: None,
                    ended: false,
                };
            }
            if state == SocketState::HalfCloseRead {
                return Read::Done {
                    emit: None,
                    ended: false,
                };
            }
            if state == SocketState::HalfCloseWrite {
                self.force_close(d);
            } else {
                self.close_read(d);
            }
            return Read::Done {
                emit: Some((owner, SocketEvent::close(id))),
                ended: true,
            };
        }
        if state == SocketState::HalfCloseRead {
            // Input after we stopped reading is dropped.
            return Read::Done {
                emit: None,
                ended: false,
            };
        }
        let n = data.len();
        self.stat_read(d, n);
        let event = SocketEvent::data(id, data);
        if n == size {
            d.read_size = (size * 2).min(MAX_READ_BUFFER);
            return Read::More(owner, event);
        }
        if size > MIN_READ_BUFFER && n * 2 < size {
            d.read_size = size / 2;
        }
        Read::Done {
            emit: Some((owner, event)),
            ended: false,
        }
    }

    fn read_datagram(&self, d: &mut SocketData, buf: &mut [u8]) -> Read {
        let id = d.id;
        let owner = d.owner;
        let (n, from) = match sys::recv_from(d.raw_fd(), buf) {
            Ok(r) => r,
            Err(e) if would_block(&e) => {
                return Read::Done {
                    emit: None,
                    ended: false,
                }
            }
            Err(e) => {
                self.force_close(d);
                return Read::Done {
                    emit: Some((owner, SocketEvent::error(id, error_text(&e)))),
                    ended: true,
                };
            }
        };
        self.stat_read(d, n);
        let Some(from) = from else {
            return Read::Done {
                emit: None,
                ended: false,
            };
        };
        let address = UdpAddress::from_socket_addr(&from);
        if (address.protocol() == PROTOCOL_UDP) != (d.protocol == PROTOCOL_UDP) {
            return Read::Done {
                emit: None,
                ended: false,
            };
        }
        let mut packet = Payload::with_capacity(n + address.as_bytes().len());
        packet.extend_from_slice(&buf[..n]);
        packet.extend_from_slice(address.as_bytes());
        Read::More(owner, SocketEvent::udp(id, n, packet))
    }

    /// Writes pending output on write readiness (`send_buffer`).
    fn flush_output(&self, d: &mut SocketData, state: SocketState) -> Emit {
        let id = d.id;
        let fd = d.raw_fd();
        let protocol = d.protocol;
        let now = self.now();
        let mut logs = Vec::new();
        let stat = &mut d.stat;
        let result = d.wb.flush(|chunk| {
            let bytes = chunk.pending();
            if protocol == PROTOCOL_TCP {
                return match sys::write(fd, bytes) {
                    Ok(n) => {
                        stat.write += n as u64;
                        stat.wtime = now;
                        WriteOutcome::Wrote(n)
                    }
                    Err(e) if would_block(&e) => WriteOutcome::Blocked,
                    Err(e) => WriteOutcome::Failed(e),
                };
            }
            let Some(to) = chunk.target().and_then(|a| a.target(protocol)) else {
                logs.push(format!("socket-server : udp ({id}) error: type mismatch."));
                return WriteOutcome::Dropped;
            };
            match sys::send_to(fd, bytes, &to) {
                Ok(n) => {
                    stat.write += n as u64;
                    stat.wtime = now;
                    WriteOutcome::Wrote(bytes.len())
                }
                Err(e) if would_block(&e) => WriteOutcome::Blocked,
                Err(e) => {
                    logs.push(format!(
                        "socket-server : udp ({id}) sendto error {}.",
                        error_text(&e)
                    ));
                    WriteOutcome::Dropped
                }
            }
        });
        for text in logs {
            self.request(Request::Log(text));
        }
        match result {
            Flush::Pending => None,
            Flush::Failed(e) => self.close_write(d, state, &e),
            Flush::Drained => {
                if d.closing {
                    self.force_close(d);
                    return None;
                }
                if self.enable_write(d, false).is_err() {
                    return Some((d.owner, SocketEvent::error(id, "disable write failed")));
                }
                d.wb.take_drained_warning()
                    .then(|| (d.owner, SocketEvent::warning(id, 0)))
            }
        }
    }

    /// Writing failed: close for output and report it once.
    fn close_write(&self, d: &mut SocketData, state: SocketState, e: &io::Error) -> Emit {
        if d.closing || state == SocketState::HalfCloseRead {
            self.force_close(d);
            return None;
        }
        if state == SocketState::HalfCloseWrite {
            return None;
        }
        self.slots.get(d.id).set_state(SocketState::HalfCloseWrite);
        sys::shutdown(d.raw_fd(), libc::SHUT_WR);
        let _ = self.enable_write(d, false);
        Some((d.owner, SocketEvent::error(d.id, error_text(e))))
    }
}

enum Accepted {
    Nothing,
    Failed(Emit),
    Client {
        listener: i32,
        owner: Handle,
        fd: OwnedFd,
        peer: Option<std::net::SocketAddr>,
    },
}

//! The socket server: what services call (listen, connect, send, close,
//! UDP, ...) from any thread, and the control requests those calls queue
//! for the socket thread. Stands for the public half of `socket_server.c`
//! and for `skynet_socket.c`.
//!
//! Threads: a call that opens, starts, pauses or closes a socket only
//! checks its arguments, takes an id and queues a [`Request`]; the socket
//! thread ([`SocketServer::run`], in `event_loop.rs`) carries it out and
//! reports the outcome as an event to the owner. Sends are done by the
//! calling thread itself under the socket's lock: written straight to the
//! descriptor when nothing is pending (the reference's direct write),
//! otherwise appended to the socket's write buffer, whose draining the
//! socket thread then takes over.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::handle::Handle;
use crate::payload::Payload;
use crate::socket::address::{
    name_text, udp_protocol_of, UdpAddress, PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_UDPV6,
};
use crate::socket::message::SocketEvent;
use crate::socket::poll::Poller;
use crate::socket::slot::{live, SlotTable, SocketData, SocketState};
use crate::socket::sys;
use crate::socket::write_buffer::{Priority, WriteChunk};

/// Longest host name `connect` takes (the reference's request size).
const MAX_HOST_LEN: usize = 231;

/// Work for the socket thread.
pub(crate) enum Request {
    /// Register a listening socket (not yet accepting).
    Listen {
        id: i32,
        fd: OwnedFd,
    },
    /// Resolve and connect.
    Connect {
        id: i32,
        host: String,
        port: i32,
    },
    /// Register a descriptor we do not own.
    Bind {
        id: i32,
        fd: RawFd,
    },
    /// Start reading/accepting; `owner` takes the socket over.
    Start {
        id: i32,
        owner: Handle,
    },
    Pause {
        id: i32,
        owner: Handle,
    },
    /// Close (`shutdown`: drop pending output at once).
    Close {
        id: i32,
        shutdown: bool,
    },
    Nodelay {
        id: i32,
    },
    /// Register a UDP socket.
    Udp {
        id: i32,
        fd: OwnedFd,
    },
    /// Hand an event raised outside the socket thread to `owner`.
    Deliver {
        owner: Handle,
        event: SocketEvent,
    },
    /// Log a line as the socket layer.
    Log(String),
    Exit,
}

/// What a send carries: a buffer the caller gives away, or bytes it lends
/// (copied only if they must wait).
pub enum SendData<'a> {
    Owned(Payload),
    Borrowed(&'a [u8]),
}

impl SendData<'_> {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SendData::Owned(p) => p.as_slice(),
            SendData::Borrowed(b) => b,
        }
    }

    fn into_payload(self) -> Payload {
        match self {
            SendData::Owned(p) => p,
            SendData::Borrowed(b) => Payload::from_slice(b),
        }
    }
}

/// What kind of socket a [`SocketInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketInfoKind {
    Listen,
    Tcp,
    Udp,
    Bind,
    /// A TCP socket half closed.
    Closing,
}

/// One line of `netstat`.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    pub id: i32,
    pub kind: SocketInfoKind,
    pub owner: Handle,
    /// Bytes read (accepted connections for a listener).
    pub read: u64,
    pub write: u64,
    pub rtime: u64,
    pub wtime: u64,
    pub wbuffer: u64,
    pub reading: bool,
    pub writing: bool,
    /// Peer (`ip:port`) or, for a listener, its own address; may be empty.
    pub name: String,
}

pub struct SocketServer {
    pub(crate) slots: SlotTable,
    pub(crate) poller: Option<Poller>,
    requests: Mutex<VecDeque<Request>>,
    time: AtomicU64,
}

impl Default for SocketServer {
    fn default() -> Self {
        SocketServer::new()
    }
}

fn no_slot() -> io::Error {
    io::Error::other("reach skynet socket number limit")
}

impl SocketServer {
    /// A socket server with an empty table. If the poller cannot be made
    /// (no descriptors left), the error is printed and every later call
    /// fails.
    pub fn new() -> SocketServer {
        // Keeps the C API of skynet_socket.h in the binary for C modules.
        std::hint::black_box(crate::socket::capi::exported_symbols as fn() -> Vec<_>);
        let poller = match Poller::new() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("socket-server error: create event pool failed. ({e})");
                None
            }
        };
        SocketServer {
            slots: SlotTable::new(),
            poller,
            requests: Mutex::new(VecDeque::new()),
            time: AtomicU64::new(0),
        }
    }

    /// Sets the clock used for the traffic times (the timer thread calls
    /// this with the node's centiseconds).
    pub fn update_time(&self, now: u64) {
        self.time.store(now, Ordering::Relaxed);
    }

    pub(crate) fn now(&self) -> u64 {
        self.time.load(Ordering::Relaxed)
    }

    pub(crate) fn request(&self, r: Request) {
        self.requests.lock().push_back(r);
        if let Some(p) = &self.poller {
            p.wake();
        }
    }

    pub(crate) fn take_requests(&self) -> VecDeque<Request> {
        std::mem::take(&mut *self.requests.lock())
    }

    fn poller(&self) -> io::Result<&Poller> {
        self.poller
            .as_ref()
            .ok_or_else(|| io::Error::other("no socket poller"))
    }

    fn reserve(&self, owner: Handle, protocol: u8) -> io::Result<i32> {
        self.poller()?;
        self.slots.reserve(owner, protocol).ok_or_else(no_slot)
    }

    /// Makes the socket thread leave its loop, closing every socket.
    pub fn exit(&self) {
        self.request(Request::Exit);
    }

    /// Opens a TCP listener on `host:port` (empty host: every IPv4
    /// address; port 0: any free port). The owner gets a CONNECT event
    /// with the address and port, and accepts start after [`Self::start`].
    pub fn listen(&self, owner: Handle, host: &str, port: i32, backlog: i32) -> io::Result<i32> {
        let (fd, _) = sys::bind_address(host, port, false)?;
        sys::listen(fd.as_raw_fd(), backlog)?;
        sys::set_nonblocking(fd.as_raw_fd());
        let id = self.reserve(owner, PROTOCOL_TCP)?;
        self.request(Request::Listen { id, fd });
        Ok(id)
    }

    /// Starts connecting to `host:port`; the owner gets CONNECT or ERROR.
    pub fn connect(&self, owner: Handle, host: &str, port: i32) -> io::Result<i32> {
        if host.len() > MAX_HOST_LEN {
            self.request(Request::Log(format!(
                "socket-server error: Invalid addr {host}."
            )));
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address too long",
            ));
        }
        let id = self.reserve(owner, PROTOCOL_TCP)?;
        self.request(Request::Connect {
            id,
            host: host.to_string(),
            port,
        });
        Ok(id)
    }

    /// Takes in an existing descriptor (never closed by us).
    pub fn bind(&self, owner: Handle, fd: RawFd) -> io::Result<i32> {
        let id = self.reserve(owner, PROTOCOL_TCP)?;
        self.request(Request::Bind { id, fd });
        Ok(id)
    }

    /// Starts reading (or accepting); `owner` becomes the socket's owner.
    pub fn start(&self, owner: Handle, id: i32) {
        self.request(Request::Start { id, owner });
    }

    /// Stops reading until the next start.
    pub fn pause(&self, owner: Handle, id: i32) {
        self.request(Request::Pause { id, owner });
    }

    /// Closes after the pending output is written.
    pub fn close(&self, _owner: Handle, id: i32) {
        self.request(Request::Close {
            id,
            shutdown: false,
        });
    }

    /// Closes at once, dropping pending output.
    pub fn shutdown(&self, _owner: Handle, id: i32) {
        self.request(Request::Close { id, shutdown: true });
    }

    /// `TCP_NODELAY` on.
    pub fn nodelay(&self, id: i32) {
        self.request(Request::Nodelay { id });
    }

    /// A UDP socket; bound to `host:port` when either is given (no host:
    /// `0.0.0.0`), else an unbound IPv4 one.
    pub fn udp(&self, owner: Handle, host: Option<&str>, port: i32) -> io::Result<i32> {
        let (fd, family) = if port != 0 || host.is_some() {
            sys::bind_address(host.unwrap_or(""), port, true)?
        } else {
            (
                sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?,
                libc::AF_INET,
            )
        };
        self.add_udp(owner, fd, family, None)
    }

    /// A UDP socket bound to `host:port` (port 0 is refused).
    pub fn udp_listen(&self, owner: Handle, host: &str, port: i32) -> io::Result<i32> {
        if port == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "port 0"));
        }
        let (fd, family) = sys::bind_address(host, port, true)?;
        self.add_udp(owner, fd, family, None)
    }

    /// A UDP socket whose default destination is `host:port`.
    pub fn udp_dial(&self, owner: Handle, host: &str, port: i32) -> io::Result<i32> {
        let peer = resolve_udp(host, port)?;
        let family = if peer.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = sys::socket(family, libc::SOCK_DGRAM, 0)?;
        self.add_udp(owner, fd, family, Some(UdpAddress::from_socket_addr(&peer)))
    }

    fn add_udp(
        &self,
        owner: Handle,
        fd: OwnedFd,
        family: i32,
        peer: Option<UdpAddress>,
    ) -> io::Result<i32> {
        sys::set_nonblocking(fd.as_raw_fd());
        let protocol = if family == libc::AF_INET6 {
            PROTOCOL_UDPV6
        } else {
            PROTOCOL_UDP
        };
        let id = self.reserve(owner, protocol)?;
        if let Some(d) = live(&mut self.slots.get(id).lock(), id) {
            d.udp_peer = peer;
        }
        self.request(Request::Udp { id, fd });
        Ok(id)
    }

    /// Sets the default destination of UDP socket `id`. An address of the
    /// other IP version gives the owner an ERROR "protocol mismatch".
    pub fn udp_connect(&self, id: i32, host: &str, port: i32) -> io::Result<()> {
        {
            let mut g = self.slots.get(id).lock();
            if live(&mut g, id).is_none() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "invalid socket"));
            }
        }
        let peer = resolve_udp(host, port)?;
        let mut g = self.slots.get(id).lock();
        let Some(d) = live(&mut g, id) else {
            return Ok(());
        };
        if udp_protocol_of(&peer) != d.protocol {
            let owner = d.owner;
            drop(g);
            self.request(Request::Deliver {
                owner,
                event: SocketEvent::error(id, "protocol mismatch"),
            });
            return Ok(());
        }
        d.udp_peer = Some(UdpAddress::from_socket_addr(&peer));
        Ok(())
    }

    /// Sends on `id` with high priority. False when the socket is gone or
    /// closing (the data is dropped).
    pub fn send(&self, id: i32, data: SendData<'_>) -> bool {
        self.send_common(id, data, Priority::High, true, None)
    }

    /// Sends on `id` with low priority (after everything of high priority).
    pub fn send_low(&self, id: i32, data: SendData<'_>) -> bool {
        self.send_common(id, data, Priority::Low, false, None)
    }

    /// Sends a datagram to `address` (the binary UDP address). False when
    /// the socket is gone or the address is not a UDP address.
    pub fn udp_send(&self, id: i32, address: &[u8], data: SendData<'_>) -> bool {
        match UdpAddress::parse(address) {
            Some(a) => self.send_common(id, data, Priority::High, true, Some(a)),
            None => false,
        }
    }

    fn send_common(
        &self,
        id: i32,
        data: SendData<'_>,
        priority: Priority,
        direct: bool,
        to: Option<UdpAddress>,
    ) -> bool {
        let slot = self.slots.get(id);
        let mut guard = slot.lock();
        let Some(d) = live(&mut guard, id) else {
            return false;
        };
        if d.closing && priority == Priority::High {
            return false;
        }
        let state = slot.state();
        if direct && state == SocketState::Connected && d.wb.is_empty() {
            match self.write_direct(d, &data, to) {
                Direct::Done => return true,
                Direct::Refused => return false,
                Direct::Partly(n) => {
                    d.wb.push(
                        Priority::High,
                        WriteChunk::partly_written(data.into_payload(), n),
                    );
                    let failed = self.enable_write(d, true).is_err();
                    let owner = d.owner;
                    drop(guard);
                    if failed {
                        self.request(Request::Deliver {
                            owner,
                            event: SocketEvent::error(id, "enable write failed"),
                        });
                    }
                    return true;
                }
                Direct::Queue => {}
            }
        }
        let outcome = self.queue_send(d, state, data, priority, to);
        let owner = d.owner;
        drop(guard);
        match outcome {
            Queued::Nothing => {}
            Queued::Event(event) => self.request(Request::Deliver { owner, event }),
            Queued::Log(text) => self.request(Request::Log(text)),
        }
        true
    }

    /// The fast path: the buffer is empty and the socket connected.
    fn write_direct(
        &self,
        d: &mut SocketData,
        data: &SendData<'_>,
        to: Option<UdpAddress>,
    ) -> Direct {
        let bytes = data.as_slice();
        let fd = d.raw_fd();
        if d.protocol == PROTOCOL_TCP {
            // An error here is left to the socket thread to find again.
            let n = sys::write(fd, bytes).unwrap_or(0);
            self.stat_write(d, n);
            return if n == bytes.len() {
                Direct::Done
            } else {
                Direct::Partly(n)
            };
        }
        let explicit = to.is_some();
        let target = to.or(d.udp_peer).and_then(|a| a.target(d.protocol));
        let Some(target) = target else {
            if !explicit {
                self.request(Request::Log(format!(
                    "socket-server : set udp ({}) error: address first.",
                    d.id
                )));
            }
            return Direct::Refused;
        };
        match sys::send_to(fd, bytes, &target) {
            Ok(n) => {
                self.stat_write(d, n);
                Direct::Done
            }
            Err(_) => Direct::Queue,
        }
    }

    /// The socket thread's half of a send (`send_socket`), done here.
    fn queue_send(
        &self,
        d: &mut SocketData,
        state: SocketState,
        data: SendData<'_>,
        priority: Priority,
        to: Option<UdpAddress>,
    ) -> Queued {
        match state {
            SocketState::HalfCloseWrite | SocketState::PAccept => return Queued::Nothing,
            _ if d.closing => return Queued::Nothing,
            SocketState::PListen | SocketState::Listen => {
                return Queued::Log(format!("socket-server error: write to listen fd {}.", d.id));
            }
            _ => {}
        }
        let udp = d.protocol != PROTOCOL_TCP;
        let target = if udp { to.or(d.udp_peer) } else { None };
        if d.wb.is_empty() {
            if udp {
                let Some(addr) = target.and_then(|a| a.target(d.protocol)) else {
                    return Queued::Log(format!(
                        "socket-server: udp socket ({}) error: type mismatch.",
                        d.id
                    ));
                };
                if d.registered {
                    let bytes = data.as_slice();
                    if let Ok(n) = sys::send_to(d.raw_fd(), bytes, &addr) {
                        if n == bytes.len() {
                            self.stat_write(d, n);
                            return Queued::Nothing;
                        }
                    }
                }
                d.wb.push(priority, WriteChunk::datagram(data.into_payload(), target));
            } else {
                // Even low priority data goes to the high list when nothing
                // is pending.
                d.wb.push(Priority::High, WriteChunk::new(data.into_payload()));
            }
            if self.enable_write(d, true).is_err() {
                return Queued::Event(SocketEvent::error(d.id, "enable write failed"));
            }
        } else if udp {
            d.wb.push(priority, WriteChunk::datagram(data.into_payload(), target));
        } else {
            d.wb.push(priority, WriteChunk::new(data.into_payload()));
        }
        match d.wb.check_warning() {
            Some(kib) => Queued::Event(SocketEvent::warning(d.id, kib)),
            None => Queued::Nothing,
        }
    }

    pub(crate) fn stat_write(&self, d: &mut SocketData, n: usize) {
        d.stat.write += n as u64;
        d.stat.wtime = self.now();
    }

    pub(crate) fn stat_read(&self, d: &mut SocketData, n: usize) {
        d.stat.read += n as u64;
        d.stat.rtime = self.now();
    }

    /// Sets the poller interest of a registered socket to its flags.
    fn apply_interest(&self, d: &SocketData) -> io::Result<()> {
        if !d.registered {
            return Ok(());
        }
        self.poller()?
            .modify(d.raw_fd(), d.id as u64, d.reading, d.writing)
    }

    /// Turns write interest on or off (a no-op when it already is).
    pub(crate) fn enable_write(&self, d: &mut SocketData, on: bool) -> io::Result<()> {
        if d.writing == on {
            return Ok(());
        }
        d.writing = on;
        self.apply_interest(d)
    }

    /// Turns read interest on or off (a no-op when it already is).
    pub(crate) fn enable_read(&self, d: &mut SocketData, on: bool) -> io::Result<()> {
        if d.reading == on {
            return Ok(());
        }
        d.reading = on;
        self.apply_interest(d)
    }

    /// A snapshot of every open socket for `netstat`, in the reference's
    /// order (highest slot first).
    pub fn info(&self) -> Vec<SocketInfo> {
        let mut out = Vec::new();
        for slot in self.slots.iter().rev() {
            let state = slot.state();
            if matches!(state, SocketState::Invalid | SocketState::Reserve) {
                continue;
            }
            let g = slot.lock();
            let Some(d) = g.as_deref() else { continue };
            if d.id < 0 {
                continue;
            }
            // Read the state again under the lock.
            let state = slot.state();
            let fd = d.raw_fd();
            let (kind, name) = match state {
                SocketState::Bind => (SocketInfoKind::Bind, String::new()),
                SocketState::Listen => (
                    SocketInfoKind::Listen,
                    sys::local_addr(fd)
                        .ok()
                        .flatten()
                        .map(|a| name_text(&a))
                        .unwrap_or_default(),
                ),
                SocketState::Connected
                | SocketState::HalfCloseRead
                | SocketState::HalfCloseWrite => {
                    let closing = state != SocketState::Connected;
                    if d.protocol == PROTOCOL_TCP {
                        let kind = if closing {
                            SocketInfoKind::Closing
                        } else {
                            SocketInfoKind::Tcp
                        };
                        let name = sys::peer_addr(fd)
                            .ok()
                            .flatten()
                            .map(|a| name_text(&a))
                            .unwrap_or_default();
                        (kind, name)
                    } else {
                        let name = d
                            .udp_peer
                            .and_then(|a| a.target(d.protocol))
                            .map(|a| name_text(&a))
                            .unwrap_or_default();
                        (SocketInfoKind::Udp, name)
                    }
                }
                _ => continue,
            };
            out.push(SocketInfo {
                id: d.id,
                kind,
                owner: d.owner,
                read: d.stat.read,
                write: d.stat.write,
                rtime: d.stat.rtime,
                wtime: d.stat.wtime,
                wbuffer: d.wb.size() as u64,
                reading: d.reading,
                writing: d.writing,
                name,
            });
            drop(g);
        }
        out
    }
}

enum Direct {
    /// Everything was written.
    Done,
    /// This much was written; the rest must wait.
    Partly(usize),
    /// Not sendable (UDP without a usable address); dropped.
    Refused,
    /// Leave it to the queued path.
    Queue,
}

enum Queued {
    Nothing,
    Event(SocketEvent),
    Log(String),
}

/// The first UDP address of `host:port`.
fn resolve_udp(host: &str, port: i32) -> io::Result<std::net::SocketAddr> {
    let list = sys::resolve(
        Some(host),
        Some(&port.to_string()),
        libc::AF_UNSPEC,
        libc::SOCK_DGRAM,
        libc::IPPROTO_UDP,
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    list.first()
        .map(|a| a.addr)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))
}

//! The `harbor` service: carries messages between the nodes ("harbors") of
//! a master/slave cluster and delivers messages addressed to global names.
//! Stands for the reference's `service-src/service_harbor.c`.
//!
//! Launched by the harbor slave (`cslave`, or `cdummy` on a single node) as
//! `harbor ID SLAVE` (SLAVE: the slave's handle, decimal or `:hex`). The
//! top 8 bits of a handle name its harbor; senders hand messages for other
//! harbors and for global names to this service through the node's
//! [`RemoteRouter`] (a side queue, one PTYPE_SYSTEM wake-up per message).
//!
//! From the slave (PTYPE_HARBOR text):
//! * `N name` — `name` (1..15 bytes) is the global name of the message's
//!   source; messages waiting for it are sent on.
//! * `S fd id` — `fd` is our connection to harbor `id`: send our id byte,
//!   wait for its id byte, then send what was queued for it.
//! * `A fd id` — `fd` is a connection accepted from harbor `id` (whose id
//!   byte the slave already read): send our id byte and what was queued.
//!
//! To the slave (PTYPE_TEXT): `Q name` when a message waits for an unknown
//! global name, `D id` when the connection to harbor `id` closes.
//!
//! Wire format of a remote message, on a connection after the one-byte
//! handshake: a 4-byte big-endian length (the first byte must be 0: less
//! than 16 MiB), the message bytes, then 12 bytes of big-endian cookie:
//! source, `type << 24 | destination handle` (without harbor bits),
//! session. The receiver puts its own harbor id on the destination.
//!
//! As in the reference, a harbor whose connection closed stays linked to
//! that (closed) socket: messages to it are dropped silently; only harbors
//! that failed their handshake or sent a bad frame (and every other harbor
//! on a single node, id 0) are *down*, where a message earns its sender an
//! error reply and a `Drop message to harbor ...` log line.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use skynet_core::handle::{HANDLE_MASK, HANDLE_REMOTE_SHIFT};
use skynet_core::harbor::{RemoteMessage, RemoteRouter, RemoteTarget};
use skynet_core::message::{PTYPE_ERROR, PTYPE_HARBOR, PTYPE_SOCKET, PTYPE_SYSTEM, PTYPE_TEXT};
use skynet_core::socket::message::parse;
use skynet_core::socket::{
    SendData, SKYNET_SOCKET_TYPE_CLOSE, SKYNET_SOCKET_TYPE_CONNECT, SKYNET_SOCKET_TYPE_DATA,
    SKYNET_SOCKET_TYPE_ERROR, SKYNET_SOCKET_TYPE_WARNING,
};
use skynet_core::{Context, Handle, Message, Node, Payload, Service};

/// Longest global name, as in the reference's wire format.
pub const GLOBALNAME_LENGTH: usize = 16;
/// Number of harbor ids (id 0 is "this node" and never a remote).
const REMOTE_MAX: usize = 256;
/// Bytes of the cookie after each remote message.
const COOKIE: usize = 12;

struct Router {
    handle: Handle,
    node: Weak<Node>,
    inbox: Mutex<VecDeque<RemoteMessage>>,
}

impl RemoteRouter for Router {
    fn route(&self, msg: RemoteMessage) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        self.inbox.lock().push_back(msg);
        let wake = Message::new(0, 0, PTYPE_SYSTEM, Payload::empty());
        if node.push(self.handle, wake).is_err() {
            // The harbor service is gone: bounce what waits.
            let waiting: Vec<RemoteMessage> = self.inbox.lock().drain(..).collect();
            for m in waiting {
                bounce(&node, m);
            }
        }
    }
}

/// Sends the sender of an undeliverable message an error reply.
fn bounce(node: &Node, msg: RemoteMessage) {
    if msg.source != 0 && msg.ptype != PTYPE_ERROR {
        let reply = Message::new(0, msg.session, PTYPE_ERROR, Payload::empty());
        let _ = node.push(msg.source, reply);
    }
}

/// A message waiting for a connection or a name.
struct Queued {
    source: Handle,
    /// `type << 24 | handle` (handle bits 0 while waiting for a name).
    destination: u32,
    session: u32,
    payload: Payload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// No connection yet: messages queue.
    Wait,
    /// Connected by us; waiting for the peer's id byte.
    Handshake,
    /// Reading a length header.
    Header,
    /// Reading a message.
    Content,
    /// Failed: messages are refused.
    Down,
}

/// One other harbor.
struct Remote {
    fd: i32,
    status: Status,
    queue: VecDeque<Queued>,
    /// Length bytes read so far (Header).
    head: [u8; 4],
    head_read: usize,
    /// The message being read (Content) and its full length.
    body: Vec<u8>,
    length: usize,
}

impl Remote {
    fn new() -> Remote {
        Remote {
            fd: 0,
            status: Status::Wait,
            queue: VecDeque::new(),
            head: [0; 4],
            head_read: 0,
            body: Vec::new(),
            length: 0,
        }
    }
}

/// A global name: its handle (0 while unknown) and the messages waiting.
#[derive(Default)]
struct Name {
    handle: Handle,
    queue: Vec<Queued>,
}

pub struct Harbor {
    id: u32,
    slave: Handle,
    router: Option<Arc<Router>>,
    names: HashMap<Vec<u8>, Name>,
    remotes: Vec<Remote>,
}

/// Registers the `harbor` module with a node.
pub fn register(node: &Node) {
    node.modules().register(
        "harbor",
        Arc::new(|| Box::new(Harbor::new()) as Box<dyn Service>),
    );
}

impl Default for Harbor {
    fn default() -> Self {
        Harbor::new()
    }
}

/// A global name as the wire keeps it: at most 16 bytes.
fn name_key(name: &[u8]) -> Vec<u8> {
    let end = name
        .iter()
        .take(GLOBALNAME_LENGTH)
        .position(|&b| b == 0)
        .unwrap_or(name.len().min(GLOBALNAME_LENGTH));
    name[..end].to_vec()
}

/// One framed remote message: length, bytes, cookie.
fn encode(payload: &[u8], source: Handle, destination: u32, session: u32) -> Option<Payload> {
    let total = payload.len() + COOKIE;
    let total32 = u32::try_from(total).ok()?;
    let mut out = Payload::with_capacity(total + 4);
    out.extend_from_slice(&total32.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&source.to_be_bytes());
    out.extend_from_slice(&destination.to_be_bytes());
    out.extend_from_slice(&session.to_be_bytes());
    Some(out)
}

impl Harbor {
    pub fn new() -> Harbor {
        Harbor {
            id: 0,
            slave: 0,
            router: None,
            names: HashMap::new(),
            remotes: (0..REMOTE_MAX).map(|_| Remote::new()).collect(),
        }
    }

    fn send_frame(&self, ctx: &Context, fd: i32, q: Queued) {
        match encode(q.payload.as_slice(), q.source, q.destination, q.session) {
            // A send to a broken connection is ignored: its close event
            // reports it.
            Some(frame) => {
                ctx.node().socket().send(fd, SendData::Owned(frame));
            }
            None => ctx.log(format!(
                "remote message from :{:08x} to :{:08x} is too large.",
                q.source, q.destination
            )),
        }
    }

    /// Sends what was queued for harbor `id` on its (now open) connection.
    fn flush(&mut self, ctx: &Context, id: usize) {
        let fd = self.remotes[id].fd;
        let queue = std::mem::take(&mut self.remotes[id].queue);
        for q in queue {
            self.send_frame(ctx, fd, q);
        }
    }

    /// Delivers a message that arrived from another harbor.
    fn deliver_local(
        &self,
        ctx: &Context,
        payload: Payload,
        source: Handle,
        cookie: u32,
        session: u32,
    ) {
        let ptype = (cookie >> HANDLE_REMOTE_SHIFT) as u8;
        let destination = (cookie & HANDLE_MASK) | (self.id << HANDLE_REMOTE_SHIFT);
        let msg = Message::new(source, session as i32, ptype, payload);
        if ctx.node().push(destination, msg).is_err() {
            if ptype != PTYPE_ERROR {
                ctx.send(
                    destination,
                    source,
                    PTYPE_ERROR as i32,
                    session as i32,
                    Payload::empty(),
                );
            }
            ctx.log(format!(
                "Unknown destination :{destination:x} from :{source:x} type({ptype})"
            ));
        }
    }

    /// Sends (or queues) a message for a handle.
    fn send_handle(&mut self, ctx: &Context, msg: RemoteMessage, handle: Handle) {
        let harbor = (handle >> HANDLE_REMOTE_SHIFT) as usize;
        if harbor as u32 == self.id {
            let m = Message::new(msg.source, msg.session, msg.ptype, msg.payload);
            let _ = ctx.node().push(handle, m);
            return;
        }
        let q = Queued {
            source: msg.source,
            destination: ((msg.ptype as u32) << HANDLE_REMOTE_SHIFT) | (handle & HANDLE_MASK),
            session: msg.session as u32,
            payload: msg.payload,
        };
        let remote = &mut self.remotes[harbor];
        if remote.fd != 0 && remote.status != Status::Handshake && remote.status != Status::Down {
            let fd = remote.fd;
            self.send_frame(ctx, fd, q);
        } else if remote.status == Status::Down {
            ctx.send(
                handle,
                msg.source,
                PTYPE_ERROR as i32,
                msg.session,
                Payload::empty(),
            );
            ctx.log(format!(
                "Drop message to harbor {harbor} from {:x} to {handle:x} (session = {}, msgsz = {})",
                msg.source,
                msg.session,
                q.payload.len()
            ));
        } else {
            remote.queue.push_back(q);
        }
    }

    /// Sends (or queues) a message for a global name.
    fn send_name(&mut self, ctx: &Context, msg: RemoteMessage, name: &str) {
        let key = name_key(name.as_bytes());
        let entry = self.names.entry(key.clone()).or_default();
        if entry.handle != 0 {
            let h = entry.handle;
            self.send_handle(ctx, msg, h);
            return;
        }
        entry.queue.push(Queued {
            source: msg.source,
            destination: (msg.ptype as u32) << HANDLE_REMOTE_SHIFT,
            session: msg.session as u32,
            payload: msg.payload,
        });
        let mut query = b"Q ".to_vec();
        query.extend_from_slice(&key);
        ctx.send(0, self.slave, PTYPE_TEXT as i32, 0, Payload::from(query));
    }

    /// A global name became known: bind it and send what waited for it.
    fn update_name(&mut self, ctx: &Context, key: Vec<u8>, handle: Handle) {
        let entry = self.names.entry(key.clone()).or_default();
        entry.handle = handle;
        let waiting = std::mem::take(&mut entry.queue);
        if waiting.is_empty() {
            return;
        }
        let harbor = (handle >> HANDLE_REMOTE_SHIFT) as usize;
        let local = harbor as u32 == self.id;
        let remote = &mut self.remotes[harbor];
        if !local && remote.status == Status::Down {
            ctx.log(format!(
                "Drop message to {} (in harbor {harbor})",
                String::from_utf8_lossy(&key)
            ));
            return;
        }
        for mut q in waiting {
            q.destination |= handle & HANDLE_MASK;
            if local {
                let ptype = (q.destination >> HANDLE_REMOTE_SHIFT) as u8;
                let m = Message::new(q.source, q.session as i32, ptype, q.payload);
                let _ = ctx.node().push(handle, m);
            } else if self.remotes[harbor].fd != 0
                && self.remotes[harbor].status != Status::Handshake
            {
                let fd = self.remotes[harbor].fd;
                self.send_frame(ctx, fd, q);
            } else {
                self.remotes[harbor].queue.push_back(q);
            }
        }
    }

    /// Closes the link to harbor `id` for good (bad handshake or frame).
    fn close_remote(&mut self, ctx: &Context, id: usize) {
        let r = &mut self.remotes[id];
        r.status = Status::Down;
        if r.fd != 0 {
            ctx.node().socket().close(ctx.handle(), r.fd);
            r.fd = 0;
        }
        r.queue.clear();
        r.body = Vec::new();
    }

    fn remote_of(&self, fd: i32) -> Option<usize> {
        (1..REMOTE_MAX).find(|&i| self.remotes[i].fd == fd)
    }

    /// Bytes from harbor `id`'s connection.
    fn receive(&mut self, ctx: &Context, id: usize, mut data: &[u8]) {
        loop {
            let r = &mut self.remotes[id];
            match r.status {
                Status::Handshake => {
                    let Some((&peer, rest)) = data.split_first() else {
                        return;
                    };
                    if peer as usize != id {
                        ctx.log(format!(
                            "Invalid shakehand id ({id}) from fd = {} , harbor = {peer}",
                            r.fd
                        ));
                        self.close_remote(ctx, id);
                        return;
                    }
                    r.status = Status::Header;
                    data = rest;
                    self.flush(ctx, id);
                }
                Status::Header => {
                    let need = 4 - r.head_read;
                    let take = need.min(data.len());
                    r.head[r.head_read..r.head_read + take].copy_from_slice(&data[..take]);
                    r.head_read += take;
                    data = &data[take..];
                    if r.head_read < 4 {
                        return;
                    }
                    r.head_read = 0;
                    if r.head[0] != 0 {
                        ctx.log(format!("Message is too long from harbor {id}"));
                        self.close_remote(ctx, id);
                        return;
                    }
                    r.length = u32::from_be_bytes(r.head) as usize;
                    r.body = Vec::with_capacity(r.length);
                    r.status = Status::Content;
                    if data.is_empty() {
                        return;
                    }
                }
                Status::Content => {
                    let need = r.length - r.body.len();
                    let take = need.min(data.len());
                    r.body.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if r.body.len() < r.length {
                        return;
                    }
                    r.status = Status::Header;
                    let body = std::mem::take(&mut r.body);
                    if body.len() < COOKIE {
                        ctx.log(format!(
                            "Invalid message (size={}) from harbor {id}",
                            body.len()
                        ));
                        self.close_remote(ctx, id);
                        return;
                    }
                    let at = body.len() - COOKIE;
                    let word = |i: usize| {
                        u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]])
                    };
                    let (source, cookie, session) = (word(at), word(at + 4), word(at + 8));
                    let payload = Payload::from_slice(&body[..at]);
                    self.deliver_local(ctx, payload, source, cookie, session);
                    if data.is_empty() {
                        return;
                    }
                }
                Status::Wait | Status::Down => return,
            }
        }
    }

    fn slave_command(&mut self, ctx: &Context, source: Handle, msg: &[u8]) {
        let arg = msg.get(2..).unwrap_or(&[]);
        match msg.first() {
            Some(b'N') => {
                if arg.is_empty() || arg.len() >= GLOBALNAME_LENGTH {
                    ctx.log(format!(
                        "Invalid global name {}",
                        String::from_utf8_lossy(arg)
                    ));
                    return;
                }
                self.update_name(ctx, name_key(arg), source);
            }
            Some(&c @ (b'S' | b'A')) => {
                let text = String::from_utf8_lossy(arg).into_owned();
                let mut words = text.split_whitespace();
                let fd: i32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let id: i64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                if fd == 0 || id <= 0 || id >= REMOTE_MAX as i64 {
                    ctx.log(format!("Invalid command {} {text}", c as char));
                    return;
                }
                let id = id as usize;
                if self.remotes[id].fd != 0 {
                    ctx.log(format!("Harbor {id} alreay exist"));
                    return;
                }
                let socket = ctx.node().socket();
                self.remotes[id].fd = fd;
                socket.start(ctx.handle(), fd);
                socket.send(fd, SendData::Owned(Payload::from_slice(&[self.id as u8])));
                if c == b'S' {
                    self.remotes[id].status = Status::Handshake;
                } else {
                    self.remotes[id].status = Status::Header;
                    self.flush(ctx, id);
                }
            }
            _ => ctx.log(format!("Unknown command {}", String::from_utf8_lossy(msg))),
        }
    }

    fn socket_event(&mut self, ctx: &Context, msg: &Message) {
        let Some(view) = parse(msg.payload.as_slice()) else {
            return;
        };
        match view.kind {
            SKYNET_SOCKET_TYPE_DATA => {
                // SAFETY: a DATA message's buffer belongs to its receiver.
                let data = unsafe { view.take_buffer() };
                match self.remote_of(view.id) {
                    Some(id) => self.receive(ctx, id, data.as_slice()),
                    None => ctx.log(format!("Invalid socket fd ({}) data", view.id)),
                }
            }
            SKYNET_SOCKET_TYPE_ERROR | SKYNET_SOCKET_TYPE_CLOSE => match self.remote_of(view.id) {
                Some(id) => {
                    let down = format!("D {id}");
                    ctx.send(0, self.slave, PTYPE_TEXT as i32, 0, Payload::from(down));
                }
                None => ctx.log(format!("Unknown fd ({}) closed", view.id)),
            },
            // a socket handed over to this service
            SKYNET_SOCKET_TYPE_CONNECT => {}
            SKYNET_SOCKET_TYPE_WARNING => {
                if let Some(id) = self.remote_of(view.id) {
                    ctx.log(format!(
                        "message havn't send to Harbor ({id}) reach {} K",
                        view.ud
                    ));
                }
            }
            // The reference prints the message type here.
            _ => ctx.log(format!("recv invalid socket message type {PTYPE_SOCKET}")),
        }
    }
}

impl Service for Harbor {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let mut words = args.split_whitespace();
        let id: u32 = words
            .next()
            .and_then(|w| w.parse().ok())
            .filter(|&id| id < REMOTE_MAX as u32)
            .ok_or_else(|| format!("harbor: bad arguments '{args}'"))?;
        let slave = words
            .next()
            .map(|w| match w.strip_prefix(':') {
                Some(hex) => skynet_core::context::parse_hex_handle(hex),
                None => w.parse().unwrap_or(0),
            })
            .unwrap_or(0);
        if slave == 0 {
            return Err(format!("harbor: bad slave address in '{args}'"));
        }
        self.id = id;
        self.slave = slave;
        if id == 0 {
            // a single node: there is no other harbor to reach
            for r in &mut self.remotes[1..] {
                r.status = Status::Down;
            }
        }
        let router = Arc::new(Router {
            handle: ctx.handle(),
            node: Arc::downgrade(ctx.node()),
            inbox: Mutex::new(VecDeque::new()),
        });
        ctx.node().set_router(Some(router.clone()));
        self.router = Some(router);
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match msg.ptype {
            PTYPE_SYSTEM => {
                let next = self
                    .router
                    .as_ref()
                    .and_then(|r| r.inbox.lock().pop_front());
                if let Some(m) = next {
                    match m.destination.clone() {
                        RemoteTarget::Handle(h) => self.send_handle(ctx, m, h),
                        RemoteTarget::Name(name) => self.send_name(ctx, m, &name),
                    }
                }
            }
            PTYPE_HARBOR => self.slave_command(ctx, msg.source, msg.payload.as_slice()),
            PTYPE_SOCKET => self.socket_event(ctx, &msg),
            other => {
                ctx.log(format!(
                    "recv invalid message from {:x},  type = {other}",
                    msg.source
                ));
                if msg.session != 0 && other != PTYPE_ERROR {
                    ctx.send(
                        0,
                        msg.source,
                        PTYPE_ERROR as i32,
                        msg.session,
                        Payload::empty(),
                    );
                }
            }
        }
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        if let Some(r) = self.router.take() {
            if let Some(node) = r.node.upgrade() {
                node.set_router(None);
                let waiting: Vec<RemoteMessage> = r.inbox.lock().drain(..).collect();
                for m in waiting {
                    bounce(&node, m);
                }
                for remote in &self.remotes {
                    if remote.fd != 0 {
                        node.socket().close(0, remote.fd);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_big_endian_cookie() {
        let f = encode(b"hi", 0x0100_0008, 0x0a00_0009, 3).unwrap();
        assert_eq!(
            f.as_slice(),
            &[0, 0, 0, 14, b'h', b'i', 1, 0, 0, 8, 0x0a, 0, 0, 9, 0, 0, 0, 3]
        );
    }

    #[test]
    fn names_are_cut_to_sixteen_bytes() {
        assert_eq!(name_key(b"SIMPLEDB"), b"SIMPLEDB".to_vec());
        assert_eq!(
            name_key(b"0123456789abcdefXYZ"),
            b"0123456789abcdef".to_vec()
        );
        assert_eq!(name_key(b"ab\0cd"), b"ab".to_vec());
    }
}

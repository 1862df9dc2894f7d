//! The native `gate` service: listens on a TCP address, cuts each
//! connection's byte stream into packets framed by a 2-byte (`S`) or
//! 4-byte (`L`) big-endian length, and forwards every packet to the
//! connection's agent, to a broker, or as a `data` line to the watchdog.
//! Stands for the reference's `service-src/service_gate.c` (with
//! `databuffer.h` and `hashid.h`).
//!
//! Launched as `gate HEADER WATCHDOG ADDRESS CLIENT_TAG MAX`, e.g.
//! `gate S .watchdog 127.0.0.1:8888 0 100` (`!` as watchdog: none;
//! client tag 0: PTYPE_CLIENT). Text commands from other services:
//! `kick FD`, `forward FD :AGENT :CLIENT`, `broker NAME`, `start FD`,
//! `close`. The watchdog is told `FD open FD IP:PORT:0`, `FD close` and
//! `FD data BYTES` (the latter only for connections without an agent when
//! no broker is set). A PTYPE_CLIENT message whose last 4 bytes are a
//! connection id (little-endian) is written to that connection, without
//! those 4 bytes.
//!
//! One difference from the reference: a length header announcing 16 MiB
//! or more closes the connection when the header arrives, instead of
//! after that much data was buffered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use skynet_core::context::parse_hex_handle;
use skynet_core::message::{PTYPE_CLIENT, PTYPE_SOCKET, PTYPE_TAG_DONTCOPY, PTYPE_TEXT};
use skynet_core::socket::message::parse;
use skynet_core::socket::{
    SendData, SKYNET_SOCKET_TYPE_ACCEPT, SKYNET_SOCKET_TYPE_CLOSE, SKYNET_SOCKET_TYPE_CONNECT,
    SKYNET_SOCKET_TYPE_DATA, SKYNET_SOCKET_TYPE_ERROR, SKYNET_SOCKET_TYPE_WARNING,
};
use skynet_core::{Context, Handle, Message, Node, Payload, Service};

/// Listen backlog.
const BACKLOG: i32 = 128;
/// Packets of this size or more close their connection.
const MAX_PACKET: usize = 0x100_0000;
/// Longest remote name kept for the `open` report.
const REMOTE_NAME_MAX: usize = 31;

/// Bytes received on one connection, cut into framed packets.
#[derive(Default)]
pub struct DataBuffer {
    blocks: VecDeque<Payload>,
    /// Bytes of the first block already consumed.
    offset: usize,
    /// Bytes buffered.
    size: usize,
    /// The length of the packet being waited for, once its header is in.
    header: Option<usize>,
}

impl DataBuffer {
    pub fn push(&mut self, data: Payload) {
        if data.is_empty() {
            return;
        }
        self.size += data.len();
        self.blocks.push_back(data);
    }

    /// Removes the next `n` bytes (`n <= size`) into `out`.
    fn read_into(&mut self, mut n: usize, out: &mut Payload) {
        self.size -= n;
        while n > 0 {
            let Some(front) = self.blocks.front() else {
                return;
            };
            let avail = &front.as_slice()[self.offset..];
            let step = avail.len().min(n);
            out.extend_from_slice(&avail[..step]);
            n -= step;
            self.offset += step;
            if self.offset == front.len() {
                self.blocks.pop_front();
                self.offset = 0;
            }
        }
    }

    /// The next complete packet, if one is buffered. `Err` carries the
    /// announced size when it is [`MAX_PACKET`] or more. Empty packets are
    /// skipped, as in the reference.
    pub fn next_packet(&mut self, header_size: usize) -> Result<Option<Payload>, usize> {
        loop {
            let size = match self.header {
                Some(s) => s,
                None => {
                    if self.size < header_size {
                        return Ok(None);
                    }
                    let mut head = Payload::with_capacity(header_size);
                    self.read_into(header_size, &mut head);
                    let size = head
                        .as_slice()
                        .iter()
                        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
                    if size >= MAX_PACKET {
                        return Err(size);
                    }
                    self.header = Some(size);
                    size
                }
            };
            if self.size < size {
                return Ok(None);
            }
            self.header = None;
            if size == 0 {
                continue;
            }
            let mut packet = Payload::with_capacity(size);
            self.read_into(size, &mut packet);
            return Ok(Some(packet));
        }
    }

    pub fn clear(&mut self) {
        *self = DataBuffer::default();
    }
}

struct Connection {
    agent: Handle,
    client: Handle,
    buffer: DataBuffer,
}

pub struct Gate {
    node: Weak<Node>,
    handle: Handle,
    listen_id: i32,
    watchdog: Handle,
    broker: Handle,
    client_tag: i32,
    header_size: usize,
    max_connection: usize,
    connections: HashMap<i32, Connection>,
}

/// Registers the `gate` module with a node.
pub fn register(node: &Node) {
    node.modules().register(
        "gate",
        Arc::new(|| Box::new(Gate::new()) as Box<dyn Service>),
    );
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

/// `skynet_queryname`: `:hex` or `.local`; global names are refused.
fn query_name(ctx: &Context, name: &str) -> Handle {
    if let Some(hex) = name.strip_prefix(':') {
        return parse_hex_handle(hex);
    }
    if let Some(local) = name.strip_prefix('.') {
        return ctx.node().find_name(local).unwrap_or(0);
    }
    ctx.log(format!("error: Don't support query global name {name}"));
    0
}

/// C's `strtol(s, NULL, 10)`: leading blanks, a sign, digits; 0 when
/// there are none.
fn c_atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        negative = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((s[i] - b'0') as i64);
        i += 1;
    }
    if negative {
        -v
    } else {
        v
    }
}

/// The arguments of `gate`, read like `sscanf("%c %s %s %d %d")`: how
/// many were read, and their values.
struct GateArgs<'a> {
    header: u8,
    watchdog: &'a str,
    address: &'a str,
    client_tag: Option<i64>,
    max: Option<i64>,
}

fn scan_int(word: Option<&str>) -> Option<i64> {
    let w = word?.as_bytes();
    let digits = match w.first() {
        Some(b'-') | Some(b'+') => &w[1..],
        _ => w,
    };
    if digits.first().is_some_and(u8::is_ascii_digit) {
        Some(c_atoi(w))
    } else {
        None
    }
}

fn scan_args(args: &str) -> Option<GateArgs<'_>> {
    let header = *args.as_bytes().first()?;
    let rest = args.get(1..)?;
    let mut words = rest.split_ascii_whitespace();
    let watchdog = words.next()?;
    let address = words.next()?;
    let client_tag = scan_int(words.next());
    let max = client_tag.and_then(|_| scan_int(words.next()));
    Some(GateArgs {
        header,
        watchdog,
        address,
        client_tag,
        max,
    })
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            node: Weak::new(),
            handle: 0,
            listen_id: -1,
            watchdog: 0,
            broker: 0,
            client_tag: PTYPE_CLIENT as i32,
            header_size: 2,
            max_connection: 0,
            connections: HashMap::new(),
        }
    }

    fn start_listen(&mut self, ctx: &Context, address: &str) -> Result<(), String> {
        let (host, port) = match address.rfind(':') {
            Some(i) => (&address[..i], c_atoi(&address.as_bytes()[i + 1..])),
            None => ("", c_atoi(address.as_bytes())),
        };
        if port <= 0 || port > i32::MAX as i64 {
            return Err(format!("Invalid gate address {address}"));
        }
        let socket = ctx.node().socket();
        match socket.listen(ctx.handle(), host, port as i32, BACKLOG) {
            Ok(id) => {
                self.listen_id = id;
                socket.start(ctx.handle(), id);
                Ok(())
            }
            // The reference fails the launch without a message here.
            Err(_) => Err(String::new()),
        }
    }

    /// Sends a text line to the watchdog (if there is one).
    fn report(&self, ctx: &Context, text: String) {
        if self.watchdog != 0 {
            ctx.send(0, self.watchdog, PTYPE_TEXT as i32, 0, Payload::from(text));
        }
    }

    /// A text command (`_ctrl`).
    fn control(&mut self, ctx: &Context, msg: &[u8]) {
        if msg.is_empty() {
            return;
        }
        // C string semantics: the text ends at the first NUL.
        let text = match msg.iter().position(|&b| b == 0) {
            Some(n) => &msg[..n],
            None => msg,
        };
        let cut = msg.iter().position(|&b| b == b' ').unwrap_or(msg.len());
        let word = &msg[..cut];
        // The reference compares the word's length of each keyword, so a
        // prefix of a keyword selects it.
        let is = |keyword: &[u8]| keyword.len() + 1 > word.len() && keyword.starts_with(word);
        let mut param = &msg[cut..];
        while let Some((&b' ', rest)) = param.split_first() {
            param = rest;
        }
        if let Some(n) = param.iter().position(|&b| b == 0) {
            param = &param[..n];
        }
        let socket = ctx.node().socket();
        if is(b"kick") {
            let id = c_atoi(param) as i32;
            if self.connections.contains_key(&id) {
                socket.close(ctx.handle(), id);
            }
        } else if is(b"forward") {
            let mut parts = param.splitn(3, |&b| b == b' ');
            let (Some(id), Some(agent), Some(client)) = (parts.next(), parts.next(), parts.next())
            else {
                return;
            };
            let id = c_atoi(id) as i32;
            let agent = parse_hex_handle(&String::from_utf8_lossy(agent.get(1..).unwrap_or(&[])));
            let client = parse_hex_handle(&String::from_utf8_lossy(client.get(1..).unwrap_or(&[])));
            if let Some(c) = self.connections.get_mut(&id) {
                c.agent = agent;
                c.client = client;
            }
        } else if is(b"broker") {
            self.broker = query_name(ctx, &String::from_utf8_lossy(param));
        } else if is(b"start") {
            let id = c_atoi(param) as i32;
            if self.connections.contains_key(&id) {
                socket.start(ctx.handle(), id);
            }
        } else if is(b"close") {
            if self.listen_id >= 0 {
                socket.close(ctx.handle(), self.listen_id);
                self.listen_id = -1;
            }
        } else {
            ctx.log(format!(
                "[gate] Unknown command : {}",
                String::from_utf8_lossy(text)
            ));
        }
    }

    /// Hands one packet of connection `id` on.
    fn forward(&self, ctx: &Context, id: i32, packet: Payload) {
        if id <= 0 {
            return;
        }
        let Some(c) = self.connections.get(&id) else {
            return;
        };
        let tag = self.client_tag | PTYPE_TAG_DONTCOPY;
        if self.broker != 0 {
            ctx.send(0, self.broker, tag, id, packet);
        } else if c.agent != 0 {
            ctx.send(c.client, c.agent, tag, id, packet);
        } else if self.watchdog != 0 {
            let mut line = Payload::with_capacity(packet.len() + 32);
            line.extend_from_slice(format!("{id} data ").as_bytes());
            line.extend_from_slice(packet.as_slice());
            ctx.send(
                0,
                self.watchdog,
                PTYPE_TEXT as i32 | PTYPE_TAG_DONTCOPY,
                id,
                line,
            );
        }
    }

    fn receive(&mut self, ctx: &Context, id: i32, data: Payload) {
        let header_size = self.header_size;
        let Some(c) = self.connections.get_mut(&id) else {
            ctx.log(format!("Drop unknown connection {id} message"));
            ctx.node().socket().close(ctx.handle(), id);
            return;
        };
        c.buffer.push(data);
        let mut packets = Vec::new();
        let mut too_big = false;
        loop {
            match c.buffer.next_packet(header_size) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(_) => {
                    c.buffer.clear();
                    too_big = true;
                    break;
                }
            }
        }
        for p in packets {
            self.forward(ctx, id, p);
        }
        if too_big {
            ctx.node().socket().close(ctx.handle(), id);
            ctx.log("Recv socket message > 16M");
        }
    }

    fn socket_message(&mut self, ctx: &Context, msg: &Message) {
        let Some(view) = parse(msg.payload.as_slice()) else {
            ctx.log("[gate] Invalid socket message");
            return;
        };
        let socket = ctx.node().socket();
        match view.kind {
            SKYNET_SOCKET_TYPE_DATA => {
                // SAFETY: a DATA message's buffer belongs to its receiver.
                let data = unsafe { view.take_buffer() };
                self.receive(ctx, view.id, data);
            }
            SKYNET_SOCKET_TYPE_CONNECT
                if view.id != self.listen_id && !self.connections.contains_key(&view.id) =>
            {
                ctx.log(format!("Close unknown connection {}", view.id));
                socket.close(ctx.handle(), view.id);
            }
            SKYNET_SOCKET_TYPE_CLOSE | SKYNET_SOCKET_TYPE_ERROR
                if self.connections.remove(&view.id).is_some() =>
            {
                self.report(ctx, format!("{} close", view.id));
                socket.close(ctx.handle(), view.id);
            }
            SKYNET_SOCKET_TYPE_ACCEPT => {
                if view.id != self.listen_id {
                    return;
                }
                let id = view.ud;
                if self.connections.len() >= self.max_connection {
                    socket.close(ctx.handle(), id);
                    return;
                }
                self.connections.insert(
                    id,
                    Connection {
                        agent: 0,
                        client: 0,
                        buffer: DataBuffer::default(),
                    },
                );
                let name = &view.text[..view.text.len().min(REMOTE_NAME_MAX)];
                let name = String::from_utf8_lossy(name);
                self.report(ctx, format!("{id} open {id} {name}:0"));
                ctx.log(format!("socket open: {id:x}"));
            }
            SKYNET_SOCKET_TYPE_WARNING => {
                ctx.log(format!("fd ({}) send buffer ({})K", view.id, view.ud));
            }
            _ => {}
        }
    }

    /// A PTYPE_CLIENT message: data for connection `id` in its last 4
    /// bytes.
    fn client_message(&mut self, ctx: &Context, msg: Message) {
        let len = msg.payload.len();
        if len <= 4 {
            ctx.log(format!("Invalid client message from {:x}", msg.source));
            return;
        }
        let tail = &msg.payload.as_slice()[len - 4..];
        let id = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if !self.connections.contains_key(&id) {
            ctx.log(format!("Invalid client id {id} from {:x}", msg.source));
            return;
        }
        let mut data = msg.payload;
        data.truncate(len - 4);
        ctx.node().socket().send(id, SendData::Owned(data));
    }
}

impl Service for Gate {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let Some(a) = scan_args(args).filter(|a| a.client_tag.is_some()) else {
            return Err(format!("Invalid gate parm {args}"));
        };
        let max = a.max.unwrap_or(0);
        if max <= 0 {
            return Err("Need max connection".to_string());
        }
        if a.header != b'S' && a.header != b'L' {
            return Err("Invalid data header style".to_string());
        }
        let client_tag = a.client_tag.unwrap_or(0) as i32;
        self.client_tag = if client_tag == 0 {
            PTYPE_CLIENT as i32
        } else {
            client_tag
        };
        if a.watchdog.starts_with('!') {
            self.watchdog = 0;
        } else {
            self.watchdog = query_name(ctx, a.watchdog);
            if self.watchdog == 0 {
                return Err(format!("Invalid watchdog {}", a.watchdog));
            }
        }
        self.node = Arc::downgrade(ctx.node());
        self.handle = ctx.handle();
        self.max_connection = max as usize;
        self.header_size = if a.header == b'S' { 2 } else { 4 };
        self.start_listen(ctx, a.address)
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match msg.ptype {
            PTYPE_TEXT => self.control(ctx, msg.payload.as_slice()),
            PTYPE_CLIENT => self.client_message(ctx, msg),
            PTYPE_SOCKET => self.socket_message(ctx, &msg),
            _ => {}
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let socket = node.socket();
        for id in self.connections.keys() {
            socket.close(self.handle, *id);
        }
        if self.listen_id >= 0 {
            socket.close(self.handle, self.listen_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s_frame(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn drain(db: &mut DataBuffer, header: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(Some(p)) = db.next_packet(header) {
            out.push(p.as_slice().to_vec());
        }
        out
    }

    #[test]
    fn packets_split_and_coalesced() {
        let stream = s_frame(&[b"one", b"", b"three", b"four!"]);
        for cut in 1..stream.len() {
            let mut db = DataBuffer::default();
            db.push(Payload::from(&stream[..cut]));
            let mut got = drain(&mut db, 2);
            db.push(Payload::from(&stream[cut..]));
            got.extend(drain(&mut db, 2));
            assert_eq!(
                got,
                vec![b"one".to_vec(), b"three".to_vec(), b"four!".to_vec()]
            );
            assert_eq!(db.size, 0);
        }
    }

    #[test]
    fn long_headers_and_oversize() {
        let mut db = DataBuffer::default();
        db.push(Payload::from(&[0u8, 0, 0, 3, b'a'][..]));
        assert!(matches!(db.next_packet(4), Ok(None)));
        db.push(Payload::from(&b"bc"[..]));
        assert_eq!(drain(&mut db, 4), vec![b"abc".to_vec()]);
        db.push(Payload::from(&[1u8, 0, 0, 0][..]));
        assert_eq!(db.next_packet(4).err(), Some(0x100_0000));
        let mut db = DataBuffer::default();
        db.push(Payload::from(&[0xffu8, 0xff][..]));
        assert!(
            matches!(db.next_packet(2), Ok(None)),
            "64K-1 fits the 16M limit"
        );
    }

    #[test]
    fn arguments_scan_like_sscanf() {
        let a = scan_args("S .watchdog 127.0.0.1:8888 0 100").unwrap();
        assert_eq!(
            (a.header, a.watchdog, a.address, a.client_tag, a.max),
            (b'S', ".watchdog", "127.0.0.1:8888", Some(0), Some(100))
        );
        let a = scan_args("L ! 8000 3").unwrap();
        assert_eq!((a.client_tag, a.max), (Some(3), None));
        assert!(scan_args("S .w addr x 1").unwrap().client_tag.is_none());
        assert!(scan_args("S .w").is_none());
        assert_eq!(c_atoi(b" 42x"), 42);
        assert_eq!(c_atoi(b"-7"), -7);
        assert_eq!(c_atoi(b"x"), 0);
    }
}

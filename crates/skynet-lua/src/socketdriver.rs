//! The `skynet.socketdriver` Lua module: the socket calls of a Lua service
//! (connect, listen, send, close, UDP, ...) on the node's socket layer,
//! the read buffer that `skynet.socket` keeps per connection, and
//! `unpack` for PTYPE_SOCKET messages. Stands for the reference's
//! `lualib-src/lua-socket.c`, with the same names, arguments, results and
//! error texts.
//!
//! Written against the raw Lua C API like `core.rs`. Errors are plain
//! strings raised with `lua_error`, which unwinds with `longjmp`: every
//! function reads its arguments before it owns anything, and values with a
//! destructor (a result list from the socket layer) are turned into Lua
//! values inside a protected call, so that an error there unwinds no Rust
//! frame.
//!
//! The read buffer is a userdata holding the received message blocks in
//! order; it frees them when cleared, read out or collected. The `pool`
//! table the reference threads through the buffer calls is still required
//! where the reference requires it, but nothing is kept in it.

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};
use skynet_core::socket::address::{decode_udp_address, UDP_ADDRESS_SIZE, UDP_ADDRESS_V4_SIZE};
use skynet_core::socket::message::parse;
use skynet_core::socket::sys;
use skynet_core::socket::{
    SendData, SocketInfo, SocketInfoKind, SocketServer, SKYNET_SOCKET_TYPE_UDP,
};
use skynet_core::{Context, Handle, Payload};

use crate::snlua::SnluaShared;

const BUFFER_META: &CStr = c"skynet.socketdriver.buffer";
/// Default listen backlog.
const BACKLOG: ffi::lua_Integer = 32;

/// One received block: a C buffer and its size.
struct Block {
    msg: *mut u8,
    size: usize,
}

/// The bytes received on one connection and not read yet.
#[derive(Default)]
struct SocketBuffer {
    blocks: VecDeque<Block>,
    /// Bytes in the buffer.
    size: usize,
    /// Bytes of the first block already read.
    offset: usize,
}

impl SocketBuffer {
    /// Frees the first block.
    fn drop_front(&mut self) {
        if let Some(b) = self.blocks.pop_front() {
            // SAFETY: every block is a C buffer handed over by `push`.
            unsafe { libc::free(b.msg.cast()) };
        }
        self.offset = 0;
    }

    fn clear(&mut self) {
        while !self.blocks.is_empty() {
            self.drop_front();
        }
        self.size = 0;
    }

    /// Copies the next `n` bytes to `out` (the first `keep` of them; the
    /// rest, a separator, is skipped) and removes them.
    ///
    /// # Safety
    /// `out` has room for `keep` bytes; `keep <= n <= self.size`.
    unsafe fn take(&mut self, n: usize, keep: usize, out: *mut u8) {
        self.size -= n;
        let mut n = n;
        let mut written = 0usize;
        while n > 0 {
            let Some(front) = self.blocks.front() else {
                break;
            };
            let avail = front.size - self.offset;
            let step = avail.min(n);
            let copy = step.min(keep - written);
            if copy > 0 {
                ptr::copy_nonoverlapping(front.msg.add(self.offset), out.add(written), copy);
                written += copy;
            }
            self.offset += step;
            n -= step;
            if self.offset == front.size {
                self.drop_front();
            }
        }
    }

    /// Where `sep` first starts, from the read position.
    fn find(&self, sep: &[u8]) -> Option<usize> {
        if self.blocks.is_empty() || self.size < sep.len() {
            return None;
        }
        // Walk the bytes once, keeping a window of the candidates.
        let mut pos = 0usize;
        let last = self.size - sep.len();
        let mut offset = self.offset;
        for (bi, b) in self.blocks.iter().enumerate() {
            for k in offset..b.size {
                if pos > last {
                    return None;
                }
                // SAFETY: k < b.size.
                let first = unsafe { *b.msg.add(k) };
                if sep.is_empty() || (first == sep[0] && self.matches_at(bi, k, sep)) {
                    return Some(pos);
                }
                pos += 1;
            }
            offset = 0;
        }
        None
    }

    /// Whether `sep` starts at byte `k` of block `bi`.
    fn matches_at(&self, mut bi: usize, mut k: usize, sep: &[u8]) -> bool {
        for &want in sep {
            let block = loop {
                let Some(b) = self.blocks.get(bi) else {
                    return false;
                };
                if k < b.size {
                    break b;
                }
                bi += 1;
                k = 0;
            };
            // SAFETY: k < block.size.
            if unsafe { *block.msg.add(k) } != want {
                return false;
            }
            k += 1;
        }
        true
    }
}

unsafe fn buffer_at<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a mut SocketBuffer> {
    (ffi::luaL_testudata(l, idx, BUFFER_META.as_ptr()) as *mut SocketBuffer).as_mut()
}

unsafe extern "C-unwind" fn buffer_gc(l: *mut lua_State) -> c_int {
    if let Some(sb) = buffer_at(l, 1) {
        sb.clear();
        // Leaves an empty buffer behind, so a second call is harmless.
        drop(std::mem::take(sb));
    }
    0
}

/// Raises the concatenation of `parts` with the caller's position, as
/// `luaL_error` does.
unsafe fn raise(l: *mut lua_State, parts: &[&[u8]]) -> ! {
    ffi::luaL_where(l, 1);
    for p in parts {
        ffi::lua_pushlstring(l, p.as_ptr() as *const c_char, p.len());
    }
    ffi::lua_concat(l, parts.len() as c_int + 1);
    ffi::lua_error(l)
}

unsafe fn check_bytes<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, idx, &mut len);
    std::slice::from_raw_parts(p as *const u8, len)
}

/// The service's context (upvalue 1 is the snlua shared state).
unsafe fn context<'a>(l: *mut lua_State) -> &'a Context {
    let shared = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const SnluaShared;
    (*shared).context()
}

/// Opens `skynet.socketdriver`. The registry must hold `skynet_context`
/// (set by snlua).
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_socketdriver(l: *mut lua_State) -> c_int {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    let shared = ffi::lua_touserdata(l, -1);
    ffi::lua_pop(l, 1);
    if shared.is_null() {
        raise(l, &[b"Init skynet context first"]);
    }
    let functions: [(&CStr, ffi::lua_CFunction); 28] = [
        (c"buffer", lbuffer),
        (c"push", lpush),
        (c"pop", lpop),
        (c"drop", ldrop),
        (c"readall", lreadall),
        (c"clear", lclear),
        (c"readline", lreadline),
        (c"str2p", lstr2p),
        (c"header", lheader),
        (c"info", linfo),
        (c"unpack", lunpack),
        (c"connect", lconnect),
        (c"close", lclose),
        (c"shutdown", lshutdown),
        (c"listen", llisten),
        (c"send", lsend),
        (c"lsend", lsendlow),
        (c"bind", lbind),
        (c"start", lstart),
        (c"pause", lpause),
        (c"nodelay", lnodelay),
        (c"udp", ludp),
        (c"udp_connect", ludp_connect),
        (c"udp_dial", ludp_dial),
        (c"udp_listen", ludp_listen),
        (c"udp_send", ludp_send),
        (c"udp_address", ludp_address),
        (c"resolve", lresolve),
    ];
    ffi::lua_createtable(l, 0, functions.len() as c_int);
    for (name, f) in functions {
        ffi::lua_pushlightuserdata(l, shared);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    1
}

// ---------------------------------------------------------------- buffer

unsafe extern "C-unwind" fn lbuffer(l: *mut lua_State) -> c_int {
    let sb = ffi::lua_newuserdatauv(l, std::mem::size_of::<SocketBuffer>(), 0) as *mut SocketBuffer;
    // SAFETY: a fresh userdata block, aligned for any Lua value (at least
    // pointer alignment) and large enough for a SocketBuffer.
    ptr::write(sb, SocketBuffer::default());
    if ffi::luaL_newmetatable(l, BUFFER_META.as_ptr()) != 0 {
        ffi::lua_pushcfunction(l, buffer_gc);
        ffi::lua_setfield(l, -2, c"__gc".as_ptr());
    }
    ffi::lua_setmetatable(l, -2);
    1
}

/// `push(buffer, pool, msg, sz)`: appends a received block (the buffer
/// takes it over); returns the buffered size.
unsafe extern "C-unwind" fn lpush(l: *mut lua_State) -> c_int {
    let Some(sb) = buffer_at(l, 1) else {
        raise(l, &[b"need buffer object at param 1"]);
    };
    if ffi::lua_type(l, 3) != ffi::LUA_TLIGHTUSERDATA || ffi::lua_touserdata(l, 3).is_null() {
        raise(l, &[b"need message block at param 3"]);
    }
    let msg = ffi::lua_touserdata(l, 3) as *mut u8;
    ffi::luaL_checktype(l, 2, ffi::LUA_TTABLE);
    let size = ffi::luaL_checkinteger(l, 4);
    if size < 0 {
        raise(l, &[b"need message block at param 3"]);
    }
    sb.blocks.push_back(Block {
        msg,
        size: size as usize,
    });
    sb.size += size as usize;
    ffi::lua_pushinteger(l, sb.size as ffi::lua_Integer);
    1
}

/// Pushes the next `n` bytes (without a trailing `skip`) as a string.
unsafe fn push_taken(l: *mut lua_State, sb: &mut SocketBuffer, n: usize, skip: usize) {
    let keep = n - skip;
    let mut b: ffi::luaL_Buffer = std::mem::zeroed();
    let out = ffi::luaL_buffinitsize(l, &mut b, keep) as *mut u8;
    sb.take(n, keep, out);
    ffi::luaL_pushresultsize(&mut b, keep);
}

/// `pop(buffer, pool, sz)`: `sz` bytes (or nil when fewer are buffered),
/// and the size left.
unsafe extern "C-unwind" fn lpop(l: *mut lua_State) -> c_int {
    let Some(sb) = buffer_at(l, 1) else {
        raise(l, &[b"Need buffer object at param 1"]);
    };
    ffi::luaL_checktype(l, 2, ffi::LUA_TTABLE);
    let n = ffi::luaL_checkinteger(l, 3);
    if n <= 0 || sb.size < n as usize {
        ffi::lua_pushnil(l);
    } else {
        push_taken(l, sb, n as usize, 0);
    }
    ffi::lua_pushinteger(l, sb.size as ffi::lua_Integer);
    2
}

unsafe extern "C-unwind" fn lclear(l: *mut lua_State) -> c_int {
    let Some(sb) = buffer_at(l, 1) else {
        if ffi::lua_isnil(l, 1) != 0 {
            return 0;
        }
        raise(l, &[b"Need buffer object at param 1"]);
    };
    ffi::luaL_checktype(l, 2, ffi::LUA_TTABLE);
    sb.clear();
    0
}

unsafe extern "C-unwind" fn lreadall(l: *mut lua_State) -> c_int {
    let Some(sb) = buffer_at(l, 1) else {
        raise(l, &[b"Need buffer object at param 1"]);
    };
    ffi::luaL_checktype(l, 2, ffi::LUA_TTABLE);
    let n = sb.size;
    push_taken(l, sb, n, 0);
    sb.clear();
    1
}

unsafe extern "C-unwind" fn ldrop(l: *mut lua_State) -> c_int {
    let msg = ffi::lua_touserdata(l, 1);
    ffi::luaL_checkinteger(l, 2);
    if ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA {
        // SAFETY: a message block from the socket layer, given up here.
        libc::free(msg);
    }
    0
}

/// `readline(buffer, pool|nil, sep)`: with a pool, the line before `sep`
/// (removed with it); without, only whether a line is there.
unsafe extern "C-unwind" fn lreadline(l: *mut lua_State) -> c_int {
    let Some(sb) = buffer_at(l, 1) else {
        raise(l, &[b"Need buffer object at param 1"]);
    };
    let check_only = ffi::lua_istable(l, 2) == 0;
    let sep = check_bytes(l, 3);
    let Some(at) = sb.find(sep) else {
        return 0;
    };
    if check_only {
        ffi::lua_pushboolean(l, 1);
    } else {
        push_taken(l, sb, at + sep.len(), sep.len());
    }
    1
}

unsafe extern "C-unwind" fn lstr2p(l: *mut lua_State) -> c_int {
    let s = check_bytes(l, 1);
    let (p, n) = Payload::from_slice(s).into_raw();
    ffi::lua_pushlightuserdata(l, p.cast());
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    2
}

unsafe extern "C-unwind" fn lheader(l: *mut lua_State) -> c_int {
    let s = check_bytes(l, 1);
    if s.is_empty() || s.len() > 4 {
        raise(l, &[b"Invalid read ", s]);
    }
    let v = s.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
    ffi::lua_pushinteger(l, v as ffi::lua_Integer);
    1
}

// ------------------------------------------------------------- messages

/// `unpack(msg, sz)`: type, id, ud, then the buffer (light userdata) or
/// the inline text, and for UDP the sender's address string.
unsafe extern "C-unwind" fn lunpack(l: *mut lua_State) -> c_int {
    let msg = ffi::lua_touserdata(l, 1) as *const u8;
    let size = ffi::luaL_checkinteger(l, 2);
    if msg.is_null() || size < 0 {
        raise(l, &[b"Invalid socket message"]);
    }
    let Some(view) = parse(std::slice::from_raw_parts(msg, size as usize)) else {
        raise(l, &[b"Invalid socket message"]);
    };
    ffi::lua_pushinteger(l, view.kind as ffi::lua_Integer);
    ffi::lua_pushinteger(l, view.id as ffi::lua_Integer);
    ffi::lua_pushinteger(l, view.ud as ffi::lua_Integer);
    if view.buffer.is_null() {
        ffi::lua_pushlstring(l, view.text.as_ptr() as *const c_char, view.text.len());
        return 4;
    }
    ffi::lua_pushlightuserdata(l, view.buffer.cast());
    if view.kind == SKYNET_SOCKET_TYPE_UDP && view.ud >= 0 {
        // The sender's address follows the datagram.
        let at = view.buffer.add(view.ud as usize);
        let len = match *at {
            1 => UDP_ADDRESS_V4_SIZE,
            2 => UDP_ADDRESS_SIZE,
            _ => return 4,
        };
        ffi::lua_pushlstring(l, at as *const c_char, len);
        return 5;
    }
    4
}

// ------------------------------------------------------------- addresses

/// `strtoul(s, &end, 10)` that must use the whole text and fit a port.
fn parse_port(s: &[u8]) -> Option<i32> {
    let t = match s.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return None,
    };
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if negative && v != 0 {
        // Negated in unsigned arithmetic: far above any port.
        return None;
    }
    (v <= u16::MAX as u64).then_some(v as i32)
}

fn find(hay: &[u8], b: u8) -> Option<usize> {
    hay.iter().position(|&c| c == b)
}

/// The host and port of `addr` (argument 1 or 2) with the optional port
/// argument at `port_index`: without it, `addr` is `host:port` or
/// `[ipv6]:port`. Raises the reference's errors.
unsafe fn address_port(
    l: *mut lua_State,
    addr: &[u8],
    port_index: c_int,
) -> (&[u8], ffi::lua_Integer) {
    if ffi::lua_isnoneornil(l, port_index) == 0 {
        return (addr, ffi::luaL_optinteger(l, port_index, 0));
    }
    let (host, rest) = if let Some(open) = find(addr, b'[') {
        let Some(close) = find(addr, b']') else {
            raise(l, &[b"Invalid address ", addr, b"."])
        };
        let host = if close > open {
            &addr[open + 1..close]
        } else {
            &[][..]
        };
        let Some(colon) = find(&addr[close + 1..], b':') else {
            raise(l, &[b"Invalid address ", addr, b"."])
        };
        (host, &addr[close + 1 + colon + 1..])
    } else {
        let Some(colon) = find(addr, b':') else {
            raise(l, &[b"Invalid address ", addr, b"."])
        };
        (&addr[..colon], &addr[colon + 1..])
    };
    match parse_port(rest) {
        Some(p) => (host, p as ffi::lua_Integer),
        None => raise(l, &[b"Invalid port in address ", addr, b"."]),
    }
}

/// A host name as text (hosts are ASCII; other bytes cannot resolve).
fn host_text(host: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(host)
}

// ------------------------------------------------------------- sockets

unsafe extern "C-unwind" fn lconnect(l: *mut lua_State) -> c_int {
    let addr = check_bytes(l, 1);
    let (host, port) = address_port(l, addr, 2);
    if port == 0 {
        raise(l, &[b"Invalid port"]);
    }
    let ctx = context(l);
    let id = ctx
        .node()
        .socket()
        .connect(ctx.handle(), &host_text(host), port as i32)
        .unwrap_or(-1);
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn llisten(l: *mut lua_State) -> c_int {
    let addr = check_bytes(l, 1);
    let (host, port) = address_port(l, addr, 2);
    let backlog = ffi::luaL_optinteger(l, 3, BACKLOG);
    let ctx = context(l);
    let id = ctx
        .node()
        .socket()
        .listen(ctx.handle(), &host_text(host), port as i32, backlog as i32)
        .unwrap_or(-1);
    if id < 0 {
        raise(l, &[b"Listen error"]);
    }
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    1
}

/// What a send takes from the stack.
enum Outgoing {
    /// Bytes that stay valid while the call runs (a string or userdata).
    Lent(*const u8, usize),
    /// A C buffer the caller gives away.
    Given(*mut u8, usize),
}

impl Outgoing {
    /// # Safety
    /// For `Lent`, the bytes are still on the Lua stack; for `Given`, the
    /// buffer came from the C allocator and is not used again by Lua.
    unsafe fn into_send<'a>(self) -> SendData<'a> {
        match self {
            Outgoing::Lent(p, n) if n > 0 && !p.is_null() => {
                SendData::Borrowed(std::slice::from_raw_parts(p, n))
            }
            Outgoing::Lent(_, _) => SendData::Borrowed(&[]),
            Outgoing::Given(p, n) => SendData::Owned(Payload::from_raw(p, n)),
        }
    }
}

/// Reads the data argument of a send at `idx` (and its size at idx + 1),
/// as the reference's `get_buffer`: a string, a table of strings, a light
/// userdata with its size (given away), or a full userdata (its bytes).
unsafe fn get_buffer(l: *mut lua_State, idx: c_int) -> Outgoing {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TUSERDATA => {
            let p = ffi::lua_touserdata(l, idx) as *const u8;
            let len = ffi::lua_rawlen(l, idx);
            let n = if ffi::lua_isinteger(l, idx + 1) != 0 {
                (ffi::lua_tointeger(l, idx + 1).max(0) as usize).min(len)
            } else {
                len
            };
            Outgoing::Lent(p, n)
        }
        ffi::LUA_TLIGHTUSERDATA => {
            let p = ffi::lua_touserdata(l, idx) as *mut u8;
            let size = if ffi::lua_isinteger(l, idx + 1) != 0 {
                ffi::lua_tointeger(l, idx + 1)
            } else {
                -1
            };
            if size < 0 {
                ffi::luaL_argerror(l, idx + 1, c"size expected".as_ptr());
                ffi::lua_error(l)
            }
            Outgoing::Given(p, size as usize)
        }
        ffi::LUA_TTABLE => {
            let total = count_size(l, idx);
            let buf = libc::malloc(total.max(1)) as *mut u8;
            if buf.is_null() {
                raise(l, &[b"not enough memory"])
            }
            if !concat_table(l, idx, buf, total) {
                libc::free(buf.cast());
                raise(l, &[b"Invalid strings table"])
            }
            Outgoing::Given(buf, total)
        }
        _ => {
            let s = check_bytes(l, idx);
            Outgoing::Lent(s.as_ptr(), s.len())
        }
    }
}

unsafe fn count_size(l: *mut lua_State, idx: c_int) -> usize {
    let mut total = 0usize;
    let mut i = 1;
    while ffi::lua_geti(l, idx, i) != ffi::LUA_TNIL {
        let mut len = 0usize;
        ffi::luaL_checklstring(l, -1, &mut len);
        total += len;
        ffi::lua_pop(l, 1);
        i += 1;
    }
    ffi::lua_pop(l, 1);
    total
}

/// Copies the strings of the table into `buf` (`total` bytes); false when
/// they do not add up to `total` any more.
unsafe fn concat_table(l: *mut lua_State, idx: c_int, buf: *mut u8, total: usize) -> bool {
    let mut left = total;
    let mut at = buf;
    let mut i = 1;
    while ffi::lua_geti(l, idx, i) != ffi::LUA_TNIL {
        let mut len = 0usize;
        let s = ffi::lua_tolstring(l, -1, &mut len) as *const u8;
        if s.is_null() || len > left {
            ffi::lua_pop(l, 1);
            return false;
        }
        ptr::copy_nonoverlapping(s, at, len);
        at = at.add(len);
        left -= len;
        ffi::lua_pop(l, 1);
        i += 1;
    }
    ffi::lua_pop(l, 1);
    left == 0
}

unsafe fn send_with(l: *mut lua_State, low: bool) -> c_int {
    let id = ffi::luaL_checkinteger(l, 1) as i32;
    let data = get_buffer(l, 2).into_send();
    let ctx = context(l);
    let server = ctx.node().socket();
    let ok = if low {
        server.send_low(id, data)
    } else {
        server.send(id, data)
    };
    ffi::lua_pushboolean(l, ok as c_int);
    1
}

unsafe extern "C-unwind" fn lsend(l: *mut lua_State) -> c_int {
    send_with(l, false)
}

unsafe extern "C-unwind" fn lsendlow(l: *mut lua_State) -> c_int {
    send_with(l, true)
}

/// `socketdriver.close / shutdown / start / pause (id)`: requests on one
/// socket made as the calling service (the socket thread checks that the
/// service owns it where the reference does).
macro_rules! socket_id_requests {
    ($($name:ident => $request:ident),* $(,)?) => {$(
        unsafe extern "C-unwind" fn $name(l: *mut lua_State) -> c_int {
            let id = ffi::luaL_checkinteger(l, 1) as i32;
            let ctx = context(l);
            ctx.node().socket().$request(ctx.handle(), id);
            0
        }
    )*};
}

socket_id_requests!(lclose => close, lshutdown => shutdown, lstart => start, lpause => pause);

unsafe extern "C-unwind" fn lbind(l: *mut lua_State) -> c_int {
    let fd = ffi::luaL_checkinteger(l, 1) as i32;
    let ctx = context(l);
    let id = ctx.node().socket().bind(ctx.handle(), fd).unwrap_or(-1);
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lnodelay(l: *mut lua_State) -> c_int {
    let id = ffi::luaL_checkinteger(l, 1) as i32;
    context(l).node().socket().nodelay(id);
    0
}

unsafe extern "C-unwind" fn ludp(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 1, &mut len) as *const u8;
    let (host, port) = if p.is_null() {
        (None, 0)
    } else {
        let addr = std::slice::from_raw_parts(p, len);
        let (h, port) = address_port(l, addr, 2);
        (Some(h), port)
    };
    let ctx = context(l);
    let host = host.map(host_text);
    let id = ctx
        .node()
        .socket()
        .udp(ctx.handle(), host.as_deref(), port as i32)
        .unwrap_or(-1);
    drop(host);
    if id < 0 {
        raise(l, &[b"udp init failed"]);
    }
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn ludp_connect(l: *mut lua_State) -> c_int {
    let id = ffi::luaL_checkinteger(l, 1) as i32;
    let addr = check_bytes(l, 2);
    let (host, port) = address_port(l, addr, 3);
    let ok = context(l)
        .node()
        .socket()
        .udp_connect(id, &host_text(host), port as i32)
        .is_ok();
    if !ok {
        raise(l, &[b"udp connect failed"]);
    }
    0
}

/// A UDP socket made from the `address, port` arguments by `open` (dial or
/// listen), as the calling service; raises `failure` when it cannot be made.
unsafe fn open_udp(
    l: *mut lua_State,
    open: fn(&SocketServer, Handle, &str, i32) -> std::io::Result<i32>,
    failure: &[u8],
) -> c_int {
    let addr = check_bytes(l, 1);
    let (host, port) = address_port(l, addr, 2);
    let ctx = context(l);
    let id = open(
        ctx.node().socket(),
        ctx.handle(),
        &host_text(host),
        port as i32,
    )
    .unwrap_or(-1);
    if id < 0 {
        raise(l, &[failure]);
    }
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn ludp_dial(l: *mut lua_State) -> c_int {
    open_udp(l, SocketServer::udp_dial, b"udp dial host failed")
}

unsafe extern "C-unwind" fn ludp_listen(l: *mut lua_State) -> c_int {
    open_udp(l, SocketServer::udp_listen, b"udp listen host failed")
}

unsafe extern "C-unwind" fn ludp_send(l: *mut lua_State) -> c_int {
    let id = ffi::luaL_checkinteger(l, 1) as i32;
    let address = check_bytes(l, 2);
    let data = get_buffer(l, 3).into_send();
    let ok = context(l).node().socket().udp_send(id, address, data);
    ffi::lua_pushboolean(l, ok as c_int);
    1
}

unsafe extern "C-unwind" fn ludp_address(l: *mut lua_State) -> c_int {
    let raw = check_bytes(l, 1);
    let Some((ip, port)) = decode_udp_address(raw) else {
        raise(l, &[b"Invalid udp address"]);
    };
    ffi::lua_pushlstring(l, ip.as_ptr() as *const c_char, ip.len());
    drop(ip);
    ffi::lua_pushinteger(l, port as ffi::lua_Integer);
    2
}

// ------------------------------------------------------- table results

/// Runs `build` on the Lua stack in protected mode with `data` as its
/// light userdata argument; its one result is left on the stack. An error
/// comes back as `Err` (message on the stack) instead of unwinding the
/// caller's frame.
unsafe fn protected(l: *mut lua_State, build: ffi::lua_CFunction, data: *mut c_void) -> bool {
    ffi::lua_pushcfunction(l, build);
    ffi::lua_pushlightuserdata(l, data);
    ffi::lua_pcall(l, 1, 1, 0) == ffi::LUA_OK
}

unsafe fn set_int(l: *mut lua_State, key: &CStr, v: i64) {
    ffi::lua_pushinteger(l, v);
    ffi::lua_setfield(l, -2, key.as_ptr());
}

unsafe fn set_bool(l: *mut lua_State, key: &CStr, v: bool) {
    ffi::lua_pushboolean(l, v as c_int);
    ffi::lua_setfield(l, -2, key.as_ptr());
}

unsafe fn set_str(l: *mut lua_State, key: &CStr, v: &str) {
    ffi::lua_pushlstring(l, v.as_ptr() as *const c_char, v.len());
    ffi::lua_setfield(l, -2, key.as_ptr());
}

/// Builds the `info` list from the `Vec<SocketInfo>` at argument 1.
unsafe extern "C-unwind" fn build_info(l: *mut lua_State) -> c_int {
    let list = &*(ffi::lua_touserdata(l, 1) as *const Vec<SocketInfo>);
    ffi::lua_createtable(l, list.len() as c_int, 0);
    for (i, si) in list.iter().enumerate() {
        ffi::lua_createtable(l, 0, 12);
        set_int(l, c"id", si.id as i64);
        set_int(l, c"address", si.owner as i64);
        let kind = match si.kind {
            SocketInfoKind::Listen => c"LISTEN",
            SocketInfoKind::Tcp => c"TCP",
            SocketInfoKind::Udp => c"UDP",
            SocketInfoKind::Bind => c"BIND",
            SocketInfoKind::Closing => c"CLOSING",
        };
        ffi::lua_pushstring(l, kind.as_ptr());
        ffi::lua_setfield(l, -2, c"type".as_ptr());
        if si.kind == SocketInfoKind::Listen {
            set_int(l, c"accept", si.read as i64);
            set_int(l, c"rtime", si.rtime as i64);
            if !si.name.is_empty() {
                set_str(l, c"sock", &si.name);
            }
        } else {
            set_int(l, c"read", si.read as i64);
            set_int(l, c"write", si.write as i64);
            set_int(l, c"wbuffer", si.wbuffer as i64);
            set_int(l, c"rtime", si.rtime as i64);
            set_int(l, c"wtime", si.wtime as i64);
            set_bool(l, c"reading", si.reading);
            set_bool(l, c"writing", si.writing);
            if !si.name.is_empty() {
                set_str(l, c"peer", &si.name);
            }
        }
        ffi::lua_seti(l, -2, i as ffi::lua_Integer + 1);
    }
    1
}

unsafe extern "C-unwind" fn linfo(l: *mut lua_State) -> c_int {
    let mut list = context(l).node().socket().info();
    let ok = protected(
        l,
        build_info,
        &mut list as *mut Vec<SocketInfo> as *mut c_void,
    );
    drop(list);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

/// Builds the `resolve` list from the `Vec<String>` at argument 1.
unsafe extern "C-unwind" fn build_strings(l: *mut lua_State) -> c_int {
    let list = &*(ffi::lua_touserdata(l, 1) as *const Vec<String>);
    ffi::lua_createtable(l, list.len() as c_int, 0);
    for (i, s) in list.iter().enumerate() {
        ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
        ffi::lua_seti(l, -2, i as ffi::lua_Integer + 1);
    }
    1
}

unsafe extern "C-unwind" fn lresolve(l: *mut lua_State) -> c_int {
    let host = check_bytes(l, 1);
    let found = sys::resolve(Some(&host_text(host)), None, 0, 0, 0);
    let mut list: Vec<String> = match found {
        Ok(v) => v.iter().map(|a| a.addr.ip().to_string()).collect(),
        Err(text) => {
            ffi::lua_pushlstring(l, text.as_ptr() as *const c_char, text.len());
            drop(text);
            ffi::luaL_where(l, 1);
            ffi::lua_insert(l, -2);
            ffi::lua_concat(l, 2);
            ffi::lua_error(l);
        }
    };
    let ok = protected(
        l,
        build_strings,
        &mut list as *mut Vec<String> as *mut c_void,
    );
    drop(list);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_like_strtoul() {
        assert_eq!(parse_port(b"8000"), Some(8000));
        assert_eq!(parse_port(b" 80"), Some(80));
        assert_eq!(parse_port(b"+1"), Some(1));
        assert_eq!(parse_port(b"-0"), Some(0));
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b"-1"), None);
        assert_eq!(parse_port(b""), None);
        assert_eq!(parse_port(b"80x"), None);
        assert_eq!(parse_port(b"99999999999999999999999"), None);
    }

    fn buffer_of(parts: &[&[u8]]) -> SocketBuffer {
        let mut sb = SocketBuffer::default();
        for p in parts {
            let (msg, size) = Payload::from_slice(p).into_raw();
            sb.blocks.push_back(Block { msg, size });
            sb.size += size;
        }
        sb
    }

    fn take(sb: &mut SocketBuffer, n: usize, skip: usize) -> Vec<u8> {
        let keep = n - skip;
        let mut out = vec![0u8; keep];
        // SAFETY: out has room for keep bytes; callers keep n <= size.
        unsafe { sb.take(n, keep, out.as_mut_ptr()) };
        out
    }

    #[test]
    fn take_spans_blocks_and_frees_them() {
        let mut sb = buffer_of(&[b"abc", b"de", b"fghij"]);
        assert_eq!(take(&mut sb, 2, 0), b"ab");
        assert_eq!(take(&mut sb, 4, 0), b"cdef");
        assert_eq!(sb.blocks.len(), 1);
        assert_eq!(sb.size, 4);
        assert_eq!(take(&mut sb, 4, 1), b"ghi");
        assert_eq!(sb.size, 0);
        assert!(sb.blocks.is_empty());
    }

    #[test]
    fn separators_are_found_across_blocks() {
        let sb = buffer_of(&[b"GET / HTTP/1.1\r", b"\nHost: x\r\n"]);
        assert_eq!(sb.find(b"\r\n"), Some(14));
        assert_eq!(sb.find(b"\n"), Some(15));
        assert_eq!(sb.find(b"Host"), Some(16));
        assert_eq!(sb.find(b"missing"), None);
        assert_eq!(sb.find(b""), Some(0));
        let mut sb = sb;
        assert_eq!(take(&mut sb, 16, 2), b"GET / HTTP/1.1");
        assert_eq!(sb.find(b"\r\n"), Some(7));
        sb.clear();
    }

    /// A Lua state with the module as global `driver`. The context is a
    /// stand-in: only functions that do not reach the node are called.
    fn lua_with_driver() -> mlua::Lua {
        let lua = mlua::Lua::new();
        lua.set_named_registry_value(
            "skynet_context",
            mlua::LightUserData(std::ptr::NonNull::<u8>::dangling().as_ptr().cast()),
        )
        .unwrap();
        // SAFETY: luaopen_skynet_socketdriver is a lua_CFunction.
        let open = unsafe { lua.create_c_function(luaopen_skynet_socketdriver) }.unwrap();
        let module: mlua::Table = open.call(()).unwrap();
        lua.globals().set("driver", module).unwrap();
        lua
    }

    #[test]
    fn lua_buffer_push_pop_readline_readall() {
        let lua = lua_with_driver();
        let r: mlua::MultiValue = lua
            .load(
                r#"
                local b, pool = driver.buffer(), {}
                local function push(s)
                    local p, n = driver.str2p(s)
                    return driver.push(b, pool, p, n)
                end
                local out = {}
                out[1] = push("hello ")
                out[2] = push("wor")
                out[3] = push("ld\r\nnext")
                out[4], out[5] = driver.pop(b, pool, 3)
                out[6] = driver.readline(b, nil, "\r\n")
                out[7] = driver.readline(b, pool, "\r\n")
                out[8] = driver.readline(b, pool, "\r\n") == nil
                out[9], out[10] = driver.pop(b, pool, 5)
                out[11] = driver.readall(b, pool)
                out[12] = driver.header("\1\2")
                driver.clear(b, pool)
                out[13] = select(2, driver.pop(b, pool, 1))
                return table.unpack(out, 1, 13)
                "#,
            )
            .eval()
            .unwrap();
        let shown: Vec<String> = r
            .iter()
            .map(|v| match v {
                mlua::Value::Nil => "nil".to_string(),
                v => v.to_string().unwrap(),
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                "6", "9", "17", "hel", "14", "true", "lo world", "true", "nil", "4", "next", "258",
                "0"
            ]
        );
    }

    #[test]
    fn lua_errors_are_the_reference_texts() {
        let lua = lua_with_driver();
        let cases = [
            (
                "driver.push({}, {}, nil, 1)",
                "need buffer object at param 1",
            ),
            (
                "driver.push(driver.buffer(), {}, nil, 1)",
                "need message block at param 3",
            ),
            ("driver.pop(nil, {}, 1)", "Need buffer object at param 1"),
            ("driver.header('12345')", "Invalid read 12345"),
            ("driver.udp_address('abc')", "Invalid udp address"),
            ("driver.connect('127.0.0.1')", "Invalid address 127.0.0.1."),
            ("driver.connect('[::1')", "Invalid address [::1."),
            (
                "driver.connect('127.0.0.1:x')",
                "Invalid port in address 127.0.0.1:x.",
            ),
            ("driver.connect('127.0.0.1', 0)", "Invalid port"),
        ];
        for (code, want) in cases {
            let err = lua.load(code).exec().unwrap_err().to_string();
            assert!(err.contains(want), "{code}: {err}");
        }
        // clear(nil) is allowed.
        lua.load("driver.clear(nil)").exec().unwrap();
        // resolve lists every address getaddrinfo gives (no network for a
        // numeric host).
        let first: String = lua
            .load("local t = driver.resolve('127.0.0.1'); assert(#t >= 1); return t[1]")
            .eval()
            .unwrap();
        assert_eq!(first, "127.0.0.1");
    }

    #[test]
    fn lua_unpack_and_udp_address() {
        use skynet_core::socket::SocketEvent;
        let lua = lua_with_driver();
        let f = lua
            .load(
                r#"
                local msg, sz = ...
                local t, id, ud, data, addr = driver.unpack(msg, sz)
                if type(data) ~= "string" then
                    local s = driver.readall and (function()
                        local b, pool = driver.buffer(), {}
                        driver.push(b, pool, data, ud)
                        return driver.readall(b, pool)
                    end)()
                    data = s
                end
                local ip, port
                if addr then ip, port = driver.udp_address(addr) end
                return t, id, ud, data, ip, port
                "#,
            )
            .into_function()
            .unwrap();
        let mut packet = Payload::from("dgram");
        packet.extend_from_slice(&[1, 0x1f, 0x90, 127, 0, 0, 1]);
        let events = [
            (
                SocketEvent::connect(3, 8000, "127.0.0.1"),
                "2 3 8000 127.0.0.1 nil nil",
            ),
            (SocketEvent::close(3), "3 3 0  nil nil"),
            (
                SocketEvent::data(3, Payload::from("xyz")),
                "1 3 3 xyz nil nil",
            ),
            (SocketEvent::udp(4, 5, packet), "6 4 5 dgram 127.0.0.1 8080"),
        ];
        for (event, want) in events {
            let (p, n) = event.into_payload().into_raw();
            let r: mlua::MultiValue = f.call((mlua::LightUserData(p.cast()), n)).unwrap();
            let shown: Vec<String> = r
                .iter()
                .map(|v| match v {
                    mlua::Value::Nil => "nil".to_string(),
                    v => v.to_string().unwrap(),
                })
                .collect();
            assert_eq!(shown.join(" "), want);
            // SAFETY: the message made above; its buffer went to the Lua
            // read buffer, which freed it.
            drop(unsafe { Payload::from_raw(p, n) });
        }
    }
}

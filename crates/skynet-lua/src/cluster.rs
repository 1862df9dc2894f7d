//! The `skynet.cluster.core` Lua module: the wire format of skynet's
//! cluster links (requests from a `clustersender` to a remote
//! `clusteragent` and the responses back). Stands for the reference's
//! `lualib-src/lua-cluster.c`; every frame it makes is byte-identical to
//! the reference's (see `test/cluster/frames.expected`).
//!
//! Every frame starts with a 2-byte big-endian length; the numbers inside
//! are little-endian 32-bit. Requests carry a type byte first: 0 (to a
//! handle), 0x80 (to a name: length byte and the name), 1/0x81 (the head
//! of a request of 32 KiB or more, split into parts), 0x41/0xc1 (the same
//! for a push), 2/3 (a part / the last part), 4 (a trace tag). Responses
//! are the session, then 0 (error text), 1 (data), 2 (the head of a large
//! response: its size), 3/4 (a part / the last part).
//!
//! The encoding and decoding are plain Rust ([`encode_request`],
//! [`decode_request`], [`encode_response`], [`decode_response`]); the Lua
//! glue pushes their results under [`protect`] so that no Rust value with
//! a destructor is alive when a Lua error unwinds (`lua_error` longjmps).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};

use crate::udata::{protect, raise_here, set_funcs};

/// Largest body sent in one frame; bigger messages are split.
pub const MULTI_PART: usize = 0x8000;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address<'a> {
    Handle(u32),
    /// A name (1 to 255 bytes, `@name` for a cluster-registered name).
    Name(&'a [u8]),
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn get_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Starts a frame whose content will be `len` bytes.
fn frame(len: usize) -> Vec<u8> {
    debug_assert!(len < 0x10000);
    let mut f = Vec::with_capacity(len + 2);
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f
}

/// The frames of one request: the first one, and for a message of
/// [`MULTI_PART`] bytes or more the parts that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrames {
    pub head: Vec<u8>,
    pub parts: Option<Vec<Vec<u8>>>,
}

/// Encodes a request (`push`: no response wanted) with `session`.
pub fn encode_request(addr: Address, session: u32, msg: &[u8], push: bool) -> RequestFrames {
    let small = msg.len() < MULTI_PART;
    // A small push carries session 0: the peer answers nothing.
    let wire_session = if small && push { 0 } else { session };
    let head = match addr {
        Address::Handle(h) => {
            let mut f = if small {
                let mut f = frame(msg.len() + 9);
                f.push(0);
                f
            } else {
                let mut f = frame(13);
                f.push(if push { 0x41 } else { 1 });
                f
            };
            put_u32(&mut f, h);
            put_u32(&mut f, wire_session);
            f
        }
        Address::Name(name) => {
            let mut f = if small {
                let mut f = frame(msg.len() + 6 + name.len());
                f.push(0x80);
                f
            } else {
                let mut f = frame(10 + name.len());
                f.push(if push { 0xc1 } else { 0x81 });
                f
            };
            f.push(name.len() as u8);
            f.extend_from_slice(name);
            put_u32(&mut f, wire_session);
            f
        }
    };
    let mut head = head;
    if small {
        head.extend_from_slice(msg);
        return RequestFrames { head, parts: None };
    }
    put_u32(&mut head, msg.len() as u32);
    let chunks: Vec<&[u8]> = msg.chunks(MULTI_PART).collect();
    let last = chunks.len() - 1;
    let parts = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = frame(chunk.len() + 5);
            f.push(if i == last { 3 } else { 2 });
            put_u32(&mut f, session);
            f.extend_from_slice(chunk);
            f
        })
        .collect();
    RequestFrames {
        head,
        parts: Some(parts),
    }
}

/// The session that follows `session` (wrapping to 1 after `i32::MAX`).
pub fn next_session(session: u32) -> u32 {
    let next = session.wrapping_add(1);
    if next > i32::MAX as u32 {
        1
    } else {
        next
    }
}

/// The frames of a response. A successful response of more than
/// [`MULTI_PART`] bytes is a head and parts (`multi`); an error text is cut
/// to [`MULTI_PART`] bytes.
pub fn encode_response(session: u32, ok: bool, msg: &[u8]) -> (Vec<Vec<u8>>, bool) {
    if ok && msg.len() > MULTI_PART {
        let mut frames = Vec::with_capacity(msg.len() / MULTI_PART + 2);
        let mut head = frame(9);
        put_u32(&mut head, session);
        head.push(2);
        put_u32(&mut head, msg.len() as u32);
        frames.push(head);
        let chunks: Vec<&[u8]> = msg.chunks(MULTI_PART).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut f = frame(chunk.len() + 5);
            put_u32(&mut f, session);
            f.push(if i == last { 4 } else { 3 });
            f.extend_from_slice(chunk);
            frames.push(f);
        }
        return (frames, true);
    }
    let body = if ok {
        msg
    } else {
        &msg[..msg.len().min(MULTI_PART)]
    };
    let mut f = frame(body.len() + 5);
    put_u32(&mut f, session);
    f.push(ok as u8);
    f.extend_from_slice(body);
    (vec![f], false)
}

/// A decoded request frame (without its length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// A whole message; session 0 is a push.
    Single {
        addr: Address<'a>,
        session: u32,
        msg: &'a [u8],
    },
    /// The head of a message sent in parts.
    MultiHead {
        addr: Address<'a>,
        session: u32,
        size: u32,
        push: bool,
    },
    /// One part; `more` is false for the last one.
    Part {
        session: u32,
        msg: &'a [u8],
        more: bool,
    },
    /// A trace tag for the next request.
    Trace(&'a [u8]),
}

fn bad_size(sz: usize) -> String {
    format!("Invalid cluster message (size={sz})")
}

/// Decodes a request frame; the error is the reference's text.
pub fn decode_request(buf: &[u8]) -> Result<Request<'_>, String> {
    let sz = buf.len();
    let Some(&kind) = buf.first() else {
        return Err("Invalid req package. size == 0".into());
    };
    match kind {
        0 => {
            if sz < 9 {
                return Err(bad_size(sz));
            }
            Ok(Request::Single {
                addr: Address::Handle(get_u32(&buf[1..])),
                session: get_u32(&buf[5..]),
                msg: &buf[9..],
            })
        }
        1 | 0x41 => {
            if sz != 13 {
                return Err(format!(
                    "Invalid cluster message size {sz} (multi req must be 13)"
                ));
            }
            Ok(Request::MultiHead {
                addr: Address::Handle(get_u32(&buf[1..])),
                session: get_u32(&buf[5..]),
                size: get_u32(&buf[9..]),
                push: kind == 0x41,
            })
        }
        2 | 3 => {
            if sz < 5 {
                return Err("Invalid cluster multi part message".into());
            }
            Ok(Request::Part {
                session: get_u32(&buf[1..]),
                msg: &buf[5..],
                more: kind == 2,
            })
        }
        4 => Ok(Request::Trace(&buf[1..])),
        0x80 | 0x81 | 0xc1 => {
            if sz < 2 {
                return Err(bad_size(sz));
            }
            let n = buf[1] as usize;
            let fixed = if kind == 0x80 { 6 } else { 10 };
            if sz < n + fixed {
                return Err(bad_size(sz));
            }
            let addr = Address::Name(&buf[2..2 + n]);
            let session = get_u32(&buf[2 + n..]);
            if kind == 0x80 {
                Ok(Request::Single {
                    addr,
                    session,
                    msg: &buf[6 + n..],
                })
            } else {
                Ok(Request::MultiHead {
                    addr,
                    session,
                    size: get_u32(&buf[6 + n..]),
                    push: kind == 0xc1,
                })
            }
        }
        // The reference prints the type byte as a (signed) C char.
        other => Err(format!("Invalid req package type {}", other as i8)),
    }
}

/// A decoded response frame (without its length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// Data (`ok`) or an error text; also the last part of a large one.
    Whole {
        session: u32,
        ok: bool,
        msg: &'a [u8],
    },
    /// The head of a large response.
    Begin { session: u32, size: u32 },
    /// A part of a large response (more follow).
    Part { session: u32, msg: &'a [u8] },
}

/// Decodes a response frame; `None` when it is not one.
pub fn decode_response(buf: &[u8]) -> Option<Response<'_>> {
    if buf.len() < 5 {
        return None;
    }
    let session = get_u32(buf);
    let msg = &buf[5..];
    match buf[4] {
        0 => Some(Response::Whole {
            session,
            ok: false,
            msg,
        }),
        1 | 4 => Some(Response::Whole {
            session,
            ok: true,
            msg,
        }),
        2 if buf.len() == 9 => Some(Response::Begin {
            session,
            size: get_u32(msg),
        }),
        3 => Some(Response::Part { session, msg }),
        _ => None,
    }
}

/// The node name the reference makes up: host name (bytes up to space
/// turned to `_`) followed by the process id.
pub fn nodename() -> String {
    let mut name = [0u8; 256];
    // SAFETY: gethostname writes at most name.len() bytes into name.
    let rc = unsafe { libc::gethostname(name.as_mut_ptr() as *mut c_char, name.len() - 1) };
    let pid = std::process::id();
    if rc != 0 {
        return format!("noname{pid}");
    }
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let host: String = name[..end]
        .iter()
        .map(|&b| if b <= b' ' { '_' } else { b as char })
        .collect();
    format!("{host}{pid}")
}

// ---------------------------------------------------------------- Lua glue

unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
}

/// Copies `b` into a fresh C buffer (owned by Lua code from then on, like
/// every message pointer) and pushes it as light userdata and size.
unsafe fn push_buffer(l: *mut lua_State, b: &[u8]) {
    let p = libc::malloc(b.len().max(1)) as *mut u8;
    if p.is_null() {
        ffi::lua_pushnil(l);
    } else {
        ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
        ffi::lua_pushlightuserdata(l, p as *mut c_void);
    }
    ffi::lua_pushinteger(l, b.len() as ffi::lua_Integer);
}

/// Pushes `frames` as a sequence table.
unsafe fn push_frames(l: *mut lua_State, frames: &[Vec<u8>]) {
    ffi::lua_createtable(l, frames.len() as c_int, 0);
    for (i, f) in frames.iter().enumerate() {
        push_bytes(l, f);
        ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer);
    }
}

unsafe fn type_name(l: *mut lua_State, idx: c_int) -> String {
    CStr::from_ptr(ffi::lua_typename(l, ffi::lua_type(l, idx)))
        .to_string_lossy()
        .into_owned()
}

/// `packrequest(addr, session, msg, sz)` / `packpush(...)`: frees `msg`,
/// returns the first frame, the next session and, for a large message, the
/// table of parts.
unsafe fn pack_request(l: *mut lua_State, push: bool) -> c_int {
    let msg = ffi::lua_touserdata(l, 3);
    if msg.is_null() {
        raise_here(l, "Invalid request message".into());
    }
    let sz = ffi::luaL_checkinteger(l, 4) as u32 as usize;
    // The reference keeps the session in a C int.
    let session = ffi::luaL_checkinteger(l, 2) as c_int;
    if session <= 0 {
        libc::free(msg);
        raise_here(l, format!("Invalid request session {session}"));
    }
    let addr = if ffi::lua_type(l, 1) == ffi::LUA_TNUMBER {
        Address::Handle(ffi::lua_tointeger(l, 1) as u32)
    } else {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, 1, &mut len);
        if p.is_null() {
            libc::free(msg);
            let kind = type_name(l, 1);
            let text = format!("name is not a string, it's a {kind}");
            drop(kind);
            raise_here(l, text);
        }
        if !(1..=255).contains(&len) {
            libc::free(msg);
            let shown = CStr::from_ptr(p).to_string_lossy().into_owned();
            let text =
                format!("name length is invalid, must be between 1 and 255 characters: {shown}");
            drop(shown);
            raise_here(l, text);
        }
        Address::Name(std::slice::from_raw_parts(p as *const u8, len))
    };
    let body: &[u8] = if sz == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(msg as *const u8, sz)
    };
    let frames = encode_request(addr, session as u32, body, push);
    libc::free(msg);
    let next = next_session(session as u32);
    let results = if frames.parts.is_some() { 3 } else { 2 };
    let mut body = |l: *mut lua_State| -> c_int {
        push_bytes(l, &frames.head);
        ffi::lua_pushinteger(l, next as ffi::lua_Integer);
        match &frames.parts {
            Some(parts) => {
                push_frames(l, parts);
                3
            }
            None => 2,
        }
    };
    let ok = protect(l, 0, &mut body);
    drop(frames);
    if !ok {
        ffi::lua_error(l);
    }
    results
}

unsafe extern "C-unwind" fn lpackrequest(l: *mut lua_State) -> c_int {
    pack_request(l, false)
}

unsafe extern "C-unwind" fn lpackpush(l: *mut lua_State) -> c_int {
    pack_request(l, true)
}

/// `packtrace(tag)`: the frame that tags the next request.
unsafe extern "C-unwind" fn lpacktrace(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let tag = ffi::luaL_checklstring(l, 1, &mut len);
    if len > MULTI_PART {
        raise_here(l, format!("trace tag is too long : {len}"));
    }
    let head = [((len + 1) >> 8) as u8, (len + 1) as u8, 4];
    push_bytes(l, &head);
    ffi::lua_pushlstring(l, tag, len);
    ffi::lua_concat(l, 2);
    1
}

/// `unpackrequest(msg, sz)` or `unpackrequest(string)`: see
/// [`decode_request`]; returns `addr, session, msg, sz[, padding, is_push]`,
/// `false, session, msg, sz, padding` for a part, or the tag of a trace.
unsafe extern "C-unwind" fn lunpackrequest(l: *mut lua_State) -> c_int {
    let (p, sz) = if ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA {
        let p = ffi::lua_touserdata(l, 1) as *const u8;
        (p, ffi::luaL_checkinteger(l, 2) as c_int)
    } else {
        let mut len = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut len) as *const u8;
        (p, len as c_int)
    };
    let buf: &[u8] = if sz <= 0 || p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, sz as usize)
    };
    let request = match decode_request(buf) {
        Ok(r) => r,
        Err(e) => raise_here(l, e),
    };
    let push_addr = |l: *mut lua_State, addr: Address| match addr {
        Address::Handle(h) => ffi::lua_pushinteger(l, h as ffi::lua_Integer),
        Address::Name(n) => push_bytes(l, n),
    };
    match request {
        Request::Single { addr, session, msg } => {
            push_addr(l, addr);
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            push_buffer(l, msg);
            if session == 0 {
                ffi::lua_pushnil(l);
                ffi::lua_pushboolean(l, 1);
                return 6;
            }
            4
        }
        Request::MultiHead {
            addr,
            session,
            size,
            push,
        } => {
            push_addr(l, addr);
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushnil(l);
            ffi::lua_pushinteger(l, size as ffi::lua_Integer);
            ffi::lua_pushboolean(l, 1);
            ffi::lua_pushboolean(l, push as c_int);
            6
        }
        Request::Part { session, msg, more } => {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            push_buffer(l, msg);
            ffi::lua_pushboolean(l, more as c_int);
            5
        }
        Request::Trace(tag) => {
            push_bytes(l, tag);
            1
        }
    }
}

/// `packresponse(session, ok, msg[, sz])`: a frame, or a table of frames
/// for a large successful response. `msg` is not freed (it belongs to the
/// message being answered).
unsafe extern "C-unwind" fn lpackresponse(l: *mut lua_State) -> c_int {
    let session = ffi::luaL_checkinteger(l, 1) as u32;
    let ok = ffi::lua_toboolean(l, 2) != 0;
    let (p, sz) = if ffi::lua_type(l, 3) == ffi::LUA_TSTRING {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, 3, &mut len) as *const u8;
        (p, len)
    } else {
        let p = ffi::lua_touserdata(l, 3) as *const u8;
        (p, ffi::luaL_checkinteger(l, 4) as usize)
    };
    if p.is_null() && sz > 0 {
        raise_here(l, "Invalid response message".into());
    }
    let msg: &[u8] = if sz == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, sz)
    };
    let (frames, multi) = encode_response(session, ok, msg);
    let mut body = |l: *mut lua_State| -> c_int {
        if multi {
            push_frames(l, &frames);
        } else {
            push_bytes(l, &frames[0]);
        }
        1
    };
    let done = protect(l, 0, &mut body);
    drop(frames);
    if !done {
        ffi::lua_error(l);
    }
    1
}

/// `unpackresponse(string)`: `session, ok, msg`, `session, true, size,
/// true` for the head of a large response, `session, true, part, true` for
/// a part; nothing for a malformed frame.
unsafe extern "C-unwind" fn lunpackresponse(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, 1, &mut len) as *const u8;
    let buf: &[u8] = if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    };
    match decode_response(buf) {
        None => 0,
        Some(Response::Whole { session, ok, msg }) => {
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushboolean(l, ok as c_int);
            push_bytes(l, msg);
            3
        }
        Some(Response::Begin { session, size }) => {
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushboolean(l, 1);
            ffi::lua_pushinteger(l, size as ffi::lua_Integer);
            ffi::lua_pushboolean(l, 1);
            4
        }
        Some(Response::Part { session, msg }) => {
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushboolean(l, 1);
            push_bytes(l, msg);
            ffi::lua_pushboolean(l, 1);
            4
        }
    }
}

/// `append(t, msg, sz)`: appends the bytes of `msg` (freed) to `t`;
/// `append(t, nil, size)` appends the size itself.
unsafe extern "C-unwind" fn lappend(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let n = ffi::lua_rawlen(l, 1) as ffi::lua_Integer;
    if ffi::lua_isnil(l, 2) != 0 {
        ffi::lua_settop(l, 3);
        ffi::lua_seti(l, 1, n + 1);
        return 0;
    }
    let p = ffi::lua_touserdata(l, 2);
    if p.is_null() {
        raise_here(l, "Need lightuserdata".into());
    }
    let sz = ffi::luaL_checkinteger(l, 3) as c_int;
    ffi::lua_pushlstring(l, p as *const c_char, sz.max(0) as usize);
    libc::free(p);
    ffi::lua_seti(l, 1, n + 1);
    0
}

/// `concat(t)`: joins the strings after the size in `t[1]` into one C
/// buffer, returned as `msg, sz`; nothing when they do not add up.
unsafe extern "C-unwind" fn lconcat(l: *mut lua_State) -> c_int {
    if ffi::lua_istable(l, 1) == 0 {
        return 0;
    }
    if ffi::lua_geti(l, 1, 1) != ffi::LUA_TNUMBER {
        return 0;
    }
    let total = ffi::lua_tointeger(l, -1);
    ffi::lua_pop(l, 1);
    if total < 0 || total > c_int::MAX as ffi::lua_Integer {
        return 0;
    }
    let total = total as usize;
    // Check the pieces first, then copy them.
    let mut sum = 0usize;
    let mut idx: ffi::lua_Integer = 2;
    while ffi::lua_geti(l, 1, idx) == ffi::LUA_TSTRING {
        sum += ffi::lua_rawlen(l, -1);
        ffi::lua_pop(l, 1);
        if sum > total {
            return 0;
        }
        idx += 1;
    }
    ffi::lua_pop(l, 1);
    if sum != total {
        return 0;
    }
    let out = libc::malloc(total.max(1)) as *mut u8;
    if out.is_null() {
        return 0;
    }
    let mut offset = 0usize;
    for i in 2..idx {
        ffi::lua_geti(l, 1, i);
        let mut len = 0usize;
        let s = ffi::lua_tolstring(l, -1, &mut len);
        ptr::copy_nonoverlapping(s as *const u8, out.add(offset), len);
        offset += len;
        ffi::lua_pop(l, 1);
    }
    ffi::lua_pushlightuserdata(l, out as *mut c_void);
    ffi::lua_pushinteger(l, total as ffi::lua_Integer);
    2
}

/// `isname(addr)`: true for a string starting with `@`.
unsafe extern "C-unwind" fn lisname(l: *mut lua_State) -> c_int {
    let p = ffi::lua_tolstring(l, 1, ptr::null_mut());
    if !p.is_null() && *p == b'@' as c_char {
        ffi::lua_pushboolean(l, 1);
        return 1;
    }
    0
}

/// `nodename()`: see [`nodename`].
unsafe extern "C-unwind" fn lnodename(l: *mut lua_State) -> c_int {
    let name = nodename();
    let mut buf = [0u8; 300];
    let n = name.len().min(buf.len());
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    drop(name);
    push_bytes(l, &buf[..n]);
    1
}

/// Opens `skynet.cluster.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_cluster_core(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 10);
    set_funcs(
        l,
        &[
            (c"packrequest", lpackrequest),
            (c"packpush", lpackpush),
            (c"packtrace", lpacktrace),
            (c"unpackrequest", lunpackrequest),
            (c"packresponse", lpackresponse),
            (c"unpackresponse", lunpackresponse),
            (c"append", lappend),
            (c"concat", lconcat),
            (c"isname", lisname),
            (c"nodename", lnodename),
        ],
    );
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // skynet.pack("GET", "a", 42), as in test/cluster/frames.lua
    const GET_A_42: &[u8] = &[0x1c, 0x47, 0x45, 0x54, 0x0c, 0x61, 0x0a, 0x2a];

    #[test]
    fn small_requests_match_the_reference() {
        let r = encode_request(Address::Handle(0x0100_0010), 1, GET_A_42, false);
        assert_eq!(hex(&r.head), "00110010000001010000001c4745540c610a2a");
        assert!(r.parts.is_none());
        let r = encode_request(Address::Handle(0x0100_0010), 7, GET_A_42, true);
        assert_eq!(hex(&r.head), "00110010000001000000001c4745540c610a2a");
        let r = encode_request(Address::Name(b"@sdb"), 9, GET_A_42, false);
        assert_eq!(hex(&r.head), "0012800440736462090000001c4745540c610a2a");
        let r = encode_request(Address::Name(b"sdb"), 0x7fff_ffff, GET_A_42, true);
        assert_eq!(hex(&r.head), "00118003736462000000001c4745540c610a2a");
        assert_eq!(next_session(0x7fff_ffff), 1);
        assert_eq!(next_session(7), 8);
    }

    #[test]
    fn large_requests_are_split() {
        let msg = vec![b'm'; 0x8000];
        let r = encode_request(Address::Handle(5), 3, &msg, false);
        assert_eq!(hex(&r.head), "000d01050000000300000000800000");
        let parts = r.parts.unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(hex(&parts[0][..7]), "80050303000000");
        let msg = vec![b'm'; 0x18000];
        let r = encode_request(Address::Name(b"@n"), 14, &msg, true);
        assert_eq!(hex(&r.head), "000cc102406e0e00000000800100");
        let parts = r.parts.unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(hex(&parts[1][..7]), "8005020e000000");
        assert_eq!(hex(&parts[2][..7]), "8005030e000000");
        let joined: usize = parts.iter().map(|p| p.len() - 7).sum();
        assert_eq!(joined, msg.len());
    }

    #[test]
    fn responses_match_the_reference() {
        let (f, multi) = encode_response(4, false, b"Invalid name");
        assert!(!multi);
        assert_eq!(hex(&f[0]), "00110400000000496e76616c6964206e616d65");
        let (f, _) = encode_response(6, true, b"plain");
        assert_eq!(hex(&f[0]), "000a0600000001706c61696e");
        let (f, multi) = encode_response(5, false, &vec![b'e'; 40000]);
        assert!(!multi);
        assert_eq!(f[0].len(), 0x8000 + 7);
        let (f, multi) = encode_response(8, true, &vec![b'm'; 0x8001]);
        assert!(multi);
        assert_eq!(hex(&f[0]), "0009080000000201800000");
        assert_eq!(hex(&f[2]), "000608000000046d");
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn requests_round_trip() {
        let r = encode_request(Address::Name(b"@abc"), 6, b"xy", false);
        assert_eq!(
            decode_request(&r.head[2..]),
            Ok(Request::Single {
                addr: Address::Name(b"@abc"),
                session: 6,
                msg: b"xy"
            })
        );
        let msg = vec![7u8; 40000];
        let r = encode_request(Address::Handle(0x20), 8, &msg, true);
        assert_eq!(
            decode_request(&r.head[2..]),
            Ok(Request::MultiHead {
                addr: Address::Handle(0x20),
                session: 8,
                size: 40000,
                push: true
            })
        );
        let parts = r.parts.unwrap();
        match decode_request(&parts[1][2..]) {
            Ok(Request::Part { session, msg, more }) => {
                assert_eq!((session, msg.len(), more), (8, 40000 - 0x8000, false));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert_eq!(
            decode_request(b""),
            Err("Invalid req package. size == 0".into())
        );
        assert_eq!(
            decode_request(b"\0\x01\x02"),
            Err("Invalid cluster message (size=3)".into())
        );
        assert_eq!(
            decode_request(b"\x01abc"),
            Err("Invalid cluster message size 4 (multi req must be 13)".into())
        );
        assert_eq!(
            decode_request(b"\x80\x09abc"),
            Err("Invalid cluster message (size=5)".into())
        );
        assert_eq!(
            decode_request(b"\x90"),
            Err("Invalid req package type -112".into())
        );
        assert_eq!(
            decode_request(b"\x02\x01"),
            Err("Invalid cluster multi part message".into())
        );
    }

    #[test]
    fn responses_decode() {
        assert_eq!(decode_response(b"\x01\0\0"), None);
        assert_eq!(decode_response(b"\x01\0\0\0\x02\0\0"), None);
        assert_eq!(decode_response(b"\x01\0\0\0\x09zz"), None);
        assert_eq!(
            decode_response(b"\x03\0\0\0\x00bad"),
            Some(Response::Whole {
                session: 3,
                ok: false,
                msg: b"bad"
            })
        );
        assert_eq!(
            decode_response(b"\x0a\0\0\0\x02\0\x90\0\0"),
            Some(Response::Begin {
                session: 10,
                size: 0x9000
            })
        );
    }
}

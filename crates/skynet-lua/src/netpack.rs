//! The `skynet.netpack` Lua module: splits a socket's byte stream into
//! packets framed by a 2-byte big-endian length (the framing of the
//! reference gate and its clients), and frames outgoing data. Stands for
//! the reference's `lualib-src/lua-netpack.c`.
//!
//! `filter(queue, msg, sz)` reads a PTYPE_SOCKET message and returns the
//! queue (created when first needed, otherwise passed through), then
//! `"data", fd, msg, sz` for exactly one complete packet, `"more"` when
//! several are ready (taken with `pop(queue)`), nothing when a packet is
//! still incomplete, or `"open"`/`"close"`/`"error"`/`"warning"`/`"init"`
//! for the other socket events. Packet buffers are C-allocated and owned
//! by Lua from then on (`tostring` frees them).
//!
//! Written against the raw Lua C API like `core.rs`: errors are plain
//! strings raised with `lua_error`, so no value with a destructor is alive
//! in a frame when one is raised; the framing itself is plain Rust
//! ([`Queue::filter`]) and runs before any Lua call that could raise.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};
use skynet_core::socket::message::{parse, SocketMessageView};
use skynet_core::socket::{
    SKYNET_SOCKET_TYPE_ACCEPT, SKYNET_SOCKET_TYPE_CLOSE, SKYNET_SOCKET_TYPE_CONNECT,
    SKYNET_SOCKET_TYPE_DATA, SKYNET_SOCKET_TYPE_ERROR, SKYNET_SOCKET_TYPE_WARNING,
};
use skynet_core::Payload;

const QUEUE_META: &CStr = c"skynet.netpack.queue";

/// Upvalue indexes of the result words, as the reference orders them.
const TYPE_DATA: c_int = 1;
const TYPE_MORE: c_int = 2;
const TYPE_ERROR: c_int = 3;
const TYPE_OPEN: c_int = 4;
const TYPE_CLOSE: c_int = 5;
const TYPE_WARNING: c_int = 6;
const TYPE_INIT: c_int = 7;

/// A packet being assembled.
struct Partial {
    /// The first length byte, while the second has not arrived.
    header: Option<u8>,
    body: Payload,
    size: usize,
}

/// A complete packet: connection id and its bytes.
pub struct Packet {
    pub id: i32,
    pub body: Payload,
}

/// What filtering one DATA chunk gave.
pub enum Filtered {
    /// Nothing complete yet.
    Nothing,
    /// Exactly one packet, nothing queued.
    One(Packet),
    /// Packets were queued for `pop`.
    More,
}

/// Complete packets waiting for `pop`, and the incomplete one of each
/// connection.
#[derive(Default)]
pub struct Queue {
    ready: VecDeque<Packet>,
    partial: HashMap<i32, Partial>,
}

/// A fresh packet body (never a null pointer, even when empty).
fn body_from(bytes: &[u8]) -> Payload {
    let mut p = Payload::with_capacity(bytes.len().max(1));
    p.extend_from_slice(bytes);
    p
}

fn read_size(b: &[u8]) -> usize {
    ((b[0] as usize) << 8) | b[1] as usize
}

impl Queue {
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.partial.is_empty()
    }

    /// Feeds the bytes `data` read from connection `id`.
    pub fn filter(&mut self, id: i32, mut data: &[u8]) -> Filtered {
        if let Some(mut uc) = self.partial.remove(&id) {
            if let Some(high) = uc.header {
                let Some((&low, rest)) = data.split_first() else {
                    self.partial.insert(id, uc);
                    return Filtered::Nothing;
                };
                uc.size = ((high as usize) << 8) | low as usize;
                uc.header = None;
                uc.body = Payload::with_capacity(uc.size.max(1));
                data = rest;
            }
            let need = uc.size - uc.body.len();
            if data.len() < need {
                uc.body.extend_from_slice(data);
                self.partial.insert(id, uc);
                return Filtered::Nothing;
            }
            uc.body.extend_from_slice(&data[..need]);
            data = &data[need..];
            let packet = Packet { id, body: uc.body };
            if data.is_empty() {
                return Filtered::One(packet);
            }
            self.ready.push_back(packet);
            self.push_more(id, data);
            return Filtered::More;
        }
        if data.len() == 1 {
            self.save_header(id, data[0]);
            return Filtered::Nothing;
        }
        if data.is_empty() {
            return Filtered::Nothing;
        }
        let size = read_size(data);
        data = &data[2..];
        if data.len() < size {
            self.save_partial(id, size, data);
            return Filtered::Nothing;
        }
        if data.len() == size {
            return Filtered::One(Packet {
                id,
                body: body_from(data),
            });
        }
        self.ready.push_back(Packet {
            id,
            body: body_from(&data[..size]),
        });
        self.push_more(id, &data[size..]);
        Filtered::More
    }

    /// Queues every complete packet of `data`; keeps the incomplete rest.
    fn push_more(&mut self, id: i32, mut data: &[u8]) {
        while !data.is_empty() {
            if data.len() == 1 {
                self.save_header(id, data[0]);
                return;
            }
            let size = read_size(data);
            data = &data[2..];
            if data.len() < size {
                self.save_partial(id, size, data);
                return;
            }
            self.ready.push_back(Packet {
                id,
                body: body_from(&data[..size]),
            });
            data = &data[size..];
        }
    }

    fn save_header(&mut self, id: i32, high: u8) {
        self.partial.insert(
            id,
            Partial {
                header: Some(high),
                body: Payload::empty(),
                size: 0,
            },
        );
    }

    fn save_partial(&mut self, id: i32, size: usize, bytes: &[u8]) {
        let mut body = Payload::with_capacity(size.max(1));
        body.extend_from_slice(bytes);
        self.partial.insert(
            id,
            Partial {
                header: None,
                body,
                size,
            },
        );
    }

    /// Forgets the incomplete packet of a closed connection.
    pub fn close(&mut self, id: i32) {
        self.partial.remove(&id);
    }

    /// The next complete packet.
    pub fn pop(&mut self) -> Option<Packet> {
        self.ready.pop_front()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.ready.clear();
        self.partial.clear();
    }
}

/// Frames `data` with its 2-byte big-endian length; `None` when it is
/// 65536 bytes or longer.
pub fn frame(data: &[u8]) -> Option<Payload> {
    let len = u16::try_from(data.len()).ok()?;
    let mut p = Payload::with_capacity(data.len() + 2);
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(data);
    Some(p)
}

/// The queue at stack index `idx`, if it is one.
unsafe fn queue_at<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a mut Queue> {
    (ffi::luaL_testudata(l, idx, QUEUE_META.as_ptr()) as *mut Queue).as_mut()
}

unsafe extern "C-unwind" fn queue_gc(l: *mut lua_State) -> c_int {
    if let Some(q) = queue_at(l, 1) {
        // Leaves an empty queue behind, so a second call is harmless.
        drop(std::mem::take(q));
    }
    0
}

/// Pushes a new, empty queue.
unsafe fn new_queue(l: *mut lua_State) -> *mut Queue {
    let q = ffi::lua_newuserdatauv(l, std::mem::size_of::<Queue>(), 0) as *mut Queue;
    // SAFETY: the userdata block is fresh, suitably aligned (Lua's
    // maximal alignment) and large enough for a Queue.
    ptr::write(q, Queue::default());
    if ffi::luaL_newmetatable(l, QUEUE_META.as_ptr()) != 0 {
        ffi::lua_pushcfunction(l, queue_gc);
        ffi::lua_setfield(l, -2, c"__gc".as_ptr());
    }
    ffi::lua_setmetatable(l, -2);
    q
}

/// Raises `msg` with the caller's position, as `luaL_error`.
unsafe fn raise_str(l: *mut lua_State, msg: &[u8]) -> ! {
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
}

/// Opens `skynet.netpack`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_netpack(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 5);
    let plain: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"pop", lpop),
        (c"pack", lpack),
        (c"clear", lclear),
        (c"tostring", ltostring),
    ];
    for (name, f) in plain {
        ffi::lua_pushcfunction(l, f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    for word in [
        c"data", c"more", c"error", c"open", c"close", c"warning", c"init",
    ] {
        ffi::lua_pushstring(l, word.as_ptr());
    }
    ffi::lua_pushcclosure(l, lfilter, 7);
    ffi::lua_setfield(l, -2, c"filter".as_ptr());
    1
}

unsafe fn push_word(l: *mut lua_State, which: c_int) {
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(which));
}

unsafe extern "C-unwind" fn lfilter(l: *mut lua_State) -> c_int {
    let msg = ffi::lua_touserdata(l, 2) as *const u8;
    let size = ffi::luaL_checkinteger(l, 3);
    if msg.is_null() || size < 0 {
        raise_str(l, b"Invalid socket message");
    }
    let bytes = std::slice::from_raw_parts(msg, size as usize);
    let Some(view) = parse(bytes) else {
        raise_str(l, b"Invalid socket message");
    };
    ffi::lua_settop(l, 1);
    match view.kind {
        SKYNET_SOCKET_TYPE_DATA => filter_data(l, &view),
        SKYNET_SOCKET_TYPE_CONNECT => {
            push_word(l, TYPE_INIT);
            ffi::lua_pushinteger(l, view.id as ffi::lua_Integer);
            push_bytes(l, view.text);
            ffi::lua_pushinteger(l, view.ud as ffi::lua_Integer);
            5
        }
        SKYNET_SOCKET_TYPE_CLOSE => {
            if let Some(q) = queue_at(l, 1) {
                q.close(view.id);
            }
            push_word(l, TYPE_CLOSE);
            ffi::lua_pushinteger(l, view.id as ffi::lua_Integer);
            3
        }
        SKYNET_SOCKET_TYPE_ACCEPT => {
            push_word(l, TYPE_OPEN);
            ffi::lua_pushinteger(l, view.ud as ffi::lua_Integer);
            push_bytes(l, view.text);
            4
        }
        SKYNET_SOCKET_TYPE_ERROR => {
            if let Some(q) = queue_at(l, 1) {
                q.close(view.id);
            }
            push_word(l, TYPE_ERROR);
            ffi::lua_pushinteger(l, view.id as ffi::lua_Integer);
            push_bytes(l, view.text);
            4
        }
        SKYNET_SOCKET_TYPE_WARNING => {
            push_word(l, TYPE_WARNING);
            ffi::lua_pushinteger(l, view.id as ffi::lua_Integer);
            ffi::lua_pushinteger(l, view.ud as ffi::lua_Integer);
            4
        }
        _ => 1,
    }
}

/// DATA: frames the bytes (and frees the socket buffer).
unsafe fn filter_data(l: *mut lua_State, view: &SocketMessageView<'_>) -> c_int {
    let created = queue_at(l, 1).is_none();
    if created {
        new_queue(l);
        ffi::lua_replace(l, 1);
    }
    let Some(q) = queue_at(l, 1) else {
        return 1;
    };
    let outcome = {
        // SAFETY: a DATA message's buffer is owned by its receiver, which
        // gives it to netpack here; it is freed when `data` goes.
        let data = view.take_buffer();
        q.filter(view.id, data.as_slice())
    };
    if created && q.is_empty() {
        // Nothing was kept: hand back no queue, as the reference does.
        ffi::lua_pushnil(l);
        ffi::lua_replace(l, 1);
    }
    match outcome {
        Filtered::Nothing => 1,
        Filtered::More => {
            push_word(l, TYPE_MORE);
            2
        }
        Filtered::One(packet) => {
            let (p, n) = packet.body.into_raw();
            push_word(l, TYPE_DATA);
            ffi::lua_pushinteger(l, packet.id as ffi::lua_Integer);
            ffi::lua_pushlightuserdata(l, p.cast());
            ffi::lua_pushinteger(l, n as ffi::lua_Integer);
            5
        }
    }
}

unsafe extern "C-unwind" fn lpop(l: *mut lua_State) -> c_int {
    let Some(packet) = queue_at(l, 1).and_then(Queue::pop) else {
        return 0;
    };
    let id = packet.id;
    let (p, n) = packet.body.into_raw();
    ffi::lua_pushinteger(l, id as ffi::lua_Integer);
    ffi::lua_pushlightuserdata(l, p.cast());
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    3
}

unsafe extern "C-unwind" fn lpack(l: *mut lua_State) -> c_int {
    let (ptr, len) = if ffi::lua_isuserdata(l, 1) != 0 {
        let p = ffi::lua_touserdata(l, 1) as *const u8;
        let n = ffi::luaL_checkinteger(l, 2);
        (p, n)
    } else {
        let mut n = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut n) as *const u8;
        (p, n as ffi::lua_Integer)
    };
    if len >= 0x10000 {
        ffi::luaL_where(l, 1);
        ffi::lua_pushstring(l, c"Invalid size (too long) of data : ".as_ptr());
        ffi::lua_pushinteger(l, len as i32 as ffi::lua_Integer);
        ffi::lua_concat(l, 3);
        ffi::lua_error(l);
    }
    if len < 0 || (ptr.is_null() && len > 0) {
        raise_str(l, b"Invalid data");
    }
    let data = if len == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(ptr, len as usize)
    };
    let Some(framed) = frame(data) else {
        return 0;
    };
    let (p, n) = framed.into_raw();
    ffi::lua_pushlightuserdata(l, p.cast());
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    2
}

unsafe extern "C-unwind" fn lclear(l: *mut lua_State) -> c_int {
    if let Some(q) = queue_at(l, 1) {
        q.clear();
    }
    0
}

unsafe extern "C-unwind" fn ltostring(l: *mut lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut c_char;
    let size = ffi::luaL_checkinteger(l, 2);
    if p.is_null() {
        ffi::lua_pushstring(l, c"".as_ptr());
    } else {
        ffi::lua_pushlstring(l, p, size.max(0) as usize);
        // SAFETY: a packet buffer from the C allocator, handed to Lua by
        // this module (or `pack`); tostring takes it back and frees it.
        libc::free(p.cast());
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn drain(q: &mut Queue) -> Vec<(i32, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(p) = q.pop() {
            out.push((p.id, p.body.as_slice().to_vec()));
        }
        out
    }

    /// Feeds `stream` split at `cuts` and collects every packet.
    fn feed(q: &mut Queue, id: i32, stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            match q.filter(id, &stream[start..end]) {
                Filtered::Nothing => {}
                Filtered::One(p) => got.push(p.body.as_slice().to_vec()),
                Filtered::More => got.extend(drain(q).into_iter().map(|(_, b)| b)),
            }
            start = end;
        }
        got
    }

    #[test]
    fn one_packet_in_one_read() {
        let mut q = Queue::default();
        match q.filter(3, &framed(&[b"hello"])) {
            Filtered::One(p) => {
                assert_eq!(p.id, 3);
                assert_eq!(p.body.as_slice(), b"hello");
            }
            _ => panic!("expected one packet"),
        }
        assert!(q.is_empty());
    }

    #[test]
    fn coalesced_packets_are_queued() {
        let mut q = Queue::default();
        let stream = framed(&[b"a", b"", b"ccc"]);
        assert!(matches!(q.filter(1, &stream), Filtered::More));
        assert_eq!(
            drain(&mut q),
            vec![(1, b"a".to_vec()), (1, vec![]), (1, b"ccc".to_vec())]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_packets() {
        let parts: [&[u8]; 4] = [b"first", b"x", b"", b"the fourth packet"];
        let stream = framed(&parts);
        let want: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        for a in 1..stream.len() {
            let mut q = Queue::default();
            assert_eq!(feed(&mut q, 9, &stream, &[a]), want, "cut at {a}");
            assert!(q.is_empty());
            for b in a + 1..stream.len() {
                let mut q = Queue::default();
                assert_eq!(feed(&mut q, 9, &stream, &[a, b]), want, "cuts {a} {b}");
                assert!(q.is_empty(), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn a_split_length_header_is_kept() {
        let mut q = Queue::default();
        let stream = framed(&[&[7u8; 300]]);
        assert!(matches!(q.filter(2, &stream[..1]), Filtered::Nothing));
        assert!(matches!(q.filter(2, &stream[1..2]), Filtered::Nothing));
        match q.filter(2, &stream[2..]) {
            Filtered::One(p) => assert_eq!(p.body.as_slice(), &[7u8; 300][..]),
            _ => panic!("expected the packet"),
        }
    }

    #[test]
    fn largest_packets_span_many_reads() {
        let body: Vec<u8> = (0..65535u32).map(|i| (i * 7) as u8).collect();
        let stream = framed(&[&body, b"tail"]);
        let cuts: Vec<usize> = (1..stream.len()).step_by(4096).collect();
        let mut q = Queue::default();
        let got = feed(&mut q, 4, &stream, &cuts);
        assert_eq!(got, vec![body.clone(), b"tail".to_vec()]);
    }

    #[test]
    fn connections_are_kept_apart_and_close_forgets() {
        let mut q = Queue::default();
        let a = framed(&[b"from a"]);
        let b = framed(&[b"from b"]);
        assert!(matches!(q.filter(1, &a[..3]), Filtered::Nothing));
        assert!(matches!(q.filter(2, &b[..4]), Filtered::Nothing));
        match q.filter(1, &a[3..]) {
            Filtered::One(p) => assert_eq!((p.id, p.body.as_slice()), (1, &b"from a"[..])),
            _ => panic!("a completes"),
        }
        q.close(2);
        assert!(q.is_empty());
        // After the close, fresh data for 2 starts a new packet.
        assert!(matches!(q.filter(2, &b), Filtered::One(_)));
    }

    #[test]
    fn frame_refuses_oversize_data() {
        let f = frame(b"abc").unwrap();
        assert_eq!(f.as_slice(), b"\x00\x03abc");
        assert_eq!(frame(&[0u8; 65535]).unwrap().len(), 65537);
        assert!(frame(&vec![0u8; 65536]).is_none());
    }

    /// A Lua state with `skynet.netpack` as the global `netpack`.
    fn lua_with_netpack() -> mlua::Lua {
        let lua = mlua::Lua::new();
        // SAFETY: luaopen_skynet_netpack is a lua_CFunction.
        let open = unsafe { lua.create_c_function(luaopen_skynet_netpack) }.unwrap();
        let module: mlua::Table = open.call(()).unwrap();
        lua.globals().set("netpack", module).unwrap();
        lua
    }

    /// A socket message as light userdata and size; freed by the guard.
    struct Msg(*mut u8, usize);

    impl Msg {
        fn new(event: skynet_core::socket::SocketEvent) -> Msg {
            let (p, n) = event.into_payload().into_raw();
            Msg(p, n)
        }
        fn args(&self) -> (mlua::LightUserData, usize) {
            (mlua::LightUserData(self.0.cast()), self.1)
        }
    }

    impl Drop for Msg {
        fn drop(&mut self) {
            // SAFETY: the payload made in `new`; its buffer (if any) was
            // taken by netpack.
            drop(unsafe { Payload::from_raw(self.0, self.1) });
        }
    }

    const SCRIPT: &str = r#"
        local q, msg, sz = ...
        local r = table.pack(netpack.filter(q, msg, sz))
        local out = { queue = r[1], type = r[2] }
        if r[2] == "data" then
            out.fd = r[3]
            out.body = netpack.tostring(r[4], r[5])
        elseif r[2] == "more" then
            out.bodies = {}
            for fd, m, n in netpack.pop, r[1] do
                out.fd = fd
                table.insert(out.bodies, netpack.tostring(m, n))
            end
        else
            for i = 3, r.n do out[i - 2] = r[i] end
        end
        return out
    "#;

    fn run(lua: &mlua::Lua, q: mlua::Value, msg: &Msg) -> mlua::Table {
        let f = lua.load(SCRIPT).into_function().unwrap();
        let (p, n) = msg.args();
        f.call((q, p, n)).unwrap()
    }

    fn data_msg(id: i32, bytes: &[u8]) -> Msg {
        Msg::new(skynet_core::socket::SocketEvent::data(
            id,
            Payload::from(bytes),
        ))
    }

    #[test]
    fn lua_filter_single_coalesced_and_split() {
        let lua = lua_with_netpack();
        let one = data_msg(4, &framed(&[b"hello"]));
        let r = run(&lua, mlua::Value::Nil, &one);
        assert_eq!(r.get::<String>("type").unwrap(), "data");
        assert_eq!(r.get::<i32>("fd").unwrap(), 4);
        assert_eq!(
            r.get::<mlua::LuaString>("body")
                .unwrap()
                .as_bytes()
                .to_vec(),
            b"hello"
        );
        assert!(
            r.get::<mlua::Value>("queue").unwrap().is_nil(),
            "no queue needed"
        );

        let two = data_msg(4, &framed(&[b"a", b"bb"]));
        let r = run(&lua, mlua::Value::Nil, &two);
        assert_eq!(r.get::<String>("type").unwrap(), "more");
        let bodies: Vec<String> = r.get("bodies").unwrap();
        assert_eq!(bodies, vec!["a", "bb"]);
        let q: mlua::Value = r.get("queue").unwrap();
        assert!(q.is_userdata());

        let stream = framed(&[b"split packet"]);
        let first = data_msg(4, &stream[..5]);
        let r = run(&lua, q.clone(), &first);
        assert!(r.get::<mlua::Value>("type").unwrap().is_nil());
        let rest = data_msg(4, &stream[5..]);
        let r = run(&lua, q, &rest);
        assert_eq!(r.get::<String>("type").unwrap(), "data");
        assert_eq!(r.get::<String>("body").unwrap(), "split packet");
    }

    #[test]
    fn lua_filter_other_events() {
        use skynet_core::socket::SocketEvent;
        let lua = lua_with_netpack();
        let cases: Vec<(SocketEvent, &str, Vec<String>)> = vec![
            (
                SocketEvent::accept(1, 7, Some("127.0.0.1:5000".into())),
                "open",
                vec!["7".into(), "127.0.0.1:5000".into()],
            ),
            (SocketEvent::close(7), "close", vec!["7".into()]),
            (
                SocketEvent::error(7, "Connection reset by peer"),
                "error",
                vec!["7".into(), "Connection reset by peer".into()],
            ),
            (
                SocketEvent::warning(7, 2048),
                "warning",
                vec!["7".into(), "2048".into()],
            ),
            (
                SocketEvent::connect(7, 0, "start"),
                "init",
                vec!["7".into(), "start".into(), "0".into()],
            ),
        ];
        for (event, word, args) in cases {
            let m = Msg::new(event);
            let r = run(&lua, mlua::Value::Nil, &m);
            assert_eq!(r.get::<String>("type").unwrap(), word);
            let got: Vec<String> = (1..=args.len())
                .map(|i| r.get::<mlua::Value>(i).unwrap().to_string().unwrap())
                .collect();
            assert_eq!(got, args, "{word}");
        }
    }

    #[test]
    fn lua_pack_frames_and_refuses_oversize() {
        let lua = lua_with_netpack();
        let s: mlua::LuaString = lua
            .load(r#"return netpack.tostring(netpack.pack("abc"))"#)
            .eval()
            .unwrap();
        assert_eq!(s.as_bytes().to_vec(), b"\x00\x03abc");
        let err = lua
            .load(r#"netpack.pack(string.rep("x", 65536))"#)
            .exec()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Invalid size (too long) of data : 65536"),
            "{err}"
        );
        let n: i64 = lua
            .load(r#"local p, n = netpack.pack(string.rep("x", 65535)); netpack.tostring(p, n); return n"#)
            .eval()
            .unwrap();
        assert_eq!(n, 65537);
    }
}

//! The socket functions of `skynet_socket.h` for C services (listen,
//! connect, send buffers, UDP, info), exported from the binary like the
//! rest of the skynet.h ABI. Stands for the C API half of
//! `skynet_socket.c` (and `socket_info_release` of `socket_server.c`);
//! the header is `include/skynet_socket.h`.
//!
//! A `struct skynet_context *` is the address of a live [`Context`], as in
//! `ffi.rs`. Send buffers follow `socket_buffer.h`: a MEMORY buffer is
//! handed over (freed by us), a RAWPOINTER one is copied if it must wait.
//! OBJECT buffers need a user-object interface that skynet-rs does not
//! offer; such a send fails (-1) and leaves the object to the caller.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use crate::context::Context;
use crate::node::{current_node, Node};
use crate::payload::Payload;
use crate::socket::address::{UDP_ADDRESS_SIZE, UDP_ADDRESS_V4_SIZE};
use crate::socket::message::{SocketMessageHeader, SKYNET_SOCKET_TYPE_UDP};
use crate::socket::server::{SendData, SocketInfoKind};

pub const SOCKET_BUFFER_MEMORY: c_int = 0;
pub const SOCKET_BUFFER_OBJECT: c_int = 1;
pub const SOCKET_BUFFER_RAWPOINTER: c_int = 2;

pub const SOCKET_INFO_UNKNOWN: c_int = 0;
pub const SOCKET_INFO_LISTEN: c_int = 1;
pub const SOCKET_INFO_TCP: c_int = 2;
pub const SOCKET_INFO_UDP: c_int = 3;
pub const SOCKET_INFO_BIND: c_int = 4;
pub const SOCKET_INFO_CLOSING: c_int = 5;

/// `struct socket_sendbuffer`.
#[repr(C)]
pub struct SocketSendBuffer {
    pub id: c_int,
    pub kind: c_int,
    pub buffer: *const c_void,
    pub sz: usize,
}

/// `struct socket_info`: one entry of the list `skynet_socket_info` gives.
#[repr(C)]
pub struct CSocketInfo {
    pub id: c_int,
    pub kind: c_int,
    pub opaque: u64,
    pub read: u64,
    pub write: u64,
    pub rtime: u64,
    pub wtime: u64,
    pub wbuffer: i64,
    pub reading: u8,
    pub writing: u8,
    pub name: [c_char; 128],
    pub next: *mut CSocketInfo,
}

/// # Safety
/// `ctx` is null or a context pointer handed to C by skynet-rs.
unsafe fn context<'a>(ctx: *mut c_void) -> Option<&'a Context> {
    (ctx as *const Context).as_ref()
}

/// # Safety
/// `s` is null or a NUL-terminated string.
unsafe fn text<'a>(s: *const c_char) -> Option<std::borrow::Cow<'a, str>> {
    if s.is_null() {
        None
    } else {
        Some(CStr::from_ptr(s).to_string_lossy())
    }
}

/// The data of a send buffer, or `None` for an OBJECT buffer.
///
/// # Safety
/// `buf` describes a buffer as `socket_buffer.h` says; a MEMORY buffer
/// came from `skynet_malloc` and is handed over.
unsafe fn send_data<'a>(buf: &SocketSendBuffer) -> Option<SendData<'a>> {
    let p = buf.buffer as *mut u8;
    match buf.kind {
        SOCKET_BUFFER_MEMORY => Some(SendData::Owned(Payload::from_raw(p, buf.sz))),
        SOCKET_BUFFER_RAWPOINTER if p.is_null() || buf.sz == 0 => Some(SendData::Borrowed(&[])),
        SOCKET_BUFFER_RAWPOINTER => Some(SendData::Borrowed(std::slice::from_raw_parts(p, buf.sz))),
        _ => None,
    }
}

/// The node of `ctx`, with the context's handle.
unsafe fn node_of<'a>(ctx: *mut c_void) -> Option<(&'a Node, u32)> {
    let c = context(ctx)?;
    Some((c.node(), c.handle()))
}

fn id_or_error(r: std::io::Result<i32>) -> c_int {
    r.unwrap_or(-1)
}

/// `int skynet_socket_sendbuffer(ctx, buffer)`: 0, or -1 when the socket
/// is gone (the buffer is freed either way, unless it is an object).
///
/// # Safety
/// As for [`send_data`]; `buffer` points to a valid send buffer.
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_sendbuffer(
    ctx: *mut c_void,
    buffer: *const SocketSendBuffer,
) -> c_int {
    send_common(ctx, buffer, false)
}

/// `int skynet_socket_sendbuffer_lowpriority(ctx, buffer)`.
///
/// # Safety
/// As for [`skynet_socket_sendbuffer`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_sendbuffer_lowpriority(
    ctx: *mut c_void,
    buffer: *const SocketSendBuffer,
) -> c_int {
    send_common(ctx, buffer, true)
}

unsafe fn send_common(ctx: *mut c_void, buffer: *const SocketSendBuffer, low: bool) -> c_int {
    let Some(buf) = buffer.as_ref() else {
        return -1;
    };
    let Some(data) = send_data(buf) else {
        return -1;
    };
    let Some((node, _)) = node_of(ctx) else {
        return -1;
    };
    let ok = if low {
        node.socket().send_low(buf.id, data)
    } else {
        node.socket().send(buf.id, data)
    };
    if ok {
        0
    } else {
        -1
    }
}

/// `int skynet_socket_listen(ctx, host, port, backlog)`.
///
/// # Safety
/// As for [`context`]; `host` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_listen(
    ctx: *mut c_void,
    host: *const c_char,
    port: c_int,
    backlog: c_int,
) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    let host = text(host).unwrap_or_default();
    id_or_error(node.socket().listen(owner, &host, port, backlog))
}

/// `int skynet_socket_connect(ctx, host, port)`.
///
/// # Safety
/// As for [`skynet_socket_listen`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_connect(
    ctx: *mut c_void,
    host: *const c_char,
    port: c_int,
) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    let host = text(host).unwrap_or_default();
    id_or_error(node.socket().connect(owner, &host, port))
}

/// `int skynet_socket_bind(ctx, fd)`.
///
/// # Safety
/// As for [`context`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_bind(ctx: *mut c_void, fd: c_int) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    id_or_error(node.socket().bind(owner, fd))
}

/// The `void skynet_socket_<request>(ctx, id)` entry points: a request on
/// one socket made as the service `ctx` (nothing happens for a bad `ctx`).
macro_rules! socket_id_requests {
    ($($name:ident => $request:ident),* $(,)?) => {$(
        #[doc = concat!("`void ", stringify!($name), "(ctx, id)`.")]
        ///
        /// # Safety
        /// As for [`context`].
        #[no_mangle]
        pub unsafe extern "C" fn $name(ctx: *mut c_void, id: c_int) {
            if let Some((node, owner)) = node_of(ctx) {
                node.socket().$request(owner, id);
            }
        }
    )*};
}

socket_id_requests!(
    skynet_socket_close => close,
    skynet_socket_shutdown => shutdown,
    skynet_socket_start => start,
    skynet_socket_pause => pause,
);

/// `void skynet_socket_nodelay(ctx, id)`.
///
/// # Safety
/// As for [`context`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_nodelay(ctx: *mut c_void, id: c_int) {
    if let Some((node, _)) = node_of(ctx) {
        node.socket().nodelay(id);
    }
}

/// `int skynet_socket_udp(ctx, addr, port)`: `addr` may be NULL.
///
/// # Safety
/// As for [`skynet_socket_listen`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp(
    ctx: *mut c_void,
    addr: *const c_char,
    port: c_int,
) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    let host = text(addr);
    id_or_error(node.socket().udp(owner, host.as_deref(), port))
}

/// `int skynet_socket_udp_connect(ctx, id, addr, port)`: 0 or -1.
///
/// # Safety
/// As for [`skynet_socket_listen`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp_connect(
    ctx: *mut c_void,
    id: c_int,
    addr: *const c_char,
    port: c_int,
) -> c_int {
    let Some((node, _)) = node_of(ctx) else {
        return -1;
    };
    let host = text(addr).unwrap_or_default();
    match node.socket().udp_connect(id, &host, port) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// `int skynet_socket_udp_dial(ctx, addr, port)`.
///
/// # Safety
/// As for [`skynet_socket_listen`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp_dial(
    ctx: *mut c_void,
    addr: *const c_char,
    port: c_int,
) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    let host = text(addr).unwrap_or_default();
    id_or_error(node.socket().udp_dial(owner, &host, port))
}

/// `int skynet_socket_udp_listen(ctx, addr, port)`.
///
/// # Safety
/// As for [`skynet_socket_listen`].
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp_listen(
    ctx: *mut c_void,
    addr: *const c_char,
    port: c_int,
) -> c_int {
    let Some((node, owner)) = node_of(ctx) else {
        return -1;
    };
    let host = text(addr).unwrap_or_default();
    id_or_error(node.socket().udp_listen(owner, &host, port))
}

/// `int skynet_socket_udp_sendbuffer(ctx, address, buffer)`: `address` is
/// a binary UDP address (from `skynet_socket_udp_address`).
///
/// # Safety
/// As for [`skynet_socket_sendbuffer`]; `address` points to a UDP address
/// (7 or 19 bytes, by its first byte).
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp_sendbuffer(
    ctx: *mut c_void,
    address: *const c_char,
    buffer: *const SocketSendBuffer,
) -> c_int {
    let Some(buf) = buffer.as_ref() else {
        return -1;
    };
    let Some(data) = send_data(buf) else {
        return -1;
    };
    let Some((node, _)) = node_of(ctx) else {
        return -1;
    };
    let len = match address.as_ref().map(|&b| b as u8) {
        Some(1) => UDP_ADDRESS_V4_SIZE,
        Some(2) => UDP_ADDRESS_SIZE,
        _ => return -1,
    };
    let address = std::slice::from_raw_parts(address as *const u8, len);
    if node.socket().udp_send(buf.id, address, data) {
        0
    } else {
        -1
    }
}

/// `const char * skynet_socket_udp_address(msg, &addrsz)`: the sender of
/// a UDP message (NULL for other messages).
///
/// # Safety
/// `msg` points to a socket message as delivered; `addrsz` is writable.
#[no_mangle]
pub unsafe extern "C" fn skynet_socket_udp_address(
    msg: *const SocketMessageHeader,
    addrsz: *mut c_int,
) -> *const c_char {
    let Some(m) = msg.as_ref() else {
        return ptr::null();
    };
    if m.kind != SKYNET_SOCKET_TYPE_UDP || m.buffer.is_null() || m.ud < 0 {
        return ptr::null();
    }
    let at = m.buffer.add(m.ud as usize);
    let len = match *at {
        1 => UDP_ADDRESS_V4_SIZE,
        2 => UDP_ADDRESS_SIZE,
        _ => return ptr::null(),
    };
    if let Some(out) = addrsz.as_mut() {
        *out = len as c_int;
    }
    at as *const c_char
}

/// `struct socket_info * skynet_socket_info(void)`: a list to free with
/// `socket_info_release`.
#[no_mangle]
pub extern "C" fn skynet_socket_info() -> *mut CSocketInfo {
    let Some(node) = current_node() else {
        return ptr::null_mut();
    };
    let mut head: *mut CSocketInfo = ptr::null_mut();
    // Built back to front, so the list is in the order `info` gives.
    for si in node.socket().info().into_iter().rev() {
        let mut name = [0 as c_char; 128];
        for (d, s) in name.iter_mut().zip(si.name.bytes().take(127)) {
            *d = s as c_char;
        }
        let entry = CSocketInfo {
            id: si.id,
            kind: match si.kind {
                SocketInfoKind::Listen => SOCKET_INFO_LISTEN,
                SocketInfoKind::Tcp => SOCKET_INFO_TCP,
                SocketInfoKind::Udp => SOCKET_INFO_UDP,
                SocketInfoKind::Bind => SOCKET_INFO_BIND,
                SocketInfoKind::Closing => SOCKET_INFO_CLOSING,
            },
            opaque: si.owner as u64,
            read: si.read,
            write: si.write,
            rtime: si.rtime,
            wtime: si.wtime,
            wbuffer: si.wbuffer as i64,
            reading: si.reading as u8,
            writing: si.writing as u8,
            name,
            next: head,
        };
        // SAFETY: malloc gives memory for one entry (or null); we write a
        // whole value into it before anyone reads it.
        let p = unsafe { libc::malloc(std::mem::size_of::<CSocketInfo>()) } as *mut CSocketInfo;
        if p.is_null() {
            crate::alloc_failure(std::mem::size_of::<CSocketInfo>());
        }
        // SAFETY: p is fresh, aligned (malloc) and large enough.
        unsafe { ptr::write(p, entry) };
        head = p;
    }
    head
}

/// `void socket_info_release(struct socket_info *)`.
///
/// # Safety
/// `si` is null or a list from [`skynet_socket_info`], released once.
#[no_mangle]
pub unsafe extern "C" fn socket_info_release(mut si: *mut CSocketInfo) {
    while !si.is_null() {
        let next = (*si).next;
        libc::free(si.cast());
        si = next;
    }
}

/// The addresses of the exported functions, so the linker keeps them in
/// the binary for C modules loaded later.
pub fn exported_symbols() -> Vec<*const c_void> {
    vec![
        skynet_socket_sendbuffer as *const c_void,
        skynet_socket_sendbuffer_lowpriority as *const c_void,
        skynet_socket_listen as *const c_void,
        skynet_socket_connect as *const c_void,
        skynet_socket_bind as *const c_void,
        skynet_socket_close as *const c_void,
        skynet_socket_shutdown as *const c_void,
        skynet_socket_start as *const c_void,
        skynet_socket_pause as *const c_void,
        skynet_socket_nodelay as *const c_void,
        skynet_socket_udp as *const c_void,
        skynet_socket_udp_connect as *const c_void,
        skynet_socket_udp_dial as *const c_void,
        skynet_socket_udp_listen as *const c_void,
        skynet_socket_udp_sendbuffer as *const c_void,
        skynet_socket_udp_address as *const c_void,
        skynet_socket_info as *const c_void,
        socket_info_release as *const c_void,
    ]
}

//! The `client.socket` Lua module of `client.so`: a blocking connect, then a
//! non-blocking TCP socket polled by the script, plus `usleep` and
//! `readstdin`. Stands for the reference's `lualib-src/lua-clientsocket.c`
//! (same function names, results and error texts).
//!
//! - `connect(ip, port)` -> fd (IPv4 dotted address, no name lookup);
//! - `send(fd, data)` writes all of `data` (waits while the socket is full);
//! - `recv(fd)` -> up to 4 KiB read, `""` when the peer closed, nothing when
//!   no data is there yet;
//! - `shutdown(fd, "r"|"w"|"rw")`, `close(fd)`, `usleep(microseconds)`;
//! - `readstdin()` -> the next line typed on stdin, or nothing.
//!
//! Unlike the reference, `send` asks for no SIGPIPE (a closed peer is an
//! error, not the end of the interpreter) and waits for room instead of
//! spinning.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;

use crate::lua::{
    check_bytes, check_cstr, check_integer, check_number, new_library, push_bytes, push_integer,
    raise, scratch, State,
};
use crate::stdin;

/// How much `recv` reads at most.
const RECV_SIZE: usize = 0x1000;

extern "C" {
    /// `in_addr_t inet_addr(const char *)`, not in the libc crate.
    fn inet_addr(cp: *const c_char) -> u32;
}

/// Shows C text (an address, `strerror`) without allocating, invalid UTF-8
/// replaced.
struct CText<'a>(&'a [u8]);

impl fmt::Display for CText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Raises `socket error: <strerror(e)>`.
unsafe fn raise_errno(l: State, e: c_int) -> ! {
    let text = CStr::from_ptr(libc::strerror(e));
    raise(l, format_args!("socket error: {}", CText(text.to_bytes())))
}

/// The fd argument, as the C int the reference reads.
unsafe fn check_fd(l: State, arg: c_int) -> c_int {
    check_integer(l, arg) as c_int
}

unsafe extern "C-unwind" fn l_connect(l: State) -> c_int {
    let addr = check_cstr(l, 1);
    let port = check_integer(l, 2) as c_int;
    let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: (port as u16).to_be(),
        sin_addr: libc::in_addr {
            s_addr: inet_addr(addr.as_ptr()),
        },
        sin_zero: [0; 8],
    };
    let r = if fd < 0 {
        -1
    } else {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r == -1 {
        if fd >= 0 {
            libc::close(fd);
        }
        raise(
            l,
            format_args!("Connect {} {} failed", CText(addr.to_bytes()), port),
        );
    }
    let flags = libc::fcntl(fd, libc::F_GETFL, 0);
    libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    push_integer(l, i64::from(fd));
    1
}

unsafe extern "C-unwind" fn l_close(l: State) -> c_int {
    let fd = check_fd(l, 1);
    libc::close(fd);
    0
}

/// Blocks until `fd` can take more bytes (or has an error to report).
unsafe fn wait_writable(fd: c_int) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    libc::poll(&mut pfd, 1, -1);
}

unsafe extern "C-unwind" fn l_send(l: State) -> c_int {
    let fd = check_fd(l, 1);
    let mut rest = check_bytes(l, 2);
    while !rest.is_empty() {
        let r = libc::send(
            fd,
            rest.as_ptr().cast::<c_void>(),
            rest.len(),
            libc::MSG_NOSIGNAL,
        );
        if r < 0 {
            match errno() {
                libc::EINTR => {}
                libc::EAGAIN => wait_writable(fd),
                e => raise_errno(l, e),
            }
            continue;
        }
        rest = &rest[r as usize..];
    }
    0
}

unsafe extern "C-unwind" fn l_recv(l: State) -> c_int {
    let fd = check_fd(l, 1);
    let buf = scratch(l, RECV_SIZE);
    let r = libc::recv(fd, buf.as_mut_ptr().cast::<c_void>(), buf.len(), 0);
    if r < 0 {
        return match errno() {
            libc::EAGAIN | libc::EINTR => 0,
            e => raise_errno(l, e),
        };
    }
    // 0 bytes: the peer closed, returned as ""
    push_bytes(l, &buf[..r as usize]);
    1
}

unsafe extern "C-unwind" fn l_usleep(l: State) -> c_int {
    let n = check_number(l, 1);
    // the reference passes the number on as a C int of microseconds
    if n >= 1.0 {
        let micros = n.min(f64::from(i32::MAX)) as u64;
        std::thread::sleep(std::time::Duration::from_micros(micros));
    }
    0
}

unsafe extern "C-unwind" fn l_shutdown(l: State) -> c_int {
    let fd = check_fd(l, 1);
    let mode = check_bytes(l, 2);
    let (mut read, mut write) = (false, false);
    for &c in mode {
        match c {
            b'r' => read = true,
            b'w' => write = true,
            _ => raise(l, format_args!("Invalid mode {}", char::from(c))),
        }
    }
    let how = match (read, write) {
        (true, false) => libc::SHUT_RD,
        (false, true) => libc::SHUT_WR,
        (true, true) => libc::SHUT_RDWR,
        (false, false) => raise(l, format_args!("mode should be r or/and w")),
    };
    // through C stdio, like Lua's own print, so that the lines stay in order
    libc::printf(c"SHUTDOWN %d %d\n".as_ptr(), fd, how);
    libc::shutdown(fd, how);
    0
}

unsafe extern "C-unwind" fn l_readstdin(l: State) -> c_int {
    let Some(len) = stdin::peek_len() else {
        return 0;
    };
    let buf = scratch(l, len);
    match stdin::pop_into(buf) {
        Some(n) => {
            push_bytes(l, &buf[..n]);
            1
        }
        None => 0,
    }
}

/// Keeps `client.so` mapped for the life of the process: the stdin thread
/// runs code of this library, and Lua unloads C modules when its state
/// closes. Returns whether the library is pinned.
unsafe fn pin_library() -> bool {
    let mut info: libc::Dl_info = std::mem::zeroed();
    let here = luaopen_client_socket as *const c_void;
    if libc::dladdr(here, &mut info) == 0 || info.dli_fname.is_null() {
        return false;
    }
    let handle = libc::dlopen(
        info.dli_fname,
        libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
    );
    !handle.is_null()
}

/// `require "client.socket"`: the socket functions; starts the stdin reader.
///
/// # Safety
/// Called by Lua as a C function.
#[no_mangle]
pub unsafe extern "C-unwind" fn luaopen_client_socket(l: State) -> c_int {
    new_library(
        l,
        &[
            (c"connect", l_connect),
            (c"recv", l_recv),
            (c"send", l_send),
            (c"shutdown", l_shutdown),
            (c"close", l_close),
            (c"usleep", l_usleep),
            (c"readstdin", l_readstdin),
        ],
    );
    // When this library is linked into a program rather than loaded by an
    // interpreter, it cannot be unloaded and there is nothing to pin.
    pin_library();
    stdin::start();
    1
}

//! Thin, safe wrappers over the OS socket calls the socket layer makes:
//! name resolution (`getaddrinfo`), socket creation, bind/listen/connect/
//! accept, reads and writes, socket options and the `strerror` texts that
//! the reference reports to services. Stands for the system-call side of
//! `socket_server.c` and `socket_epoll.h`'s `sp_nonblocking`.
//!
//! Addresses cross this boundary as [`std::net::SocketAddr`]; every
//! `unsafe` block here is a plain libc call on memory we own.

use std::ffi::{c_int, c_void, CStr, CString};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// One result of `getaddrinfo`.
#[derive(Debug, Clone, Copy)]
pub struct AddrInfo {
    pub family: c_int,
    pub socktype: c_int,
    pub protocol: c_int,
    pub addr: SocketAddr,
}

/// The text of an OS error number, as C's `strerror` gives it.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: strerror_r (XSI) writes a NUL-terminated text of at most
    // buf.len() bytes into our buffer.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The `strerror` text of an I/O error.
pub fn error_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => e.to_string(),
    }
}

/// The text of a `getaddrinfo` status, as `gai_strerror` gives it.
fn gai_text(status: c_int) -> String {
    // SAFETY: gai_strerror returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(libc::gai_strerror(status)) }
        .to_string_lossy()
        .into_owned()
}

/// Resolves `host`/`port` with the given hints (0 means "any"). The error
/// is the `gai_strerror` text.
pub fn resolve(
    host: Option<&str>,
    port: Option<&str>,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
) -> Result<Vec<AddrInfo>, String> {
    let host_c = match host {
        Some(h) => Some(CString::new(h).map_err(|_| gai_text(libc::EAI_NONAME))?),
        None => None,
    };
    let port_c = match port {
        Some(p) => Some(CString::new(p).map_err(|_| gai_text(libc::EAI_SERVICE))?),
        None => None,
    };
    // SAFETY: an all-zero addrinfo is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_protocol = protocol;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: the strings are NUL-terminated and outlive the call; the list
    // is freed below with freeaddrinfo.
    let status = unsafe {
        libc::getaddrinfo(
            host_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            port_c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            &hints,
            &mut list,
        )
    };
    if status != 0 {
        return Err(gai_text(status));
    }
    let mut out = Vec::new();
    let mut p = list;
    while !p.is_null() {
        // SAFETY: p walks the list getaddrinfo returned, which is valid
        // until freeaddrinfo.
        let ai = unsafe { &*p };
        // SAFETY: ai_addr points at ai_addrlen bytes of a socket address.
        if let Some(addr) = unsafe { from_sockaddr(ai.ai_addr, ai.ai_addrlen) } {
            out.push(AddrInfo {
                family: ai.ai_family,
                socktype: ai.ai_socktype,
                protocol: ai.ai_protocol,
                addr,
            });
        }
        p = ai.ai_next;
    }
    // SAFETY: list came from getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(out)
}

/// Reads an IPv4/IPv6 socket address; other families give `None`.
///
/// # Safety
/// `sa` points at `len` readable bytes of a socket address (or is null).
pub unsafe fn from_sockaddr(sa: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    match (*sa).sa_family as c_int {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            let v4 = &*(sa as *const libc::sockaddr_in);
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            let v6 = &*(sa as *const libc::sockaddr_in6);
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A socket address in the OS's layout.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn new(addr: &SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // any socket address type.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }
}

fn check(rc: c_int) -> io::Result<c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A new socket.
pub fn socket(family: c_int, socktype: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() has no memory arguments; a non-negative result is a
    // fresh descriptor we own.
    let fd = check(unsafe { libc::socket(family, socktype | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: fd is a new descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_option(fd: RawFd, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: setsockopt reads an int we own.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const c_int as *const c_void,
            size_of::<c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// `O_NONBLOCK` on; errors are ignored, as in the reference.
pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL, 0);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// `SO_KEEPALIVE` on; errors are ignored, as in the reference.
pub fn set_keepalive(fd: RawFd) {
    let _ = set_int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
}

/// `TCP_NODELAY` on or off; errors are ignored, as in the reference.
pub fn set_nodelay(fd: RawFd, on: bool) {
    let _ = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, on as c_int);
}

pub fn bind(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let raw = RawAddr::new(addr);
    // SAFETY: raw holds a valid socket address of raw.len bytes.
    check(unsafe { libc::bind(fd, raw.as_ptr(), raw.len) }).map(|_| ())
}

pub fn listen(fd: RawFd, backlog: c_int) -> io::Result<()> {
    // SAFETY: no memory arguments.
    check(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// Starts a connection; `Ok(true)` when it completed at once, `Ok(false)`
/// when it is in progress (non-blocking socket).
pub fn connect(fd: RawFd, addr: &SocketAddr) -> io::Result<bool> {
    let raw = RawAddr::new(addr);
    // SAFETY: raw holds a valid socket address of raw.len bytes.
    match check(unsafe { libc::connect(fd, raw.as_ptr(), raw.len) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accepts one connection: the new descriptor and the peer's address.
pub fn accept(fd: RawFd) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: accept writes at most len bytes into storage.
    let client = check(unsafe {
        libc::accept4(
            fd,
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
            libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: client is a new descriptor we own; storage holds len bytes.
    let owned = unsafe { OwnedFd::from_raw_fd(client) };
    // SAFETY: accept filled `len` bytes of storage.
    let addr = unsafe { from_sockaddr(&storage as *const _ as *const libc::sockaddr, len) };
    Ok((owned, addr))
}

fn name_of(
    fd: RawFd,
    f: unsafe extern "C" fn(c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> c_int,
) -> io::Result<Option<SocketAddr>> {
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname/getpeername write at most len bytes into storage.
    check(unsafe { f(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) })?;
    // SAFETY: the call filled `len` bytes of storage.
    Ok(unsafe { from_sockaddr(&storage as *const _ as *const libc::sockaddr, len) })
}

/// The socket's own address (`getsockname`).
pub fn local_addr(fd: RawFd) -> io::Result<Option<SocketAddr>> {
    name_of(fd, libc::getsockname)
}

/// The connected peer's address (`getpeername`).
pub fn peer_addr(fd: RawFd) -> io::Result<Option<SocketAddr>> {
    name_of(fd, libc::getpeername)
}

/// The pending error of a socket (`SO_ERROR`): 0 when there is none.
pub fn take_error(fd: RawFd) -> io::Result<i32> {
    let mut err: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one int into err.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut c_int as *mut c_void,
            &mut len,
        )
    })?;
    Ok(err)
}

/// `shutdown(2)`; errors are ignored, as in the reference.
pub fn shutdown(fd: RawFd, how: c_int) {
    // SAFETY: no memory arguments.
    unsafe { libc::shutdown(fd, how) };
}

/// Reads into `buf`, retrying on EINTR.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: read writes at most buf.len() bytes into buf.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads into `len` bytes at `ptr`, which need not be initialised (EINTR
/// is retried).
///
/// # Safety
/// `ptr` is valid for writes of `len` bytes.
pub unsafe fn read_raw(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<usize> {
    loop {
        let n = libc::read(fd, ptr.cast(), len);
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes from `buf` (one call; EINTR is retried).
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: write reads at most buf.len() bytes from buf.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Sends one datagram to `addr`.
pub fn send_to(fd: RawFd, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
    let raw = RawAddr::new(addr);
    // SAFETY: sendto reads buf.len() bytes from buf and raw.len bytes of
    // the address.
    let n = unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), 0, raw.as_ptr(), raw.len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Receives one datagram: its size and the sender's address.
pub fn recv_from(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)> {
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: recvfrom writes at most buf.len() bytes into buf and at most
    // len bytes of address into storage.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: recvfrom filled `len` bytes of storage.
    let addr = unsafe { from_sockaddr(&storage as *const _ as *const libc::sockaddr, len) };
    Ok((n as usize, addr))
}

/// A socket bound to `host:port` (the reference's `do_bind`): the first
/// address `getaddrinfo` gives, `SO_REUSEADDR` on. An empty host means
/// `0.0.0.0`. Returns the socket and its address family.
pub fn bind_address(host: &str, port: i32, udp: bool) -> io::Result<(OwnedFd, c_int)> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let (socktype, protocol) = if udp {
        (libc::SOCK_DGRAM, libc::IPPROTO_UDP)
    } else {
        (libc::SOCK_STREAM, libc::IPPROTO_TCP)
    };
    let list = resolve(
        Some(host),
        Some(&port.to_string()),
        libc::AF_UNSPEC,
        socktype,
        protocol,
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let first = list
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let fd = socket(first.family, first.socktype, 0)?;
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    bind(fd.as_raw_fd(), &first.addr)?;
    Ok((fd, first.family))
}

/// A duplicate of descriptor `fd` (used to keep a spare descriptor for
/// EMFILE).
pub fn dup(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: dup has no memory arguments; a non-negative result is ours.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if n < 0 {
        None
    } else {
        // SAFETY: n is a new descriptor we own.
        Some(unsafe { OwnedFd::from_raw_fd(n) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_c_text() {
        assert_eq!(strerror(libc::ECONNREFUSED), "Connection refused");
        assert_eq!(strerror(libc::EPIPE), "Broken pipe");
    }

    #[test]
    fn resolve_numeric_hosts() {
        let v4 = resolve(
            Some("127.0.0.1"),
            Some("80"),
            libc::AF_UNSPEC,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP,
        )
        .expect("resolve 127.0.0.1");
        assert_eq!(v4[0].addr, "127.0.0.1:80".parse().unwrap());
        let v6 = resolve(
            Some("::1"),
            Some("8000"),
            libc::AF_UNSPEC,
            libc::SOCK_DGRAM,
            libc::IPPROTO_UDP,
        )
        .expect("resolve ::1");
        assert_eq!(v6[0].family, libc::AF_INET6);
        assert_eq!(v6[0].addr.port(), 8000);
        // An unknown service name fails without any network traffic.
        assert!(resolve(
            Some("127.0.0.1"),
            Some("no-such-service-name"),
            libc::AF_UNSPEC,
            libc::SOCK_STREAM,
            libc::IPPROTO_TCP
        )
        .is_err());
    }

    #[test]
    fn raw_address_round_trips() {
        for text in ["127.0.0.1:4000", "[::1]:65535", "10.1.2.3:0"] {
            let a: SocketAddr = text.parse().unwrap();
            let raw = RawAddr::new(&a);
            // SAFETY: raw holds a valid address of raw.len bytes.
            let back = unsafe { from_sockaddr(raw.as_ptr(), raw.len) };
            assert_eq!(back, Some(a));
        }
    }
}

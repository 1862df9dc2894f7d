//! The socket thread's readiness poller: a level-triggered epoll set in
//! which every socket is registered with its socket id as the token, plus
//! an eventfd that other threads use to wake the poller when they queue a
//! control request. Stands for `socket_poll.h` / `socket_epoll.h` and the
//! control pipe of `socket_server.c`.
//!
//! Written on libc rather than mio: the socket layer relies on
//! level-triggered readiness (it reads one bounded chunk per event), on
//! switching read interest off entirely (pause) and on seeing EPOLLERR and
//! EPOLLHUP as such, none of which mio's edge-triggered registrations give.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The token of the wake-up eventfd (socket ids are never negative).
pub const WAKE_TOKEN: u64 = u64::MAX;

/// One readiness report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub token: u64,
    pub read: bool,
    pub write: bool,
    pub error: bool,
    pub eof: bool,
}

pub struct Poller {
    epoll: OwnedFd,
    waker: OwnedFd,
}

fn interest(read: bool, write: bool) -> u32 {
    let mut bits = 0u32;
    if read {
        bits |= libc::EPOLLIN as u32;
    }
    if write {
        bits |= libc::EPOLLOUT as u32;
    }
    bits
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system calls; non-negative results are descriptors
        // we own.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: epoll is a new descriptor owned by nobody else.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: as above.
        let waker = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if waker < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: waker is a new descriptor owned by nobody else.
        let waker = unsafe { OwnedFd::from_raw_fd(waker) };
        let poller = Poller { epoll, waker };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.waker.as_raw_fd(),
            WAKE_TOKEN,
            libc::EPOLLIN as u32,
        )?;
        Ok(poller)
    }

    fn ctl(&self, op: i32, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: epoll_ctl reads the event we own.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Registers `fd` under `token` with the given interest.
    pub fn add(&self, fd: RawFd, token: u64, read: bool, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest(read, write))
    }

    /// Changes the interest of a registered `fd`.
    pub fn modify(&self, fd: RawFd, token: u64, read: bool, write: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest(read, write))
    }

    /// Unregisters `fd` (errors are ignored: the fd may be gone already).
    pub fn remove(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits for readiness (`timeout_ms` < 0: forever) and appends the
    /// reports to `out` (cleared first). EINTR gives an empty list.
    pub fn wait(
        &self,
        buf: &mut [libc::epoll_event],
        out: &mut Vec<Readiness>,
        timeout_ms: i32,
    ) -> io::Result<()> {
        out.clear();
        // SAFETY: epoll_wait writes at most buf.len() events into buf.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        for ev in &buf[..n as usize] {
            let flags = ev.events;
            out.push(Readiness {
                token: ev.u64,
                read: flags & libc::EPOLLIN as u32 != 0,
                write: flags & libc::EPOLLOUT as u32 != 0,
                error: flags & libc::EPOLLERR as u32 != 0,
                eof: flags & libc::EPOLLHUP as u32 != 0,
            });
        }
        Ok(())
    }

    /// Makes the next (or current) `wait` return (any thread).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a u64 we own. A full counter
        // (EAGAIN) already means "wake".
        unsafe {
            libc::write(
                self.waker.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
    }

    /// Clears the wake-up signal (socket thread, before it looks at the
    /// request queue).
    pub fn clear_wake(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a u64 we own; EAGAIN means "not set".
        unsafe {
            libc::read(
                self.waker.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            )
        };
    }
}

/// An empty event buffer for [`Poller::wait`].
pub fn event_buffer(n: usize) -> Vec<libc::epoll_event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_is_reported_and_cleared() {
        let p = Poller::new().expect("poller");
        let mut buf = event_buffer(8);
        let mut out = Vec::new();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert!(out.is_empty());
        p.wake();
        p.wake();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].token, WAKE_TOKEN);
        assert!(out[0].read);
        p.clear_wake();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn interest_follows_modify() {
        let p = Poller::new().expect("poller");
        let mut fds = [0; 2];
        // SAFETY: socketpair fills two descriptors we then own.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: both are new descriptors owned by this test.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut buf = event_buffer(8);
        let mut out = Vec::new();
        p.add(a.as_raw_fd(), 7, false, true).unwrap();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].write && !out[0].read && out[0].token == 7);
        p.modify(a.as_raw_fd(), 7, true, false).unwrap();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert!(out.is_empty());
        crate::socket::sys::write(b.as_raw_fd(), b"x").unwrap();
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].read && !out[0].write);
        p.remove(a.as_raw_fd());
        p.wait(&mut buf, &mut out, 0).unwrap();
        assert!(out.is_empty());
    }
}

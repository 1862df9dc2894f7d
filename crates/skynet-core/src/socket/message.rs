//! The PTYPE_SOCKET message a service receives for a socket event, and its
//! event types. Stands for `struct skynet_socket_message` and
//! `forward_message` of `skynet_socket.c`.
//!
//! The layout is the reference's C struct, so C services, `socketdriver`
//! and `netpack` read it alike: `int type; int id; int ud; char *buffer;`
//! (native int and pointer layout), then, for CONNECT, ERROR and ACCEPT
//! only, up to 128 bytes of text (no NUL) with `buffer` NULL. DATA and UDP
//! carry a separately allocated `buffer` whose ownership passes to the
//! receiving service (UDP: the data followed by the sender's binary
//! address); `ud` is the data size, the new connection's id (ACCEPT), the
//! port (CONNECT of a listen) or the pending KiB (WARNING).

use std::ffi::c_int;
use std::mem::{offset_of, size_of};

use crate::payload::Payload;

pub const SKYNET_SOCKET_TYPE_DATA: i32 = 1;
pub const SKYNET_SOCKET_TYPE_CONNECT: i32 = 2;
pub const SKYNET_SOCKET_TYPE_CLOSE: i32 = 3;
pub const SKYNET_SOCKET_TYPE_ACCEPT: i32 = 4;
pub const SKYNET_SOCKET_TYPE_ERROR: i32 = 5;
pub const SKYNET_SOCKET_TYPE_UDP: i32 = 6;
pub const SKYNET_SOCKET_TYPE_WARNING: i32 = 7;

/// The C view of the message head.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SocketMessageHeader {
    pub kind: c_int,
    pub id: c_int,
    pub ud: c_int,
    pub buffer: *mut u8,
}

/// Bytes of the head; inline text follows it.
pub const HEADER_SIZE: usize = size_of::<SocketMessageHeader>();

/// Most text bytes a message carries inline.
pub const MAX_TEXT: usize = 128;

/// What an event carries besides its numbers.
#[derive(Debug)]
pub enum EventData {
    /// Nothing (`buffer` NULL, no text).
    Nothing,
    /// Inline text (CONNECT, ERROR, ACCEPT).
    Text(String),
    /// An owned buffer handed to the service (DATA, UDP).
    Buffer(Payload),
}

/// One socket event for one service.
#[derive(Debug)]
pub struct SocketEvent {
    pub kind: i32,
    pub id: i32,
    pub ud: i32,
    pub data: EventData,
}

impl SocketEvent {
    /// Bytes read from stream `id`.
    pub fn data(id: i32, bytes: Payload) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_DATA,
            id,
            ud: bytes.len() as i32,
            data: EventData::Buffer(bytes),
        }
    }

    /// A socket is open: connected, listening, started, bound.
    pub fn connect(id: i32, ud: i32, text: impl Into<String>) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_CONNECT,
            id,
            ud,
            data: EventData::Text(text.into()),
        }
    }

    /// A connect event without an address text.
    pub fn connect_bare(id: i32) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_CONNECT,
            id,
            ud: 0,
            data: EventData::Nothing,
        }
    }

    pub fn close(id: i32) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_CLOSE,
            id,
            ud: 0,
            data: EventData::Nothing,
        }
    }

    /// Listener `id` accepted connection `new_id` from `peer`.
    pub fn accept(id: i32, new_id: i32, peer: Option<String>) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_ACCEPT,
            id,
            ud: new_id,
            data: peer.map_or(EventData::Nothing, EventData::Text),
        }
    }

    pub fn error(id: i32, text: impl Into<String>) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_ERROR,
            id,
            ud: 0,
            data: EventData::Text(text.into()),
        }
    }

    /// A datagram of `size` bytes; `buffer` holds it followed by the
    /// sender's binary UDP address.
    pub fn udp(id: i32, size: usize, buffer: Payload) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_UDP,
            id,
            ud: size as i32,
            data: EventData::Buffer(buffer),
        }
    }

    /// `kib` KiB wait to be written (0: the buffer drained).
    pub fn warning(id: i32, kib: i32) -> SocketEvent {
        SocketEvent {
            kind: SKYNET_SOCKET_TYPE_WARNING,
            id,
            ud: kib,
            data: EventData::Nothing,
        }
    }

    /// The message payload; an owned buffer moves into it.
    pub fn into_payload(self) -> Payload {
        let (pointer, text) = match self.data {
            EventData::Buffer(p) => (p.into_raw().0 as usize, None),
            EventData::Text(t) => (0, Some(t)),
            EventData::Nothing => (0, None),
        };
        let text = text.as_deref().map_or(&b""[..], str::as_bytes);
        let text = &text[..text.len().min(MAX_TEXT)];
        let mut head = [0u8; HEADER_SIZE];
        head[offset_of!(SocketMessageHeader, kind)..][..4]
            .copy_from_slice(&self.kind.to_ne_bytes());
        head[offset_of!(SocketMessageHeader, id)..][..4].copy_from_slice(&self.id.to_ne_bytes());
        head[offset_of!(SocketMessageHeader, ud)..][..4].copy_from_slice(&self.ud.to_ne_bytes());
        head[offset_of!(SocketMessageHeader, buffer)..][..size_of::<usize>()]
            .copy_from_slice(&pointer.to_ne_bytes());
        let mut out = Payload::with_capacity(HEADER_SIZE + text.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(text);
        out
    }
}

/// A socket message read back from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct SocketMessageView<'a> {
    pub kind: i32,
    pub id: i32,
    pub ud: i32,
    /// The owned buffer (null when the message carries none).
    pub buffer: *mut u8,
    /// The inline text (empty when `buffer` is set).
    pub text: &'a [u8],
}

fn int_at(bytes: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    i32::from_ne_bytes(b)
}

/// Reads a socket message; `None` when `bytes` is shorter than the head.
pub fn parse(bytes: &[u8]) -> Option<SocketMessageView<'_>> {
    if bytes.len() < HEADER_SIZE {
        return None;
    }
    let mut p = [0u8; size_of::<usize>()];
    let at = offset_of!(SocketMessageHeader, buffer);
    p.copy_from_slice(&bytes[at..at + size_of::<usize>()]);
    let buffer = usize::from_ne_bytes(p) as *mut u8;
    Some(SocketMessageView {
        kind: int_at(bytes, offset_of!(SocketMessageHeader, kind)),
        id: int_at(bytes, offset_of!(SocketMessageHeader, id)),
        ud: int_at(bytes, offset_of!(SocketMessageHeader, ud)),
        buffer,
        text: if buffer.is_null() {
            &bytes[HEADER_SIZE..]
        } else {
            &[]
        },
    })
}

impl SocketMessageView<'_> {
    /// Takes ownership of the carried buffer (DATA: `ud` bytes; UDP: `ud`
    /// bytes plus the address, which is not counted).
    ///
    /// # Safety
    /// The message must come from the socket layer, and its buffer must
    /// not have been taken before (each message's buffer has one owner).
    pub unsafe fn take_buffer(&self) -> Payload {
        Payload::from_raw(self.buffer, self.ud.max(0) as usize)
    }
}

/// How the per-service message log (`LOGON`) shows a socket message, as
/// the reference's `log_socket`: `[socket] TYPE ID UD ` followed by
/// `[TEXT]` (inline text, up to a NUL) or the carried buffer in lowercase
/// hex. `None` when `bytes` is not a socket message.
///
/// # Safety
/// The message's buffer, if it has one, is still alive (not yet freed or
/// handed on), as before the message is dispatched.
pub unsafe fn log_line(bytes: &[u8]) -> Option<String> {
    use std::fmt::Write;
    let v = parse(bytes)?;
    let mut line = format!("[socket] {} {} {} ", v.kind, v.id, v.ud);
    if v.buffer.is_null() {
        let text = match v.text.iter().position(|&b| b == 0) {
            Some(n) => &v.text[..n],
            None => v.text,
        };
        line.push('[');
        line.push_str(&String::from_utf8_lossy(text));
        line.push(']');
    } else {
        let data = std::slice::from_raw_parts(v.buffer, v.ud.max(0) as usize);
        for b in data {
            let _ = write!(line, "{b:02x}");
        }
    }
    Some(line)
}

/// Frees a socket message that no service took, with its buffer.
pub fn discard(payload: Payload) {
    if let Some(view) = parse(payload.as_slice()) {
        if !view.buffer.is_null() {
            // SAFETY: the buffer came from the C allocator when the event
            // was made and nobody else took it (the message was never
            // delivered).
            unsafe { libc::free(view.buffer.cast()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn header_is_the_c_layout() {
        // int, int, int, 4 bytes of padding, pointer.
        assert_eq!(HEADER_SIZE, 24);
        assert_eq!(offset_of!(SocketMessageHeader, ud), 8);
        assert_eq!(offset_of!(SocketMessageHeader, buffer), 16);
    }

    #[test]
    fn text_events_inline_their_text() {
        let p = SocketEvent::connect(5, 8000, "127.0.0.1").into_payload();
        assert_eq!(p.len(), HEADER_SIZE + 9);
        let v = parse(p.as_slice()).unwrap();
        assert_eq!((v.kind, v.id, v.ud), (SKYNET_SOCKET_TYPE_CONNECT, 5, 8000));
        assert!(v.buffer.is_null());
        assert_eq!(v.text, b"127.0.0.1");

        let long = "x".repeat(300);
        let p = SocketEvent::error(1, long).into_payload();
        assert_eq!(p.len(), HEADER_SIZE + MAX_TEXT);

        let p = SocketEvent::accept(1, 2, None).into_payload();
        let v = parse(p.as_slice()).unwrap();
        assert_eq!(
            (v.kind, v.ud, v.text),
            (SKYNET_SOCKET_TYPE_ACCEPT, 2, &b""[..])
        );
    }

    #[test]
    fn data_events_hand_over_their_buffer() {
        let p = SocketEvent::data(9, Payload::from("hello")).into_payload();
        assert_eq!(p.len(), HEADER_SIZE);
        let v = parse(p.as_slice()).unwrap();
        assert_eq!((v.kind, v.id, v.ud), (SKYNET_SOCKET_TYPE_DATA, 9, 5));
        assert!(!v.buffer.is_null());
        // SAFETY: the buffer of a message made just above, taken once.
        let data = unsafe { v.take_buffer() };
        assert_eq!(data.as_slice(), b"hello");
        assert!(parse(&p.as_slice()[..HEADER_SIZE - 1]).is_none());
    }

    #[test]
    fn log_lines_show_text_or_hex() {
        let p = SocketEvent::connect(3, 0, "start").into_payload();
        // SAFETY: a message without a buffer.
        let line = unsafe { log_line(p.as_slice()) };
        assert_eq!(line.as_deref(), Some("[socket] 2 3 0 [start]"));
        let p = SocketEvent::data(4, Payload::from(&b"\x01\xab"[..])).into_payload();
        // SAFETY: the message's buffer is alive until `discard` below.
        let line = unsafe { log_line(p.as_slice()) };
        assert_eq!(line.as_deref(), Some("[socket] 1 4 2 01ab"));
        discard(p);
        // SAFETY: not a socket message at all.
        assert_eq!(unsafe { log_line(b"short") }, None);
    }

    #[test]
    fn undelivered_messages_free_their_buffer() {
        discard(SocketEvent::data(1, Payload::from("lost")).into_payload());
        discard(SocketEvent::close(1).into_payload());
        discard(Payload::from("short"));
    }
}

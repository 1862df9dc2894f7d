//! A message between services and the protocol type numbers. Stands for
//! `struct skynet_message` (skynet_mq.h) and the `PTYPE_*` constants of
//! skynet.h.
//!
//! The reference packs the protocol type into the high byte of the size; we
//! keep it in its own field, but refuse payloads that would not fit the
//! reference's 56-bit size so both sides agree on what is "too large".

use crate::handle::Handle;
use crate::payload::Payload;

pub const PTYPE_TEXT: u8 = 0;
pub const PTYPE_RESPONSE: u8 = 1;
pub const PTYPE_MULTICAST: u8 = 2;
pub const PTYPE_CLIENT: u8 = 3;
pub const PTYPE_SYSTEM: u8 = 4;
pub const PTYPE_HARBOR: u8 = 5;
pub const PTYPE_SOCKET: u8 = 6;
pub const PTYPE_ERROR: u8 = 7;
pub const PTYPE_RESERVED_QUEUE: u8 = 8;
pub const PTYPE_RESERVED_DEBUG: u8 = 9;
pub const PTYPE_RESERVED_LUA: u8 = 10;
pub const PTYPE_RESERVED_SNAX: u8 = 11;

/// Send flag: the sender hands its buffer over instead of having it copied.
pub const PTYPE_TAG_DONTCOPY: i32 = 0x10000;
/// Send flag: allocate a fresh session for this message and return it.
pub const PTYPE_TAG_ALLOCSESSION: i32 = 0x20000;

/// Largest payload a message may carry (the reference keeps the type in the
/// top byte of a 64-bit size).
pub const MESSAGE_SIZE_LIMIT: usize = (1usize << 56) - 1;

/// One queued message. The payload is owned and moves with the message.
#[derive(Debug)]
pub struct Message {
    pub source: Handle,
    pub session: i32,
    pub ptype: u8,
    pub payload: Payload,
}

impl Message {
    pub fn new(source: Handle, session: i32, ptype: u8, payload: Payload) -> Message {
        Message {
            source,
            session,
            ptype,
            payload,
        }
    }
}

//! Routing of messages to other nodes. Stands for `skynet_harbor.c`.
//!
//! A handle whose harbor bits are neither 0 nor this node's id lives on
//! another node, and a name without a leading dot is a global name; both are
//! handed to the harbor service that registered itself as the node's
//! [`RemoteRouter`]. Without one, the message is refused and its sender gets
//! an error reply.

use crate::handle::{Handle, HANDLE_MASK};
use crate::payload::Payload;

/// Where a remote message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteTarget {
    Handle(Handle),
    /// A global name (at most 16 bytes on the wire, like the reference).
    Name(String),
}

/// A message for another node.
#[derive(Debug)]
pub struct RemoteMessage {
    pub destination: RemoteTarget,
    pub source: Handle,
    pub session: i32,
    pub ptype: u8,
    pub payload: Payload,
}

/// Implemented by the harbor service.
pub trait RemoteRouter: Send + Sync {
    /// Takes a message for another node. Must not block.
    fn route(&self, msg: RemoteMessage);
}

/// Whether `handle` belongs to another node, given this node's harbor bits.
pub fn is_remote(handle: Handle, harbor_bits: u32) -> bool {
    let h = handle & !HANDLE_MASK;
    h != harbor_bits && h != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_is_other_nonzero_harbor() {
        assert!(!is_remote(0x0100_0002, 0x0100_0000));
        assert!(!is_remote(0x0000_0002, 0x0100_0000));
        assert!(is_remote(0x0200_0002, 0x0100_0000));
        assert!(is_remote(0x0200_0002, 0));
        assert!(!is_remote(0x0000_0002, 0));
    }
}

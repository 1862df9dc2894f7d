//! The socket layer of a node: one socket thread polls every socket and
//! turns what happens into PTYPE_SOCKET messages for the services that own
//! them; services open, send on and close sockets through
//! [`SocketServer`] from any thread. Stands for the reference's
//! `socket_server.c` and `skynet_socket.c` (with `socket_poll.h`,
//! `socket_epoll.h`, `socket_buffer.h` and `socket_info.h`).
//!
//! Files: `slot.rs` (the id space and per-socket state), `server.rs` (the
//! calls services make), `event_loop.rs` (the socket thread),
//! `write_buffer.rs` (pending output and its warning), `message.rs` (the
//! message a service receives), `poll.rs` (epoll), `sys.rs` (system
//! calls), `address.rs` (address formats), `capi.rs` (the C API of
//! `skynet_socket.h`).

pub mod address;
pub mod capi;
pub mod event_loop;
pub mod message;
pub mod poll;
pub mod server;
pub mod slot;
pub mod sys;
pub mod write_buffer;

pub use event_loop::EventSink;
pub use message::{
    SocketEvent, SocketMessageView, SKYNET_SOCKET_TYPE_ACCEPT, SKYNET_SOCKET_TYPE_CLOSE,
    SKYNET_SOCKET_TYPE_CONNECT, SKYNET_SOCKET_TYPE_DATA, SKYNET_SOCKET_TYPE_ERROR,
    SKYNET_SOCKET_TYPE_UDP, SKYNET_SOCKET_TYPE_WARNING,
};
pub use server::{SendData, SocketInfo, SocketInfoKind, SocketServer};

use crate::handle::Handle;
use crate::message::{Message, PTYPE_SOCKET};
use crate::node::Node;

/// Delivers socket events to the services of a node, as PTYPE_SOCKET
/// messages from source 0 with session 0. A message for a service that is
/// gone is freed with its buffer.
pub struct NodeSink<'a>(pub &'a Node);

impl EventSink for NodeSink<'_> {
    fn deliver(&mut self, owner: Handle, event: SocketEvent) {
        let msg = Message::new(0, 0, PTYPE_SOCKET, event.into_payload());
        if let Err(m) = self.0.push(owner, msg) {
            message::discard(m.payload);
        }
    }

    fn log(&mut self, text: String) {
        self.0.log(0, text);
    }
}

//! skynet-core: the runtime of a skynet node (the reference's `skynet-src/`).
//!
//! Handles and names, service queues and the global queue, service contexts
//! and their dispatch, the text command table, the timer, the monitor, the
//! env table, config loading, the socket layer and the C ABI of skynet.h.

pub mod command;
pub mod config;
pub mod context;
pub mod daemon;
pub mod dispatch_clock;
pub mod env;
pub mod ffi;
pub mod handle;
pub mod harbor;
pub mod message;
pub mod module;
pub mod monitor;
pub mod mq;
pub mod node;
pub mod payload;
pub(crate) mod scheduler;
pub mod service;
pub mod socket;
pub mod start;
pub mod timer;
pub mod timer_wheel;

pub use context::Context;
pub use handle::Handle;
pub use message::Message;
pub use node::Node;
pub use payload::Payload;
pub use service::{Service, ServiceFactory, SignalHandler};

/// Called when the C allocator cannot give `size` bytes: like the reference's
/// allocator, there is no way to go on.
#[cold]
pub(crate) fn alloc_failure(size: usize) -> ! {
    eprintln!("skynet: out of memory allocating {size} bytes");
    std::process::abort()
}

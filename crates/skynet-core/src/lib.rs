//! skynet-core: the runtime of a skynet node (the reference's `skynet-src/`).
//!
//! Handles and names, service queues and the global queue, service contexts
//! and their dispatch, the text command table, the timer, the monitor, the
//! env table, config loading and the C ABI of skynet.h.

pub mod payload;

pub use payload::Payload;

/// Called when the C allocator cannot give `size` bytes: like the reference's
/// allocator, there is no way to go on.
#[cold]
pub(crate) fn alloc_failure(size: usize) -> ! {
    eprintln!("skynet: out of memory allocating {size} bytes");
    std::process::abort()
}

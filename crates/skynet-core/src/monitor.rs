//! The endless-loop watch. Stands for `skynet_monitor.c`: each worker has a
//! [`WorkerMonitor`] whose version changes on every dispatch; the monitor
//! thread compares versions every few seconds and reports a worker stuck in
//! one dispatch.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::handle::Handle;
use crate::node::Node;

/// One worker's watch record. Each sits on cache lines of its own: the
/// workers write theirs on every message, and records packed side by side
/// would make the cores fight over one line.
#[derive(Default)]
#[repr(align(128))]
pub struct WorkerMonitor {
    version: AtomicU32,
    check_version: AtomicU32,
    source: AtomicU32,
    destination: AtomicU32,
}

impl WorkerMonitor {
    pub fn new() -> WorkerMonitor {
        WorkerMonitor::default()
    }

    /// Records the dispatch a worker starts (`0, 0` when it ends).
    pub fn trigger(&self, source: Handle, destination: Handle) {
        self.source.store(source, Ordering::Relaxed);
        self.destination.store(destination, Ordering::Relaxed);
        // Only the owning worker writes the version, so a plain load and
        // store do (no locked read-modify-write per message).
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Release);
    }

    /// Monitor thread: warns when the worker is still in the dispatch it was
    /// in at the previous check. Returns the stuck destination, if any.
    pub fn check(&self, node: &Node) -> Option<Handle> {
        let version = self.version.load(Ordering::Acquire);
        if version == self.check_version.load(Ordering::Relaxed) {
            let dest = self.destination.load(Ordering::Relaxed);
            if dest != 0 {
                if let Some(ctx) = node.grab(dest) {
                    ctx.set_endless();
                }
                let source = self.source.load(Ordering::Relaxed);
                node.log(
                    0,
                    format!(
                        "error: A message from [ :{source:08x} ] to [ :{dest:08x} ] maybe in an endless loop (version = {version})"
                    ),
                );
                return Some(dest);
            }
        } else {
            self.check_version.store(version, Ordering::Relaxed);
        }
        None
    }
}

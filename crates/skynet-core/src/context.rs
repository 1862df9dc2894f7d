//! A service context: the handle, queue and instance of one running service,
//! how messages are sent from it and dispatched to it. Stands for the
//! context half of `skynet_server.c`.
//!
//! Lifetime: a context is created by [`Node::launch`], lives in the handle
//! registry while it is alive, and is retired by `KILL`/`EXIT`/`ABORT`. The
//! service instance is dropped (the reference's module `release`) as soon
//! as the context is retired and no dispatch is running on it, by whichever
//! thread sees that last: the retiring thread, or the worker when its
//! dispatch ends. A small atomic state word makes that hand-over exact.

use std::cell::Cell;
use std::ffi::{c_int, c_void, CString};
use std::fs::File;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::dispatch_clock;
use crate::handle::{Handle, HasHandle};
use crate::harbor::{is_remote, RemoteMessage, RemoteTarget};
use crate::message::{
    Message, MESSAGE_SIZE_LIMIT, PTYPE_SOCKET, PTYPE_TAG_ALLOCSESSION, PTYPE_TAG_DONTCOPY,
};
use crate::monitor::WorkerMonitor;
use crate::mq::ServiceQueue;
use crate::node::Node;
use crate::payload::Payload;
use crate::scheduler::Scheduler;
use crate::service::{Service, SignalHandler};

/// A dispatch (or the init) is running on the instance.
const DISPATCHING: u8 = 1;
/// The context has been retired.
const RETIRED: u8 = 2;

thread_local! {
    static CURRENT_HANDLE: Cell<Handle> = const { Cell::new(0) };
}

/// The handle whose message this thread is dispatching (0 outside dispatch).
pub fn current_handle() -> Handle {
    CURRENT_HANDLE.with(|c| c.get())
}

/// The message callback of a C service (skynet.h's `skynet_cb`).
pub type CCallback = unsafe extern "C" fn(
    ctx: *mut c_void,
    ud: *mut c_void,
    ptype: c_int,
    session: c_int,
    source: u32,
    msg: *const c_void,
    sz: usize,
) -> c_int;

/// A C callback with its user data.
#[derive(Clone, Copy)]
pub struct ForeignCallback {
    pub cb: CCallback,
    pub ud: *mut c_void,
}

// SAFETY: the user data belongs to the C service, which skynet.h requires to
// be usable from whichever worker thread dispatches it (one at a time).
unsafe impl Send for ForeignCallback {}

/// State that the C ABI keeps per context.
#[derive(Default)]
pub struct ForeignState {
    pub callback: Option<ForeignCallback>,
    /// The last text result of `skynet_command`, kept alive for the caller.
    pub result: Option<CString>,
}

/// One running service.
pub struct Context {
    /// Set once, by the handle registry, before anyone else sees the
    /// context (see [`crate::handle::HandleRegistry::register`]).
    handle: AtomicU32,
    node: Arc<Node>,
    module: &'static str,
    queue: ServiceQueue,
    instance: Mutex<Option<Box<dyn Service>>>,
    state: AtomicU8,
    session_id: AtomicI32,
    signal: OnceLock<SignalHandler>,
    /// Set (under the write lock) before the instance is released; a signal
    /// holds the read lock while it runs, so it never reaches a released
    /// instance.
    signal_closed: RwLock<bool>,
    endless: AtomicBool,
    message_count: AtomicU64,
    /// Nanoseconds of CPU time in dispatches.
    cpu_cost: AtomicU64,
    /// The thread's CPU time (ns) when the current dispatch began.
    cpu_start: AtomicU64,
    profile: bool,
    logfile: Mutex<Option<File>>,
    /// Whether `logfile` holds a file: lets each dispatch skip its lock.
    logging: AtomicBool,
    /// C ABI state (callback, command result), made when a C service or
    /// `skynet_command` first needs it (see [`Context::foreign`]).
    foreign: OnceLock<Box<Mutex<ForeignState>>>,
}

impl HasHandle for Context {
    fn handle(&self) -> Handle {
        self.handle.load(Ordering::Relaxed)
    }

    fn assign_handle(&self, handle: Handle) {
        self.handle.store(handle, Ordering::Relaxed);
    }
}

impl Context {
    /// A context without a handle yet: the registry gives it one.
    pub(crate) fn new(
        node: Arc<Node>,
        module: &'static str,
        instance: Box<dyn Service>,
    ) -> Context {
        let profile = node.profile();
        Context {
            handle: AtomicU32::new(0),
            node,
            module,
            queue: ServiceQueue::new(),
            instance: Mutex::new(Some(instance)),
            state: AtomicU8::new(DISPATCHING),
            session_id: AtomicI32::new(0),
            signal: OnceLock::new(),
            signal_closed: RwLock::new(false),
            endless: AtomicBool::new(false),
            message_count: AtomicU64::new(0),
            cpu_cost: AtomicU64::new(0),
            cpu_start: AtomicU64::new(0),
            profile,
            logfile: Mutex::new(None),
            logging: AtomicBool::new(false),
            foreign: OnceLock::new(),
        }
    }

    pub fn handle(&self) -> Handle {
        self.handle.load(Ordering::Relaxed)
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The module this service was launched from (`snlua`, `logger`, ...).
    pub fn module(&self) -> &str {
        self.module
    }

    /// The C ABI state of this context (callback, last command result).
    pub fn foreign(&self) -> &Mutex<ForeignState> {
        self.foreign.get_or_init(Box::default)
    }

    pub fn queue(&self) -> &ServiceQueue {
        &self.queue
    }

    pub fn is_retired(&self) -> bool {
        self.state.load(Ordering::Acquire) & RETIRED != 0
    }

    /// A fresh session number: always positive, wrapping back to 1.
    pub fn new_session(&self) -> i32 {
        let s = self
            .session_id
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        if s <= 0 {
            self.session_id.store(1, Ordering::Relaxed);
            1
        } else {
            s
        }
    }

    /// Logs `text` through the logger service, as this service.
    pub fn log(&self, text: impl Into<String>) {
        self.node.log(self.handle(), text.into());
    }

    /// Logs the line made of `parts` without making a `String`.
    pub fn log_parts(&self, parts: &[&str]) {
        self.node.log_parts(self.handle(), parts);
    }

    /// Sends a message, like `skynet_send`. `ptype` may carry
    /// `PTYPE_TAG_ALLOCSESSION`; the payload always moves (DONTCOPY is the
    /// only mode in Rust). Returns the session, -1 when the destination does
    /// not exist (or is 0), -2 when the message is too large.
    pub fn send(
        &self,
        source: Handle,
        destination: Handle,
        ptype: i32,
        session: i32,
        payload: Payload,
    ) -> i32 {
        if payload.len() > MESSAGE_SIZE_LIMIT {
            self.log(format!(
                "error: The message to {destination:x} is too large"
            ));
            return -2;
        }
        let session = self.filter_session(ptype, session);
        let source = if source == 0 { self.handle() } else { source };
        let ptype = (ptype & 0xff) as u8;
        if destination == 0 {
            if !payload.as_ptr().is_null() {
                self.log("error: Destination address can't be 0");
                return -1;
            }
            return session;
        }
        if is_remote(destination, self.node.harbor_bits()) {
            self.node.send_remote(RemoteMessage {
                destination: RemoteTarget::Handle(destination),
                source,
                session,
                ptype,
                payload,
            });
            return session;
        }
        match self
            .node
            .push(destination, Message::new(source, session, ptype, payload))
        {
            Ok(()) => session,
            Err(_) => -1,
        }
    }

    /// Sends to an address string (`:hex`, `.localname` or a global name),
    /// like `skynet_sendname`.
    pub fn send_name(
        &self,
        source: Handle,
        addr: &str,
        ptype: i32,
        session: i32,
        payload: Payload,
    ) -> i32 {
        let source = if source == 0 { self.handle() } else { source };
        if let Some(hex) = addr.strip_prefix(':') {
            let dest = parse_hex_handle(hex);
            return self.send(source, dest, ptype, session, payload);
        }
        if let Some(local) = addr.strip_prefix('.') {
            return match self.node.find_name(local) {
                Some(dest) => self.send(source, dest, ptype, session, payload),
                None => -1,
            };
        }
        if payload.len() > MESSAGE_SIZE_LIMIT {
            self.log(format!("error: The message to {addr} is too large"));
            return -2;
        }
        let session = self.filter_session(ptype, session);
        self.node.send_remote(RemoteMessage {
            destination: RemoteTarget::Name(addr.to_string()),
            source,
            session,
            ptype: (ptype & 0xff) as u8,
            payload,
        });
        session
    }

    fn filter_session(&self, ptype: i32, session: i32) -> i32 {
        if ptype & PTYPE_TAG_ALLOCSESSION != 0 {
            self.new_session()
        } else {
            session
        }
    }

    /// Whether a C caller's buffer must be copied (no DONTCOPY tag).
    pub fn needs_copy(ptype: i32) -> bool {
        ptype & PTYPE_TAG_DONTCOPY == 0
    }

    /// Runs the service's init. Called once by `Node::launch`, on the
    /// launching thread, with the DISPATCHING bit already set.
    pub(crate) fn run_init(self: &Arc<Self>, args: &str) -> Result<(), String> {
        let result = {
            let mut guard = self.instance.lock();
            match guard.as_mut() {
                Some(service) => {
                    if let Some(h) = service.signal_handler() {
                        let _ = self.signal.set(h);
                    }
                    // Like the reference, init runs as part of the
                    // launcher's dispatch: `current_handle` stays the
                    // launcher's.
                    let r = catch_unwind(AssertUnwindSafe(|| service.init(self, args)));
                    match r {
                        Ok(r) => r,
                        Err(p) => Err(format!("init panicked: {}", panic_text(&p))),
                    }
                }
                None => Err("no instance".to_string()),
            }
        };
        self.end_dispatch();
        result
    }

    /// Dispatches one message to the instance (worker side).
    pub(crate) fn dispatch_message(self: &Arc<Self>, msg: Message) {
        let prev = self.state.fetch_or(DISPATCHING, Ordering::AcqRel);
        if prev & RETIRED != 0 {
            self.state.fetch_and(!DISPATCHING, Ordering::AcqRel);
            self.node.reply_dead(self.handle(), msg);
            return;
        }
        let previous = CURRENT_HANDLE.with(|c| c.replace(self.handle()));
        self.log_message(&msg);
        // Only the dispatching worker writes the counters (one dispatch at
        // a time, see `state`): a load and a store, no locked add.
        let count = self.message_count.load(Ordering::Relaxed);
        self.message_count.store(count + 1, Ordering::Relaxed);
        let mut panicked = None;
        {
            let mut guard = self.instance.lock();
            if let Some(service) = guard.as_mut() {
                let start = self.profile.then(|| {
                    let s = dispatch_clock::start();
                    self.cpu_start.store(s.cpu, Ordering::Relaxed);
                    s
                });
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| service.dispatch(self, msg))) {
                    panicked = Some(panic_text(&p));
                }
                if let Some(start) = start {
                    let cost = self.cpu_cost.load(Ordering::Relaxed);
                    self.cpu_cost
                        .store(cost + dispatch_clock::finish(start), Ordering::Relaxed);
                }
            }
        }
        CURRENT_HANDLE.with(|c| c.set(previous));
        self.end_dispatch();
        if let Some(text) = panicked {
            self.log(format!("error: service {} panicked: {text}", self.module));
            self.node.kill(self.handle(), self.handle());
        }
    }

    /// Clears DISPATCHING; releases the instance if the context was retired
    /// meanwhile.
    fn end_dispatch(&self) {
        let prev = self.state.fetch_and(!DISPATCHING, Ordering::AcqRel);
        if prev & RETIRED != 0 {
            self.release_instance();
        }
    }

    /// Marks the context retired (its handle is already gone from the
    /// registry), bounces its queued messages back to their senders and
    /// releases the instance unless a dispatch is running.
    pub(crate) fn retire(&self) {
        let prev = self.state.fetch_or(RETIRED, Ordering::AcqRel);
        if prev & RETIRED != 0 {
            return;
        }
        for msg in self.queue.release() {
            self.node.reply_dead(self.handle(), msg);
        }
        if prev & DISPATCHING == 0 {
            self.release_instance();
        }
    }

    fn release_instance(&self) {
        let instance = self.instance.lock().take();
        if instance.is_none() {
            return;
        }
        // No signal may reach the instance from now on (see `signal`).
        *self.signal_closed.write() = true;
        drop(instance);
        self.logging.store(false, Ordering::Release);
        if let Some(f) = self.logfile.lock().take() {
            drop(f);
        }
        self.node.context_released();
    }

    /// Calls the service's signal handler, if any (the `SIGNAL` command).
    pub fn signal(&self, sig: i32) {
        let closed = self.signal_closed.read();
        if *closed {
            return;
        }
        if let Some(h) = self.signal.get() {
            h(sig);
        }
    }

    /// Marks the service as caught in a long dispatch (monitor).
    pub(crate) fn set_endless(&self) {
        self.endless.store(true, Ordering::Relaxed);
    }

    /// Reads and clears the endless mark.
    pub fn take_endless(&self) -> bool {
        self.endless.swap(false, Ordering::Relaxed)
    }

    pub fn message_count(&self) -> u64 {
        self.message_count.load(Ordering::Relaxed)
    }

    /// CPU time spent in dispatches, in nanoseconds (see
    /// [`crate::dispatch_clock`]).
    pub fn cpu_cost_ns(&self) -> u64 {
        self.cpu_cost.load(Ordering::Relaxed)
    }

    /// CPU time of the current dispatch so far, in nanoseconds (`None` when
    /// profiling is off). Meaningful on the dispatching thread (a service
    /// asking about itself), as in the reference.
    pub fn current_dispatch_ns(&self) -> Option<u64> {
        self.profile.then(|| {
            dispatch_clock::thread_cpu_ns().saturating_sub(self.cpu_start.load(Ordering::Relaxed))
        })
    }

    /// Opens the per-service message log (`LOGON`). Returns the path on
    /// success; does nothing when one is open already.
    pub(crate) fn log_on(&self, path: &str, header: &str) -> std::io::Result<bool> {
        let mut slot = self.logfile.lock();
        if slot.is_some() {
            return Ok(false);
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(header.as_bytes())?;
        *slot = Some(f);
        self.logging.store(true, Ordering::Release);
        Ok(true)
    }

    /// Closes the per-service message log (`LOGOFF`); false if none was open.
    pub(crate) fn log_off(&self, footer: &str) -> bool {
        let taken = self.logfile.lock().take();
        self.logging.store(false, Ordering::Release);
        match taken {
            Some(mut f) => {
                let _ = f.write_all(footer.as_bytes());
                true
            }
            None => false,
        }
    }

    fn log_message(&self, msg: &Message) {
        if !self.logging.load(Ordering::Acquire) {
            return;
        }
        let mut slot = self.logfile.lock();
        let Some(f) = slot.as_mut() else { return };
        let mut line = String::new();
        // SAFETY: the message is about to be dispatched, so a socket
        // message's buffer has not been handed on or freed yet.
        let socket_line = if msg.ptype == PTYPE_SOCKET {
            unsafe { crate::socket::message::log_line(msg.payload.as_slice()) }
        } else {
            None
        };
        if let Some(text) = socket_line {
            line.push_str(text.trim_end_matches('\n'));
        } else {
            line.push_str(&format!(
                ":{:08x} {} {} {} ",
                msg.source,
                msg.ptype,
                msg.session,
                self.node.now() as u32
            ));
            for b in msg.payload.as_slice() {
                line.push_str(&format!("{b:02x}"));
            }
        }
        line.push('\n');
        let _ = f.write_all(line.as_bytes());
    }
}

/// Dispatches up to a weight-derived number of messages of one queue, like
/// `skynet_context_message_dispatch`. Returns the next context to work on.
pub(crate) fn dispatch_batch(
    node: &Arc<Node>,
    monitor: &WorkerMonitor,
    current: Option<Arc<Context>>,
    weight: i32,
) -> Option<Arc<Context>> {
    let scheduler = node.scheduler();
    let ctx = match current {
        Some(c) => c,
        None => scheduler.take_next()?,
    };
    if ctx.is_retired() {
        return scheduler.take_next();
    }
    let mut n = 1usize;
    let mut i = 0usize;
    while i < n {
        let Some(popped) = ctx.queue.pop_for_dispatch() else {
            node.after_drained(&ctx);
            return scheduler.take_next();
        };
        if i == 0 && weight >= 0 {
            n = popped.remaining >> weight;
        }
        if let Some(len) = popped.overload {
            ctx.log(format!("error: May overload, message queue length = {len}"));
        }
        let msg = popped.message;
        monitor.trigger(msg.source, ctx.handle());
        Scheduler::start_message();
        ctx.dispatch_message(msg);
        monitor.trigger(0, 0);
        i += 1;
    }
    scheduler.requeue(ctx)
}

/// Parses the hex digits of a `:hex` address like `strtoul(s, NULL, 16)`:
/// stops at the first non-hex character; nothing valid gives 0.
pub fn parse_hex_handle(s: &str) -> Handle {
    let mut v: u64 = 0;
    let t = s.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    for b in t.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => break,
        };
        v = (v << 4) | d as u64;
        if v > u32::MAX as u64 {
            return u32::MAX;
        }
    }
    v as Handle
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_handles_parse_like_strtoul() {
        assert_eq!(parse_hex_handle("0000000a"), 10);
        assert_eq!(parse_hex_handle("1f zz"), 0x1f);
        assert_eq!(parse_hex_handle("xyz"), 0);
        assert_eq!(parse_hex_handle("FFFFFFFFF"), u32::MAX);
    }
}

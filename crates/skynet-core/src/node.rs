//! The node: everything the services of one skynet process share (handles,
//! the scheduler, env, timer, modules, harbor routing, the logger, idle
//! tasks) and the operations on services that are not tied to one context:
//! launch, push, kill, abort. Stands for the global state of
//! `skynet_server.c` and `skynet_handle.c`'s retire; which service runs
//! where, and worker wake-ups, are `scheduler.rs`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::context::Context;
use crate::env::Env;
use crate::handle::{Handle, HandleRegistry};
use crate::harbor::{RemoteMessage, RemoteRouter};
use crate::message::{Message, PTYPE_CLIENT, PTYPE_ERROR, PTYPE_RESPONSE};
use crate::module::ModuleRegistry;
use crate::mq::Pushed;
use crate::payload::Payload;
use crate::scheduler::Scheduler;
use crate::socket::SocketServer;
use crate::timer::Timer;

static CURRENT_NODE: OnceLock<Arc<Node>> = OnceLock::new();

/// The node of this process, for the C ABI calls that name no context
/// (`skynet_now`, `skynet_error(NULL, ...)`). The first node started wins.
pub fn current_node() -> Option<&'static Arc<Node>> {
    CURRENT_NODE.get()
}

/// Settings a node is built with (read from the env by `start`).
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub harbor: u8,
    pub profile: bool,
    pub module_path: String,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            harbor: 0,
            profile: true,
            module_path: "./cservice/?.so".to_string(),
        }
    }
}

/// Work an idle worker does before it sleeps: returns whether it did
/// something (it is then called again, after a look for messages, until it
/// says there is nothing left to do). Keep one call short: a message that
/// arrives meanwhile waits for it. It must not add idle tasks.
pub type IdleTask = Arc<dyn Fn() -> bool + Send + Sync>;

pub struct Node {
    handles: HandleRegistry<Context>,
    scheduler: Scheduler,
    env: Env,
    timer: Timer,
    socket: SocketServer,
    modules: ModuleRegistry,
    harbor_bits: u32,
    profile: bool,
    router: RwLock<Option<Arc<dyn RemoteRouter>>>,
    monitor_exit: AtomicU32,
    logger: AtomicU32,
    live: AtomicUsize,
    quit: AtomicBool,
    aborting: AtomicBool,
    idle_tasks: RwLock<Vec<IdleTask>>,
}

impl Node {
    pub fn new(options: NodeOptions, env: Env) -> Arc<Node> {
        Arc::new(Node {
            handles: HandleRegistry::new(options.harbor),
            scheduler: Scheduler::new(),
            env,
            timer: Timer::new(),
            socket: SocketServer::new(),
            modules: ModuleRegistry::new(&options.module_path),
            harbor_bits: (options.harbor as u32) << crate::handle::HANDLE_REMOTE_SHIFT,
            profile: options.profile,
            router: RwLock::new(None),
            monitor_exit: AtomicU32::new(0),
            logger: AtomicU32::new(0),
            live: AtomicUsize::new(0),
            quit: AtomicBool::new(false),
            aborting: AtomicBool::new(false),
            idle_tasks: RwLock::new(Vec::new()),
        })
    }

    /// Makes this node the one the context-free C ABI calls use.
    pub fn make_current(self: &Arc<Self>) {
        let _ = CURRENT_NODE.set(self.clone());
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn modules(&self) -> &ModuleRegistry {
        &self.modules
    }

    pub fn timer(&self) -> &Timer {
        &self.timer
    }

    /// The node's sockets (the socket thread runs [`SocketServer::run`]).
    pub fn socket(&self) -> &SocketServer {
        &self.socket
    }

    pub fn harbor_bits(&self) -> u32 {
        self.harbor_bits
    }

    pub fn harbor_id(&self) -> u8 {
        (self.harbor_bits >> crate::handle::HANDLE_REMOTE_SHIFT) as u8
    }

    pub fn profile(&self) -> bool {
        self.profile
    }

    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Centiseconds since the node started (`skynet.now`).
    pub fn now(&self) -> u64 {
        self.timer.now()
    }

    /// Number of services that have not been released yet.
    pub fn live_services(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub fn is_quitting(&self) -> bool {
        self.quit.load(Ordering::SeqCst)
    }

    /// The live context at `handle`.
    pub fn grab(&self, handle: Handle) -> Option<Arc<Context>> {
        self.handles.grab(handle)
    }

    pub fn handles(&self) -> Vec<Handle> {
        self.handles.handles()
    }

    pub fn find_name(&self, name: &str) -> Option<Handle> {
        self.handles.find_name(name)
    }

    /// Binds local `name` (without the dot) to `handle`; false if taken.
    pub fn bind_name(&self, name: &str, handle: Handle) -> bool {
        self.handles.bind_name(name, handle)
    }

    /// Launches a service of `module` with `args`, like `skynet_context_new`.
    /// Logs `LAUNCH module args` on success (as the new service) and
    /// `error: launch module FAILED` when init fails.
    pub fn launch(self: &Arc<Self>, module: &str, args: &str) -> Option<Handle> {
        let (instance, module) = match self.modules.create(module) {
            Ok(created) => created,
            Err(e) => {
                if !e.is_empty() {
                    self.log(crate::context::current_handle(), e);
                }
                return None;
            }
        };
        self.live.fetch_add(1, Ordering::SeqCst);
        let ctx = Arc::new(Context::new(self.clone(), module, instance));
        let handle = self.handles.register(ctx.clone());
        match ctx.run_init(args) {
            Ok(()) => {
                // Logged before the service can run, so nothing it logs
                // comes before its LAUNCH line.
                ctx.log_parts(&["LAUNCH ", module, " ", args]);
                self.scheduler.schedule(ctx.clone());
                Some(handle)
            }
            Err(e) => {
                if !e.is_empty() {
                    ctx.log(e);
                }
                ctx.log(format!("error: launch {module} FAILED"));
                self.retire(handle);
                None
            }
        }
    }

    /// Queues `msg` for the local service `dest`; gives it back when there
    /// is no such service.
    pub fn push(&self, dest: Handle, msg: Message) -> Result<(), Message> {
        self.push_to(dest, msg, true)
    }

    /// [`Node::push`]; with `may_wake` false the push never wakes a
    /// sleeping worker (a busy worker or the next timer tick takes it).
    fn push_to(&self, dest: Handle, msg: Message, may_wake: bool) -> Result<(), Message> {
        let Some(ctx) = self.handles.grab(dest) else {
            return Err(msg);
        };
        match ctx.queue().push(msg) {
            Pushed::Queued => Ok(()),
            Pushed::Schedule if may_wake => {
                self.scheduler.schedule(ctx);
                Ok(())
            }
            Pushed::Schedule => {
                self.scheduler.schedule_quietly(ctx);
                Ok(())
            }
            Pushed::Released(m) => Err(m),
        }
    }

    /// Adds work for idle workers (see [`IdleTask`]).
    pub fn add_idle_task(&self, task: IdleTask) {
        self.idle_tasks.write().push(task);
    }

    /// Runs each idle task once; true if any did something. (Under the
    /// read lock: an idle task must not add idle tasks.)
    pub(crate) fn run_idle_tasks(&self) -> bool {
        let mut busy = false;
        for task in self.idle_tasks.read().iter() {
            busy |= task();
        }
        busy
    }

    /// Has a worker run the idle tasks soon (a service used up something
    /// they make ahead of time): a sleeping worker is woken, or the next
    /// one about to sleep runs them first.
    pub fn wake_idle_worker(&self) {
        self.scheduler.want_idle_work();
    }

    /// Registers the harbor service's router.
    pub fn set_router(&self, router: Option<Arc<dyn RemoteRouter>>) {
        *self.router.write() = router;
    }

    /// Hands a message for another node to the harbor service.
    pub fn send_remote(&self, msg: RemoteMessage) {
        let router = self.router.read().clone();
        match router {
            Some(r) => r.route(msg),
            None => {
                self.log(
                    msg.source,
                    format!(
                        "error: No harbor service to deliver a message to {:?}",
                        msg.destination
                    ),
                );
                if msg.source != 0 && msg.session != 0 {
                    let m = Message::new(0, msg.session, PTYPE_ERROR, Payload::empty());
                    let _ = self.push(msg.source, m);
                }
            }
        }
    }

    /// The reference's `drop_message`: a message that reached a dead service
    /// is dropped and its sender gets a PTYPE_ERROR with the same session.
    pub(crate) fn reply_dead(&self, dead: Handle, msg: Message) {
        let source = msg.source;
        let session = msg.session;
        drop(msg);
        if source == 0 {
            return;
        }
        let reply = Message::new(dead, session, PTYPE_ERROR, Payload::empty());
        if crate::harbor::is_remote(source, self.harbor_bits) {
            self.send_remote(RemoteMessage {
                destination: crate::harbor::RemoteTarget::Handle(source),
                source: dead,
                session,
                ptype: PTYPE_ERROR,
                payload: Payload::empty(),
            });
        } else {
            let _ = self.push(source, reply);
        }
    }

    /// The reference's `handle_exit`: logs `KILL self` when a service ends
    /// itself (`handle == killer`, the EXIT command) or `KILL :h` otherwise,
    /// tells the exit monitor, and retires the service.
    pub fn kill(&self, killer: Handle, handle: Handle) {
        let text = if handle == killer {
            "KILL self".to_string()
        } else {
            format!("KILL :{handle:x}")
        };
        self.exit_service(killer, handle, text);
    }

    /// The KILL command: like [`Node::kill`], but the line always names the
    /// victim (`KILL :h`), even when a service kills its own handle, as the
    /// reference's `cmd_kill` does.
    pub fn kill_handle(&self, killer: Handle, handle: Handle) {
        self.exit_service(killer, handle, format!("KILL :{handle:x}"));
    }

    fn exit_service(&self, killer: Handle, handle: Handle, text: String) {
        self.log(killer, text);
        let monitor = self.monitor_exit.load(Ordering::SeqCst);
        if monitor != 0 {
            let _ = self.push(
                monitor,
                Message::new(handle, 0, PTYPE_CLIENT, Payload::empty()),
            );
        }
        self.retire(handle);
    }

    /// Removes `handle` from the registry and retires its context.
    pub fn retire(&self, handle: Handle) -> bool {
        // Mark the context retired before its handle leaves the registry:
        // a worker that already holds it then dispatches nothing more (the
        // queued messages bounce back to their senders instead).
        let Some(ctx) = self.handles.grab(handle) else {
            return false;
        };
        ctx.retire();
        self.handles.retire(handle).is_some()
    }

    /// ABORT: retires every service. The logger goes last, after it has
    /// written what was queued for it.
    pub fn abort(&self) {
        self.aborting.store(true, Ordering::SeqCst);
        let logger = self.logger_handle();
        loop {
            let handles: Vec<Handle> = self
                .handles
                .handles()
                .into_iter()
                .filter(|h| *h != logger)
                .collect();
            if handles.is_empty() {
                break;
            }
            for h in handles {
                self.retire(h);
            }
        }
        if logger != 0 {
            // A message the logger ignores makes a worker visit it; once its
            // queue is empty the worker retires it (see `after_drained`).
            let _ = self.push(logger, Message::new(0, 0, PTYPE_RESPONSE, Payload::empty()));
        }
    }

    /// Called by a worker when `ctx`'s queue has run dry.
    pub(crate) fn after_drained(&self, ctx: &Arc<Context>) {
        if self.aborting.load(Ordering::SeqCst) && ctx.handle() == self.logger_handle() {
            self.retire(ctx.handle());
        }
    }

    /// Called when a context's instance has been released.
    pub(crate) fn context_released(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shutdown();
        }
    }

    /// Stops the threads: every loop checks `is_quitting`.
    pub fn shutdown(&self) {
        self.quit.store(true, Ordering::SeqCst);
        self.scheduler.wake_all();
    }

    /// Sleeps up to `timeout`, waking early when the node quits (for the
    /// timer-less threads such as the monitor). Returns whether it quits.
    pub(crate) fn sleep_unless_quitting(&self, timeout: std::time::Duration) -> bool {
        self.scheduler.sleep_unless(timeout, || self.is_quitting());
        self.is_quitting()
    }

    pub fn set_monitor_exit(&self, handle: Handle) {
        self.monitor_exit.store(handle, Ordering::SeqCst);
    }

    pub fn monitor_exit(&self) -> Handle {
        self.monitor_exit.load(Ordering::SeqCst)
    }

    /// The logger service's handle (0 before it runs).
    pub fn logger_handle(&self) -> Handle {
        let h = self.logger.load(Ordering::Relaxed);
        if h != 0 {
            return h;
        }
        match self.handles.find_name("logger") {
            Some(h) => {
                self.logger.store(h, Ordering::Relaxed);
                h
            }
            None => 0,
        }
    }

    /// Sends `text` to the logger as coming from `source`, like
    /// `skynet_error`.
    pub fn log(&self, source: Handle, text: String) {
        self.log_with(source, || Payload::from(text));
    }

    /// [`Node::log`] of a line made of `parts`, written straight into the
    /// message.
    pub fn log_parts(&self, source: Handle, parts: &[&str]) {
        self.log_with(source, || Payload::concat(parts));
    }

    fn log_with(&self, source: Handle, text: impl FnOnce() -> Payload) {
        let logger = self.logger_handle();
        if logger == 0 {
            // No logger yet (the logger's own launch): dropped, as the
            // reference does.
            return;
        }
        let msg = Message::new(source, 0, crate::message::PTYPE_TEXT, text());
        // A log line is no reason to wake a sleeping worker: it waits at
        // most one timer tick.
        if let Err(m) = self.push_to(logger, msg, false) {
            if !self.aborting.load(Ordering::SeqCst) {
                eprintln!(
                    "[:{source:08x}] {}",
                    String::from_utf8_lossy(m.payload.as_slice())
                );
            }
        }
    }

    /// `skynet_timeout`: after `ticks` centiseconds `handle` gets a
    /// PTYPE_RESPONSE with `session`; immediately when `ticks <= 0`.
    pub fn timeout(&self, handle: Handle, ticks: i32, session: i32) -> i32 {
        if ticks <= 0 {
            let msg = Message::new(0, session, PTYPE_RESPONSE, Payload::empty());
            if self.push(handle, msg).is_err() {
                return -1;
            }
        } else {
            self.timer.add(ticks as u32, handle, session);
        }
        session
    }
}

//! Which service a worker runs next, and when a sleeping worker is woken.
//! Stands for the global queue of `skynet_mq.c` as the workers use it and
//! the sleep/wake-up half of `skynet_start.c`.
//!
//! The reference keeps every service with messages in one FIFO queue under
//! one lock that every worker takes for every push and pop. Here each
//! worker has a FIFO run queue of its own: a service made runnable by a
//! worker's message (a call, a reply, a launch) joins that worker's queue,
//! so the workers do not contend for one lock and a service tends to stay
//! on the core that has its data. Services made runnable by other threads
//! (socket, timer, anything outside the workers) go to the shared queue.
//! Every service still gets its turn in FIFO order among its queue's
//! services; a worker looks at the shared queue first once every
//! [`SHARED_QUEUE_INTERVAL`] picks, and otherwise whenever its own queue is
//! empty (a service it runs alone goes behind what waits there); a worker
//! with nothing of its own takes the oldest service of
//! another worker's queue, and the timer tick wakes a sleeping worker while
//! any queue holds a service, so work never waits behind a busy worker for
//! more than a tick (as in the reference).
//!
//! Wake-ups: a push from outside the workers wakes a sleeping worker. A
//! worker wakes one only when its current message has made
//! [`FAN_OUT_WAKE`] or more services runnable while its queue holds more
//! than the one it will run next: a serial chain of calls (a spawn: caller,
//! launcher, new service) stays on one worker instead of bouncing between
//! cores. Log lines never wake one. A request for idle work (the node's
//! idle tasks, e.g. Lua states made ahead) wakes a sleeping worker, or
//! keeps the next one about to sleep awake.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::context::Context;
use crate::mq::GlobalQueue;

/// A worker wakes a sleeping one once its current message has made this
/// many services runnable (and more than one waits in its queue): one is a
/// hand-off that the worker takes next itself, with a hot cache; more is
/// parallel work.
pub const FAN_OUT_WAKE: u32 = 2;

/// A worker serves the shared queue first once in this many picks.
pub const SHARED_QUEUE_INTERVAL: u32 = 31;

thread_local! {
    /// The scheduler (by address) and index of the worker this thread is.
    static WORKER: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    /// Services the running worker made runnable during its current message.
    static SCHEDULED_BY_MESSAGE: Cell<u32> = const { Cell::new(0) };
    /// Picks this worker has made (for [`SHARED_QUEUE_INTERVAL`]).
    static PICKS: Cell<u32> = const { Cell::new(0) };
}

/// One worker's run queue, on cache lines of its own.
#[repr(align(128))]
#[derive(Default)]
struct RunQueue {
    items: Mutex<VecDeque<Arc<Context>>>,
    /// Length, readable without the lock (may be stale).
    len: AtomicUsize,
}

impl RunQueue {
    /// Appends `ctx`; returns the length afterwards.
    fn push(&self, ctx: Arc<Context>) -> usize {
        let mut q = self.items.lock();
        q.push_back(ctx);
        let n = q.len();
        self.len.store(n, Ordering::SeqCst);
        n
    }

    fn pop(&self) -> Option<Arc<Context>> {
        if self.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut q = self.items.lock();
        let item = q.pop_front();
        self.len.store(q.len(), Ordering::SeqCst);
        item
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }
}

struct Sleepers {
    lock: Mutex<()>,
    cond: Condvar,
    /// Signalled only when the node quits (never by worker wake-ups).
    quit_cond: Condvar,
    count: AtomicUsize,
}

/// The run queues and the sleeping workers of a node.
pub(crate) struct Scheduler {
    shared: GlobalQueue<Arc<Context>>,
    /// Somebody asked for the idle tasks to run (see
    /// [`Scheduler::want_idle_work`]).
    idle_wanted: AtomicBool,
    /// One per worker, made when the workers start.
    workers: OnceLock<Box<[RunQueue]>>,
    sleepers: Sleepers,
}

impl Scheduler {
    pub(crate) fn new() -> Scheduler {
        Scheduler {
            shared: GlobalQueue::new(),
            idle_wanted: AtomicBool::new(false),
            workers: OnceLock::new(),
            sleepers: Sleepers {
                lock: Mutex::new(()),
                cond: Condvar::new(),
                quit_cond: Condvar::new(),
                count: AtomicUsize::new(0),
            },
        }
    }

    /// Makes the run queues of `workers` workers (once; later calls keep
    /// the first count).
    pub(crate) fn start_workers(&self, workers: usize) {
        let _ = self
            .workers
            .set((0..workers).map(|_| RunQueue::default()).collect());
    }

    /// Marks the calling thread as worker `index` of this scheduler.
    pub(crate) fn enter_worker(&self, index: usize) {
        WORKER.with(|w| w.set(Some((self as *const Self as usize, index))));
    }

    /// Called by a worker before each message it dispatches.
    pub(crate) fn start_message() {
        SCHEDULED_BY_MESSAGE.with(|c| c.set(0));
    }

    fn run_queues(&self) -> &[RunQueue] {
        self.workers.get().map(|q| &q[..]).unwrap_or(&[])
    }

    /// The index of the calling thread when it is one of our workers.
    fn own_index(&self) -> Option<usize> {
        let (owner, index) = WORKER.with(|w| w.get())?;
        (owner == self as *const Self as usize && index < self.run_queues().len()).then_some(index)
    }

    /// Whether any queue holds a service.
    fn has_work(&self) -> bool {
        !self.shared.is_empty() || self.run_queues().iter().any(|q| !q.is_empty())
    }

    /// Makes `ctx` (whose queue was idle) runnable and wakes a worker when
    /// needed (see the module doc).
    pub(crate) fn schedule(&self, ctx: Arc<Context>) {
        let wake = match self.own_index() {
            Some(i) => {
                let len = self.run_queues()[i].push(ctx);
                fanning_out() && len > 1
            }
            None => {
                self.shared.push(ctx);
                true
            }
        };
        if wake {
            self.wake_one();
        }
    }

    /// Makes `ctx` runnable without waking anybody: a busy worker or the
    /// next tick takes it (log lines).
    pub(crate) fn schedule_quietly(&self, ctx: Arc<Context>) {
        match self.own_index() {
            Some(i) => {
                self.run_queues()[i].push(ctx);
            }
            None => {
                self.shared.push(ctx);
            }
        }
    }

    /// The front of the shared queue, without taking its lock when it is
    /// empty (as it mostly is: only other threads fill it).
    fn pop_shared(&self) -> Option<Arc<Context>> {
        if self.shared.is_empty() {
            return None;
        }
        self.shared.pop()
    }

    /// The service a worker runs next when it has none (see the module doc).
    pub(crate) fn take_next(&self) -> Option<Arc<Context>> {
        let Some(i) = self.own_index() else {
            return self.shared.pop();
        };
        let picks = PICKS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        if picks.is_multiple_of(SHARED_QUEUE_INTERVAL) {
            if let Some(ctx) = self.pop_shared() {
                return Some(ctx);
            }
        }
        let queues = self.run_queues();
        if let Some(ctx) = queues[i].pop() {
            return Some(ctx);
        }
        if let Some(ctx) = self.pop_shared() {
            return Some(ctx);
        }
        // Nothing of our own: the oldest service of another worker.
        (1..queues.len()).find_map(|k| queues[(i + k) % queues.len()].pop())
    }

    /// The service a worker runs next when `ctx`, which it just ran, still
    /// has messages: `ctx` goes behind the others.
    /// `None` only when idle workers took everything meanwhile, `ctx`
    /// included.
    pub(crate) fn requeue(&self, ctx: Arc<Context>) -> Option<Arc<Context>> {
        match self.own_index() {
            Some(i) => {
                let queue = &self.run_queues()[i];
                if queue.is_empty() {
                    // Alone on this worker: what waits in the shared queue
                    // (socket and timer messages) goes first, as in a
                    // single FIFO; with nothing there, run on.
                    if self.shared.is_empty() {
                        return Some(ctx);
                    }
                    return Some(self.shared.rotate(ctx));
                }
                queue.push(ctx);
                // Other workers may steal from this queue between the push
                // and the pick, even `ctx` itself.
                self.take_next()
            }
            None => Some(self.shared.rotate(ctx)),
        }
    }

    /// Has a worker run the idle tasks soon: wakes one sleeping worker, or
    /// keeps the next one about to sleep awake.
    pub(crate) fn want_idle_work(&self) {
        self.idle_wanted.store(true, Ordering::SeqCst);
        self.wake_one();
    }

    fn wake_one(&self) {
        if self.sleepers.count.load(Ordering::SeqCst) > 0 {
            let _g = self.sleepers.lock.lock();
            self.sleepers.cond.notify_one();
        }
    }

    /// Wakes one sleeping worker if any sleeps while a service waits in any
    /// queue (the timer thread calls this each tick, as the reference
    /// does). Most pushes from a worker wake nobody (see
    /// [`Scheduler::schedule`]), so without this tick a service queued
    /// behind a busy worker (one running a long handler) would wait for
    /// that handler to end although another worker sleeps.
    pub(crate) fn wake_if_idle(&self) {
        if self.sleepers.count.load(Ordering::SeqCst) > 0 && self.has_work() {
            let _g = self.sleepers.lock.lock();
            self.sleepers.cond.notify_one();
        }
    }

    /// Blocks a worker until there may be work or `quitting` says so.
    pub(crate) fn wait_for_work(&self, quitting: impl Fn() -> bool) {
        let mut g = self.sleepers.lock.lock();
        self.sleepers.count.fetch_add(1, Ordering::SeqCst);
        if !self.has_work() && !self.idle_wanted.swap(false, Ordering::SeqCst) && !quitting() {
            self.sleepers.cond.wait(&mut g);
        }
        self.sleepers.count.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every sleeping worker and every [`Scheduler::sleep_unless`]
    /// (the node quits).
    pub(crate) fn wake_all(&self) {
        let _g = self.sleepers.lock.lock();
        self.sleepers.cond.notify_all();
        self.sleepers.quit_cond.notify_all();
    }

    /// Sleeps up to `timeout` unless `quitting` says so, waking early on
    /// [`Scheduler::wake_all`].
    pub(crate) fn sleep_unless(&self, timeout: Duration, quitting: impl Fn() -> bool) {
        let mut g = self.sleepers.lock.lock();
        if !quitting() {
            self.sleepers.quit_cond.wait_for(&mut g, timeout);
        }
    }
}

/// Counts one more service made runnable by the current message; true once
/// the count reaches [`FAN_OUT_WAKE`].
fn fanning_out() -> bool {
    SCHEDULED_BY_MESSAGE.with(|c| {
        let n = c.get().saturating_add(1);
        c.set(n);
        n >= FAN_OUT_WAKE
    })
}

//! Message queues: one `ServiceQueue` per service and the `GlobalQueue`
//! (a FIFO of services that have work; the scheduler's shared queue).
//! Stands for `skynet_mq.c`.
//!
//! A service queue is in a run queue (shared or a worker's, see
//! `scheduler.rs`) at most once: the `scheduled` flag says it is there (or
//! being dispatched). A new queue starts scheduled so
//! that nothing dispatches it before its service's init has finished; the
//! runtime schedules it explicitly afterwards. Popping the last message
//! clears the flag, and the next push asks the caller to schedule it again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::message::Message;

/// Queue length at which the first overload warning is given.
pub const OVERLOAD_THRESHOLD: usize = 1024;

struct QueueState {
    items: VecDeque<Message>,
    scheduled: bool,
    released: bool,
    /// Length seen when the threshold was passed; reported once.
    overload: usize,
    threshold: usize,
}

/// What became of a pushed message.
#[derive(Debug)]
pub enum Pushed {
    /// Queued; the queue was already scheduled.
    Queued,
    /// Queued; the queue was idle and the caller must put it on the global queue.
    Schedule,
    /// The queue's service is gone: the message comes back to the caller.
    Released(Message),
}

/// A message taken by [`ServiceQueue::pop_for_dispatch`].
pub struct Popped {
    pub message: Message,
    /// Messages still queued behind it.
    pub remaining: usize,
    /// The queue length that passed the overload threshold, reported once
    /// per jump past it.
    pub overload: Option<usize>,
}

/// The message queue of one service.
pub struct ServiceQueue {
    state: Mutex<QueueState>,
}

impl Default for ServiceQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceQueue {
    pub fn new() -> ServiceQueue {
        ServiceQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                scheduled: true,
                released: false,
                overload: 0,
                threshold: OVERLOAD_THRESHOLD,
            }),
        }
    }

    pub fn push(&self, msg: Message) -> Pushed {
        let mut s = self.state.lock();
        if s.released {
            return Pushed::Released(msg);
        }
        if s.items.capacity() == 0 {
            // Room for one message first: most queues never hold more than
            // one at a time (a leaf service, a call's answer), and a
            // second one grows the buffer to the usual four.
            s.items.reserve_exact(1);
        }
        s.items.push_back(msg);
        if s.scheduled {
            Pushed::Queued
        } else {
            s.scheduled = true;
            Pushed::Schedule
        }
    }

    /// The next message; `None` when empty, which also unschedules the queue.
    pub fn pop(&self) -> Option<Message> {
        self.pop_for_dispatch().map(|p| p.message)
    }

    /// The next message with what a worker needs to know about the queue
    /// after it, read under the same lock; `None` when empty, which also
    /// unschedules the queue.
    pub fn pop_for_dispatch(&self) -> Option<Popped> {
        let mut s = self.state.lock();
        match s.items.pop_front() {
            Some(message) => {
                let remaining = s.items.len();
                // The threshold doubles until it covers the length again, so
                // one warning stands for the whole jump.
                while remaining > s.threshold {
                    s.overload = remaining;
                    s.threshold *= 2;
                }
                let overload = match std::mem::take(&mut s.overload) {
                    0 => None,
                    n => Some(n),
                };
                Some(Popped {
                    message,
                    remaining,
                    overload,
                })
            }
            None => {
                s.threshold = OVERLOAD_THRESHOLD;
                s.scheduled = false;
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the queue for good and returns what was still in it. Later
    /// pushes get their message back.
    pub fn release(&self) -> Vec<Message> {
        let mut s = self.state.lock();
        s.released = true;
        s.items.drain(..).collect()
    }

    pub fn is_released(&self) -> bool {
        self.state.lock().released
    }
}

/// The node's queue of services with pending messages.
pub struct GlobalQueue<T> {
    items: Mutex<VecDeque<T>>,
    len: AtomicUsize,
}

impl<T> Default for GlobalQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> GlobalQueue<T> {
    pub fn new() -> Self {
        GlobalQueue {
            items: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Appends `item`; returns the length afterwards.
    pub fn push(&self, item: T) -> usize {
        let mut q = self.items.lock();
        q.push_back(item);
        let n = q.len();
        self.len.store(n, Ordering::SeqCst);
        n
    }

    pub fn pop(&self) -> Option<T> {
        let mut q = self.items.lock();
        let item = q.pop_front();
        self.len.store(q.len(), Ordering::SeqCst);
        item
    }

    /// Puts `item` at the back and takes the front, under one lock: what a
    /// worker does when the service it ran still has messages. With nothing
    /// else queued it gets `item` straight back.
    pub fn rotate(&self, item: T) -> T {
        let mut q = self.items.lock();
        match q.pop_front() {
            Some(next) => {
                q.push_back(item);
                next
            }
            None => item,
        }
    }

    /// Length without taking the lock (may be stale by the time it is used).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;

    fn msg(session: i32) -> Message {
        Message::new(1, session, 0, Payload::empty())
    }

    #[test]
    fn rotate_takes_the_front_and_queues_the_item_last() {
        let g = GlobalQueue::new();
        assert_eq!(g.rotate(1), 1, "nothing else waits: the same item back");
        g.push(2);
        g.push(3);
        assert_eq!(g.rotate(1), 2);
        assert_eq!(g.len(), 2);
        assert_eq!(g.pop(), Some(3));
        assert_eq!(g.pop(), Some(1));
        assert!(g.is_empty());
    }

    #[test]
    fn new_queue_is_scheduled_until_drained() {
        let q = ServiceQueue::new();
        assert!(matches!(q.push(msg(1)), Pushed::Queued));
        assert_eq!(q.pop().unwrap().session, 1);
        assert!(q.pop().is_none());
        assert!(matches!(q.push(msg(2)), Pushed::Schedule));
        assert!(matches!(q.push(msg(3)), Pushed::Queued));
    }

    #[test]
    fn keeps_fifo_order_past_growth() {
        let q = ServiceQueue::new();
        for i in 0..1000 {
            q.push(msg(i));
        }
        for i in 0..1000 {
            assert_eq!(q.pop().unwrap().session, i);
        }
        assert!(q.is_empty());
    }

    #[test]
    fn overload_is_reported_once_per_jump() {
        let q = ServiceQueue::new();
        let overload = |q: &ServiceQueue| q.pop_for_dispatch().unwrap().overload;
        for i in 0..3000 {
            q.push(msg(i));
        }
        let first = q.pop_for_dispatch().unwrap();
        assert_eq!((first.remaining, first.overload), (2999, Some(2999)));
        // the threshold went straight to 4096: no warning on the way down
        assert_eq!(overload(&q), None);
        // refilled past 4096: warned again
        for i in 0..1200 {
            q.push(msg(i));
        }
        assert_eq!(overload(&q), Some(4197));
        while q.pop().is_some() {}
        // emptied: threshold back at 1024
        for i in 0..1100 {
            q.push(msg(i));
        }
        assert_eq!(overload(&q), Some(1099));
    }

    #[test]
    fn released_queue_returns_messages() {
        let q = ServiceQueue::new();
        q.push(msg(1));
        q.push(msg(2));
        let left = q.release();
        assert_eq!(left.len(), 2);
        match q.push(msg(3)) {
            Pushed::Released(m) => assert_eq!(m.session, 3),
            other => panic!("unexpected {other:?}"),
        }
        assert!(q.is_released());
    }

    #[test]
    fn global_queue_is_fifo() {
        let g = GlobalQueue::new();
        assert_eq!(g.push(1), 1);
        assert_eq!(g.push(2), 2);
        assert_eq!(g.len(), 2);
        assert_eq!(g.pop(), Some(1));
        assert_eq!(g.pop(), Some(2));
        assert_eq!(g.pop(), None);
        assert!(g.is_empty());
    }
}

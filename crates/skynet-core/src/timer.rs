//! The node's clock and timeouts. Stands for `skynet_timer.c`'s clock
//! handling: `now` in centiseconds, the start time, the high-precision
//! counter, and turning expired wheel entries into PTYPE_RESPONSE messages.
//! The wheel itself is [`crate::timer_wheel::TimerWheel`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::handle::Handle;
use crate::message::{Message, PTYPE_RESPONSE};
use crate::node::Node;
use crate::payload::Payload;
use crate::timer_wheel::TimerWheel;

/// A pending timeout: who gets the response, with which session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerEvent {
    pub handle: Handle,
    pub session: i32,
}

pub struct Timer {
    wheel: Mutex<TimerWheel<TimerEvent>>,
    /// Centiseconds: the wall clock's fraction at start plus elapsed time.
    current: AtomicU64,
    /// Monotonic centiseconds already accounted for.
    current_point: Mutex<u64>,
    starttime: u32,
    origin: Instant,
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer {
    pub fn new() -> Timer {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timer {
            wheel: Mutex::new(TimerWheel::new()),
            current: AtomicU64::new((wall.subsec_nanos() / 10_000_000) as u64),
            current_point: Mutex::new(0),
            starttime: wall.as_secs() as u32,
            origin: Instant::now(),
        }
    }

    /// Centiseconds since start (plus the start's sub-second part).
    pub fn now(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// Wall-clock seconds at start.
    pub fn starttime(&self) -> u32 {
        self.starttime
    }

    /// A monotonic nanosecond counter.
    pub fn hpc(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    pub(crate) fn add(&self, ticks: u32, handle: Handle, session: i32) {
        self.wheel.lock().add(ticks, TimerEvent { handle, session });
    }

    /// Number of pending timeouts.
    pub fn pending(&self) -> usize {
        self.wheel.lock().len()
    }

    /// Brings the clock up to date and delivers what expired, one wheel tick
    /// per elapsed centisecond (timer thread).
    pub(crate) fn update(&self, node: &Node) {
        let point = (self.origin.elapsed().as_millis() / 10) as u64;
        let diff = {
            let mut cp = self.current_point.lock();
            if point <= *cp {
                return;
            }
            let d = point - *cp;
            *cp = point;
            d
        };
        let mut expired = Vec::new();
        for _ in 0..diff {
            {
                // The clock moves under the wheel's lock, so a timeout added
                // after `now()` was read never expires before `now() + ticks`.
                let mut wheel = self.wheel.lock();
                self.current.fetch_add(1, Ordering::Relaxed);
                wheel.advance(&mut expired);
            }
            for ev in expired.drain(..) {
                let msg = Message::new(0, ev.session, PTYPE_RESPONSE, Payload::empty());
                let _ = node.push(ev.handle, msg);
            }
        }
    }
}

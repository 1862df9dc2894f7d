//! CPU-time accounting of dispatches: what `profile = true` measures for the
//! `cpu` and `time` stats. Stands for the `skynet_thread_time` calls around
//! each dispatch in the reference's `skynet_server.c`.
//!
//! The reference reads the thread CPU clock before and after every
//! message. That clock is a system call (about half a microsecond on this
//! project's machines, a large part of a short dispatch), so each dispatch
//! here is timed with the monotonic clock (vDSO, tens of nanoseconds; the
//! end of a worker's last dispatch is the start of its next one), and
//! the thread CPU clock is read only when at least [`ANCHOR_SPAN`] has
//! passed since the last reading. Between two readings the worker either
//! ran all the time (CPU time advanced as much as wall time: every dispatch
//! in between took exactly its wall time of CPU) or it was preempted for the
//! difference; that difference is taken off the dispatch that ends the span
//! (a dispatch longer than the span is thus always measured against the CPU
//! clock). A worker that goes to sleep forgets its reading
//! ([`forget_anchor`]), so its sleep never counts as preemption.

use std::cell::Cell;
use std::time::Duration;

/// How much wall time a worker may go without reading the CPU clock.
pub const ANCHOR_SPAN: Duration = Duration::from_micros(100);

thread_local! {
    /// The last thread CPU clock reading and the monotonic time it was
    /// taken at, both in nanoseconds.
    static ANCHOR: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
    /// When this thread's last dispatch ended (monotonic ns), while it has
    /// gone on dispatching since: the next dispatch starts there, one
    /// clock read per message instead of two (the little bookkeeping
    /// between two dispatches counts to the second).
    static LAST_END: Cell<Option<u64>> = const { Cell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// Thread CPU clock readings made by this thread.
    static CPU_READS: Cell<u64> = const { Cell::new(0) };
}

/// Nanoseconds of CPU time used by the calling thread.
pub fn thread_cpu_ns() -> u64 {
    #[cfg(test)]
    CPU_READS.with(|r| r.set(r.get() + 1));
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Monotonic nanoseconds (from an arbitrary origin, the same for every
/// thread).
fn wall_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Where a dispatch started, on both clocks.
#[derive(Clone, Copy, Debug)]
pub struct DispatchStart {
    wall: u64,
    /// The thread's CPU time at the start (estimated from the anchor).
    pub cpu: u64,
}

/// Called when a dispatch starts.
pub fn start() -> DispatchStart {
    let wall = LAST_END.with(|e| e.take()).unwrap_or_else(wall_ns);
    let cpu = match ANCHOR.with(|a| a.get()) {
        Some((cpu, at)) => cpu + wall.saturating_sub(at),
        None => {
            let cpu = thread_cpu_ns();
            ANCHOR.with(|a| a.set(Some((cpu, wall))));
            cpu
        }
    };
    DispatchStart { wall, cpu }
}

/// Called when the dispatch that began at `start` ends: its CPU time in
/// nanoseconds.
pub fn finish(start: DispatchStart) -> u64 {
    let wall = wall_ns();
    LAST_END.with(|e| e.set(Some(wall)));
    let elapsed = wall.saturating_sub(start.wall);
    let Some((anchor_cpu, anchor_wall)) = ANCHOR.with(|a| a.get()) else {
        return elapsed;
    };
    let span = wall.saturating_sub(anchor_wall);
    if span < ANCHOR_SPAN.as_nanos() as u64 {
        return elapsed;
    }
    let cpu = thread_cpu_ns();
    ANCHOR.with(|a| a.set(Some((cpu, wall))));
    let preempted = span.saturating_sub(cpu.saturating_sub(anchor_cpu));
    elapsed.saturating_sub(preempted)
}

/// Forgets the calling thread's anchor and last dispatch end (a worker
/// about to sleep or to run idle tasks, or a thread outside the worker
/// loop): the next dispatch reads both clocks afresh.
pub fn forget_anchor() {
    ANCHOR.with(|a| a.set(None));
    LAST_END.with(|e| e.set(None));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn burn(d: Duration) {
        let until = Instant::now() + d;
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn a_busy_dispatch_costs_about_its_cpu_time() {
        forget_anchor();
        let cpu0 = thread_cpu_ns();
        let s = start();
        burn(Duration::from_millis(20));
        let cost = finish(s);
        let cpu = thread_cpu_ns() - cpu0;
        // Never more than the CPU the thread really used, and (busy, so
        // running nearly all the time unless the machine is overloaded)
        // a good part of it.
        assert!(cost <= cpu + 1_000_000, "cost {cost} ns, cpu {cpu} ns");
        assert!(cost > 0);
    }

    #[test]
    fn sleeping_inside_a_dispatch_is_not_cpu_time() {
        forget_anchor();
        let s = start();
        std::thread::sleep(Duration::from_millis(30));
        let cost = finish(s);
        assert!(
            cost < 15_000_000,
            "a 30 ms sleep counted as {cost} ns of CPU time"
        );
    }

    #[test]
    fn short_dispatches_read_the_cpu_clock_once_per_span() {
        forget_anchor();
        let reads0 = CPU_READS.with(|r| r.get());
        let cpu0 = thread_cpu_ns();
        let mut total = 0;
        for _ in 0..1000 {
            let s = start();
            burn(Duration::from_micros(5));
            total += finish(s);
        }
        let cpu = thread_cpu_ns() - cpu0;
        let reads = CPU_READS.with(|r| r.get()) - reads0;
        // 1000 dispatches of 5 us: about one reading per 100 us span (more
        // when the thread is preempted, never one per dispatch).
        assert!(
            reads < 500,
            "{reads} CPU clock readings for 1000 dispatches"
        );
        assert!(total > 0, "the dispatches cost nothing");
        // Undetected preemption can add at most one span per reading.
        let slack = (reads + 1) * ANCHOR_SPAN.as_nanos() as u64;
        assert!(total <= cpu + slack, "total {total} ns, cpu {cpu} ns");
    }
}

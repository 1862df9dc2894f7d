//! The hierarchical timing wheel behind `skynet.timeout`: the data-structure
//! half of the reference's `skynet_timer.c` (its `add_node`, `timer_shift`,
//! `timer_execute` and `timer_update`), without the clock or the lock.
//!
//! Time is a 32-bit tick counter that wraps. A timeout due within the current
//! 256-tick block waits in one of 256 "near" slots, one per tick. Timeouts
//! further away wait in one of four levels of 64 slots; level `L` slot `i`
//! holds the timeouts whose expiry shares every bit above level `L` with the
//! current tick and has `i` in level `L`'s six bits. Whenever the counter
//! crosses into a new block of a level, that block's slot is emptied and its
//! timeouts are placed again, one level nearer. Each slot is a FIFO, so
//! timeouts with the same expiry come out in the order they were added.
//!
//! [`TimerWheel::advance`] does what the reference's `timer_update` does:
//! hand out what is due at the current tick (timeouts added with delay 0
//! since the last advance), step the counter (cascading), then hand out what
//! is due at the new tick.
//!
//! One deliberate difference: the reference only ever receives positive
//! `int` delays. A delay of more than `2^32 - 2^26` ticks wraps to an expiry
//! behind the current tick but in the same top-level block; the reference's
//! placement would fire it early (within the current block's turn), this
//! wheel parks it in the top level so it waits the full turn. Every delay
//! below `2^31` is placed exactly as in the reference.
//!
//! The wheel takes no lock and never allocates on the hot path once its slots
//! have grown; the runtime wraps it in a mutex and drives it from the timer
//! thread.

use std::fmt;

/// Bits of the tick covered by the near slots.
const NEAR_BITS: u32 = 8;
const NEAR_SLOTS: usize = 1 << NEAR_BITS;
/// Bits of the tick covered by each outer level.
const LEVEL_BITS: u32 = 6;
const LEVEL_SLOTS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 4;
const SLOT_COUNT: usize = NEAR_SLOTS + LEVELS * LEVEL_SLOTS;

/// A timeout waiting in a slot.
struct Pending<T> {
    expire: u32,
    item: T,
}

/// A hierarchical timing wheel over a wrapping 32-bit tick counter.
pub struct TimerWheel<T> {
    /// The near slots first, then level 0's 64 slots, level 1's, ... level 3's.
    slots: Box<[Vec<Pending<T>>]>,
    tick: u32,
    len: usize,
}

/// The lowest tick bit of an outer level.
fn level_shift(level: usize) -> u32 {
    NEAR_BITS + LEVEL_BITS * level as u32
}

/// Index in `slots` of outer level `level`'s slot for `expire`.
fn level_slot(level: usize, expire: u32) -> usize {
    let index = (expire >> level_shift(level)) as usize & (LEVEL_SLOTS - 1);
    NEAR_SLOTS + level * LEVEL_SLOTS + index
}

/// Index in `slots` where a timeout expiring at `expire` waits while the
/// counter stands at `now`.
fn slot_for(expire: u32, now: u32) -> usize {
    if expire >= now {
        // Bits that differ between the two ticks decide how far out it is.
        let differing = expire ^ now;
        if differing >> NEAR_BITS == 0 {
            return expire as usize & (NEAR_SLOTS - 1);
        }
        for level in 0..LEVELS - 1 {
            if differing >> level_shift(level + 1) == 0 {
                return level_slot(level, expire);
            }
        }
    }
    // Either the top bits differ, or the expiry wrapped past the end of the
    // counter: the top level keeps it until its block comes round.
    level_slot(LEVELS - 1, expire)
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose counter starts at tick 0.
    pub fn new() -> Self {
        Self::with_start_tick(0)
    }

    /// An empty wheel whose counter starts at `tick`.
    pub fn with_start_tick(tick: u32) -> Self {
        let slots = std::iter::repeat_with(Vec::new).take(SLOT_COUNT).collect();
        TimerWheel {
            slots,
            tick,
            len: 0,
        }
    }

    /// The current tick.
    pub fn now(&self) -> u32 {
        self.tick
    }

    /// Schedules `item` to expire at `now() + delay` (wrapping). A delay of 0
    /// expires on the next [`advance`](Self::advance), before anything due at
    /// the tick that advance moves to.
    pub fn add(&mut self, delay: u32, item: T) {
        let expire = self.tick.wrapping_add(delay);
        self.slots[slot_for(expire, self.tick)].push(Pending { expire, item });
        self.len += 1;
    }

    /// Moves the counter one tick forward, appending the expired items to
    /// `expired` in firing order.
    pub fn advance(&mut self, expired: &mut Vec<T>) {
        self.fire_current(expired);
        self.step();
        self.fire_current(expired);
    }

    /// Number of pending timeouts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timeout is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hands out everything in the near slot of the current tick.
    fn fire_current(&mut self, expired: &mut Vec<T>) {
        let slot = &mut self.slots[self.tick as usize & (NEAR_SLOTS - 1)];
        self.len -= slot.len();
        expired.extend(slot.drain(..).map(|pending| pending.item));
    }

    /// Increments the counter and re-places the slot of the outermost level
    /// whose block the counter just entered.
    fn step(&mut self) {
        self.tick = self.tick.wrapping_add(1);
        let now = self.tick;
        for level in 0..LEVELS {
            let shift = level_shift(level);
            if now & ((1u32 << shift) - 1) != 0 {
                // Still inside the current block of this level.
                return;
            }
            let index = (now >> shift) as usize & (LEVEL_SLOTS - 1);
            // Slot 0 of a level is only entered together with the next level's
            // block, except at the top, where it means the counter wrapped.
            if index != 0 || level == LEVELS - 1 {
                self.cascade(NEAR_SLOTS + level * LEVEL_SLOTS + index);
                return;
            }
        }
    }

    /// Empties slot `slot` and places its timeouts again against the current
    /// tick, keeping their order.
    fn cascade(&mut self, slot: usize) {
        let mut moving = std::mem::take(&mut self.slots[slot]);
        for pending in moving.drain(..) {
            let target = slot_for(pending.expire, self.tick);
            debug_assert_ne!(target, slot, "a cascaded timeout must move nearer");
            self.slots[target].push(pending);
        }
        // Give the slot its buffer back so its capacity is reused.
        self.slots[slot] = moving;
    }
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("tick", &self.tick)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Advances up to `limit` ticks and returns `(tick after the advance,
    /// item)` for every item handed out, stopping once the wheel is empty.
    fn run(wheel: &mut TimerWheel<u32>, limit: u64) -> Vec<(u32, u32)> {
        let mut fired = Vec::new();
        let mut out = Vec::new();
        for _ in 0..limit {
            if wheel.is_empty() {
                break;
            }
            wheel.advance(&mut out);
            fired.extend(out.drain(..).map(|item| (wheel.now(), item)));
        }
        fired
    }

    #[test]
    fn timer_wheel_starts_empty_at_the_given_tick() {
        let wheel: TimerWheel<u8> = TimerWheel::new();
        assert_eq!(wheel.now(), 0);
        assert!(wheel.is_empty());
        assert_eq!(wheel.len(), 0);
        let wheel: TimerWheel<u8> = TimerWheel::with_start_tick(0xdead_beef);
        assert_eq!(wheel.now(), 0xdead_beef);
        assert!(format!("{wheel:?}").contains("3735928559"));
    }

    #[test]
    fn timer_wheel_delay_zero_fires_on_next_advance_before_delay_one() {
        let mut wheel = TimerWheel::new();
        wheel.add(1, "one");
        wheel.add(0, "zero");
        wheel.add(2, "two");
        assert_eq!(wheel.len(), 3);
        let mut out = Vec::new();
        wheel.advance(&mut out);
        assert_eq!(out, ["zero", "one"]);
        assert_eq!(wheel.now(), 1);
        assert_eq!(wheel.len(), 1);
        out.clear();
        wheel.advance(&mut out);
        assert_eq!(out, ["two"]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn timer_wheel_advance_appends_without_clearing() {
        let mut wheel = TimerWheel::new();
        wheel.add(1, 7);
        let mut out = vec![1, 2];
        wheel.advance(&mut out);
        assert_eq!(out, [1, 2, 7]);
    }

    #[test]
    fn timer_wheel_same_expiry_fires_in_insertion_order() {
        let mut wheel = TimerWheel::new();
        for i in 0..10 {
            wheel.add(300, i);
        }
        let fired = run(&mut wheel, 1000);
        assert_eq!(fired, (0..10).map(|i| (300, i)).collect::<Vec<_>>());

        // Same expiry reached from different levels: the early, far one was
        // cascaded into the near slot before the later, near one was added.
        let mut wheel = TimerWheel::new();
        let mut out = Vec::new();
        wheel.add(20_000, 1); // level 1 at tick 0
        for _ in 0..19_000 {
            wheel.advance(&mut out);
        }
        wheel.add(1_000, 2); // level 0 at tick 19000
        for _ in 0..990 {
            wheel.advance(&mut out);
        }
        wheel.add(10, 3); // near at tick 19990
        for _ in 0..10 {
            wheel.advance(&mut out);
        }
        assert_eq!(wheel.now(), 20_000);
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn timer_wheel_fires_on_exactly_the_expiry_tick_at_every_level() {
        let delays: &[u32] = &[
            1,
            2,
            255,
            256, // level 0
            257,
            1000,
            (1 << 14) - 1,
            1 << 14, // level 1
            (1 << 14) + 1,
            100_000,
            (1 << 20) - 1,
            1 << 20, // level 2
            (1 << 20) + 1,
            (1 << 20) + 12_345,
        ];
        for &delay in delays {
            let mut wheel = TimerWheel::new();
            wheel.add(delay, delay);
            assert_eq!(run(&mut wheel, u64::from(delay) + 10), [(delay, delay)]);
        }
    }

    #[test]
    fn timer_wheel_top_level_timeouts_fire_on_time() {
        // Reaching level 3 from tick 0 takes 2^26 ticks; start near the
        // boundaries instead so the expiry's top bits differ from now's.
        for (start, delay) in [
            ((1u32 << 26) - 1, 1u32),
            ((1 << 26) - 5, 300),
            ((1 << 26) - 40_000, 70_000),
            ((3 << 26) - 100, (1 << 20) + 100),
            ((1 << 31) - 7, 1 << 14),
        ] {
            let mut wheel = TimerWheel::with_start_tick(start);
            wheel.add(delay, 0);
            let fired = run(&mut wheel, u64::from(delay) + 10);
            assert_eq!(fired, [(start.wrapping_add(delay), 0)], "start {start:#x}");
        }
    }

    #[test]
    fn timer_wheel_wraps_each_level_boundary() {
        for boundary in [1u64 << 8, 1 << 14, 1 << 20, 1 << 26, 1 << 32] {
            for before in [1u32, 2, 3, 200] {
                let start = (boundary - u64::from(before)) as u32;
                let mut wheel = TimerWheel::with_start_tick(start);
                let delays = [0u32, 1, before - 1, before, before + 1, before + 256, 5000];
                for (i, &d) in delays.iter().enumerate() {
                    wheel.add(d, i as u32);
                }
                let fired = run(&mut wheel, 6000);
                let mut expected: Vec<(u32, u32)> = delays
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| (start.wrapping_add(d.max(1)), i as u32))
                    .collect();
                // Firing order is by tick, then delay-0 first, then insertion.
                expected.sort_by_key(|&(tick, i)| {
                    (tick.wrapping_sub(start), delays[i as usize] != 0, i)
                });
                assert_eq!(fired, expected, "boundary {boundary:#x} before {before}");
            }
        }
    }

    #[test]
    fn timer_wheel_whole_counter_wraps_to_zero() {
        let mut wheel = TimerWheel::with_start_tick(u32::MAX - 2);
        wheel.add(2, 'a'); // u32::MAX
        wheel.add(3, 'b'); // 0
        wheel.add(4, 'c'); // 1
        wheel.add(300, 'd'); // 297
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..300 {
            wheel.advance(&mut out);
            seen.extend(out.drain(..).map(|c| (wheel.now(), c)));
        }
        assert_eq!(seen, [(u32::MAX, 'a'), (0, 'b'), (1, 'c'), (297, 'd')]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn timer_wheel_huge_delays_wait_their_whole_turn() {
        // Expiry behind the current tick in the same 256-tick block and in the
        // same top-level block: such a timeout is about 2^32 ticks away.
        let mut wheel = TimerWheel::with_start_tick(0x0400_0005);
        wheel.add(u32::MAX, 1); // expires at 0x0400_0004
        wheel.add(u32::MAX - 1000, 2);
        wheel.add(u32::MAX - (1 << 24), 3);
        wheel.add(1 << 21, 4);
        let fired = run(&mut wheel, 1 << 21);
        assert_eq!(fired, [(0x0400_0005 + (1 << 21), 4)]);
        assert_eq!(wheel.len(), 3);
    }

    #[test]
    fn timer_wheel_slot_choice_matches_the_reference_rules() {
        // Near: same bits above the low 8.
        assert_eq!(slot_for(0x1234_56ff, 0x1234_5600), 0xff);
        // Level 0: same bits above the low 14.
        assert_eq!(slot_for(0x0000_0100, 0), NEAR_SLOTS + 1);
        // Level 1, 2 and 3 for ever larger differences.
        assert_eq!(slot_for(1 << 14, 0), NEAR_SLOTS + LEVEL_SLOTS + 1);
        assert_eq!(slot_for(5 << 20, 0), NEAR_SLOTS + 2 * LEVEL_SLOTS + 5);
        assert_eq!(slot_for(63 << 26, 0), NEAR_SLOTS + 3 * LEVEL_SLOTS + 63);
        // A wrapped expiry waits in the top level under its own top bits.
        assert_eq!(slot_for(3, u32::MAX - 1), NEAR_SLOTS + 3 * LEVEL_SLOTS);
        assert_eq!(
            slot_for(0x0400_0004, 0x0400_0005),
            NEAR_SLOTS + 3 * LEVEL_SLOTS + 1
        );
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The obvious model: absolute (unwrapped) expiry ticks.
    struct Model {
        now: u64,
        /// Items added with delay 0 at the current tick.
        immediate: Vec<u64>,
        /// Items keyed by absolute expiry, in insertion order.
        later: BTreeMap<u64, Vec<u64>>,
        pending: usize,
    }

    impl Model {
        fn add(&mut self, delay: u32, item: u64) {
            self.pending += 1;
            if delay == 0 {
                self.immediate.push(item);
            } else {
                self.later
                    .entry(self.now + u64::from(delay))
                    .or_default()
                    .push(item);
            }
        }

        fn advance(&mut self) -> Vec<u64> {
            let mut out = std::mem::take(&mut self.immediate);
            self.now += 1;
            out.extend(self.later.remove(&self.now).unwrap_or_default());
            self.pending -= out.len();
            out
        }
    }

    #[test]
    fn timer_wheel_matches_a_naive_model_on_random_delays() {
        let starts = [
            0u32,
            (1 << 8) - 30,
            (1 << 14) - 300,
            (1 << 20) - 3000,
            (1 << 26) - 7000,
            (1 << 31) - 5000,
            u32::MAX - 9000,
            0x9e37_79b9,
        ];
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for &start in &starts {
            let mut wheel = TimerWheel::with_start_tick(start);
            let mut model = Model {
                now: u64::from(start),
                immediate: Vec::new(),
                later: BTreeMap::new(),
                pending: 0,
            };
            let mut next_item = 0u64;
            let mut out = Vec::new();
            let mut fired_total = 0usize;
            for _ in 0..30_000 {
                for _ in 0..rng.below(4) {
                    let delay = match rng.below(10) {
                        0 => 0,
                        1..=4 => rng.below(300) as u32,
                        5..=6 => rng.below(20_000) as u32,
                        7 => rng.below(1 << 22) as u32,
                        8 => rng.below(1 << 31) as u32,
                        _ => u32::MAX - rng.below(1 << 27) as u32,
                    };
                    wheel.add(delay, next_item);
                    model.add(delay, next_item);
                    next_item += 1;
                }
                wheel.advance(&mut out);
                let expected = model.advance();
                assert_eq!(out, expected, "start {start:#x}, tick {:#x}", wheel.now());
                fired_total += out.len();
                out.clear();
                assert_eq!(wheel.now(), model.now as u32);
                assert_eq!(wheel.len(), model.pending);
            }
            assert!(fired_total > 10_000, "the run fired {fired_total} items");
        }
    }
}

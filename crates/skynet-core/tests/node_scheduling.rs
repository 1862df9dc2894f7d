//! Integration tests of the scheduler (crates/skynet-core/src/scheduler.rs).
//!
//! The worker wake-up rule (the reference's timer thread waking a sleeping
//! worker every tick, `skynet_start.c`): a service queued behind a worker
//! busy with a long handler runs on another worker that was asleep, instead
//! of waiting for that handler to end.
//!
//! Each round, on a node with two workers, the driver (in a dispatch on a
//! worker) sends the spinner its "spin" message and itself a "release"
//! message, then returns: its worker takes the spinner, which spins until
//! the driver's "release" has run. A push from a worker wakes nobody when
//! only one service waits, so only the timer thread's tick can bring the
//! other worker in. Without it the driver's message waits for the spinner,
//! which gives up after a generous safety deadline and says so. The test
//! asserts who ended each spin, never how long anything took.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use skynet_core::message::PTYPE_RESPONSE;
use skynet_core::{Context, Handle, Message, Service};

const ROUNDS: usize = 20;
/// Only so that a broken wake-up rule fails the test instead of hanging.
const SAFETY: Duration = Duration::from_secs(30);

/// Spins in its dispatch until `released` is set (or the safety deadline
/// passes), then answers "released" or "gave up".
struct Spinner {
    released: Arc<AtomicBool>,
}

impl Service for Spinner {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        let deadline = Instant::now() + SAFETY;
        let mut outcome = "released";
        while !self.released.swap(false, Ordering::SeqCst) {
            if Instant::now() > deadline {
                outcome = "gave up";
                break;
            }
            std::hint::spin_loop();
        }
        reply(ctx, &msg, outcome.as_bytes().to_vec());
    }
}

struct Driver {
    spinner: Handle,
    released: Arc<AtomicBool>,
    outcomes: Journal<String>,
}

impl Driver {
    /// Starts a round: the spinner's message first, then our own.
    fn round(&self, ctx: &Arc<Context>) {
        send_text(ctx, self.spinner, 1, "spin");
        send_text(ctx, ctx.handle(), 0, "release");
    }
}

impl Service for Driver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        self.spinner = launch(ctx, "spinner").ok_or("launch spinner")?;
        // the first round starts in a dispatch, on a worker
        send_text(ctx, ctx.handle(), 0, "go");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype == PTYPE_RESPONSE {
            self.outcomes.push(text_of(&msg));
            if self.outcomes.len() == ROUNDS {
                abort(ctx);
            } else {
                self.round(ctx);
            }
            return;
        }
        match text_of(&msg).as_str() {
            "go" => self.round(ctx),
            "release" => self.released.store(true, Ordering::SeqCst),
            _ => {}
        }
    }
}

#[test]
fn a_service_behind_a_busy_worker_runs_on_a_sleeping_one() {
    let released = Arc::new(AtomicBool::new(false));
    let outcomes = Journal::new();
    let done = {
        let released = released.clone();
        let outcomes = outcomes.clone();
        run_node(
            Setup::new(2, "driver").timeout(SAFETY * (ROUNDS as u32 + 1)),
            move |node| {
                let spin_flag = released.clone();
                register(node, "spinner", move || Spinner {
                    released: spin_flag.clone(),
                });
                register(node, "driver", move || Driver {
                    spinner: 0,
                    released: released.clone(),
                    outcomes: outcomes.clone(),
                });
            },
        )
    };
    done.expect_ok();
    let outcomes = outcomes.snapshot();
    assert_eq!(outcomes.len(), ROUNDS);
    assert!(
        outcomes.iter().all(|o| o == "released"),
        "the driver's message waited for the busy worker: {outcomes:?}"
    );
}

/// Keeps its worker's run queue busy for ever: every dispatch sends itself
/// the next message, until `stop` is set.
struct Churner {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
}

impl Service for Churner {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        send_text(ctx, ctx.handle(), 0, "again");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, _msg: Message) {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        if !self.stop.load(Ordering::SeqCst) {
            send_text(ctx, ctx.handle(), 0, "again");
        }
    }
}

/// Starts a churner, then asks the timer for a wake-up one tick later: the
/// timer thread's message goes to the shared queue, which the only worker
/// must serve although its own queue never runs dry.
struct Prober {
    stop: Arc<AtomicBool>,
    woken: Journal<String>,
}

impl Service for Prober {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        launch(ctx, "churner").ok_or("launch churner")?;
        ctx.node().timeout(ctx.handle(), 1, 7);
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype == PTYPE_RESPONSE && msg.session == 7 {
            self.woken.push("timer".to_string());
            self.stop.store(true, Ordering::SeqCst);
            abort(ctx);
        }
    }
}

#[test]
fn a_worker_whose_queue_never_empties_still_serves_the_shared_queue() {
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let woken = Journal::new();
    let done = {
        let (stop, rounds, woken) = (stop.clone(), rounds.clone(), woken.clone());
        run_node(Setup::new(1, "prober").timeout(SAFETY), move |node| {
            let (churn_stop, churn_rounds) = (stop.clone(), rounds.clone());
            register(node, "churner", move || Churner {
                stop: churn_stop.clone(),
                rounds: churn_rounds.clone(),
            });
            register(node, "prober", move || Prober {
                stop: stop.clone(),
                woken: woken.clone(),
            });
        })
    };
    done.expect_ok();
    assert_eq!(woken.snapshot(), vec!["timer".to_string()]);
    assert!(
        rounds.load(Ordering::SeqCst) > 0,
        "the churner ran beside the timer's message"
    );
}

/// Keeps its worker busy with messages to itself until the other worker
/// has gone idle (run the idle tasks, found nothing to do: it sleeps next),
/// then asks for idle work from inside a long dispatch and spins until an
/// idle task has run: only the other worker, woken by `wake_idle_worker`,
/// can run it meanwhile.
struct IdleAsker {
    idle_calls: Arc<AtomicU64>,
    wanted: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    outcome: Journal<String>,
}

impl Service for IdleAsker {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        send_text(ctx, ctx.handle(), 0, "poll");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, _msg: Message) {
        if self.idle_calls.load(Ordering::SeqCst) == 0 {
            send_text(ctx, ctx.handle(), 0, "poll");
            return;
        }
        self.wanted.store(true, Ordering::SeqCst);
        ctx.node().wake_idle_worker();
        let deadline = Instant::now() + SAFETY;
        let mut outcome = "idle task ran";
        while !self.done.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                outcome = "gave up";
                break;
            }
            std::hint::spin_loop();
        }
        self.outcome.push(outcome.to_string());
        abort(ctx);
    }
}

#[test]
fn a_sleeping_worker_woken_for_idle_work_runs_the_idle_tasks() {
    let idle_calls = Arc::new(AtomicU64::new(0));
    let wanted = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let outcome = Journal::new();
    let finished = {
        let (idle_calls, wanted, done, outcome) = (
            idle_calls.clone(),
            wanted.clone(),
            done.clone(),
            outcome.clone(),
        );
        run_node(Setup::new(2, "asker").timeout(SAFETY * 2), move |node| {
            let (calls, task_wanted, task_done) =
                (idle_calls.clone(), wanted.clone(), done.clone());
            node.add_idle_task(Arc::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                if task_wanted.swap(false, Ordering::SeqCst) {
                    task_done.store(true, Ordering::SeqCst);
                    true
                } else {
                    false
                }
            }));
            register(node, "asker", move || IdleAsker {
                idle_calls: idle_calls.clone(),
                wanted: wanted.clone(),
                done: done.clone(),
                outcome: outcome.clone(),
            });
        })
    };
    finished.expect_ok();
    assert_eq!(outcome.snapshot(), vec!["idle task ran".to_string()]);
    // Woken at once, not brought in only by a later tick: the spin did not
    // last until the monitor took it for an endless loop (which makes the
    // timer wake a worker for the warning's log line).
    assert!(
        finished.lines_starting("error: A message from").is_empty(),
        "the idle task waited for the monitor: {:?}",
        finished.logs
    );
}

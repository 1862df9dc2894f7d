//! Integration tests of message passing on a node booted in-process with
//! native services: ordering between two services, sends to dead or unknown
//! handles and the error replies of a released queue, the overload warning,
//! a panicking service, and ABORT. Stands for the behaviour of the
//! reference's `skynet_server.c` (send, dispatch, drop_message),
//! `skynet_mq.c` (overload) and `skynet_start.c` (ending the node).

mod common;

use std::collections::VecDeque;
use std::sync::Arc;

use common::*;
use skynet_core::message::{PTYPE_ERROR, PTYPE_RESPONSE, PTYPE_TAG_ALLOCSESSION, PTYPE_TEXT};
use skynet_core::{Context, Handle, Message, Payload, Service};

// ---------------------------------------------------------------- ping-pong

/// Answers `ping N` with `pong N` and notes every N it sees.
struct Pong {
    seen: Journal<u32>,
}

impl Service for Pong {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_TEXT {
            return;
        }
        let text = text_of(&msg);
        let n: u32 = match text.strip_prefix("ping ").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return,
        };
        self.seen.push(n);
        if msg.session != 0 {
            reply(ctx, &msg, format!("pong {n}").into_bytes());
        }
    }
}

/// What the ping driver saw: the pings it sent and the replies it got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PingEvent {
    Sent {
        session: i32,
        n: u32,
    },
    Reply {
        session: i32,
        source: Handle,
        text: String,
    },
}

/// `rounds` round trips one at a time, then `burst` pings at once.
struct PingDriver {
    rounds: u32,
    burst: u32,
    pong: Handle,
    replies: u32,
    events: Journal<PingEvent>,
}

impl PingDriver {
    fn ping(&self, ctx: &Arc<Context>, n: u32) {
        let session = ctx.send(
            0,
            self.pong,
            PTYPE_TEXT as i32 | PTYPE_TAG_ALLOCSESSION,
            0,
            Payload::from(format!("ping {n}")),
        );
        self.events.push(PingEvent::Sent { session, n });
    }
}

impl Service for PingDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        self.pong = launch(ctx, "pong").ok_or("cannot launch pong")?;
        self.ping(ctx, 0);
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_RESPONSE {
            return;
        }
        self.events.push(PingEvent::Reply {
            session: msg.session,
            source: msg.source,
            text: text_of(&msg),
        });
        self.replies += 1;
        if self.replies < self.rounds {
            self.ping(ctx, self.replies);
        } else if self.replies == self.rounds {
            for n in self.rounds..self.rounds + self.burst {
                self.ping(ctx, n);
            }
        } else if self.replies == self.rounds + self.burst {
            abort(ctx);
        }
    }
}

#[test]
fn ping_pong_keeps_counts_and_order() {
    const ROUNDS: u32 = 300;
    const BURST: u32 = 700;
    let seen = Journal::new();
    let events = Journal::new();
    let done = {
        let seen = seen.clone();
        let events = events.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "pong", move || Pong { seen: seen.clone() });
            register(node, "driver", move || PingDriver {
                rounds: ROUNDS,
                burst: BURST,
                pong: 0,
                replies: 0,
                events: events.clone(),
            });
        })
    };
    done.expect_ok();

    // pong saw every ping once, in the order they were sent
    assert_eq!(seen.snapshot(), (0..ROUNDS + BURST).collect::<Vec<_>>());

    let events = events.snapshot();
    let pong = done.source_of("LAUNCH pong ").expect("pong launched");
    let mut sent: VecDeque<(i32, u32)> = VecDeque::new();
    let mut sessions = Vec::new();
    let mut replies = 0;
    for e in &events {
        match e {
            PingEvent::Sent { session, n } => {
                assert!(*session > 0, "allocated sessions are positive: {e:?}");
                sent.push_back((*session, *n));
                sessions.push(*session);
            }
            PingEvent::Reply {
                session,
                source,
                text,
            } => {
                // replies come back in the order the pings went out
                let (want_session, n) = sent.pop_front().expect("a reply to a ping that was sent");
                assert_eq!(*session, want_session);
                assert_eq!(*source, pong);
                assert_eq!(text, &format!("pong {n}"));
                replies += 1;
            }
        }
    }
    assert!(sent.is_empty(), "unanswered pings: {sent:?}");
    assert_eq!(replies, ROUNDS + BURST);
    // sessions are allocated 1, 2, 3, ...
    assert_eq!(sessions, (1..=(ROUNDS + BURST) as i32).collect::<Vec<_>>());
}

// ------------------------------------------------ dead and unknown targets

#[derive(Debug, Default, Clone)]
struct DeadReport {
    unknown: i32,
    unknown_name: i32,
    zero_empty: i32,
    zero_with_data: i32,
    gone: Handle,
    to_gone: i32,
    target: Handle,
    call: i32,
    oneway: i32,
    /// (ptype, source, session) of what came back.
    received: Vec<(u8, Handle, i32)>,
}

struct DeadDriver {
    report: Journal<DeadReport>,
    state: DeadReport,
}

impl Service for DeadDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let s = &mut self.state;
        s.unknown = send_text(ctx, 0x00ab_cdef, 0, "nobody home");
        s.unknown_name = ctx.send_name(0, ".nobody", PTYPE_TEXT as i32, 0, Payload::from("x"));
        s.zero_empty = ctx.send(0, 0, PTYPE_TEXT as i32, 5, Payload::empty());
        s.zero_with_data = send_text(ctx, 0, 0, "to zero");

        s.gone = launch(ctx, "idle").ok_or("launch idle")?;
        cmd(ctx, "KILL", &format!(":{:x}", s.gone));
        s.to_gone = send_text(ctx, s.gone, 3, "too late");

        // Queued for a service that dies before it runs: both come back as
        // PTYPE_ERROR with their sessions.
        s.target = launch(ctx, "idle").ok_or("launch idle")?;
        s.call = send_text(ctx, s.target, 77, "call");
        s.oneway = send_text(ctx, s.target, 0, "oneway");
        cmd(ctx, "KILL", &format!(":{:x}", s.target));
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        self.state
            .received
            .push((msg.ptype, msg.source, msg.session));
        if self.state.received.len() == 2 {
            self.report.push(self.state.clone());
            abort(ctx);
        }
    }
}

#[test]
fn sending_to_dead_or_unknown_handles_fails_cleanly() {
    let report = Journal::new();
    let idles = DropCounter::new();
    let done = {
        let report = report.clone();
        let idles = idles.clone();
        run_node(Setup::new(1, "driver"), move |node| {
            register(node, "idle", move || Idle(idles.clone()));
            register(node, "driver", move || DeadDriver {
                report: report.clone(),
                state: DeadReport::default(),
            });
        })
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    assert_eq!(r.unknown, -1);
    assert_eq!(r.unknown_name, -1);
    assert_eq!(r.zero_empty, 5, "an empty message to 0 is dropped quietly");
    assert_eq!(r.zero_with_data, -1);
    assert_eq!(r.to_gone, -1);
    assert_eq!(r.call, 77);
    assert_eq!(r.oneway, 0);
    assert_eq!(
        r.received,
        vec![(PTYPE_ERROR, r.target, 77), (PTYPE_ERROR, r.target, 0)]
    );
    assert_eq!(idles.get(), 2, "both idle services were released");

    let driver = done.source_of("LAUNCH driver ").expect("driver launched");
    // Unknown handles and names cost no log line; only the 0 destination does.
    assert_eq!(
        done.lines_from(driver),
        vec![
            "error: Destination address can't be 0".to_string(),
            format!("KILL :{:x}", r.gone),
            format!("KILL :{:x}", r.target),
            "LAUNCH driver ".to_string(),
        ]
    );
}

// ------------------------------------------------------------ overload

/// Counts text messages; answers a message with a session with the count.
struct Counter {
    count: u32,
}

impl Service for Counter {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        self.count += 1;
        if msg.session != 0 {
            reply(ctx, &msg, self.count.to_string().into_bytes());
        }
    }
}

/// Floods a counter before it can run, twice: 3000 messages from init,
/// then (one worker, so the counter waits) 1100 from a dispatch.
struct FloodDriver {
    counter: Handle,
    counts: Journal<String>,
}

const FIRST_COUNT: i32 = 1001;
const SECOND_COUNT: i32 = 1002;

impl FloodDriver {
    fn flood(&self, ctx: &Arc<Context>, n: usize, session: i32) {
        for _ in 0..n {
            send_text(ctx, self.counter, 0, "x");
        }
        send_text(ctx, self.counter, session, "count?");
    }
}

impl Service for FloodDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        self.counter = launch(ctx, "counter").ok_or("launch counter")?;
        self.flood(ctx, 3000, FIRST_COUNT);
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_RESPONSE {
            return;
        }
        if msg.source == 0 {
            // The worker has visited the counter's emptied queue (which
            // resets its threshold) before it gets to this timeout.
            self.flood(ctx, 1100, SECOND_COUNT);
            return;
        }
        self.counts.push(text_of(&msg));
        if msg.session == FIRST_COUNT {
            cmd(ctx, "TIMEOUT", "0");
        } else {
            abort(ctx);
        }
    }
}

#[test]
fn a_flooded_queue_warns_once_per_threshold_jump() {
    let counts = Journal::new();
    let done = {
        let counts = counts.clone();
        run_node(Setup::new(1, "driver"), move |node| {
            register(node, "counter", || Counter { count: 0 });
            register(node, "driver", move || FloodDriver {
                counter: 0,
                counts: counts.clone(),
            });
        })
    };
    done.expect_ok();
    assert_eq!(counts.snapshot(), vec!["3001", "4102"]);
    let counter = done.source_of("LAUNCH counter ").expect("counter launched");
    let warnings: Vec<_> = done
        .lines_starting("error: May overload")
        .into_iter()
        .cloned()
        .collect();
    // 3000 left after the first pop: the threshold jumps 1024 -> 4096 with
    // one warning. The queue then empties, the threshold is back at 1024,
    // and the second flood warns again.
    assert_eq!(
        warnings,
        vec![
            LogLine {
                source: counter,
                text: "error: May overload, message queue length = 3000".to_string(),
            },
            LogLine {
                source: counter,
                text: "error: May overload, message queue length = 1100".to_string(),
            },
        ]
    );
}

// ------------------------------------------------------------ panics

/// Panics on `boom`, echoes anything else with a session.
struct Bomb;

impl Service for Bomb {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if text_of(&msg) == "boom" {
            panic!("kaboom");
        }
        if msg.session != 0 {
            reply(ctx, &msg, b"ok".to_vec());
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BombEvent {
    Got {
        ptype: u8,
        source: Handle,
        session: i32,
        text: String,
    },
    SendToDead(i32),
}

struct BombDriver {
    bomb: Handle,
    echo: Handle,
    events: Journal<BombEvent>,
}

impl Service for BombDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        self.bomb = launch(ctx, "bomb").ok_or("launch bomb")?;
        self.echo = launch(ctx, "echo").ok_or("launch echo")?;
        send_text(ctx, self.bomb, 0, "boom");
        // still queued when the bomb dies: comes back as an error
        send_text(ctx, self.bomb, 9, "after");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        self.events.push(BombEvent::Got {
            ptype: msg.ptype,
            source: msg.source,
            session: msg.session,
            text: text_of(&msg),
        });
        if msg.ptype == PTYPE_ERROR {
            let r = send_text(ctx, self.bomb, 0, "anyone?");
            self.events.push(BombEvent::SendToDead(r));
            send_text(ctx, self.echo, 10, "still alive");
        } else if msg.ptype == PTYPE_RESPONSE {
            abort(ctx);
        }
    }
}

#[test]
fn a_panicking_service_is_logged_and_killed_and_the_node_goes_on() {
    let events = Journal::new();
    let done = {
        let events = events.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "bomb", || Bomb);
            register(node, "echo", || Echo);
            register(node, "driver", move || BombDriver {
                bomb: 0,
                echo: 0,
                events: events.clone(),
            });
        })
    };
    done.expect_ok();
    let bomb = done.source_of("LAUNCH bomb ").expect("bomb launched");
    let echo = done.source_of("LAUNCH echo ").expect("echo launched");
    assert_eq!(
        done.lines_from(bomb),
        vec![
            "LAUNCH bomb ",
            "error: service bomb panicked: kaboom",
            "KILL self"
        ]
    );
    assert_eq!(
        events.snapshot(),
        vec![
            BombEvent::Got {
                ptype: PTYPE_ERROR,
                source: bomb,
                session: 9,
                text: String::new()
            },
            BombEvent::SendToDead(-1),
            BombEvent::Got {
                ptype: PTYPE_RESPONSE,
                source: echo,
                session: 10,
                text: "still alive".to_string()
            },
        ]
    );
}

// ------------------------------------------------------------ ABORT

/// Launches idle services, leaves a far timeout pending, then aborts from
/// its first dispatch.
struct AbortDriver {
    idles: usize,
}

impl Service for AbortDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        for _ in 0..self.idles {
            launch(ctx, "idle").ok_or("launch idle")?;
        }
        cmd(ctx, "TIMEOUT", "100000");
        send_text(ctx, ctx.handle(), 0, "go");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, _msg: Message) {
        ctx.log("about to abort");
        abort(ctx);
    }
}

#[test]
fn abort_releases_every_service_and_ends_the_node() {
    let idles = DropCounter::new();
    let done = {
        let idles = idles.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "idle", move || Idle(idles.clone()));
            register(node, "driver", || AbortDriver { idles: 5 });
        })
    };
    done.expect_ok();
    assert_eq!(idles.get(), 5);
    assert_eq!(done.logger_released, 1, "the logger goes too, last");
    assert_eq!(done.node.live_services(), 0);
    assert!(done.node.handles().is_empty());
    assert_eq!(
        done.node.timer().pending(),
        1,
        "the far timeout never fired"
    );
    // what was logged just before ABORT still reached the logger
    let driver = done.source_of("LAUNCH driver ").expect("driver launched");
    assert_eq!(done.lines_from(driver).last(), Some(&"about to abort"));
}

//! Criterion benchmarks of the runtime's hot paths: send + dispatch between
//! two native services on a node booted in-process (1 and 2 worker
//! threads), the timer wheel's insert + expire, and handle lookup. They
//! stand for the costs of the reference's `skynet_send`/
//! `skynet_context_message_dispatch`, `skynet_timer.c` and
//! `skynet_handle_grab`. Kept short: the machine has two cores.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skynet_core::command::command;
use skynet_core::env::Env;
use skynet_core::handle::{Handle, HandleRegistry, HasHandle};
use skynet_core::message::{PTYPE_RESPONSE, PTYPE_TEXT};
use skynet_core::start::{build_node, run, StartConfig};
use skynet_core::timer_wheel::TimerWheel;
use skynet_core::{Context, Message, Node, Payload, Service};

// ------------------------------------------------------ send + dispatch

/// Messages the sink acknowledges at once; the source keeps two chunks in
/// flight, so no queue comes near the overload threshold.
const CHUNK: u32 = 256;
/// Messages per measured round (a multiple of `CHUNK`).
const ROUND: u32 = 80 * CHUNK;

/// Drops every log line.
struct NullLogger;

impl Service for NullLogger {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, _ctx: &Arc<Context>, _msg: Message) {}
}

/// Counts messages and acknowledges every `CHUNK` of them.
struct Sink {
    count: u32,
}

impl Service for Sink {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_TEXT {
            return;
        }
        self.count += 1;
        if self.count.is_multiple_of(CHUNK) {
            ctx.send(0, msg.source, PTYPE_RESPONSE as i32, 0, Payload::empty());
        }
    }
}

/// The bootstrap service: sends `run N` rounds to the sink, tells the
/// benchmark when the sink has acknowledged all of them, aborts on `quit`.
struct Source {
    sink: Handle,
    total: u32,
    sent: u32,
    acked: u32,
    ready: Sender<Handle>,
    done: Sender<()>,
}

impl Source {
    fn send_chunk(&mut self, ctx: &Arc<Context>) {
        for _ in 0..CHUNK {
            ctx.send(
                0,
                self.sink,
                PTYPE_TEXT as i32,
                0,
                Payload::from(&b"12345678"[..]),
            );
        }
        self.sent += CHUNK;
    }
}

impl Service for Source {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let sink = command(ctx, "LAUNCH", Some("sink")).ok_or("cannot launch sink")?;
        self.sink = u32::from_str_radix(&sink[1..], 16).map_err(|e| e.to_string())?;
        self.ready
            .send(ctx.handle())
            .map_err(|_| "benchmark gone".to_string())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype == PTYPE_RESPONSE {
            self.acked += CHUNK;
            if self.acked == self.total {
                let _ = self.done.send(());
            } else if self.sent < self.total {
                self.send_chunk(ctx);
            }
            return;
        }
        let text = String::from_utf8_lossy(msg.payload.as_slice()).into_owned();
        if text == "quit" {
            command(ctx, "ABORT", None);
        } else if let Some(n) = text.strip_prefix("run ").and_then(|n| n.parse().ok()) {
            self.total = n;
            self.sent = 0;
            self.acked = 0;
            self.send_chunk(ctx);
            if self.sent < self.total {
                self.send_chunk(ctx);
            }
        }
    }
}

/// A node running a source and a sink on its own thread.
struct BenchNode {
    node: Arc<Node>,
    source: Handle,
    done: Receiver<()>,
    thread: thread::JoinHandle<Result<(), String>>,
}

impl BenchNode {
    fn start(workers: usize) -> BenchNode {
        let env = Env::new();
        env.set("thread", &workers.to_string());
        env.set("harbor", "0");
        env.set("bootstrap", "source");
        env.set("logservice", "nulllog");
        let config = StartConfig::from_env(&env).expect("start config");
        let node = build_node(&config, env);
        let (ready_tx, ready_rx) = channel();
        let (done_tx, done_rx) = channel();
        node.modules().register(
            "nulllog",
            Arc::new(|| Box::new(NullLogger) as Box<dyn Service>),
        );
        node.modules().register(
            "sink",
            Arc::new(|| Box::new(Sink { count: 0 }) as Box<dyn Service>),
        );
        node.modules().register(
            "source",
            Arc::new(move || {
                Box::new(Source {
                    sink: 0,
                    total: 0,
                    sent: 0,
                    acked: 0,
                    ready: ready_tx.clone(),
                    done: done_tx.clone(),
                }) as Box<dyn Service>
            }),
        );
        let runner = node.clone();
        let thread = thread::spawn(move || run(&runner, &config));
        let source = ready_rx.recv().expect("the source service started");
        BenchNode {
            node,
            source,
            done: done_rx,
            thread,
        }
    }

    /// Sends `n` messages from source to sink and waits for the last ack.
    fn round(&self, n: u32) {
        let msg = Message::new(0, 0, PTYPE_TEXT, Payload::from(format!("run {n}")));
        self.node
            .push(self.source, msg)
            .expect("the source is alive");
        self.done.recv().expect("the round finished");
    }

    fn stop(self) {
        let msg = Message::new(0, 0, PTYPE_TEXT, Payload::from("quit"));
        self.node
            .push(self.source, msg)
            .expect("the source is alive");
        self.thread
            .join()
            .expect("node thread")
            .expect("node ended");
    }
}

fn send_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_dispatch");
    group.throughput(Throughput::Elements(ROUND as u64));
    for workers in [1usize, 2] {
        let node = BenchNode::start(workers);
        group.bench_with_input(BenchmarkId::new("workers", workers), &workers, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    node.round(ROUND);
                    spent += start.elapsed();
                }
                spent
            })
        });
        node.stop();
    }
    group.finish();
}

// ------------------------------------------------------------ timer wheel

/// Timeouts inserted and then expired per iteration.
const TIMEOUTS: usize = 10_000;

/// `n` delays in `1..=span` from a fixed linear congruential sequence.
fn delays(n: usize, span: u32) -> Vec<u32> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as u32 % span) + 1
        })
        .collect()
}

fn timer_wheel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_wheel_insert_expire");
    group.throughput(Throughput::Elements(TIMEOUTS as u64));
    // near: every delay within the 256 near slots; spread: up to 2^14
    // ticks, so most timeouts cascade down from level 0 or 1 first.
    for (label, span) in [("near_256", 256u32), ("spread_16384", 16_384)] {
        let delays = delays(TIMEOUTS, span);
        group.bench_function(label, |b| {
            let mut wheel: TimerWheel<u32> = TimerWheel::new();
            let mut expired = Vec::with_capacity(TIMEOUTS);
            b.iter(|| {
                for (i, d) in delays.iter().enumerate() {
                    wheel.add(*d, i as u32);
                }
                expired.clear();
                while expired.len() < TIMEOUTS {
                    wheel.advance(&mut expired);
                }
                black_box(expired.len())
            })
        });
    }
    group.finish();
}

// ------------------------------------------------------------ handles

struct Item(AtomicU32);

impl HasHandle for Item {
    fn handle(&self) -> Handle {
        self.0.load(Ordering::Relaxed)
    }

    fn assign_handle(&self, handle: Handle) {
        self.0.store(handle, Ordering::Relaxed);
    }
}

/// Lookups per iteration.
const LOOKUPS: usize = 1000;

fn handle_grab(c: &mut Criterion) {
    let registry = HandleRegistry::<Item>::new(1);
    let all: Vec<Handle> = (0..2 * LOOKUPS)
        .map(|_| registry.register(Arc::new(Item(AtomicU32::new(0)))))
        .collect();
    // Every other service is retired: lookups of those miss.
    let (live, gone): (Vec<Handle>, Vec<Handle>) = all.chunks(2).map(|p| (p[0], p[1])).unzip();
    for h in &gone {
        registry.retire(*h);
    }
    let mut group = c.benchmark_group("handle_grab");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for (label, handles) in [("hit", &live), ("miss", &gone)] {
        group.bench_function(label, |b| {
            b.iter(|| {
                let mut found = 0usize;
                for h in handles.iter() {
                    if registry.grab(black_box(*h)).is_some() {
                        found += 1;
                    }
                }
                black_box(found)
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = send_dispatch, timer_wheel, handle_grab
}
criterion_main!(benches);

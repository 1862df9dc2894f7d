//! The "1M actors" benchmark with native Rust services: a root spawns 10
//! children, each of them 10 more, down to 1,000,000 leaves (1,111,111
//! services in all). Each leaf replies with its ordinal; sums flow up; the
//! root checks the answer (499999500000), prints the wall time and the
//! process's peak RSS, and aborts the node. Run with
//! `cargo bench --bench actor_tree` (`-- --levels N` for a smaller tree,
//! `-- --no-profile` for `profile = false`).

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use skynet_core::command::command;
use skynet_core::env::Env;
use skynet_core::message::{PTYPE_RESPONSE, PTYPE_TEXT};
use skynet_core::start::{build_node, run, StartConfig};
use skynet_core::{Context, Handle, Message, Payload, Service};

const FANOUT: u64 = 10;

/// The allocator the `skynet` binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drops every log line (a million LAUNCH lines are not the point here).
struct NullLogger;

impl Service for NullLogger {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }
    fn dispatch(&mut self, _ctx: &Arc<Context>, _msg: Message) {}
}

/// One node of the tree. Args: `levels_below first_ordinal parent`.
/// On its start message it launches its children (or, as a leaf, replies
/// its ordinal at once); it adds up the children's answers, replies the sum
/// to its parent, and retires.
struct TreeNode {
    levels: u32,
    first: u64,
    parent: Handle,
    waiting: u64,
    sum: u64,
}

fn u64_payload(v: u64) -> Payload {
    Payload::from_slice(&v.to_le_bytes())
}

fn payload_u64(p: &Payload) -> u64 {
    let mut b = [0u8; 8];
    let s = p.as_slice();
    if s.len() == 8 {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

impl TreeNode {
    fn finish(&mut self, ctx: &Arc<Context>, value: u64) {
        if self.parent != 0 {
            ctx.send(0, self.parent, PTYPE_RESPONSE as i32, 0, u64_payload(value));
            ctx.node().retire(ctx.handle());
        } else {
            RESULT.lock().replace(value);
            command(ctx, "ABORT", None);
        }
    }
}

static RESULT: Mutex<Option<u64>> = Mutex::new(None);

impl Service for TreeNode {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let mut w = args.split_whitespace();
        let mut next = || {
            w.next()
                .and_then(|x| x.parse::<u64>().ok())
                .ok_or("bad args")
        };
        self.levels = next()? as u32;
        self.first = next()?;
        self.parent = next()? as Handle;
        // Start ourselves: the tree grows on the workers, not inside init.
        ctx.send(0, ctx.handle(), PTYPE_TEXT as i32, 0, Payload::empty());
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match msg.ptype {
            PTYPE_TEXT => {
                if self.levels == 0 {
                    let v = self.first;
                    self.finish(ctx, v);
                    return;
                }
                let span = FANOUT.pow(self.levels - 1);
                self.waiting = FANOUT;
                for i in 0..FANOUT {
                    let args = format!(
                        "{} {} {}",
                        self.levels - 1,
                        self.first + i * span,
                        ctx.handle()
                    );
                    if ctx.node().launch("tree", &args).is_none() {
                        eprintln!("launch failed");
                        std::process::exit(1);
                    }
                }
            }
            PTYPE_RESPONSE => {
                self.sum += payload_u64(&msg.payload);
                self.waiting -= 1;
                if self.waiting == 0 {
                    let s = self.sum;
                    self.finish(ctx, s);
                }
            }
            _ => {}
        }
    }
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let levels: u32 = args
        .iter()
        .position(|a| a == "--levels")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // `--no-profile`: the config's `profile = false` (no per-message CPU
    // clock; on by default, as in the reference).
    let profile = !args.iter().any(|a| a == "--no-profile");
    let env = Env::new();
    env.set("profile", if profile { "true" } else { "false" });
    env.set("thread", &threads.to_string());
    env.set("harbor", "0");
    env.set("logservice", "nulllog");
    env.set("bootstrap", &format!("tree {levels} 0 0"));
    let config = StartConfig::from_env(&env).expect("config");
    let node = build_node(&config, env);
    node.modules().register(
        "nulllog",
        Arc::new(|| Box::new(NullLogger) as Box<dyn Service>),
    );
    node.modules().register(
        "tree",
        Arc::new(|| {
            Box::new(TreeNode {
                levels: 0,
                first: 0,
                parent: 0,
                waiting: 0,
                sum: 0,
            }) as Box<dyn Service>
        }),
    );
    let leaves = FANOUT.pow(levels);
    let start = Instant::now();
    run(&node, &config).expect("node run");
    let elapsed = start.elapsed();
    let got = RESULT.lock().take();
    let want = leaves * (leaves - 1) / 2;
    println!(
        "actor_tree levels={levels} leaves={leaves} services={} threads={threads} profile={profile} seconds={:.3} peak_rss_kb={} sum={:?} ok={}",
        (FANOUT.pow(levels + 1) - 1) / (FANOUT - 1),
        elapsed.as_secs_f64(),
        peak_rss_kb(),
        got,
        got == Some(want)
    );
    if got != Some(want) {
        std::process::exit(1);
    }
}

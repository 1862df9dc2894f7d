//! Booting and running a node: the logger, the bootstrap service, and the
//! monitor, timer, socket and worker threads until the last service is
//! gone. Stands for `skynet_start.c` (and the option reading of
//! `skynet_main.c`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::context::dispatch_batch;
use crate::env::Env;
use crate::message::{Message, PTYPE_SYSTEM};
use crate::monitor::WorkerMonitor;
use crate::node::{Node, NodeOptions};
use crate::payload::Payload;

/// Most worker threads a config may ask for.
pub const MAX_THREADS: i64 = 1024;

/// Batch weights of the first 32 workers; later ones use 0.
const WEIGHTS: [i32; 32] = [
    -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
    3, 3,
];

/// The weight of worker `i`.
pub fn worker_weight(i: usize) -> i32 {
    WEIGHTS.get(i).copied().unwrap_or(0)
}

static SIGHUP_SEEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sighup(_sig: libc::c_int) {
    SIGHUP_SEEN.store(true, Ordering::SeqCst);
}

/// What a node runs with, read from the env as the reference's main does.
#[derive(Debug, Clone)]
pub struct StartConfig {
    pub thread: usize,
    pub module_path: String,
    pub harbor: u8,
    pub bootstrap: String,
    pub daemon: Option<String>,
    pub logger: Option<String>,
    pub logservice: String,
    pub profile: bool,
}

impl StartConfig {
    /// Reads the options from `env`, storing defaults for missing keys.
    pub fn from_env(env: &Env) -> Result<StartConfig, String> {
        let thread = env.opt_int("thread", 8);
        if !(1..=MAX_THREADS).contains(&thread) {
            return Err(format!(
                "Invalid thread {thread} , should be in [1,{MAX_THREADS}]"
            ));
        }
        let module_path = env
            .opt_string("cpath", Some("./cservice/?.so"))
            .unwrap_or_default();
        let harbor = env.opt_int("harbor", 1);
        if !(0..=255).contains(&harbor) {
            return Err(format!("Invalid harbor id {harbor} , should be in [0,255]"));
        }
        Ok(StartConfig {
            thread: thread as usize,
            module_path,
            harbor: harbor as u8,
            bootstrap: env
                .opt_string("bootstrap", Some("snlua bootstrap"))
                .unwrap_or_default(),
            daemon: env.opt_string("daemon", None),
            logger: env.opt_string("logger", None),
            logservice: env
                .opt_string("logservice", Some("logger"))
                .unwrap_or_default(),
            profile: env.opt_bool("profile", true),
        })
    }
}

/// Builds the node for `config` (modules still to be registered).
pub fn build_node(config: &StartConfig, env: Env) -> Arc<Node> {
    let node = Node::new(
        NodeOptions {
            harbor: config.harbor,
            profile: config.profile,
            module_path: config.module_path.clone(),
        },
        env,
    );
    node.make_current();
    node
}

/// Boots the logger and the bootstrap service, then runs the threads until
/// the node ends. The error is the text to print before exiting with 1.
pub fn run(node: &Arc<Node>, config: &StartConfig) -> Result<(), String> {
    // SAFETY: installing plain signal handlers before any thread starts;
    // the SIGHUP handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, on_sighup as *const () as libc::sighandler_t);
    }
    let pidfile = match &config.daemon {
        Some(path) => Some((crate::daemon::daemonize(path)?, path.clone())),
        None => None,
    };
    let logger_args = config.logger.clone().unwrap_or_default();
    let Some(logger) = node.launch(&config.logservice, &logger_args) else {
        return Err(format!("Can't launch {} service", config.logservice));
    };
    node.bind_name("logger", logger);
    bootstrap(node, logger, &config.bootstrap)?;
    run_threads(node, config.thread);
    node.set_router(None);
    if let Some((_file, path)) = pidfile {
        crate::daemon::daemon_exit(&path);
    }
    Ok(())
}

fn bootstrap(node: &Arc<Node>, logger: u32, cmdline: &str) -> Result<(), String> {
    let line = cmdline.trim_start();
    let (name, args) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(' ')),
        None => (line, ""),
    };
    if node.launch(name, args).is_some() {
        return Ok(());
    }
    node.log(0, format!("Bootstrap error : {cmdline}\n"));
    dispatch_all(node, logger);
    Err(String::new())
}

/// Dispatches every queued message of `handle` on this thread (used before
/// the workers run, to flush the logger).
fn dispatch_all(node: &Arc<Node>, handle: u32) {
    if let Some(ctx) = node.grab(handle) {
        while let Some(msg) = ctx.queue().pop() {
            ctx.dispatch_message(msg);
        }
    }
    crate::dispatch_clock::forget_anchor();
}

fn run_threads(node: &Arc<Node>, workers: usize) {
    let monitors: Arc<Vec<WorkerMonitor>> =
        Arc::new((0..workers).map(|_| WorkerMonitor::new()).collect());
    node.scheduler().start_workers(workers);
    let mut threads = Vec::new();
    {
        let node = node.clone();
        let monitors = monitors.clone();
        threads.push(spawn("monitor", move || monitor_loop(&node, &monitors)));
    }
    {
        let node = node.clone();
        threads.push(spawn("timer", move || timer_loop(&node)));
    }
    {
        let node = node.clone();
        threads.push(spawn("socket", move || {
            node.socket().run(&mut crate::socket::NodeSink(&node))
        }));
    }
    for i in 0..workers {
        let node = node.clone();
        let monitors = monitors.clone();
        threads.push(spawn(&format!("worker{i}"), move || {
            worker_loop(&node, i, &monitors[i], worker_weight(i))
        }));
    }
    for t in threads {
        let _ = t.join();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap_or_else(|e| {
            eprintln!("Create thread failed: {e}");
            std::process::exit(1)
        })
}

fn worker_loop(node: &Arc<Node>, index: usize, monitor: &WorkerMonitor, weight: i32) {
    node.scheduler().enter_worker(index);
    let mut current = None;
    while !node.is_quitting() {
        current = dispatch_batch(node, monitor, current, weight);
        if current.is_none() {
            crate::dispatch_clock::forget_anchor();
            if node.run_idle_tasks() {
                continue;
            }
            node.scheduler().wait_for_work(|| node.is_quitting());
        }
    }
}

fn timer_loop(node: &Arc<Node>) {
    while !node.is_quitting() {
        node.timer().update(node);
        node.socket().update_time(node.now());
        if node.live_services() == 0 {
            break;
        }
        node.scheduler().wake_if_idle();
        if SIGHUP_SEEN.swap(false, Ordering::SeqCst) {
            let logger = node.logger_handle();
            if logger != 0 {
                let _ = node.push(logger, Message::new(0, 0, PTYPE_SYSTEM, Payload::empty()));
            }
        }
        thread::sleep(Duration::from_micros(2500));
    }
    node.shutdown();
    // Wakes the socket thread, which closes every socket and ends.
    node.socket().exit();
}

fn monitor_loop(node: &Arc<Node>, monitors: &[WorkerMonitor]) {
    loop {
        for m in monitors {
            m.check(node);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if node.sleep_unless_quitting(left) {
                return;
            }
        }
    }
}

//! Integration test of the endless-loop watch (the reference's
//! `skynet_monitor.c` and `STAT endless`): a native service stays inside one
//! dispatch until the monitor thread has reported it; the recording logger
//! sees the warning and tells the service to stop through an `AtomicBool`.
//! The monitor checks every 5 s, so this test takes 5 to 10 s; it asserts
//! no durations.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skynet_core::message::PTYPE_RESPONSE;
use skynet_core::{Context, Handle, Message, Service};

const WARNING_HEAD: &str = "error: A message from [ :";

/// Spins in its dispatch until `stop` is set, then reads `STAT endless`
/// twice and answers with both results.
struct Spinner {
    stop: Arc<AtomicBool>,
}

impl Service for Spinner {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let first = cmd(ctx, "STAT", "endless").unwrap_or_default();
        let second = cmd(ctx, "STAT", "endless").unwrap_or_default();
        reply(ctx, &msg, format!("{first} {second}").into_bytes());
    }
}

#[derive(Debug, Default, Clone)]
struct EndlessReport {
    driver: Handle,
    spinner: Handle,
    answer: String,
}

struct EndlessDriver {
    r: EndlessReport,
    report: Journal<EndlessReport>,
}

impl Service for EndlessDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        self.r.driver = ctx.handle();
        self.r.spinner = launch(ctx, "spinner").ok_or("launch spinner")?;
        send_text(ctx, self.r.spinner, 1, "spin");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_RESPONSE {
            return;
        }
        self.r.answer = text_of(&msg);
        self.report.push(self.r.clone());
        abort(ctx);
    }
}

/// Splits `error: A message from [ :S ] to [ :D ] maybe in an endless loop
/// (version = N)` into its three numbers.
fn parse_warning(text: &str) -> Option<(Handle, Handle, u32)> {
    let rest = text.strip_prefix(WARNING_HEAD)?;
    let (source, rest) = rest.split_once(" ] to [ :")?;
    let (dest, rest) = rest.split_once(" ] maybe in an endless loop (version = ")?;
    let version = rest.strip_suffix(')')?;
    if source.len() != 8 || dest.len() != 8 {
        return None;
    }
    Some((
        u32::from_str_radix(source, 16).ok()?,
        u32::from_str_radix(dest, 16).ok()?,
        version.parse().ok()?,
    ))
}

#[test]
fn a_stuck_dispatch_is_reported_and_marked_endless() {
    let stop = Arc::new(AtomicBool::new(false));
    let report = Journal::new();
    let watch: LogWatch = {
        let stop = stop.clone();
        Arc::new(move |line: &LogLine| {
            if line.text.starts_with(WARNING_HEAD) {
                stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let done = {
        let report = report.clone();
        let stop = stop.clone();
        run_node(
            Setup::new(2, "driver")
                .watch(watch)
                .timeout(Duration::from_secs(120)),
            move |node| {
                register(node, "spinner", move || Spinner { stop: stop.clone() });
                register(node, "driver", move || EndlessDriver {
                    r: EndlessReport::default(),
                    report: report.clone(),
                });
            },
        )
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    assert_eq!(r.answer, "1 0", "STAT endless reads and clears the mark");

    let warnings = done.lines_starting(WARNING_HEAD);
    assert!(!warnings.is_empty());
    for w in warnings {
        assert_eq!(w.source, 0, "the monitor logs as no service");
        let (source, dest, version) =
            parse_warning(&w.text).unwrap_or_else(|| panic!("malformed: {:?}", w.text));
        assert_eq!((source, dest), (r.driver, r.spinner));
        assert!(version > 0);
        assert_eq!(
            w.text,
            format!(
                "error: A message from [ :{source:08x} ] to [ :{dest:08x} ] maybe in an endless loop (version = {version})"
            )
        );
    }
}

//! Integration tests of the text commands (`skynet_command`) on a node
//! booted in-process with native services: TIMEOUT, REG/NAME/QUERY,
//! KILL/EXIT, LAUNCH (and failed inits), STAT, GETENV/SETENV/STARTTIME,
//! MONITOR, and the failures of booting a node. Stands for the behaviour
//! of the reference's `skynet_server.c` command table, `skynet_timer.c` and
//! `skynet_start.c`'s bootstrap.

mod common;

use std::sync::Arc;

use common::*;
use skynet_core::message::{PTYPE_CLIENT, PTYPE_RESPONSE, PTYPE_TEXT};
use skynet_core::{Context, Handle, Message, Payload, Service};

// ------------------------------------------------------------ TIMEOUT

/// One timeout: when it was asked for and when its response came.
#[derive(Debug, Clone)]
struct Timing {
    session: i32,
    ticks: i32,
    asked_at: u64,
    fired_at: Option<u64>,
}

/// Asks for a set of timeouts at once from init (before the timer thread
/// runs), then a chain of one-tick timeouts from dispatches (while it runs).
struct TimerDriver {
    batch: Vec<Timing>,
    /// Indices into `batch` in the order the responses came.
    order: Vec<usize>,
    chain: Vec<Timing>,
    chain_len: usize,
    report: Journal<(Vec<Timing>, Vec<usize>, Vec<Timing>)>,
}

impl TimerDriver {
    fn ask(ctx: &Arc<Context>, ticks: i32) -> Timing {
        let asked_at = ctx.node().now();
        let session: i32 = cmd(ctx, "TIMEOUT", &ticks.to_string())
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        Timing {
            session,
            ticks,
            asked_at,
            fired_at: None,
        }
    }
}

impl Service for TimerDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        for ticks in [5, 1, 3, 0, 3, 10, 1, -1, 2] {
            self.batch.push(Self::ask(ctx, ticks));
        }
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_RESPONSE || msg.source != 0 {
            return;
        }
        let now = ctx.node().now();
        if let Some(i) = self.batch.iter().position(|t| t.session == msg.session) {
            self.batch[i].fired_at = Some(now);
            self.order.push(i);
            if self.order.len() == self.batch.len() {
                let t = Self::ask(ctx, 1);
                self.chain.push(t);
            }
            return;
        }
        if let Some(t) = self.chain.last_mut() {
            if t.session == msg.session {
                t.fired_at = Some(now);
                if self.chain.len() < self.chain_len {
                    let t = Self::ask(ctx, 1 + (self.chain.len() % 3) as i32);
                    self.chain.push(t);
                } else {
                    self.report
                        .push((self.batch.clone(), self.order.clone(), self.chain.clone()));
                    abort(ctx);
                }
            }
        }
    }
}

#[test]
fn timeouts_fire_in_order_and_never_early() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "driver", move || TimerDriver {
                batch: Vec::new(),
                order: Vec::new(),
                chain: Vec::new(),
                chain_len: 30,
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    let (batch, order, chain) = report.snapshot().pop().expect("the driver reported");

    // sessions are fresh and positive
    let mut sessions: Vec<i32> = batch.iter().chain(&chain).map(|t| t.session).collect();
    assert!(sessions.iter().all(|s| *s > 0), "{sessions:?}");
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), batch.len() + chain.len());

    // All asked at the same wheel tick: they fire by delay, ties (and the
    // immediate ones, 0 and -1) in the order they were asked for.
    let mut expected: Vec<usize> = (0..batch.len()).collect();
    expected.sort_by_key(|i| batch[*i].ticks.max(0));
    assert_eq!(order, expected, "{batch:?}");

    let mut last = 0;
    for i in &order {
        let t = &batch[*i];
        let fired = t.fired_at.expect("fired");
        assert!(
            fired >= t.asked_at + t.ticks.max(0) as u64,
            "timeout fired early: {t:?}"
        );
        assert!(fired >= last, "now() went back: {batch:?}");
        last = fired;
    }
    for t in &chain {
        let fired = t.fired_at.expect("fired");
        assert!(t.asked_at >= last, "{chain:?}");
        assert!(
            fired >= t.asked_at + t.ticks as u64,
            "timeout fired early: {t:?}"
        );
        last = fired;
    }
}

// ------------------------------------------------------------ names

#[derive(Debug, Default, Clone)]
struct NameReport {
    me: Handle,
    sink: Handle,
    reg_self: Option<String>,
    reg_name: Option<String>,
    reg_again: Option<String>,
    reg_global: Option<String>,
    query_me: Option<String>,
    name_sink: Option<String>,
    name_alias: Option<String>,
    name_global: Option<String>,
    name_zero: Option<String>,
    name_no_colon: Option<String>,
    query_sink: Option<String>,
    query_unknown: Option<String>,
    query_no_dot: Option<String>,
    send_by_name: i32,
    echoed: Option<(Handle, i32, String)>,
    after_kill_sink: Option<String>,
    after_kill_alias: Option<String>,
    after_kill_me: Option<String>,
    send_after_kill: i32,
}

struct NameDriver {
    r: NameReport,
    report: Journal<NameReport>,
}

impl Service for NameDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let r = &mut self.r;
        r.me = ctx.handle();
        r.sink = launch(ctx, "echo").ok_or("launch echo")?;
        r.reg_self = cmd(ctx, "REG", "");
        r.reg_name = cmd(ctx, "REG", ".drv");
        r.reg_again = cmd(ctx, "REG", ".drv");
        r.reg_global = cmd(ctx, "REG", "global");
        r.query_me = cmd(ctx, "QUERY", ".drv");
        r.name_sink = cmd(ctx, "NAME", &format!(".sinky :{:x}", r.sink));
        r.name_alias = cmd(ctx, "NAME", &format!(".alias :{:X}", r.sink));
        r.name_global = cmd(ctx, "NAME", &format!("glob :{:x}", r.sink));
        r.name_zero = cmd(ctx, "NAME", ".zero :0");
        r.name_no_colon = cmd(ctx, "NAME", &format!(".nocolon {:x}", r.sink));
        r.query_sink = cmd(ctx, "QUERY", ".sinky");
        r.query_unknown = cmd(ctx, "QUERY", ".nobody");
        r.query_no_dot = cmd(ctx, "QUERY", "drv");
        r.send_by_name =
            ctx.send_name(0, ".sinky", PTYPE_TEXT as i32, 5, Payload::from("via name"));
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        let r = &mut self.r;
        r.echoed = Some((msg.source, msg.session, text_of(&msg)));
        cmd(ctx, "KILL", ".sinky");
        cmd(ctx, "KILL", "bogus");
        r.after_kill_sink = cmd(ctx, "QUERY", ".sinky");
        r.after_kill_alias = cmd(ctx, "QUERY", ".alias");
        r.after_kill_me = cmd(ctx, "QUERY", ".drv");
        r.send_after_kill = ctx.send_name(0, ".alias", PTYPE_TEXT as i32, 6, Payload::from("gone"));
        self.report.push(r.clone());
        abort(ctx);
    }
}

#[test]
fn local_names_register_query_and_die_with_their_service() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(1, "driver"), move |node| {
            register(node, "echo", || Echo);
            register(node, "driver", move || NameDriver {
                r: NameReport::default(),
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    let me = format!(":{:x}", r.me);
    let sink = format!(":{:x}", r.sink);
    assert_eq!(r.reg_self.as_deref(), Some(me.as_str()));
    assert_eq!(r.reg_name.as_deref(), Some("drv"));
    assert_eq!(r.reg_again, None, "a name binds once");
    assert_eq!(r.reg_global, None);
    assert_eq!(r.query_me.as_deref(), Some(me.as_str()));
    assert_eq!(r.name_sink.as_deref(), Some("sinky"));
    assert_eq!(r.name_alias.as_deref(), Some("alias"));
    assert_eq!(r.name_global, None);
    assert_eq!(r.name_zero, None);
    assert_eq!(r.name_no_colon, None);
    assert_eq!(r.query_sink.as_deref(), Some(sink.as_str()));
    assert_eq!(r.query_unknown, None);
    assert_eq!(r.query_no_dot, None);
    assert_eq!(r.send_by_name, 5);
    assert_eq!(r.echoed, Some((r.sink, 5, "via name".to_string())));
    assert_eq!(r.after_kill_sink, None, "names go with their service");
    assert_eq!(r.after_kill_alias, None);
    assert_eq!(r.after_kill_me.as_deref(), Some(me.as_str()));
    assert_eq!(r.send_after_kill, -1);

    assert_eq!(
        done.lines_from(r.me),
        vec![
            "error: Can't register global name global in C".to_string(),
            "error: Can't set global name glob in C".to_string(),
            "LAUNCH driver ".to_string(),
            format!("KILL :{:x}", r.sink),
            "error: Can't convert bogus to handle".to_string(),
        ]
    );
}

// ------------------------------------------------------------ KILL / EXIT

/// On `exit`: EXIT; on `suicide`: KILL its own handle. Either way it then
/// still answers `bye` from the dispatch it is ending in.
struct Quitter;

impl Service for Quitter {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match text_of(&msg).as_str() {
            "exit" => {
                cmd(ctx, "EXIT", "");
            }
            "suicide" => {
                cmd(ctx, "KILL", &format!(":{:x}", ctx.handle()));
            }
            _ => return,
        }
        reply(ctx, &msg, b"bye".to_vec());
    }
}

#[derive(Debug, Default, Clone)]
struct KillReport {
    exiter: Handle,
    suicider: Handle,
    killed: Handle,
    send_to_killed: i32,
    /// (source, text, what a send to the source returned afterwards)
    byes: Vec<(Handle, String, i32)>,
}

struct KillDriver {
    r: KillReport,
    report: Journal<KillReport>,
}

impl Service for KillDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let r = &mut self.r;
        r.exiter = launch(ctx, "quitter").ok_or("launch quitter")?;
        r.suicider = launch(ctx, "quitter").ok_or("launch quitter")?;
        r.killed = launch(ctx, "quitter").ok_or("launch quitter")?;
        cmd(ctx, "KILL", &format!(":{:x}", r.killed));
        r.send_to_killed = send_text(ctx, r.killed, 0, "exit");
        send_text(ctx, r.exiter, 1, "exit");
        send_text(ctx, r.suicider, 2, "suicide");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        let again = send_text(ctx, msg.source, 0, "are you there?");
        self.r.byes.push((msg.source, text_of(&msg), again));
        if self.r.byes.len() == 2 {
            self.r.byes.sort();
            self.report.push(self.r.clone());
            abort(ctx);
        }
    }
}

#[test]
fn kill_and_exit_log_and_retire() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "quitter", || Quitter);
            register(node, "driver", move || KillDriver {
                r: KillReport::default(),
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    assert_eq!(r.send_to_killed, -1);
    assert_eq!(
        r.byes,
        vec![
            (r.exiter, "bye".to_string(), -1),
            (r.suicider, "bye".to_string(), -1)
        ]
    );
    let driver = done.source_of("LAUNCH driver ").expect("driver launched");
    assert!(done.logged(driver, &format!("KILL :{:x}", r.killed)));
    assert_eq!(
        done.lines_from(r.exiter),
        vec!["LAUNCH quitter ", "KILL self"]
    );
    // KILL names the victim even when a service kills its own handle
    assert_eq!(
        done.lines_from(r.suicider),
        vec![
            "LAUNCH quitter ".to_string(),
            format!("KILL :{:x}", r.suicider)
        ]
    );
}

// ------------------------------------------------------------ LAUNCH

/// Fails its init with a text that names its arguments.
struct Refuser;

impl Service for Refuser {
    fn init(&mut self, _ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        Err(format!("init refused: {args}"))
    }

    fn dispatch(&mut self, _ctx: &Arc<Context>, _msg: Message) {}
}

/// Panics in its init.
struct InitPanic;

impl Service for InitPanic {
    fn init(&mut self, _ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        panic!("init blew up")
    }

    fn dispatch(&mut self, _ctx: &Arc<Context>, _msg: Message) {}
}

#[derive(Debug, Default, Clone)]
struct LaunchReport {
    with_args: Option<String>,
    with_tab_and_newline: Option<String>,
    bare: Option<String>,
    unknown: Option<String>,
    refused: Option<String>,
    panicked: Option<String>,
    reply: Option<(Handle, String)>,
}

struct LaunchDriver {
    r: LaunchReport,
    report: Journal<LaunchReport>,
}

impl Service for LaunchDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let r = &mut self.r;
        r.with_args = cmd(ctx, "LAUNCH", "echo a b  c");
        r.with_tab_and_newline = cmd(ctx, "LAUNCH", "echo\tx y\nnot an argument");
        r.bare = cmd(ctx, "LAUNCH", "echo");
        r.unknown = cmd(ctx, "LAUNCH", "nosuchmodule 1 2");
        r.refused = cmd(ctx, "LAUNCH", "refuser why not");
        r.panicked = cmd(ctx, "LAUNCH", "initpanic");
        let echo = r
            .with_args
            .as_deref()
            .and_then(parse_handle)
            .ok_or("no echo")?;
        send_text(ctx, echo, 3, "hello");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        self.r.reply = Some((msg.source, text_of(&msg)));
        self.report.push(self.r.clone());
        abort(ctx);
    }
}

fn is_launch_result(s: &str) -> bool {
    s.len() == 9
        && s.starts_with(':')
        && s[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[test]
fn launch_answers_the_handle_and_logs_success_and_failure() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(1, "driver"), move |node| {
            register(node, "echo", || Echo);
            register(node, "refuser", || Refuser);
            register(node, "initpanic", || InitPanic);
            register(node, "driver", move || LaunchDriver {
                r: LaunchReport::default(),
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    for s in [&r.with_args, &r.with_tab_and_newline, &r.bare] {
        let s = s.as_deref().expect("launched");
        assert!(is_launch_result(s), "not :%08X: {s:?}");
    }
    assert_eq!(r.unknown, None);
    assert_eq!(r.refused, None);
    assert_eq!(r.panicked, None);

    let h = |s: &Option<String>| parse_handle(s.as_deref().unwrap()).unwrap();
    let (a, b, c) = (h(&r.with_args), h(&r.with_tab_and_newline), h(&r.bare));
    assert_eq!(done.lines_from(a), vec!["LAUNCH echo a b  c"]);
    assert_eq!(done.lines_from(b), vec!["LAUNCH echo x y"]);
    assert_eq!(done.lines_from(c), vec!["LAUNCH echo "]);
    assert_eq!(r.reply, Some((a, "hello".to_string())));

    // A failed init logs its own text, then the FAILED line, as the
    // service that failed; its handle is gone.
    let refuser = done
        .source_of("error: launch refuser FAILED")
        .expect("refuser failure logged");
    assert_eq!(
        done.lines_from(refuser),
        vec!["init refused: why not", "error: launch refuser FAILED"]
    );
    let panicker = done
        .source_of("error: launch initpanic FAILED")
        .expect("initpanic failure logged");
    assert_eq!(
        done.lines_from(panicker),
        vec![
            "init panicked: init blew up",
            "error: launch initpanic FAILED"
        ]
    );
    assert!(done.node.grab(refuser).is_none());
    assert!(done.node.grab(panicker).is_none());
    assert!(done.lines_starting("error: launch nosuchmodule").is_empty());
    assert!(done.lines_starting("LAUNCH nosuchmodule").is_empty());
}

// ------------------------------------------------------------ STAT

#[derive(Debug, Default, Clone)]
struct StatReport {
    first_message: String,
    mqlen_with_five: String,
    last_message: String,
    last_mqlen: String,
    cpu: Vec<String>,
    time: String,
    unknown: String,
    endless: String,
}

/// Kicked by a TIMEOUT 0, sends itself five messages and reads its stats.
struct StatDriver {
    r: StatReport,
    seen: u32,
    sink: u64,
    report: Journal<StatReport>,
}

impl StatDriver {
    fn stat(ctx: &Arc<Context>, what: &str) -> String {
        cmd(ctx, "STAT", what).unwrap_or_else(|| "<none>".to_string())
    }
}

impl Service for StatDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        cmd(ctx, "TIMEOUT", "0");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, _msg: Message) {
        self.seen += 1;
        // some work for the CPU counter
        for i in 0..20_000u64 {
            self.sink = self.sink.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(self.sink);
        self.r.cpu.push(Self::stat(ctx, "cpu"));
        if self.seen == 1 {
            self.r.first_message = Self::stat(ctx, "message");
            for _ in 0..5 {
                send_text(ctx, ctx.handle(), 0, "again");
            }
            self.r.mqlen_with_five = Self::stat(ctx, "mqlen");
            self.r.time = Self::stat(ctx, "time");
            self.r.unknown = Self::stat(ctx, "nonsense");
            self.r.endless = Self::stat(ctx, "endless");
        } else if self.seen == 6 {
            self.r.last_message = Self::stat(ctx, "message");
            self.r.last_mqlen = Self::stat(ctx, "mqlen");
            self.report.push(self.r.clone());
            abort(ctx);
        }
    }
}

fn stat_run(profile: bool) -> StatReport {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(1, "driver").profile(profile), move |node| {
            register(node, "driver", move || StatDriver {
                r: StatReport::default(),
                seen: 0,
                sink: 1,
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    report.snapshot().pop().expect("the driver reported")
}

/// `%lf`: digits, a point, six digits.
fn is_c_float(s: &str) -> bool {
    match s.split_once('.') {
        Some((i, f)) => {
            !i.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && f.len() == 6
                && f.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[test]
fn stat_reports_queue_length_message_count_and_cpu() {
    let r = stat_run(true);
    assert_eq!(r.first_message, "1", "the message being handled counts");
    assert_eq!(r.mqlen_with_five, "5");
    assert_eq!(r.last_message, "6");
    assert_eq!(r.last_mqlen, "0");
    assert_eq!(r.unknown, "");
    assert_eq!(r.endless, "0");
    assert!(is_c_float(&r.time), "{:?}", r.time);
    assert_eq!(r.cpu.len(), 6);
    let cpu: Vec<f64> = r
        .cpu
        .iter()
        .map(|s| {
            assert!(is_c_float(s), "{s:?}");
            s.parse().unwrap()
        })
        .collect();
    assert!(
        cpu.windows(2).all(|w| w[0] <= w[1]),
        "cpu went back: {cpu:?}"
    );
}

#[test]
fn stat_cpu_and_time_stay_zero_without_profiling() {
    let r = stat_run(false);
    assert_eq!(r.first_message, "1");
    assert_eq!(r.last_message, "6");
    assert_eq!(r.time, "0");
    assert!(r.cpu.iter().all(|c| c == "0.000000"), "{:?}", r.cpu);
}

// ------------------------------------------------------------ env

#[derive(Debug, Default, Clone)]
struct EnvReport {
    preset: Option<String>,
    missing: Option<String>,
    thread: Option<String>,
    set_first: Option<String>,
    set_twice: Option<String>,
    no_value: Option<String>,
    starttime: Option<String>,
    real_starttime: u32,
}

struct EnvDriver {
    report: Journal<EnvReport>,
}

impl Service for EnvDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let mut r = EnvReport {
            preset: cmd(ctx, "GETENV", "preset"),
            missing: cmd(ctx, "GETENV", "missing"),
            thread: cmd(ctx, "GETENV", "thread"),
            ..EnvReport::default()
        };
        cmd(ctx, "SETENV", "greeting hello world");
        r.set_first = cmd(ctx, "GETENV", "greeting");
        cmd(ctx, "SETENV", "greeting other");
        r.set_twice = cmd(ctx, "GETENV", "greeting");
        cmd(ctx, "SETENV", "novalue");
        r.no_value = cmd(ctx, "GETENV", "novalue");
        r.starttime = cmd(ctx, "STARTTIME", "");
        r.real_starttime = ctx.node().timer().starttime();
        self.report.push(r);
        send_text(ctx, ctx.handle(), 0, "stop");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, _msg: Message) {
        abort(ctx);
    }
}

#[test]
fn getenv_setenv_and_starttime() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(
            Setup::new(1, "driver").env("preset", "from config"),
            move |node| {
                register(node, "driver", move || EnvDriver {
                    report: report.clone(),
                });
            },
        )
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    assert_eq!(r.preset.as_deref(), Some("from config"));
    assert_eq!(r.missing, None);
    assert_eq!(r.thread.as_deref(), Some("1"));
    assert_eq!(r.set_first.as_deref(), Some("hello world"));
    assert_eq!(r.set_twice.as_deref(), Some("hello world"), "set once");
    assert_eq!(r.no_value, None);
    assert_eq!(r.starttime, Some(r.real_starttime.to_string()));
    assert_eq!(
        done.node.env().get("greeting").as_deref(),
        Some("hello world")
    );
}

// ------------------------------------------------------------ MONITOR

/// Forwards each exit notice (PTYPE_CLIENT) to the driver as `dead :h`.
struct Watcher {
    driver: Handle,
}

impl Service for Watcher {
    fn init(&mut self, _ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        self.driver = parse_handle(args).ok_or("watcher needs the driver's handle")?;
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        let note = format!(
            "ptype {} session {} len {} dead :{:x}",
            msg.ptype,
            msg.session,
            msg.payload.len(),
            msg.source
        );
        send_text(ctx, self.driver, 0, &note);
    }
}

#[derive(Debug, Default, Clone)]
struct MonitorReport {
    before: Option<String>,
    set: Option<String>,
    after: Option<String>,
    watcher: Handle,
    victims: Vec<Handle>,
    notes: Vec<String>,
}

struct MonitorDriver {
    r: MonitorReport,
    report: Journal<MonitorReport>,
}

impl Service for MonitorDriver {
    fn init(&mut self, ctx: &Arc<Context>, _args: &str) -> Result<(), String> {
        let r = &mut self.r;
        r.watcher = launch(ctx, &format!("watcher :{:x}", ctx.handle())).ok_or("watcher")?;
        r.before = cmd(ctx, "MONITOR", "");
        r.set = cmd(ctx, "MONITOR", &format!(":{:x}", r.watcher));
        r.after = cmd(ctx, "MONITOR", "");
        let a = launch(ctx, "quitter").ok_or("quitter")?;
        let b = launch(ctx, "quitter").ok_or("quitter")?;
        r.victims = vec![a, b];
        cmd(ctx, "KILL", &format!(":{a:x}"));
        send_text(ctx, b, 0, "exit");
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if msg.ptype != PTYPE_TEXT || msg.source != self.r.watcher {
            return;
        }
        self.r.notes.push(text_of(&msg));
        if self.r.notes.len() == 2 {
            self.report.push(self.r.clone());
            abort(ctx);
        }
    }
}

#[test]
fn monitor_hears_of_every_exit() {
    let report = Journal::new();
    let done = {
        let report = report.clone();
        run_node(Setup::new(2, "driver"), move |node| {
            register(node, "watcher", || Watcher { driver: 0 });
            register(node, "quitter", || Quitter);
            register(node, "driver", move || MonitorDriver {
                r: MonitorReport::default(),
                report: report.clone(),
            });
        })
    };
    done.expect_ok();
    let r = report.snapshot().pop().expect("the driver reported");
    assert_eq!(r.before, None);
    assert_eq!(r.set, None);
    assert_eq!(r.after, Some(format!(":{:x}", r.watcher)));
    assert_eq!(
        r.notes,
        r.victims
            .iter()
            .map(|v| format!("ptype {PTYPE_CLIENT} session 0 len 0 dead :{v:x}"))
            .collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------ boot failures

#[test]
fn a_missing_bootstrap_module_fails_the_run() {
    let done = run_node(Setup::new(2, "nosuchmodule a  b"), |_| {});
    assert_eq!(done.result, Err(String::new()));
    assert_eq!(
        done.logs,
        vec![LogLine {
            source: 0,
            text: "Bootstrap error : nosuchmodule a  b\n".to_string()
        }]
    );
}

#[test]
fn a_bootstrap_whose_init_fails_fails_the_run() {
    let done = run_node(Setup::new(2, "refuser  x y"), |node| {
        register(node, "refuser", || Refuser);
    });
    assert_eq!(done.result, Err(String::new()));
    let texts: Vec<&str> = done.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "init refused: x y",
            "error: launch refuser FAILED",
            "Bootstrap error : refuser  x y\n"
        ]
    );
    assert_eq!(done.logs[2].source, 0);
}

#[test]
fn a_missing_log_service_fails_the_run() {
    let done = run_node(Setup::new(1, "echo").logservice("nolog"), |node| {
        register(node, "echo", || Echo);
    });
    assert_eq!(done.result, Err("Can't launch nolog service".to_string()));
    assert!(done.logs.is_empty());
}

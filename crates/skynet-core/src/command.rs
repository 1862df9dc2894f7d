//! The text command table (`skynet_command`): TIMEOUT, REG, QUERY, NAME,
//! EXIT, KILL, LAUNCH, GETENV, SETENV, STARTTIME, ABORT, MONITOR, STAT,
//! LOGON, LOGOFF, SIGNAL. Stands for the command half of `skynet_server.c`.
//!
//! Parameters and results are the reference's strings, so the Lua library
//! and C services parse them unchanged: handles come back as `:%x`, except
//! LAUNCH which answers `:%08X`.

use std::sync::Arc;

use crate::context::{parse_hex_handle, Context};
use crate::env::parse_c_long;
use crate::handle::Handle;

/// Runs command `cmd` with `param` for `ctx`; `None` is the reference's NULL.
pub fn command(ctx: &Arc<Context>, cmd: &str, param: Option<&str>) -> Option<String> {
    let p = param.unwrap_or("");
    match cmd {
        "TIMEOUT" => Some(cmd_timeout(ctx, p)),
        "REG" => cmd_reg(ctx, p),
        "QUERY" => cmd_query(ctx, p),
        "NAME" => cmd_name(ctx, p),
        "EXIT" => {
            ctx.node().kill(ctx.handle(), ctx.handle());
            None
        }
        "KILL" => {
            let h = to_handle(ctx, p);
            if h != 0 {
                ctx.node().kill_handle(ctx.handle(), h);
            }
            None
        }
        "LAUNCH" => cmd_launch(ctx, p),
        "GETENV" => ctx.node().env().get(p),
        "SETENV" => {
            if let Some((key, value)) = p.split_once(' ') {
                ctx.node().env().set(key, value);
            }
            None
        }
        "STARTTIME" => Some(ctx.node().timer().starttime().to_string()),
        "ABORT" => {
            ctx.node().abort();
            None
        }
        "MONITOR" => cmd_monitor(ctx, p),
        "STAT" => Some(cmd_stat(ctx, p)),
        "LOGON" => {
            cmd_logon(ctx, p);
            None
        }
        "LOGOFF" => {
            cmd_logoff(ctx, p);
            None
        }
        "SIGNAL" => {
            cmd_signal(ctx, p);
            None
        }
        _ => None,
    }
}

fn cmd_timeout(ctx: &Arc<Context>, p: &str) -> String {
    let ticks = parse_c_long(p).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    let session = ctx.new_session();
    ctx.node().timeout(ctx.handle(), ticks, session);
    session.to_string()
}

fn cmd_reg(ctx: &Arc<Context>, p: &str) -> Option<String> {
    if p.is_empty() {
        Some(format!(":{:x}", ctx.handle()))
    } else if let Some(name) = p.strip_prefix('.') {
        bind(ctx, name, ctx.handle())
    } else {
        ctx.log(format!("error: Can't register global name {p} in C"));
        None
    }
}

/// Binds a local name; answers the name like `skynet_handle_namehandle`.
fn bind(ctx: &Arc<Context>, name: &str, handle: Handle) -> Option<String> {
    if ctx.node().bind_name(name, handle) {
        Some(name.to_string())
    } else {
        None
    }
}

fn cmd_query(ctx: &Arc<Context>, p: &str) -> Option<String> {
    let name = p.strip_prefix('.')?;
    ctx.node().find_name(name).map(|h| format!(":{h:x}"))
}

fn cmd_name(ctx: &Arc<Context>, p: &str) -> Option<String> {
    let mut words = p.split_whitespace();
    let name = words.next()?;
    let handle = words.next()?;
    let hex = handle.strip_prefix(':')?;
    let h = parse_hex_handle(hex);
    if h == 0 {
        return None;
    }
    if let Some(local) = name.strip_prefix('.') {
        bind(ctx, local, h)
    } else {
        ctx.log(format!("error: Can't set global name {name} in C"));
        None
    }
}

/// `:hex` or `.name` to a handle; logs and gives 0 for anything else.
fn to_handle(ctx: &Arc<Context>, p: &str) -> Handle {
    if let Some(hex) = p.strip_prefix(':') {
        parse_hex_handle(hex)
    } else if let Some(name) = p.strip_prefix('.') {
        ctx.node().find_name(name).unwrap_or(0)
    } else {
        ctx.log(format!("error: Can't convert {p} to handle"));
        0
    }
}

fn cmd_launch(ctx: &Arc<Context>, p: &str) -> Option<String> {
    // Like the reference's strsep: a leading separator gives an empty
    // module name (and a failed launch).
    let (module, args) = match p.find([' ', '\t', '\r', '\n']) {
        Some(i) => {
            let rest = &p[i + 1..];
            let args = match rest.find(['\r', '\n']) {
                Some(j) => &rest[..j],
                None => rest,
            };
            (&p[..i], args)
        }
        None => (p, ""),
    };
    let handle = ctx.node().launch(module, args)?;
    Some(format!(":{handle:08X}"))
}

fn cmd_monitor(ctx: &Arc<Context>, p: &str) -> Option<String> {
    if p.is_empty() {
        let m = ctx.node().monitor_exit();
        if m != 0 {
            Some(format!(":{m:x}"))
        } else {
            None
        }
    } else {
        let h = to_handle(ctx, p);
        ctx.node().set_monitor_exit(h);
        None
    }
}

fn cmd_stat(ctx: &Arc<Context>, p: &str) -> String {
    match p {
        "mqlen" => ctx.queue().len().to_string(),
        "endless" => {
            if ctx.take_endless() {
                "1".to_string()
            } else {
                "0".to_string()
            }
        }
        "cpu" => format!("{:.6}", ctx.cpu_cost_ns() as f64 / 1e9),
        "time" => match ctx.current_dispatch_ns() {
            Some(ns) => format!("{:.6}", ns as f64 / 1e9),
            None => "0".to_string(),
        },
        "message" => ctx.message_count().to_string(),
        _ => String::new(),
    }
}

fn cmd_logon(ctx: &Arc<Context>, p: &str) {
    let h = to_handle(ctx, p);
    if h == 0 {
        return;
    }
    let Some(target) = ctx.node().grab(h) else {
        return;
    };
    let Some(logpath) = ctx.node().env().get("logpath") else {
        return;
    };
    let path = format!("{logpath}/{h:08x}.log");
    let now = ctx.node().now();
    let secs = ctx.node().timer().starttime() as i64 + (now / 100) as i64;
    let header = format!("open time: {} {}\n", now as u32, ctime(secs));
    match target.log_on(&path, &header) {
        Ok(true) => ctx.log(format!("Open log file {path}")),
        Ok(false) => {}
        Err(_) => ctx.log(format!("Open log file {path} fail")),
    }
}

fn cmd_logoff(ctx: &Arc<Context>, p: &str) {
    let h = to_handle(ctx, p);
    if h == 0 {
        return;
    }
    let Some(target) = ctx.node().grab(h) else {
        return;
    };
    let footer = format!("close time: {}\n", ctx.node().now() as u32);
    if target.log_off(&footer) {
        ctx.log(format!("Close log file :{h:08x}"));
    }
}

fn cmd_signal(ctx: &Arc<Context>, p: &str) {
    let h = to_handle(ctx, p);
    if h == 0 {
        return;
    }
    let Some(target) = ctx.node().grab(h) else {
        return;
    };
    let sig = match p.find(' ') {
        Some(i) => parse_c_int_auto(&p[i..]),
        None => 0,
    };
    target.signal(sig);
}

/// `strtol(s, NULL, 0)`: decimal, `0x` hex or leading-0 octal.
fn parse_c_int_auto(s: &str) -> i32 {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let v = i64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    let v = if neg { -v } else { v };
    v as i32
}

/// C's `ctime` in the local zone: `Www Mmm dd hh:mm:ss yyyy`.
fn ctime(secs: i64) -> String {
    let t = secs as libc::time_t;
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: ctime_r writes at most 26 bytes into our 64-byte buffer.
    let p = unsafe { libc::ctime_r(&t, buf.as_mut_ptr()) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: ctime_r wrote a NUL-terminated string into buf.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    s.to_string_lossy().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_numbers_parse_like_strtol_base_0() {
        assert_eq!(parse_c_int_auto(" 10"), 10);
        assert_eq!(parse_c_int_auto(" 0x10"), 16);
        assert_eq!(parse_c_int_auto(" 010"), 8);
        assert_eq!(parse_c_int_auto(" -3"), -3);
        assert_eq!(parse_c_int_auto(" zz"), 0);
    }

    #[test]
    fn ctime_has_the_c_shape() {
        let s = ctime(0);
        assert_eq!(s.split_whitespace().count(), 5, "{s}");
    }
}

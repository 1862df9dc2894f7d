//! The `skynet.core` Lua module: the bridge from Lua services to their
//! context (send, redirect, command, callback, error, ...). Stands for the
//! reference's `lualib-src/lua-skynet.c`.
//!
//! Written against the raw Lua C API (mlua's `ffi`) rather than mlua's safe
//! wrappers: these are the hottest calls of every Lua service, and their
//! errors must be plain Lua strings exactly as the reference raises them.
//! Every function here is a `lua_CFunction`; the context comes from the
//! first upvalue (a light userdata), as in the reference.
//!
//! Raising a Lua error unwinds with `longjmp`, so each function first reads
//! its arguments (which may raise), keeps no value with a destructor alive
//! across a raising call, and raises its own errors only from frames that
//! own nothing (see [`raise`]).

use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use mlua::ffi::{self, lua_State};
use skynet_core::command::command;
use skynet_core::message::{PTYPE_TAG_ALLOCSESSION, PTYPE_TAG_DONTCOPY};
use skynet_core::{Context, Payload};

use crate::snlua::{SnluaShared, CALLBACK_KEY};

/// The context behind upvalue 1.
///
/// # Safety
/// Only for functions registered by [`luaopen_skynet_core`], whose first
/// upvalue is the address of a live [`SnluaShared`].
unsafe fn shared<'a>(l: *mut lua_State) -> &'a SnluaShared {
    &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const SnluaShared)
}

/// Raises `msg` as a Lua error like `luaL_error`: prefixed with the
/// position of the Lua code that called the function. The message is
/// copied onto the Lua stack and freed before the non-returning
/// `lua_error`.
unsafe fn raise(l: *mut lua_State, msg: String) -> c_int {
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
    drop(msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

unsafe fn push_str(l: *mut lua_State, s: &str) {
    ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
}

unsafe fn to_str<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

unsafe fn check_str<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, idx, &mut len);
    std::slice::from_raw_parts(p as *const u8, len)
}

unsafe fn type_name(l: *mut lua_State, idx: c_int) -> String {
    let t = ffi::lua_type(l, idx);
    CStr::from_ptr(ffi::lua_typename(l, t))
        .to_string_lossy()
        .into_owned()
}

/// Opens `skynet.core`. The registry must hold `skynet_context` (set by
/// snlua) as in the reference.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_core(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 17);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    let shared = ffi::lua_touserdata(l, -1);
    ffi::lua_pop(l, 1);
    if shared.is_null() {
        return raise(l, "Init skynet context first".to_string());
    }
    let with_context: [(&CStr, ffi::lua_CFunction); 10] = [
        (c"send", lsend),
        (c"genid", lgenid),
        (c"redirect", lredirect),
        (c"command", lcommand),
        (c"intcommand", lintcommand),
        (c"addresscommand", laddresscommand),
        (c"error", lerror),
        (c"harbor", lharbor),
        (c"callback", lcallback),
        (c"trace", ltrace),
    ];
    for (name, f) in with_context {
        ffi::lua_pushlightuserdata(l, shared);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    let plain: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"tostring", ltostring),
        (c"trash", ltrash),
        (c"now", lnow),
        (c"hpc", lhpc),
    ];
    for (name, f) in plain {
        ffi::lua_pushcfunction(l, f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    for (name, f) in crate::seri::LUA_FUNCTIONS {
        ffi::lua_pushcfunction(l, f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    1
}

fn context_of(s: &SnluaShared) -> &Context {
    s.context()
}

/// What a send carries, read from the Lua stack.
enum Body {
    Copy(*const u8, usize),
    Owned(*mut u8, usize),
}

unsafe fn send_message(l: *mut lua_State, source: u32, idx_type: c_int) -> c_int {
    let sh = shared(l);
    let dest = ffi::lua_tointegerx(l, 1, ptr::null_mut()) as u32;
    let mut dest_name: Option<&[u8]> = None;
    if dest == 0 {
        if ffi::lua_type(l, 1) == ffi::LUA_TNUMBER {
            return raise(l, "Invalid service address 0".to_string());
        }
        match to_str(l, 1) {
            Some(s) => dest_name = Some(s),
            None => {
                let msg = {
                    let t = type_name(l, 1);
                    format!("dest address type ({t}) must be a string or number.")
                };
                return raise(l, msg);
            }
        }
    }
    let mut ptype = ffi::luaL_checkinteger(l, idx_type) as i32;
    let mut session = 0i32;
    if ffi::lua_isnil(l, idx_type + 1) != 0 {
        ptype |= PTYPE_TAG_ALLOCSESSION;
    } else {
        session = ffi::luaL_checkinteger(l, idx_type + 1) as i32;
    }
    let body = match ffi::lua_type(l, idx_type + 2) {
        ffi::LUA_TSTRING => {
            let s = to_str(l, idx_type + 2).unwrap_or(&[]);
            if s.is_empty() {
                Body::Copy(ptr::null(), 0)
            } else {
                Body::Copy(s.as_ptr(), s.len())
            }
        }
        ffi::LUA_TLIGHTUSERDATA => {
            let p = ffi::lua_touserdata(l, idx_type + 2) as *mut u8;
            let size = ffi::luaL_checkinteger(l, idx_type + 3);
            ptype |= PTYPE_TAG_DONTCOPY;
            Body::Owned(p, size.max(0) as usize)
        }
        _ => {
            let msg = {
                let t = type_name(l, idx_type + 2);
                format!("invalid param {t}")
            };
            return raise(l, msg);
        }
    };
    let payload = match body {
        Body::Copy(p, n) if !p.is_null() => Payload::from_slice(std::slice::from_raw_parts(p, n)),
        Body::Copy(_, _) => Payload::empty(),
        // SAFETY: a light userdata message is a C-allocated buffer whose
        // ownership the Lua code hands over (the reference's DONTCOPY).
        Body::Owned(p, n) => Payload::from_raw(p, n),
    };
    let ctx = context_of(sh);
    let result = match dest_name {
        Some(name) => {
            let name = String::from_utf8_lossy(name);
            ctx.send_name(source, &name, ptype, session, payload)
        }
        None => ctx.send(source, dest, ptype, session, payload),
    };
    if result < 0 {
        if result == -2 {
            ffi::lua_pushboolean(l, 0);
            return 1;
        }
        return 0;
    }
    ffi::lua_pushinteger(l, result as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lsend(l: *mut lua_State) -> c_int {
    send_message(l, 0, 2)
}

unsafe extern "C-unwind" fn lredirect(l: *mut lua_State) -> c_int {
    let source = ffi::luaL_checkinteger(l, 2) as u32;
    send_message(l, source, 3)
}

unsafe extern "C-unwind" fn lgenid(l: *mut lua_State) -> c_int {
    let session = context_of(shared(l)).new_session();
    ffi::lua_pushinteger(l, session as ffi::lua_Integer);
    1
}

/// Runs a command with the Lua arguments (cmd, optional param).
unsafe fn run_command(l: *mut lua_State, int_param: bool) -> Option<String> {
    let sh = shared(l);
    let cmd = check_str(l, 1);
    let mut param_buf: Option<String> = None;
    let mut param: Option<&[u8]> = None;
    if ffi::lua_gettop(l) == 2 {
        if int_param && ffi::lua_isnumber(l, 2) != 0 {
            let n = ffi::luaL_checkinteger(l, 2) as i32;
            param_buf = Some(n.to_string());
        } else {
            param = Some(check_str(l, 2));
        }
    }
    let cmd = String::from_utf8_lossy(cmd);
    let param_owned;
    let param_str = match (&param_buf, param) {
        (Some(s), _) => Some(s.as_str()),
        (None, Some(p)) => {
            param_owned = String::from_utf8_lossy(p);
            Some(&*param_owned)
        }
        (None, None) => None,
    };
    let ctx = context_of(sh);
    match ctx.node().grab(ctx.handle()) {
        Some(arc) => command(&arc, &cmd, param_str),
        None => command_retired(ctx, &cmd, param_str),
    }
}

/// A retired service still running its last dispatch keeps a few commands
/// (the rest need the registry entry that is gone).
fn command_retired(ctx: &Context, cmd: &str, param: Option<&str>) -> Option<String> {
    match cmd {
        "REG" if param.unwrap_or("").is_empty() => Some(format!(":{:x}", ctx.handle())),
        "GETENV" => ctx.node().env().get(param.unwrap_or("")),
        "STARTTIME" => Some(ctx.node().timer().starttime().to_string()),
        _ => None,
    }
}

unsafe extern "C-unwind" fn lcommand(l: *mut lua_State) -> c_int {
    match run_command(l, false) {
        Some(r) => {
            push_str(l, &r);
            1
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn laddresscommand(l: *mut lua_State) -> c_int {
    let Some(r) = run_command(l, false) else {
        return 0;
    };
    let Some(hex) = r.strip_prefix(':') else {
        return 0;
    };
    let mut addr: u32 = 0;
    for c in hex.bytes() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return 0,
        };
        addr = addr.wrapping_mul(16).wrapping_add(d as u32);
    }
    ffi::lua_pushinteger(l, addr as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lintcommand(l: *mut lua_State) -> c_int {
    let Some(r) = run_command(l, true) else {
        return 0;
    };
    if let Some(n) = parse_c_integer(&r) {
        ffi::lua_pushinteger(l, n);
        return 1;
    }
    let number = if r.is_empty() {
        None
    } else {
        r.trim().parse::<f64>().ok()
    };
    match number {
        Some(f) => {
            ffi::lua_pushnumber(l, f);
            1
        }
        None => {
            let msg = format!("Invalid result {r}");
            drop(r);
            raise(l, msg)
        }
    }
}

/// `strtoll(s, &end, 0)` that must consume the whole string (an empty
/// string is consumed by reading nothing: 0, as in the reference).
fn parse_c_integer(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let (neg, t) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if t.is_empty() {
        return None;
    }
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

unsafe extern "C-unwind" fn lerror(l: *mut lua_State) -> c_int {
    let sh = shared(l);
    let n = ffi::lua_gettop(l);
    if n <= 1 {
        ffi::lua_settop(l, 1);
        let mut len = 0usize;
        let p = ffi::luaL_tolstring(l, 1, &mut len);
        let text = String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len));
        context_of(sh).log(text.into_owned());
        return 0;
    }
    // Convert every argument first (may raise), then join.
    for i in 1..=n {
        ffi::luaL_tolstring(l, i, ptr::null_mut());
    }
    let mut text = String::new();
    for i in 1..=n {
        let s = to_str(l, n + i).unwrap_or(&[]);
        text.push_str(&String::from_utf8_lossy(s));
        if i < n {
            text.push(' ');
        }
    }
    context_of(sh).log(text);
    0
}

unsafe extern "C-unwind" fn lharbor(l: *mut lua_State) -> c_int {
    let sh = shared(l);
    let handle = ffi::luaL_checkinteger(l, 1) as u32;
    let ctx = context_of(sh);
    let harbor = handle >> 24;
    let remote = skynet_core::harbor::is_remote(handle, ctx.node().harbor_bits());
    ffi::lua_pushinteger(l, harbor as ffi::lua_Integer);
    ffi::lua_pushboolean(l, remote as c_int);
    2
}

/// `callback(f, forward)`: `f(type, msg, sz, session, source)` gets every
/// message from now on; in forward mode the message is not freed after.
unsafe extern "C-unwind" fn lcallback(l: *mut lua_State) -> c_int {
    let sh = shared(l);
    let forward = ffi::lua_toboolean(l, 2) != 0;
    ffi::luaL_checktype(l, 1, ffi::LUA_TFUNCTION);
    ffi::lua_settop(l, 1);
    // A dedicated thread holds [traceback, f] at stack slots 1 and 2.
    let thread = ffi::lua_newthread(l);
    ffi::lua_pushcfunction(thread, traceback);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_xmove(l, thread, 1);
    // Anchor the thread (the previous one, if any, is released).
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, CALLBACK_KEY.as_ptr());
    sh.set_callback(thread, forward);
    0
}

/// The message handler of callbacks and the loader: the message with a
/// traceback, as `luaL_traceback(L, L, msg, 1)`.
///
/// # Safety
/// Called by Lua as a message handler.
pub unsafe extern "C-unwind" fn traceback(l: *mut lua_State) -> c_int {
    let msg = ffi::lua_tolstring(l, 1, ptr::null_mut());
    if !msg.is_null() {
        ffi::luaL_traceback(l, l, msg, 1);
    } else if ffi::lua_isnoneornil(l, 1) == 0 {
        // a non-string error object: describe it (runs __tostring)
        let m = ffi::luaL_tolstring(l, 1, ptr::null_mut());
        ffi::luaL_traceback(l, l, m, 1);
    } else {
        push_str(l, "(no error message)");
    }
    1
}

unsafe extern "C-unwind" fn ltostring(l: *mut lua_State) -> c_int {
    if ffi::lua_isnoneornil(l, 1) != 0 {
        return 0;
    }
    let msg = ffi::lua_touserdata(l, 1) as *const c_char;
    let sz = ffi::luaL_checkinteger(l, 2);
    if msg.is_null() || sz <= 0 {
        ffi::lua_pushlstring(l, c"".as_ptr(), 0);
    } else {
        ffi::lua_pushlstring(l, msg, sz as usize);
    }
    1
}

unsafe extern "C-unwind" fn ltrash(l: *mut lua_State) -> c_int {
    match ffi::lua_type(l, 1) {
        ffi::LUA_TSTRING => {}
        ffi::LUA_TLIGHTUSERDATA => {
            let msg = ffi::lua_touserdata(l, 1);
            ffi::luaL_checkinteger(l, 2);
            // SAFETY: a message buffer from the C allocator, owned by Lua.
            libc::free(msg);
        }
        _ => {
            let msg = {
                let t = type_name(l, 1);
                format!("skynet.trash invalid param {t}")
            };
            return raise(l, msg);
        }
    }
    0
}

unsafe extern "C-unwind" fn lnow(l: *mut lua_State) -> c_int {
    let now = skynet_core::ffi::skynet_now();
    ffi::lua_pushinteger(l, now as ffi::lua_Integer);
    1
}

/// Monotonic nanoseconds.
pub fn hpc() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

unsafe extern "C-unwind" fn lhpc(l: *mut lua_State) -> c_int {
    ffi::lua_pushinteger(l, hpc());
    1
}

/// `trace(tag, user [, co] [, level])`: logs `<TRACE tag> time user : src:line ...`
/// with up to three stack levels.
unsafe extern "C-unwind" fn ltrace(l: *mut lua_State) -> c_int {
    let sh = shared(l);
    let tag = check_str(l, 1);
    let user = check_str(l, 2);
    if ffi::lua_isnoneornil(l, 3) != 0 {
        let text = format!(
            "<TRACE {}> {} {}",
            String::from_utf8_lossy(tag),
            hpc(),
            String::from_utf8_lossy(user)
        );
        context_of(sh).log(text);
        return 0;
    }
    let (co, mut level) = if ffi::lua_type(l, 3) == ffi::LUA_TTHREAD {
        (
            ffi::lua_tothread(l, 3),
            ffi::luaL_optinteger(l, 4, 1) as c_int,
        )
    } else {
        (l, ffi::luaL_optinteger(l, 3, 1) as c_int)
    };
    let mut where_ = Vec::new();
    while where_.len() < 3 {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(co, level, &mut ar) == 0 {
            break;
        }
        ffi::lua_getinfo(co, c"Sl".as_ptr(), &mut ar);
        level += 1;
        if ar.currentline >= 0 {
            let src = CStr::from_ptr(ar.source).to_string_lossy().into_owned();
            where_.push(format!("{src}:{}", ar.currentline));
        }
    }
    let mut text = format!(
        "<TRACE {}> {} {}",
        String::from_utf8_lossy(tag),
        hpc(),
        String::from_utf8_lossy(user)
    );
    if !where_.is_empty() {
        text.push_str(" : ");
        text.push_str(&where_.join(" "));
    }
    context_of(sh).log(text);
    0
}

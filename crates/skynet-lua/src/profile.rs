//! `skynet.profile`: CPU time per coroutine, and the `resume`/`wrap` that
//! snlua installs as `coroutine.resume`/`coroutine.wrap` so that the time is
//! counted (the profile library inside the reference's
//! `service-src/service_snlua.c`).
//!
//! `start([co])` begins measuring a coroutine (default: the running one) and
//! `stop([co])` returns the thread CPU seconds it ran since then. A coroutine is
//! only charged while it runs: a profiled `resume` restarts its clock when it
//! is resumed and adds the slice to its total when it yields back. Time spent in
//! coroutines it resumes itself is part of its own run.
//!
//! Two weak tables, shared as upvalues by every function of the library, hold
//! per coroutine the CPU time its current slice began and the total of its
//! finished slices. While no coroutine is being profiled a resume does not
//! look in them.
//!
//! A host may also have every resume record the coroutine it runs (snlua's
//! signal 0 interrupts that one): it puts a pointer to an
//! `AtomicPtr<lua_State>` in the registry under [`ACTIVE_SLOT_KEY`] before
//! opening the library; the slot holds the running coroutine during each
//! resume (the reference's `switchL` in `lua_resumeX`).
//!
//! The functions are C functions on the raw Lua API (`mlua::ffi`): `resume`
//! must hand back the error object of a coroutine untouched and raise errors as
//! plain strings with positions, which mlua callbacks cannot do. A Lua error is
//! a `longjmp`, so no function here holds a value with a destructor.

use std::ffi::{c_int, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use mlua::{ffi, Lua, Table};

/// Coroutine -> thread CPU time at which its current slice began.
const STARTS: c_int = ffi::lua_upvalueindex(1);
/// Coroutine -> CPU seconds of its finished slices.
const TOTALS: c_int = ffi::lua_upvalueindex(2);
/// The host's active-coroutine slot (light userdata, null when none).
const ACTIVE: c_int = ffi::lua_upvalueindex(3);
/// The coroutine driven by a `wrap` closure.
const WRAPPED: c_int = ffi::lua_upvalueindex(4);

/// Registry key of the host's active-coroutine slot (see the module doc).
pub const ACTIVE_SLOT_KEY: &CStr = c"skynet.profile.active";

/// The clock wraps at this many seconds so that a double keeps nanoseconds.
const CLOCK_PERIOD: f64 = 65536.0;

/// CPU time consumed by the calling OS thread, in seconds modulo
/// [`CLOCK_PERIOD`].
fn thread_cpu_clock() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own. It cannot fail for
    // this clock on Linux; should it, the zeroed value is used.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec & 0xffff) as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds since `start` (a [`thread_cpu_clock`] reading), across one wrap
/// of the clock.
fn cpu_since(start: f64) -> f64 {
    let now = thread_cpu_clock();
    if now < start {
        now + CLOCK_PERIOD - start
    } else {
        now - start
    }
}

/// Reads `table[co]` as a number, `None` when absent.
///
/// # Safety
/// Called from a library function (the upvalues exist); `co` is a valid index
/// that stays put while one slot is pushed.
unsafe fn lookup(state: *mut ffi::lua_State, table: c_int, co: c_int) -> Option<f64> {
    ffi::lua_pushvalue(state, co);
    ffi::lua_rawget(state, table);
    let value = if ffi::lua_isnil(state, -1) != 0 {
        None
    } else {
        Some(ffi::lua_tonumber(state, -1))
    };
    ffi::lua_pop(state, 1);
    value
}

/// Sets (`Some`) or clears (`None`) `table[co]`.
///
/// # Safety
/// As [`lookup`], with two free slots.
unsafe fn store(state: *mut ffi::lua_State, table: c_int, co: c_int, value: Option<f64>) {
    ffi::lua_pushvalue(state, co);
    match value {
        Some(v) => ffi::lua_pushnumber(state, v),
        None => ffi::lua_pushnil(state),
    }
    ffi::lua_rawset(state, table);
}

/// Resumes `co` with the top `nargs` values of `state`. On success the values
/// it yielded or returned are on top and their count is returned; on failure
/// the error object is on top.
///
/// # Safety
/// `state` runs a C function with the arguments on top; `co` is a thread of
/// the same Lua state, kept alive by a stack slot or upvalue.
unsafe fn resume_raw(
    state: *mut ffi::lua_State,
    co: *mut ffi::lua_State,
    nargs: c_int,
) -> Result<c_int, ()> {
    if ffi::lua_checkstack(co, nargs) == 0 {
        ffi::lua_pushstring(state, c"too many arguments to resume".as_ptr());
        return Err(());
    }
    ffi::lua_xmove(state, co, nargs);
    let mut nresults: c_int = 0;
    let status = ffi::lua_resume(co, state, nargs, &mut nresults);
    if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
        // Room for the results, plus the bookkeeping that follows.
        if ffi::lua_checkstack(state, nresults + 3) == 0 {
            ffi::lua_pop(co, nresults);
            ffi::lua_pushstring(state, c"too many results to resume".as_ptr());
            return Err(());
        }
        ffi::lua_xmove(co, state, nresults);
        Ok(nresults)
    } else {
        ffi::lua_xmove(co, state, 1);
        Err(())
    }
}

/// Resumes the coroutine at `co_index` with the top `nargs` values, charging
/// the run to it when it is being profiled.
///
/// # Safety
/// As [`resume_raw`]; `co_index` holds a thread and is not one of the top
/// `nargs` slots.
unsafe fn profiled_resume(
    state: *mut ffi::lua_State,
    co_index: c_int,
    nargs: c_int,
) -> Result<c_int, ()> {
    let co = ffi::lua_tothread(state, co_index);
    if any_profiled(state) && lookup(state, STARTS, co_index).is_some() {
        store(state, STARTS, co_index, Some(thread_cpu_clock()));
    }
    // The host keeps the slot alive as long as the Lua state (see
    // ACTIVE_SLOT_KEY), so it may be dereferenced here and below.
    let slot = ffi::lua_touserdata(state, ACTIVE) as *const AtomicPtr<ffi::lua_State>;
    let outer = if slot.is_null() {
        std::ptr::null_mut()
    } else {
        (*slot).swap(co, Ordering::SeqCst)
    };
    let outcome = resume_raw(state, co, nargs);
    if !slot.is_null() {
        (*slot).store(outer, Ordering::SeqCst);
    }
    // The coroutine may have started or stopped its profile while it ran.
    if any_profiled(state) {
        if let Some(start) = lookup(state, STARTS, co_index) {
            let total = lookup(state, TOTALS, co_index).unwrap_or(0.0) + cpu_since(start);
            store(state, TOTALS, co_index, Some(total));
        }
    }
    outcome
}

/// Whether any coroutine is being profiled (the STARTS table is not empty).
///
/// # Safety
/// As [`lookup`], with two free slots.
unsafe fn any_profiled(state: *mut ffi::lua_State) -> bool {
    ffi::lua_pushnil(state);
    if ffi::lua_next(state, STARTS) == 0 {
        return false;
    }
    ffi::lua_pop(state, 2);
    true
}

/// Raises the string on top of the stack prefixed with the position of the
/// Lua code that called the running function, as `luaL_error` does.
///
/// # Safety
/// `state` runs a C function; no destructors are pending in the frames unwound.
unsafe fn raise_here(state: *mut ffi::lua_State) -> ! {
    ffi::luaL_where(state, 1);
    ffi::lua_insert(state, -2);
    ffi::lua_concat(state, 2);
    ffi::lua_error(state)
}

/// Leaves the coroutine to measure at index 1: the argument, or the running
/// coroutine when there is none.
///
/// # Safety
/// `state` runs a C function.
unsafe fn target_thread(state: *mut ffi::lua_State) {
    if ffi::lua_gettop(state) == 0 {
        ffi::lua_pushthread(state);
    } else {
        ffi::lua_settop(state, 1);
        ffi::luaL_checktype(state, 1, ffi::LUA_TTHREAD);
    }
}

/// `profile.start([co])`
unsafe extern "C-unwind" fn profile_start(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a library function called by Lua; only Copy values live here.
    unsafe {
        target_thread(state);
        if lookup(state, STARTS, 1).is_some() {
            ffi::lua_pushfstring(
                state,
                c"Thread %p start profile more than once".as_ptr(),
                ffi::lua_topointer(state, 1),
            );
            raise_here(state);
        }
        store(state, TOTALS, 1, Some(0.0));
        store(state, STARTS, 1, Some(thread_cpu_clock()));
    }
    0
}

/// `profile.stop([co]) -> seconds`
unsafe extern "C-unwind" fn profile_stop(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a library function called by Lua; only Copy values live here.
    unsafe {
        target_thread(state);
        let Some(start) = lookup(state, STARTS, 1) else {
            ffi::lua_pushstring(
                state,
                c"Call profile.start() before profile.stop()".as_ptr(),
            );
            raise_here(state)
        };
        let elapsed = cpu_since(start);
        let total = lookup(state, TOTALS, 1).unwrap_or(0.0);
        store(state, STARTS, 1, None);
        store(state, TOTALS, 1, None);
        ffi::lua_pushnumber(state, total + elapsed);
    }
    1
}

/// `profile.resume(co, ...)`: `coroutine.resume` with accounting.
unsafe extern "C-unwind" fn profile_resume(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a library function called by Lua; the coroutine stays at index 1
    // during the resume. Only Copy values live here.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTHREAD);
        let nargs = ffi::lua_gettop(state) - 1;
        match profiled_resume(state, 1, nargs) {
            Ok(nresults) => {
                ffi::lua_pushboolean(state, 1);
                ffi::lua_insert(state, -(nresults + 1));
                nresults + 1
            }
            Err(()) => {
                ffi::lua_pushboolean(state, 0);
                ffi::lua_insert(state, -2);
                2
            }
        }
    }
}

/// The function returned by `profile.wrap(f)`: resumes its coroutine and
/// returns what it yields; errors are raised again, strings prefixed with the
/// caller's position.
unsafe extern "C-unwind" fn wrapped_resume(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a closure made by `profile_wrap`, whose third upvalue is the
    // coroutine. Only Copy values live here.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        match profiled_resume(state, WRAPPED, nargs) {
            Ok(nresults) => nresults,
            Err(()) => {
                let co = ffi::lua_tothread(state, WRAPPED);
                let status = ffi::lua_status(co);
                if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
                    // Run its pending to-be-closed variables.
                    ffi::lua_closethread(co, state);
                }
                if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                    raise_here(state);
                }
                ffi::lua_error(state)
            }
        }
    }
}

/// `profile.wrap(f)`: `coroutine.wrap` with accounting.
unsafe extern "C-unwind" fn profile_wrap(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a library function called by Lua; the closure takes the two
    // accounting tables, the active slot and the new coroutine as upvalues.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TFUNCTION);
        ffi::lua_pushvalue(state, STARTS);
        ffi::lua_pushvalue(state, TOTALS);
        ffi::lua_pushvalue(state, ACTIVE);
        let co = ffi::lua_newthread(state);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_xmove(state, co, 1);
        ffi::lua_pushcclosure(state, wrapped_resume, 4);
    }
    1
}

/// Builds the library table on the stack of a fresh C function frame.
///
/// # Safety
/// `state` runs a protected C function frame with at least 7 free slots.
unsafe fn push_library(state: *mut ffi::lua_State) {
    let functions: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"start", profile_start),
        (c"stop", profile_stop),
        (c"resume", profile_resume),
        (c"wrap", profile_wrap),
    ];
    ffi::lua_createtable(state, 0, functions.len() as c_int);
    ffi::lua_createtable(state, 0, 0); // STARTS
    ffi::lua_createtable(state, 0, 0); // TOTALS
                                       // Both tables are weak: a collected coroutine leaves no entry behind.
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_pushstring(state, c"kv".as_ptr());
    ffi::lua_setfield(state, -2, c"__mode".as_ptr());
    ffi::lua_pushvalue(state, -1);
    ffi::lua_setmetatable(state, -4);
    ffi::lua_setmetatable(state, -2);
    // ACTIVE: the host's slot, or a null light userdata.
    if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, ACTIVE_SLOT_KEY.as_ptr())
        != ffi::LUA_TLIGHTUSERDATA
    {
        ffi::lua_pop(state, 1);
        ffi::lua_pushlightuserdata(state, std::ptr::null_mut());
    }
    for (name, f) in functions {
        ffi::lua_pushvalue(state, -3);
        ffi::lua_pushvalue(state, -3);
        ffi::lua_pushvalue(state, -3);
        ffi::lua_pushcclosure(state, f, 3);
        ffi::lua_setfield(state, -5, name.as_ptr());
    }
    ffi::lua_pop(state, 3);
}

/// Opens `skynet.profile` as a `lua_CFunction` (for `luaL_requiref`).
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn luaopen_skynet_profile(state: *mut ffi::lua_State) -> c_int {
    push_library(state);
    1
}

/// The `skynet.profile` table: `start`, `stop`, `resume` and `wrap`. snlua
/// also installs `resume` and `wrap` as `coroutine.resume`/`coroutine.wrap`.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    // SAFETY: exec_raw runs the closure in a protected C function frame (with
    // LUA_MINSTACK free slots) and takes the table left on its stack.
    unsafe { lua.exec_raw((), |state| push_library(state)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lua state with the library as the global `profile`, and `cpu()`, the
    /// thread CPU clock the library uses, to burn measured amounts of CPU.
    fn new_lua() -> Lua {
        let lua = Lua::new();
        lua.globals().set("profile", open(&lua).unwrap()).unwrap();
        let cpu = lua.create_function(|_, ()| Ok(thread_cpu_clock())).unwrap();
        lua.globals().set("cpu", cpu).unwrap();
        lua.load(
            r#"
            function burn(seconds)
                local t0 = cpu()
                while cpu() - t0 < seconds do end
            end
            "#,
        )
        .exec()
        .unwrap();
        lua
    }

    fn error_of(lua: &Lua, code: &str) -> String {
        let (ok, msg): (bool, String) = lua.load(code).eval().unwrap();
        assert!(!ok, "expected an error from {code}");
        msg
    }

    #[test]
    fn stop_without_start_fails() {
        let lua = new_lua();
        let msg = error_of(&lua, "return pcall(function() return profile.stop() end)");
        assert!(
            msg.ends_with(":1: Call profile.start() before profile.stop()"),
            "{msg}"
        );
        // Stopping clears the profile: a second stop fails again.
        let msg = error_of(
            &lua,
            "profile.start() profile.stop() return pcall(profile.stop)",
        );
        assert_eq!(msg, "Call profile.start() before profile.stop()");
        let msg = error_of(&lua, "return pcall(profile.stop, coroutine.create(print))");
        assert_eq!(msg, "Call profile.start() before profile.stop()");
    }

    #[test]
    fn start_twice_fails() {
        let lua = new_lua();
        let (msg, expect): (String, String) = lua
            .load(
                r#"
                profile.start()
                local ok, err = pcall(function() profile.start() end)
                assert(not ok)
                profile.stop()
                return err, string.format("%p", coroutine.running())
                "#,
            )
            .eval()
            .unwrap();
        assert!(
            msg.ends_with(&format!(":3: Thread {expect} start profile more than once")),
            "{msg} ({expect})"
        );
        let msg = error_of(&lua, "return pcall(function() profile.start(42) end)");
        assert!(
            msg.contains("bad argument #1 to 'start' (thread expected, got number)"),
            "{msg}"
        );
    }

    #[test]
    fn stop_returns_cpu_seconds() {
        let lua = new_lua();
        let (kind, t): (String, f64) = lua
            .load("profile.start() burn(0.01) local t = profile.stop() return math.type(t), t")
            .eval()
            .unwrap();
        assert_eq!(kind, "float");
        assert!(t >= 0.01, "{t}");
    }

    #[test]
    fn resume_passes_values_through() {
        let lua = new_lua();
        let ok: bool = lua
            .load(
                r#"
                local co = coroutine.create(function(a, b)
                    local x, y = coroutine.yield(a + b, "y", nil)
                    return x * y
                end)
                local r = table.pack(profile.resume(co, 1, 2))
                assert(r.n == 4 and r[1] == true and r[2] == 3 and r[3] == "y" and r[4] == nil)
                r = table.pack(profile.resume(co, 3, 4))
                assert(r.n == 2 and r[1] == true and r[2] == 12)
                assert(coroutine.status(co) == "dead")
                r = table.pack(profile.resume(co))
                assert(r.n == 2 and r[1] == false and r[2] == "cannot resume dead coroutine")
                -- An error object comes back untouched.
                local e = {}
                local bad = coroutine.create(function() error(e) end)
                local ok, got = profile.resume(bad)
                assert(ok == false and got == e)
                local ok2, msg = profile.resume(coroutine.create(function() error("boom") end))
                assert(ok2 == false and msg:match(":%d+: boom$"), msg)
                -- Resuming the running coroutine is refused.
                local self_co
                self_co = coroutine.create(function() return profile.resume(self_co) end)
                local _, inner_ok, inner_msg = profile.resume(self_co)
                assert(inner_ok == false and inner_msg == "cannot resume non-suspended coroutine")
                local ok3, err3 = pcall(function() return profile.resume(1) end)
                assert(not ok3 and err3:find("bad argument #1 to 'resume' %(thread expected"), err3)
                return true
                "#,
            )
            .eval()
            .unwrap();
        assert!(ok);
    }

    #[test]
    fn wrap_behaves_like_coroutine_wrap() {
        let lua = new_lua();
        let ok: bool = lua
            .load(
                r#"
                local gen = profile.wrap(function(n)
                    for i = 1, n do coroutine.yield(i, i * i) end
                    return "done"
                end)
                local a, b = gen(3)
                assert(a == 1 and b == 1)
                a, b = gen()
                assert(a == 2 and b == 4)
                a, b = gen()
                assert(a == 3 and b == 9)
                assert(gen() == "done")
                -- Errors are raised with the caller's position, exactly as
                -- the standard wrap does.
                local function failure(wrap, err)
                    local f = wrap(function() error(err) end)
                    local ok, e = pcall(function() return f() end)
                    assert(not ok)
                    return e
                end
                local ours, std = failure(profile.wrap, "boom"), failure(coroutine.wrap, "boom")
                assert(ours == std, ours .. " / " .. std)
                local e = {}
                assert(failure(profile.wrap, e) == e)
                local dead = profile.wrap(function() end)
                dead()
                local ok, msg = pcall(dead)
                assert(not ok and msg == "cannot resume dead coroutine", msg)
                assert(not pcall(profile.wrap, 1))
                -- A failed coroutine's to-be-closed variables are closed.
                local closed = false
                local f = profile.wrap(function()
                    local guard <close> = setmetatable({}, {__close = function() closed = true end})
                    coroutine.yield()
                    error("late")
                end)
                f()
                assert(not pcall(f) and closed)
                return true
                "#,
            )
            .eval()
            .unwrap();
        assert!(ok);
    }

    #[test]
    fn nested_resumes() {
        let lua = new_lua();
        let log: String = lua
            .load(
                r#"
                local log = {}
                local inner = coroutine.create(function(x)
                    profile.start()
                    local y = coroutine.yield("inner:" .. x)
                    log[#log + 1] = "inner got " .. y
                    return profile.stop()
                end)
                local outer = profile.wrap(function()
                    profile.start()
                    local ok, v = profile.resume(inner, "a")
                    log[#log + 1] = v
                    coroutine.yield("outer yielded")
                    local ok2, t = profile.resume(inner, "b")
                    log[#log + 1] = math.type(t)
                    return profile.stop()
                end)
                local first = outer()
                log[#log + 1] = first
                local second = outer()
                log[#log + 1] = math.type(second)
                assert(coroutine.status(inner) == "dead")
                return table.concat(log, ",")
                "#,
            )
            .eval()
            .unwrap();
        assert_eq!(log, "inner:a,outer yielded,inner got b,float,float");
    }

    /// CPU burnt elsewhere while a coroutine is suspended is not charged to it;
    /// CPU it burns while running is. Bounds come from the same thread clock,
    /// so they hold however loaded the machine is.
    #[test]
    fn suspended_time_is_not_counted() {
        let lua = new_lua();
        let (idle, busy, other): (f64, f64, f64) = lua
            .load(
                r#"
                local idle = coroutine.create(function()
                    profile.start()
                    coroutine.yield()
                    return profile.stop()
                end)
                profile.resume(idle)
                burn(0.05)
                local _, idle_time = profile.resume(idle)

                local busy = coroutine.create(function()
                    profile.start()
                    burn(0.02)
                    coroutine.yield()
                    burn(0.02)
                    return profile.stop()
                end)
                profile.resume(busy)
                burn(0.05)
                local _, busy_time = profile.resume(busy)

                -- Profiling another coroutine from outside: only its runs count.
                local other = coroutine.create(function()
                    burn(0.02)
                    coroutine.yield()
                    burn(0.02)
                end)
                profile.start(other)
                profile.resume(other)
                burn(0.05)
                profile.resume(other)
                return idle_time, busy_time, profile.stop(other)
                "#,
            )
            .eval()
            .unwrap();
        assert!((0.0..0.05).contains(&idle), "idle {idle}");
        assert!((0.04..0.09).contains(&busy), "busy {busy}");
        assert!((0.04..0.09).contains(&other), "other {other}");
    }

    #[test]
    fn clock_wraps() {
        let start = thread_cpu_clock();
        assert!((0.0..CLOCK_PERIOD).contains(&start));
        // A start just before the wrap point still gives a small positive span.
        let span = cpu_since(CLOCK_PERIOD - 0.001);
        assert!(span > 0.0 && span < CLOCK_PERIOD, "{span}");
    }
}

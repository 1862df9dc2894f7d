//! One Lua state of a service, created on the raw C API with an allocator
//! that accounts for the service's memory. Stands for the reference's
//! `lalloc` and state handling in `service_snlua.c`.
//!
//! The allocator keeps the byte count of the state, refuses to grow it past
//! the memory limit (`skynet.memlimit`; a failed allocation is a Lua memory
//! error, as in the reference), and logs `Memory warning %.2f M` each time
//! the count passes a threshold that then doubles (first at 32 MiB).
//! Creating the state directly (rather than through mlua's `Lua`) keeps a
//! new service small and quick to start and close.
//!
//! Blocks come from mimalloc (`mi_realloc` / `mi_free`), the allocator the
//! binary also uses for Rust allocations: no per-block header and no arena
//! lock shared between workers, so a state costs less memory and time than
//! with glibc malloc (see BENCHMARKS.md). Built with mimalloc's `no_thp`:
//! without it mimalloc asks for transparent huge pages, and zeroing 2 MiB
//! pages made spawning services up to twice as slow from run to run.

use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mlua::ffi::{self, lua_State};

/// The first memory warning is given past this many bytes.
pub const MEMORY_WARNING_REPORT: usize = 32 * 1024 * 1024;

/// Memory figures of one state, shared with whoever reports on them.
pub struct MemoryAccount {
    used: AtomicUsize,
    limit: AtomicUsize,
    report: AtomicUsize,
    /// Where warnings go (the service's log line).
    warn: Box<dyn Fn(String) + Send + Sync>,
}

impl MemoryAccount {
    pub fn new(warn: Box<dyn Fn(String) + Send + Sync>) -> MemoryAccount {
        MemoryAccount {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            report: AtomicUsize::new(MEMORY_WARNING_REPORT),
            warn,
        }
    }

    /// Bytes in use by the state.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Sets the limit in bytes (0: none).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
}

/// The `lua_Alloc` of service states.
unsafe extern "C" fn account_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the MemoryAccount that the LuaState keeps alive for
    // as long as the Lua state exists.
    let account = &*(ud as *const MemoryAccount);
    let before = account.used.load(Ordering::Relaxed);
    let old = if ptr.is_null() { 0 } else { osize };
    let after = before.wrapping_add(nsize).wrapping_sub(old);
    if nsize == 0 {
        account.used.store(after, Ordering::Relaxed);
        libmimalloc_sys::mi_free(ptr);
        return ptr::null_mut();
    }
    let limit = account.limit.load(Ordering::Relaxed);
    if limit != 0 && after > limit && (ptr.is_null() || nsize > osize) {
        return ptr::null_mut();
    }
    let p = libmimalloc_sys::mi_realloc(ptr, nsize);
    if p.is_null() {
        return p;
    }
    account.used.store(after, Ordering::Relaxed);
    let report = account.report.load(Ordering::Relaxed);
    if after > report {
        account.report.store(report * 2, Ordering::Relaxed);
        (account.warn)(format!(
            "Memory warning {:.2} M",
            after as f64 / (1024.0 * 1024.0)
        ));
    }
    p
}

/// An owned Lua state (closed on drop).
pub struct LuaState {
    state: NonNull<lua_State>,
    account: Arc<MemoryAccount>,
}

// SAFETY: a service's Lua state is used by one thread at a time (the
// worker dispatching the service); the Lua core has no thread affinity.
unsafe impl Send for LuaState {}

impl LuaState {
    /// A new state with the standard libraries open, or `None` when Lua
    /// cannot allocate one.
    pub fn new(account: Arc<MemoryAccount>) -> Option<LuaState> {
        let ud = Arc::as_ptr(&account) as *mut c_void;
        // SAFETY: the allocator and its user data stay valid for the life of
        // the state (the Arc is kept in the LuaState).
        let l = unsafe { new_state(ud) };
        let state = NonNull::new(l)?;
        // SAFETY: a fresh state; opening the libraries can only fail on
        // memory, which Lua reports through its panic function — run it
        // protected instead.
        let ok = unsafe {
            ffi::lua_pushcfunction(l, open_libs);
            ffi::lua_pcall(l, 0, 0, 0) == ffi::LUA_OK
        };
        let me = LuaState { state, account };
        if ok {
            Some(me)
        } else {
            None
        }
    }

    pub fn as_ptr(&self) -> *mut lua_State {
        self.state.as_ptr()
    }

    pub fn account(&self) -> &Arc<MemoryAccount> {
        &self.account
    }

    /// Moves the state's accounting to `account` (a state made ahead of
    /// time joins the service that takes it): the bytes counted so far go
    /// with it, and later allocations are counted there.
    pub fn adopt_account(&mut self, account: Arc<MemoryAccount>) {
        account.used.store(self.account.used(), Ordering::Relaxed);
        let ud = Arc::as_ptr(&account) as *mut c_void;
        // SAFETY: the state is ours and not running (nothing allocates
        // meanwhile); the new user data lives as long as the state, since
        // the Arc is kept in the LuaState from now on.
        unsafe { ffi::lua_setallocf(self.state.as_ptr(), account_alloc, ud) };
        self.account = account;
    }
}

unsafe extern "C-unwind" fn open_libs(l: *mut lua_State) -> c_int {
    // Like the reference: libraries ignore LUA_PATH/LUA_CPATH env vars.
    ffi::lua_pushboolean(l, 1);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"LUA_NOENV".as_ptr());
    ffi::luaL_openlibs(l);
    0
}

#[cfg(not(feature = "lua55"))]
unsafe fn new_state(ud: *mut c_void) -> *mut lua_State {
    let l = ffi::lua_newstate(account_alloc, ud);
    if !l.is_null() {
        crate::shared_proto::use_shared_names(l);
    }
    l
}

#[cfg(feature = "lua55")]
unsafe fn new_state(ud: *mut c_void) -> *mut lua_State {
    ffi::lua_newstate(account_alloc, ud, ffi::luaL_makeseed(std::ptr::null_mut()))
}

impl Drop for LuaState {
    fn drop(&mut self) {
        // SAFETY: the state is ours and closed exactly once.
        unsafe { ffi::lua_close(self.state.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn run(l: *mut lua_State, code: &str) -> Result<(), String> {
        let c = std::ffi::CString::new(code).unwrap();
        // SAFETY: a valid state; the chunk runs protected.
        unsafe {
            if ffi::luaL_loadstring(l, c.as_ptr()) != ffi::LUA_OK
                || ffi::lua_pcall(l, 0, 0, 0) != ffi::LUA_OK
            {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                let s = String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len))
                    .into_owned();
                ffi::lua_pop(l, 1);
                return Err(s);
            }
        }
        Ok(())
    }

    /// The string object of the first key of global table `lib` whose text is
    /// `name`, as a pointer (equal pointers: the same string object).
    fn key_object(l: *mut lua_State, lib: &std::ffi::CStr, name: &[u8]) -> *const u8 {
        // SAFETY: a valid state with its libraries open; the stack is
        // balanced before returning.
        unsafe {
            ffi::lua_getglobal(l, lib.as_ptr());
            ffi::lua_pushnil(l);
            let mut found = std::ptr::null();
            while ffi::lua_next(l, -2) != 0 {
                ffi::lua_pop(l, 1);
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                if std::slice::from_raw_parts(p as *const u8, len) == name {
                    found = p as *const u8;
                }
            }
            ffi::lua_pop(l, 1);
            found
        }
    }

    #[cfg(not(feature = "lua55"))]
    #[test]
    fn library_names_are_shared_between_states() {
        let quiet = || Arc::new(MemoryAccount::new(Box::new(|_| {})));
        let a = LuaState::new(quiet()).expect("state");
        let b = LuaState::new(quiet()).expect("state");
        let in_a = key_object(a.as_ptr(), c"string", b"format");
        assert!(!in_a.is_null());
        assert_eq!(in_a, key_object(b.as_ptr(), c"string", b"format"));
        assert_eq!(
            key_object(a.as_ptr(), c"table", b"insert"),
            key_object(b.as_ptr(), c"table", b"insert")
        );
        // A string of a state's own is its own, and equal ones still compare
        // equal to the shared names.
        run(a.as_ptr(), "mine = {} mine['only' .. 'here'] = 1").unwrap();
        run(b.as_ptr(), "mine = {} mine['only' .. 'here'] = 1").unwrap();
        assert_ne!(
            key_object(a.as_ptr(), c"mine", b"onlyhere"),
            key_object(b.as_ptr(), c"mine", b"onlyhere")
        );
        run(
            a.as_ptr(),
            "local k = 'for' .. 'mat' assert(string[k] == string.format) \
             local t = {} t[k] = 1 assert(t.format == 1) \
             assert(('x'):rep(2) == 'xx') collectgarbage() collectgarbage()",
        )
        .unwrap();
        // Both states keep working once the other is gone.
        drop(b);
        run(a.as_ptr(), "assert(string.format('%d', 7) == '7')").unwrap();
    }

    #[test]
    fn closures_share_the_right_upvalues_in_any_capture_order() {
        // luaF_findupval starts next to the upvalue it found last (a Lua
        // patch of ours): closures capturing many locals in scattered
        // orders, in loops, coroutines, and across errors and collections,
        // must still share exactly one upvalue per local.
        let account = Arc::new(MemoryAccount::new(Box::new(|_| {})));
        let state = LuaState::new(account).expect("state");
        run(
            state.as_ptr(),
            r#"
            local N, F = 60, 150
            local seed = 7
            local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n + 1 end
            local src = {}
            for i = 1, N do src[#src + 1] = ("local v%d = %d"):format(i, i) end
            src[#src + 1] = "local getters, setters = {}, {}"
            local picks = {}
            for f = 1, F do
              local a, b, c = rnd(N), rnd(N), rnd(N)
              picks[f] = { a, b, c }
              src[#src + 1] = ("getters[%d] = function() return v%d, v%d, v%d end"):format(f, a, b, c)
              src[#src + 1] = ("setters[%d] = function(x) v%d = x end"):format(f, c)
              if f % 25 == 0 then src[#src + 1] = "collectgarbage()" end
            end
            src[#src + 1] = "return getters, setters"
            local getters, setters = assert(load(table.concat(src, "\n")))()
            local value = {}
            for i = 1, N do value[i] = i end
            for round = 1, 3 do
              for f = 1, F do
                local x = round * 1000 + f
                setters[f](x)
                value[picks[f][3]] = x
              end
              collectgarbage()
              for f = 1, F do
                local a, b, c = getters[f]()
                local p = picks[f]
                assert(a == value[p[1]] and b == value[p[2]] and c == value[p[3]], "closure " .. f)
              end
            end
            -- loops: every iteration has its own upvalue; closed ones are
            -- not found again
            local fs = {}
            for i = 1, 50 do
              local j = i * 2
              fs[i] = function() return i, j end
              if i % 7 == 0 then fs[i .. "x"] = function() j = j + 1 return j end end
            end
            for i = 1, 50 do
              local a, b = fs[i]()
              if i % 7 == 0 then assert(fs[i .. "x"]() == i * 2 + 1) b = b + 1 a = i end
              assert(a == i and select(2, fs[i]()) == b)
            end
            -- coroutines and errors close upvalues midway
            local function maker(k)
              local a, b, c = k, k + 1, k + 2
              local get = function() return a + b + c end
              coroutine.yield(get)
              local set = function() a = 0 end
              if k % 2 == 0 then error({ get = get, set = set }) end
              return get, set
            end
            for k = 1, 40 do
              local co = coroutine.wrap(function() return pcall(maker, k) end)
              local get = co()
              local ok, g2, set = co()
              if ok then
                assert(g2 == get or g2() == get())
                set()
                assert(get() == 2 * k + 3)
              else
                assert(g2.get() == 3 * k + 3)
                g2.set()
                assert(g2.get() == 2 * k + 3)
              end
            end
            "#,
        )
        .unwrap();
    }

    #[test]
    fn an_adopted_account_takes_over_the_count_and_the_limit() {
        let first = Arc::new(MemoryAccount::new(Box::new(|_| {})));
        let mut state = LuaState::new(first.clone()).expect("state");
        let made = first.used();
        let second = Arc::new(MemoryAccount::new(Box::new(|_| {})));
        state.adopt_account(second.clone());
        assert_eq!(second.used(), made);
        run(state.as_ptr(), "t = {} for i = 1, 10000 do t[i] = i end").unwrap();
        assert!(second.used() > made + 100_000);
        assert_eq!(first.used(), made, "the old account counts no more");
        second.set_limit(second.used() + 64 * 1024);
        assert!(run(
            state.as_ptr(),
            "local t = {} for i = 1, 1000000 do t[i] = tostring(i) end",
        )
        .unwrap_err()
        .contains("not enough memory"));
    }

    #[test]
    fn states_made_on_many_threads_at_once_work() {
        // The shared name set is built by whichever thread comes first; the
        // others must wait for it, then all intern from it concurrently.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let account = Arc::new(MemoryAccount::new(Box::new(|_| {})));
                        let state = LuaState::new(account).expect("state");
                        run(
                            state.as_ptr(),
                            &format!(
                                "local t = {{}} for k in pairs(string) do t[#t + 1] = k end \
                                 table.sort(t) assert(#t > 10) \
                                 assert(string.format('%d-%d', {t}, {i}) == '{t}-{i}') \
                                 collectgarbage()"
                            ),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
    }

    #[test]
    fn counts_memory_and_enforces_the_limit() {
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let w = warnings.clone();
        let account = Arc::new(MemoryAccount::new(Box::new(move |s| {
            w.lock().unwrap().push(s)
        })));
        let state = LuaState::new(account.clone()).expect("state");
        let base = account.used();
        assert!(
            base > 1000,
            "a state with its libraries takes memory: {base}"
        );
        run(state.as_ptr(), "t = {} for i = 1, 10000 do t[i] = i end").unwrap();
        assert!(account.used() > base + 100_000);
        run(state.as_ptr(), "t = nil collectgarbage()").unwrap();
        assert!(account.used() < base + 50_000);
        account.set_limit(account.used() + 64 * 1024);
        let err = run(
            state.as_ptr(),
            "local t = {} for i = 1, 1000000 do t[i] = tostring(i) end",
        )
        .unwrap_err();
        assert_eq!(err, "not enough memory");
        // Still usable after the failure.
        run(state.as_ptr(), "collectgarbage() x = 1 + 1").unwrap();
        assert!(warnings.lock().unwrap().is_empty());
    }

    #[test]
    fn warns_past_the_threshold_and_doubles_it() {
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let w = warnings.clone();
        let account = Arc::new(MemoryAccount::new(Box::new(move |s| {
            w.lock().unwrap().push(s)
        })));
        account.report.store(256 * 1024, Ordering::Relaxed);
        let state = LuaState::new(account.clone()).expect("state");
        run(state.as_ptr(), "t = {} for i = 1, 40000 do t[i] = {i} end").unwrap();
        let w = warnings.lock().unwrap();
        assert!(!w.is_empty());
        assert!(w[0].starts_with("Memory warning 0.2"), "{w:?}");
        assert!(w.iter().all(|s| s.ends_with(" M")));
        assert!(account.report.load(Ordering::Relaxed) > 256 * 1024);
    }
}

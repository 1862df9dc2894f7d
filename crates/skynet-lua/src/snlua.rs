//! `snlua`: the native service that runs a Lua service. Stands for the
//! reference's `service-src/service_snlua.c`.
//!
//! Each instance owns one Lua state ([`LuaState`]: the raw C API with an
//! allocator that accounts for the service's memory). Its init only sends
//! the service a first message with the argument string; the Lua side is
//! set up when that message is dispatched (so a slow or failing service
//! start runs on a worker, as in the reference): `skynet.profile` in place
//! of `coroutine.resume`/`wrap`, the `skynet_context` registry entry, the
//! code cache, the native modules (found through `package.searchers`), the
//! `LUA_PATH`/`LUA_CPATH`/`LUA_SERVICE`/`LUA_PRELOAD` globals, then the
//! `lualoader` script is called with the arguments. After that every
//! message goes to the function registered with `skynet.core.callback`.

use std::ffi::{c_char, c_int, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::Arc;

use mlua::ffi::{self, lua_State};
use skynet_core::message::{PTYPE_TAG_DONTCOPY, PTYPE_TEXT};
use skynet_core::{Context, Message, Node, Payload, Service, SignalHandler};

use crate::codecache::luaopen_skynet_codecache;
use crate::core::traceback;
use crate::lua_state::{LuaState, MemoryAccount};
use crate::profile::luaopen_skynet_profile;

/// Registry key anchoring the callback thread.
pub const CALLBACK_KEY: &CStr = c"callback_context";

/// State shared between the service, its Lua C functions (through a light
/// userdata upvalue) and its signal handler (from other threads).
pub struct SnluaShared {
    context: Arc<AtomicPtr<Context>>,
    /// The thread holding `[traceback, callback]`, or null.
    callback: AtomicPtr<lua_State>,
    forward: AtomicBool,
    /// The main state and the coroutine resumed last, for the signal hook.
    main: AtomicPtr<lua_State>,
    active: AtomicPtr<lua_State>,
    trap: AtomicI32,
    /// The Lua state's memory figures.
    account: Arc<MemoryAccount>,
}

// SAFETY: the context pointer is only dereferenced on the thread that is
// dispatching the service (which keeps the context alive); the Lua state
// pointers are only handed to `lua_sethook`, which the Lua manual allows
// from a signal handler, i.e. asynchronously.
unsafe impl Send for SnluaShared {}
// SAFETY: see above; everything else is atomic.
unsafe impl Sync for SnluaShared {}

impl SnluaShared {
    /// The service's context.
    pub fn context(&self) -> &Context {
        // SAFETY: set at init from the Arc that owns this service; the
        // context outlives its instance, and Lua only runs inside it.
        unsafe { &*self.context.load(Ordering::Acquire) }
    }

    /// Bytes used by the service's Lua state.
    pub fn lua_memory(&self) -> usize {
        self.account.used()
    }

    pub(crate) fn set_callback(&self, thread: *mut lua_State, forward: bool) {
        self.forward.store(forward, Ordering::Relaxed);
        self.callback.store(thread, Ordering::Release);
    }
}

/// A running Lua service.
pub struct Snlua {
    /// Dropped before `shared` (field order), so no Lua code outlives it.
    state: Option<LuaState>,
    shared: Arc<SnluaShared>,
    launched: bool,
}

impl Snlua {
    pub fn new() -> Snlua {
        let context: Arc<AtomicPtr<Context>> = Arc::new(AtomicPtr::new(ptr::null_mut()));
        let for_warnings = context.clone();
        let account = Arc::new(MemoryAccount::new(Box::new(move |text| {
            let ctx = for_warnings.load(Ordering::Acquire);
            if !ctx.is_null() {
                // SAFETY: the context outlives the Lua state that allocates.
                unsafe { (*ctx).log(text) };
            }
        })));
        Snlua {
            state: None,
            shared: Arc::new(SnluaShared {
                context,
                callback: AtomicPtr::new(ptr::null_mut()),
                forward: AtomicBool::new(false),
                main: AtomicPtr::new(ptr::null_mut()),
                active: AtomicPtr::new(ptr::null_mut()),
                trap: AtomicI32::new(0),
                account,
            }),
            launched: false,
        }
    }
}

impl Default for Snlua {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers the `snlua` module with a node.
pub fn register(node: &Node) {
    node.modules().register(
        "snlua",
        Arc::new(|| Box::new(Snlua::new()) as Box<dyn Service>),
    );
    node.add_idle_task(Arc::new(crate::state_pool::refill_one));
}

impl Service for Snlua {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        self.shared
            .context
            .store(Arc::as_ptr(ctx) as *mut Context, Ordering::Release);
        let (ready, pool_low) = crate::state_pool::take();
        if pool_low {
            ctx.node().wake_idle_worker();
        }
        let state = match ready {
            Some(mut state) => {
                state.adopt_account(self.shared.account.clone());
                state
            }
            None => LuaState::new(self.shared.account.clone())
                .ok_or("snlua: can't create a Lua state")?,
        };
        self.shared.main.store(state.as_ptr(), Ordering::SeqCst);
        self.state = Some(state);
        let me = ctx.handle();
        ctx.send(
            0,
            me,
            PTYPE_TAG_DONTCOPY | PTYPE_TEXT as i32,
            0,
            Payload::from(args),
        );
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        if !self.launched {
            self.launched = true;
            let args = String::from_utf8_lossy(msg.payload.as_slice()).into_owned();
            if let Err(e) = self.launch(ctx, &args) {
                ctx.log(e);
                report_launcher_error(ctx);
                ctx.node().kill(ctx.handle(), ctx.handle());
            }
            return;
        }
        self.call_lua(ctx, msg);
    }

    fn signal_handler(&self) -> Option<SignalHandler> {
        let shared = self.shared.clone();
        Some(Arc::new(move |sig| on_signal(&shared, sig)))
    }
}

impl Drop for Snlua {
    fn drop(&mut self) {
        self.shared.main.store(ptr::null_mut(), Ordering::SeqCst);
        self.shared.active.store(ptr::null_mut(), Ordering::SeqCst);
        self.shared
            .callback
            .store(ptr::null_mut(), Ordering::SeqCst);
        self.state = None;
    }
}

fn report_launcher_error(ctx: &Context) {
    ctx.send_name(0, ".launcher", PTYPE_TEXT as i32, 0, Payload::from("ERROR"));
}

/// Defaults for `lualoader`, `lua_path` and `luaservice` when the config
/// leaves them out (the reference's are `./lualib/...` and `./service/...`).
#[derive(Debug, Clone)]
pub struct DefaultPaths {
    pub lualoader: String,
    pub lua_path: String,
    pub luaservice: String,
}

static DEFAULT_PATHS: std::sync::OnceLock<DefaultPaths> = std::sync::OnceLock::new();

/// Sets the process-wide defaults (the binary points them at its embedded
/// Lua library). Only the first call counts.
pub fn set_default_paths(paths: DefaultPaths) {
    let _ = DEFAULT_PATHS.set(paths);
}

fn default_paths() -> DefaultPaths {
    DEFAULT_PATHS
        .get()
        .cloned()
        .unwrap_or_else(|| DefaultPaths {
            lualoader: "./lualib/loader.lua".to_string(),
            lua_path: "./lualib/?.lua;./lualib/?/init.lua".to_string(),
            luaservice: "./service/?.lua".to_string(),
        })
}

fn opt_env(ctx: &Context, key: &str, default: &str) -> String {
    ctx.node()
        .env()
        .get(key)
        .unwrap_or_else(|| default.to_string())
}

impl Snlua {
    /// The reference's `init_cb`: prepares the state and runs the loader.
    fn launch(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let l = self.state.as_ref().ok_or("snlua: no Lua state")?.as_ptr();
        let defaults = default_paths();
        let strings = [
            opt_env(ctx, "lua_path", &defaults.lua_path),
            opt_env(ctx, "lua_cpath", "./luaclib/?.so"),
            opt_env(ctx, "luaservice", &defaults.luaservice),
            opt_env(ctx, "lualoader", &defaults.lualoader),
            args.to_string(),
        ];
        let preload = ctx.node().env().get("preload");
        crate::memory::track(ctx.handle(), &self.shared);
        // SAFETY: raw C API on our own state, on the dispatching thread;
        // everything that may raise runs inside the protected `init_state`.
        let (error, memlimit) = unsafe {
            let top = ffi::lua_gettop(l);
            ffi::lua_pushcfunction(l, init_state);
            ffi::lua_pushlightuserdata(l, Arc::as_ptr(&self.shared) as *mut _);
            for s in &strings {
                ffi::lua_pushlstring(l, s.as_ptr() as *const c_char, s.len());
            }
            if let Some(p) = &preload {
                ffi::lua_pushlstring(l, p.as_ptr() as *const c_char, p.len());
            } else {
                ffi::lua_pushnil(l);
            }
            let r = ffi::lua_pcall(l, 7, 2, 0);
            let out = if r != ffi::LUA_OK {
                (
                    Some(format!(
                        "snlua: can't prepare the Lua state: {}",
                        lua_string(l, -1)
                    )),
                    None,
                )
            } else {
                let error = if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                    Some(lua_string(l, -2))
                } else {
                    None
                };
                let limit = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                    Some(ffi::lua_tointegerx(l, -1, ptr::null_mut()))
                } else {
                    None
                };
                (error, limit)
            };
            ffi::lua_settop(l, top);
            out
        };
        if let Some(e) = error {
            return Err(e);
        }
        if let Some(limit) = memlimit {
            let limit = limit.max(0) as usize;
            self.shared.account.set_limit(limit);
            ctx.log(format!(
                "Set memory limit to {:.2} M",
                limit as f64 / (1024.0 * 1024.0)
            ));
        }
        Ok(())
    }

    /// The reference's `_cb`: calls the registered Lua callback.
    fn call_lua(&mut self, ctx: &Arc<Context>, msg: Message) {
        let thread = self.shared.callback.load(Ordering::Acquire);
        if thread.is_null() {
            return;
        }
        let forward = self.shared.forward.load(Ordering::Relaxed);
        let Message {
            source,
            session,
            ptype,
            payload,
        } = msg;
        let sz = payload.len();
        // In forward mode Lua keeps the buffer; otherwise it is freed after.
        let (data, _keep) = if forward {
            (payload.into_raw().0, None)
        } else {
            (payload.as_ptr() as *mut u8, Some(payload))
        };
        // SAFETY: the callback thread holds [traceback, f] at slots 1 and 2
        // (set by skynet.core.callback); the stack is restored afterwards.
        let error = unsafe {
            let l = thread;
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushinteger(l, ptype as ffi::lua_Integer);
            ffi::lua_pushlightuserdata(l, data.cast());
            ffi::lua_pushinteger(l, sz as ffi::lua_Integer);
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushinteger(l, source as ffi::lua_Integer);
            let r = ffi::lua_pcall(l, 5, 0, 1);
            if r == ffi::LUA_OK {
                None
            } else {
                let text = lua_string(l, -1);
                ffi::lua_pop(l, 1);
                Some((r, text))
            }
        };
        if let Some((r, text)) = error {
            let me = format!(":{:x}", ctx.handle());
            let line = match r {
                ffi::LUA_ERRMEM => format!("lua memory error : [{source:x} to {me} : {session}]"),
                ffi::LUA_ERRERR => format!("lua error in error : [{source:x} to {me} : {session}]"),
                _ => format!(
                    "lua call [{source:x} to {me} : {session} msgsz = {sz}] error : \x1b[31m{text}\x1b[0m"
                ),
            };
            ctx.log(line);
        }
    }
}

/// The part of a service state's start that depends on no service, done
/// ahead of time on pooled states (see `state_pool`): the code cache
/// module and the switch to generational collection (a full collection of
/// the libraries' objects). `init_state` then finds the module loaded and
/// the mode set. Run protected.
pub(crate) unsafe extern "C-unwind" fn prepare_state(l: *mut lua_State) -> c_int {
    ffi::luaL_requiref(l, c"skynet.codecache".as_ptr(), luaopen_skynet_codecache, 0);
    ffi::lua_pop(l, 1);
    ffi::lua_gc(l, ffi::LUA_GCGEN, 0, 0);
    0
}

/// The protected part of the start: arguments are the shared state (light
/// userdata), lua_path, lua_cpath, luaservice, lualoader, the service's
/// argument string and preload (or nil). Returns (error text or nil,
/// memlimit or nil).
unsafe extern "C-unwind" fn init_state(l: *mut lua_State) -> c_int {
    ffi::lua_gc(l, ffi::LUA_GCSTOP, 0);
    // skynet.profile replaces coroutine.resume / wrap; its resumes keep
    // `active` up to date for the signal hook.
    let shared = ffi::lua_touserdata(l, 1) as *const SnluaShared;
    if !shared.is_null() {
        ffi::lua_pushlightuserdata(l, ptr::addr_of!((*shared).active) as *mut std::ffi::c_void);
        ffi::lua_setfield(
            l,
            ffi::LUA_REGISTRYINDEX,
            crate::profile::ACTIVE_SLOT_KEY.as_ptr(),
        );
    }
    ffi::luaL_requiref(l, c"skynet.profile".as_ptr(), luaopen_skynet_profile, 0);
    ffi::lua_getglobal(l, c"coroutine".as_ptr());
    ffi::lua_getfield(l, -2, c"resume".as_ptr());
    ffi::lua_setfield(l, -2, c"resume".as_ptr());
    ffi::lua_getfield(l, -2, c"wrap".as_ptr());
    ffi::lua_setfield(l, -2, c"wrap".as_ptr());
    ffi::lua_pop(l, 2);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    ffi::luaL_requiref(l, c"skynet.codecache".as_ptr(), luaopen_skynet_codecache, 0);
    ffi::lua_pop(l, 1);
    crate::libs::install_builtins(l);
    // Service states collect generationally, as in the reference (visible
    // to Lua: collectgarbage("incremental") answers "generational").
    ffi::lua_gc(l, ffi::LUA_GCGEN, 0, 0);
    ffi::lua_pushvalue(l, 2);
    ffi::lua_setglobal(l, c"LUA_PATH".as_ptr());
    ffi::lua_pushvalue(l, 3);
    ffi::lua_setglobal(l, c"LUA_CPATH".as_ptr());
    ffi::lua_pushvalue(l, 4);
    ffi::lua_setglobal(l, c"LUA_SERVICE".as_ptr());
    if ffi::lua_isnil(l, 7) == 0 {
        ffi::lua_pushvalue(l, 7);
        ffi::lua_setglobal(l, c"LUA_PRELOAD".as_ptr());
    }
    ffi::lua_pushcfunction(l, traceback);
    let tb = ffi::lua_gettop(l);
    let loader = CStr::from_ptr(ffi::lua_tolstring(l, 5, ptr::null_mut()));
    if crate::codecache::load_file(l, loader) != ffi::LUA_OK {
        ffi::lua_pushstring(l, c"Can't load ".as_ptr());
        ffi::lua_pushvalue(l, 5);
        ffi::lua_pushstring(l, c" : ".as_ptr());
        ffi::lua_rotate(l, -4, -1);
        ffi::lua_concat(l, 4);
        ffi::lua_pushnil(l);
        return 2;
    }
    ffi::lua_pushvalue(l, 6);
    if ffi::lua_pcall(l, 1, 0, tb) != ffi::LUA_OK {
        ffi::lua_pushstring(l, c"lua loader error : ".as_ptr());
        ffi::lua_rotate(l, -2, 1);
        ffi::lua_concat(l, 2);
        ffi::lua_pushnil(l);
        return 2;
    }
    ffi::lua_pushnil(l);
    if ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"memlimit".as_ptr()) == ffi::LUA_TNUMBER {
        ffi::lua_pushnil(l);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, c"memlimit".as_ptr());
    } else {
        ffi::lua_pop(l, 1);
        ffi::lua_pushnil(l);
    }
    // The collector stayed off while the loader ran the service's main
    // chunk (as in the reference): a start allocates much and frees little.
    ffi::lua_gc(l, ffi::LUA_GCRESTART, 0);
    2
}

/// The string at `idx` (or a description of a non-string value).
unsafe fn lua_string(l: *mut lua_State, idx: c_int) -> String {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        "(non-string error)".to_string()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
    }
}

/// The reference's `snlua_signal`: 0 interrupts the running Lua code with
/// the error "signal 0"; 1 logs the memory in use.
fn on_signal(shared: &SnluaShared, sig: i32) {
    shared.context().log(format!("recv a signal {sig}"));
    if sig == 0 {
        if shared
            .trap
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        for target in [
            shared.active.load(Ordering::SeqCst),
            shared.main.load(Ordering::SeqCst),
            shared.callback.load(Ordering::SeqCst),
        ] {
            if !target.is_null() {
                // SAFETY: lua_sethook may be called asynchronously (the Lua
                // manual allows it from signal handlers); the states are
                // cleared before the Lua state closes.
                unsafe { ffi::lua_sethook(target, Some(signal_hook), ffi::LUA_MASKCOUNT, 1) };
            }
        }
        // The hook may already have fired and taken the trap (1 -> 0) on
        // another thread; only mark it armed if it is still pending, or a
        // left-over hook would raise "signal 0" a second time later.
        let _ = shared
            .trap
            .compare_exchange(1, -1, Ordering::SeqCst, Ordering::SeqCst);
    } else if sig == 1 {
        let mem = shared.lua_memory();
        shared
            .context()
            .log(format!("Current Memory {:.3}K", mem as f64 / 1024.0));
    }
}

/// Count hook installed by signal 0: removes itself and raises "signal 0".
unsafe extern "C-unwind" fn signal_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    ffi::lua_sethook(l, None, 0, 0);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    let shared = ffi::lua_touserdata(l, -1) as *const SnluaShared;
    ffi::lua_pop(l, 1);
    if !shared.is_null() && (*shared).trap.swap(0, Ordering::SeqCst) != 0 {
        ffi::luaL_where(l, 1);
        ffi::lua_pushstring(l, c"signal 0".as_ptr());
        ffi::lua_concat(l, 2);
        ffi::lua_error(l);
    }
}

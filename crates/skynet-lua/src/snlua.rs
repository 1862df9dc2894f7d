//! `snlua`: the native service that runs a Lua service. Stands for the
//! reference's `service-src/service_snlua.c`.
//!
//! Each instance owns one Lua 5.4 state (mlua, vendored). Its init only
//! sends the service a first message with the argument string; the Lua
//! side is set up when that message is dispatched (so a slow or failing
//! service start runs on a worker, as in the reference): standard libraries,
//! `skynet.profile` in place of `coroutine.resume`/`wrap`, the
//! `skynet_context` registry entry, `skynet.core` in `package.preload`, the
//! `LUA_PATH`/`LUA_CPATH`/`LUA_SERVICE`/`LUA_PRELOAD` globals, then the
//! `lualoader` script is called with the arguments. After that every
//! message goes to the function registered with `skynet.core.callback`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use mlua::ffi::{self, lua_State};
use mlua::{LightUserData, Lua, Table};
use skynet_core::message::{PTYPE_TAG_DONTCOPY, PTYPE_TEXT};
use skynet_core::{Context, Message, Node, Payload, Service, SignalHandler};

use crate::core::{luaopen_skynet_core, traceback, SERI_KEY};

/// Registry key anchoring the callback thread.
pub const CALLBACK_KEY: &CStr = c"callback_context";

/// The first memory warning is given past this many bytes; the threshold
/// doubles after each warning.
const MEMORY_WARNING_REPORT: usize = 32 * 1024 * 1024;

/// State shared between the service, its Lua C functions (through a light
/// userdata upvalue) and its signal handler (from other threads).
pub struct SnluaShared {
    context: AtomicPtr<Context>,
    /// The thread holding `[traceback, callback]`, or null.
    callback: AtomicPtr<lua_State>,
    forward: AtomicBool,
    /// The main state and the coroutine resumed last, for the signal hook.
    main: AtomicPtr<lua_State>,
    active: AtomicPtr<lua_State>,
    trap: AtomicI32,
    /// Bytes used by the Lua state after the last dispatch.
    memory: AtomicUsize,
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

    /// Bytes used by the Lua state after its last dispatched message.
    pub fn lua_memory(&self) -> usize {
        self.memory.load(Ordering::Relaxed)
    }

    pub(crate) fn set_callback(&self, thread: *mut lua_State, forward: bool) {
        self.forward.store(forward, Ordering::Relaxed);
        self.callback.store(thread, Ordering::Release);
    }
}

/// A running Lua service.
pub struct Snlua {
    /// Dropped before `shared` (field order), so no Lua code outlives it.
    lua: Option<Lua>,
    shared: Arc<SnluaShared>,
    launched: bool,
    mem_report: usize,
}

impl Snlua {
    pub fn new() -> Snlua {
        Snlua {
            lua: None,
            shared: Arc::new(SnluaShared {
                context: AtomicPtr::new(ptr::null_mut()),
                callback: AtomicPtr::new(ptr::null_mut()),
                forward: AtomicBool::new(false),
                main: AtomicPtr::new(ptr::null_mut()),
                active: AtomicPtr::new(ptr::null_mut()),
                trap: AtomicI32::new(0),
                memory: AtomicUsize::new(0),
            }),
            launched: false,
            mem_report: MEMORY_WARNING_REPORT,
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
}

impl Service for Snlua {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        // SAFETY: `unsafe_new` allows loading C modules (lua_cpath), which
        // skynet services rely on; those modules are trusted code.
        let lua = unsafe { Lua::unsafe_new() };
        self.lua = Some(lua);
        self.shared
            .context
            .store(Arc::as_ptr(ctx) as *mut Context, Ordering::Release);
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
        self.check_memory(ctx);
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
        self.lua = None;
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
        let lua = self.lua.as_ref().ok_or("snlua: no Lua state")?;
        let setup = || -> mlua::Result<()> {
            lua.gc_stop();
            lua.set_named_registry_value("LUA_NOENV", true)?;
            let globals = lua.globals();
            let package: Table = globals.get("package")?;
            let loaded: Table = package.get("loaded")?;
            let preload: Table = package.get("preload")?;
            // skynet.profile replaces coroutine.resume / wrap.
            let profile = crate::profile::open(lua)?;
            loaded.set("skynet.profile", profile.clone())?;
            let coroutine: Table = globals.get("coroutine")?;
            coroutine.set("resume", profile.get::<mlua::Value>("resume")?)?;
            coroutine.set("wrap", profile.get::<mlua::Value>("wrap")?)?;
            lua.set_named_registry_value(
                "skynet_context",
                LightUserData(Arc::as_ptr(&self.shared) as *mut _),
            )?;
            let codecache = crate::codecache::open(lua)?;
            crate::codecache::install_searcher(lua, &codecache)?;
            loaded.set("skynet.codecache", codecache)?;
            lua.set_named_registry_value(
                SERI_KEY.to_str().unwrap_or("skynet.seri"),
                crate::seri::open(lua)?,
            )?;
            // SAFETY: luaopen_skynet_core is a lua_CFunction.
            let core = unsafe { lua.create_c_function(luaopen_skynet_core)? };
            preload.set("skynet.core", core)?;
            // SAFETY: both openers are lua_CFunctions.
            let socketdriver =
                unsafe { lua.create_c_function(crate::socketdriver::luaopen_skynet_socketdriver)? };
            preload.set("skynet.socketdriver", socketdriver)?;
            // SAFETY: as above.
            let netpack = unsafe { lua.create_c_function(crate::netpack::luaopen_skynet_netpack)? };
            preload.set("skynet.netpack", netpack)?;
            // SAFETY: as above.
            let cluster =
                unsafe { lua.create_c_function(crate::cluster::luaopen_skynet_cluster_core)? };
            preload.set("skynet.cluster.core", cluster)?;
            for (name, open) in crate::datalibs::MODULES {
                // SAFETY: each opener is a lua_CFunction.
                preload.set(name, unsafe { lua.create_c_function(open)? })?;
            }
            // skynet.crypt, client.crypt, md5, md5.core, bson, sproto.core
            crate::libs::preload(lua, &preload)?;
            crate::memory::track(ctx.handle(), &self.shared);
            lua.gc_restart();
            let defaults = default_paths();
            globals.set("LUA_PATH", opt_env(ctx, "lua_path", &defaults.lua_path))?;
            globals.set("LUA_CPATH", opt_env(ctx, "lua_cpath", "./luaclib/?.so"))?;
            globals.set(
                "LUA_SERVICE",
                opt_env(ctx, "luaservice", &defaults.luaservice),
            )?;
            if let Some(p) = ctx.node().env().get("preload") {
                globals.set("LUA_PRELOAD", p)?;
            }
            Ok(())
        };
        setup().map_err(|e| format!("snlua: can't prepare the Lua state: {e}"))?;
        let loader = opt_env(ctx, "lualoader", &default_paths().lualoader);
        let loader_c = CString::new(loader.clone()).map_err(|_| "bad lualoader path")?;
        let args_owned = args.to_string();
        let shared = self.shared.clone();
        let outcome: Arc<parking_lot::Mutex<Result<(), String>>> =
            Arc::new(parking_lot::Mutex::new(Ok(())));
        let out = outcome.clone();
        // SAFETY: raw C API use on the state mlua hands us, balanced stack.
        let r = unsafe {
            lua.exec_raw::<()>((), move |l| {
                shared.main.store(l, Ordering::SeqCst);
                install_resume_tracker(l);
                ffi::lua_pushcfunction(l, traceback);
                let base = ffi::lua_gettop(l);
                if ffi::luaL_loadfilex(l, loader_c.as_ptr(), ptr::null()) != ffi::LUA_OK {
                    let err = lua_string(l, -1);
                    *out.lock() = Err(format!("Can't load {loader} : {err}"));
                    ffi::lua_settop(l, base - 1);
                    return;
                }
                ffi::lua_pushlstring(l, args_owned.as_ptr() as *const c_char, args_owned.len());
                if ffi::lua_pcall(l, 1, 0, base) != ffi::LUA_OK {
                    let err = lua_string(l, -1);
                    *out.lock() = Err(format!("lua loader error : {err}"));
                }
                ffi::lua_settop(l, base - 1);
            })
        };
        if let Err(e) = r {
            return Err(format!("lua loader error : {e}"));
        }
        let result = std::mem::replace(&mut *outcome.lock(), Ok(()));
        result?;
        if let Ok(Some(limit)) = lua.named_registry_value::<Option<i64>>("memlimit") {
            let limit = limit.max(0) as usize;
            let _ = lua.set_memory_limit(limit);
            ctx.log(format!(
                "Set memory limit to {:.2} M",
                limit as f64 / (1024.0 * 1024.0)
            ));
            let _ = lua.set_named_registry_value("memlimit", mlua::Value::Nil);
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

    fn check_memory(&mut self, ctx: &Context) {
        let Some(lua) = self.lua.as_ref() else { return };
        let mem = lua.used_memory();
        self.shared.memory.store(mem, Ordering::Relaxed);
        if mem > self.mem_report {
            while mem > self.mem_report {
                self.mem_report *= 2;
            }
            ctx.log(format!(
                "Memory warning {:.2} M",
                mem as f64 / (1024.0 * 1024.0)
            ));
        }
    }
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

/// Wraps `coroutine.resume` so the signal hook knows which coroutine runs.
unsafe fn install_resume_tracker(l: *mut lua_State) {
    ffi::lua_getglobal(l, c"coroutine".as_ptr());
    ffi::lua_getfield(l, -1, c"resume".as_ptr());
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    ffi::lua_pushcclosure(l, tracked_resume, 2);
    ffi::lua_setfield(l, -2, c"resume".as_ptr());
    ffi::lua_pop(l, 1);
}

/// `coroutine.resume` that records the resumed coroutine as active while
/// it runs (upvalue 1: the real resume, upvalue 2: the shared state).
unsafe extern "C-unwind" fn tracked_resume(l: *mut lua_State) -> c_int {
    let shared = ffi::lua_touserdata(l, ffi::lua_upvalueindex(2)) as *const SnluaShared;
    let co = ffi::lua_tothread(l, 1);
    let previous = if !shared.is_null() && !co.is_null() {
        (*shared).active.swap(co, Ordering::SeqCst)
    } else {
        ptr::null_mut()
    };
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    if !shared.is_null() && !co.is_null() {
        (*shared).active.store(previous, Ordering::SeqCst);
    }
    ffi::lua_gettop(l)
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
        shared.trap.store(-1, Ordering::SeqCst);
    } else if sig == 1 {
        let mem = shared.memory.load(Ordering::Relaxed);
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

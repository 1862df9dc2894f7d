//! `skynet.memory`: memory figures of the node. Stands for the reference's
//! `lualib-src/lua-memory.c` over `skynet-src/malloc_hook.c`.
//!
//! The reference counts every allocation per service through jemalloc
//! hooks; built without jemalloc (`NOUSE_JEMALLOC`) it counts nothing:
//! `total`, `block` and `current` are 0, `info` is empty and the jemalloc
//! calls log `No jemalloc...`. We do not use jemalloc either, so the
//! jemalloc-only calls behave exactly like that build. What we can report
//! honestly instead of zeros is the one allocation that dominates a Lua
//! service: its Lua heap. snlua registers every Lua service here
//! ([`track`]), and:
//! * `info()` -> `{ [handle] = bytes }`: each live Lua service's Lua heap, as
//!   measured after its last dispatched message;
//! * `total()` -> the sum of those;
//! * `current()` -> the calling service's Lua heap, measured now;
//! * `block()` -> 0 (blocks are not counted without allocator hooks);
//! * `dump()` logs `dump all service mem:`, one `:%08x -> %zukb %zub` line per
//!   Lua service and `+total: %zukb`, as the reference formats them.
//!
//! C memory outside Lua heaps (message buffers, sockets, the shared data of
//! sharedata / sharetable) is not in these figures.

use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::sync::{Arc, LazyLock, Weak};

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

use crate::snlua::SnluaShared;
use crate::udata::{protect, service, set_funcs};

/// Lua services by handle, and the size past which the table is swept
/// for services that are gone.
struct Services {
    by_handle: HashMap<u32, Weak<SnluaShared>>,
    sweep_at: usize,
}

static SERVICES: LazyLock<Mutex<Services>> = LazyLock::new(|| {
    Mutex::new(Services {
        by_handle: HashMap::new(),
        sweep_at: 64,
    })
});

impl Services {
    fn sweep(&mut self) {
        self.by_handle.retain(|_, s| s.strong_count() > 0);
        self.sweep_at = (self.by_handle.len() * 2).max(64);
    }
}

/// Registers the Lua service `handle` (called by snlua when it sets up the
/// service's Lua state). Services that are gone are dropped from the table
/// now and then (each time it doubled), and whenever it is read.
pub fn track(handle: u32, shared: &Arc<SnluaShared>) {
    let mut services = SERVICES.lock();
    services.by_handle.insert(handle, Arc::downgrade(shared));
    if services.by_handle.len() >= services.sweep_at {
        services.sweep();
    }
}

/// Lua heap bytes of every live Lua service, by handle.
pub fn lua_heaps() -> Vec<(u32, usize)> {
    let mut services = SERVICES.lock();
    services.sweep();
    let mut heaps: Vec<(u32, usize)> = services
        .by_handle
        .iter()
        .filter_map(|(h, s)| s.upgrade().map(|s| (*h, s.lua_memory())))
        .collect();
    heaps.sort_unstable();
    heaps
}

/// Logs `text` as the reference's `skynet_error(NULL, ...)` does (source 0).
unsafe fn log(l: *mut lua_State, text: String) {
    match service(l) {
        Some(s) => s.context().node().log(0, text),
        None => {
            if let Some(node) = skynet_core::node::current_node() {
                node.log(0, text);
            }
        }
    }
}

unsafe fn push_size(l: *mut lua_State, n: usize) {
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
}

unsafe extern "C-unwind" fn ltotal(l: *mut lua_State) -> c_int {
    let total: usize = lua_heaps().iter().map(|(_, n)| n).sum();
    push_size(l, total);
    1
}

unsafe extern "C-unwind" fn lblock(l: *mut lua_State) -> c_int {
    push_size(l, 0);
    1
}

unsafe extern "C-unwind" fn lcurrent(l: *mut lua_State) -> c_int {
    let kb = ffi::lua_gc(l, ffi::LUA_GCCOUNT, 0) as usize;
    let bytes = ffi::lua_gc(l, ffi::LUA_GCCOUNTB, 0) as usize;
    push_size(l, kb * 1024 + bytes);
    1
}

/// `info()` -> `{ [handle] = bytes }`.
unsafe extern "C-unwind" fn linfo(l: *mut lua_State) -> c_int {
    let heaps = lua_heaps();
    let ok = protect(l, 0, &mut |l| {
        ffi::lua_createtable(l, 0, heaps.len() as c_int);
        for &(handle, bytes) in &heaps {
            push_size(l, bytes);
            ffi::lua_rawseti(l, -2, handle as ffi::lua_Integer);
        }
        1
    });
    drop(heaps);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

unsafe extern "C-unwind" fn ldump(l: *mut lua_State) -> c_int {
    log(l, "dump all service mem:".to_string());
    let mut total = 0usize;
    for (handle, bytes) in lua_heaps() {
        total += bytes;
        log(l, format!(":{handle:08x} -> {}kb {bytes}b", bytes >> 10));
    }
    log(l, format!("+total: {}kb", total >> 10));
    0
}

unsafe extern "C-unwind" fn ldumpinfo(l: *mut lua_State) -> c_int {
    log(l, "No jemalloc".to_string());
    0
}

/// What the reference's `mallctl_int64` does without jemalloc.
unsafe fn mallctl_int64(l: *mut lua_State, name: &str) -> usize {
    log(l, format!("No jemalloc : mallctl_int64 {name}."));
    0
}

unsafe extern "C-unwind" fn ljestat(l: *mut lua_State) -> c_int {
    mallctl_int64(l, "epoch");
    ffi::lua_createtable(l, 0, 5);
    for name in [
        c"stats.allocated",
        c"stats.resident",
        c"stats.retained",
        c"stats.mapped",
        c"stats.active",
    ] {
        let value = mallctl_int64(l, &name.to_string_lossy());
        push_size(l, value);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    1
}

unsafe extern "C-unwind" fn lmallctl(l: *mut lua_State) -> c_int {
    let name = ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
    let value = mallctl_int64(l, &CStr::from_ptr(name).to_string_lossy());
    push_size(l, value);
    1
}

unsafe extern "C-unwind" fn ldumpheap(l: *mut lua_State) -> c_int {
    log(l, "No jemalloc : mallctl_cmd prof.dump.".to_string());
    0
}

unsafe extern "C-unwind" fn lprofactive(l: *mut lua_State) -> c_int {
    log(l, "No jemalloc : mallctl_bool prof.active.".to_string());
    ffi::lua_pushboolean(l, 0);
    1
}

/// Opens `skynet.memory`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_memory(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 10);
    set_funcs(
        l,
        &[
            (c"total", ltotal),
            (c"block", lblock),
            (c"dumpinfo", ldumpinfo),
            (c"jestat", ljestat),
            (c"mallctl", lmallctl),
            (c"dump", ldump),
            (c"info", linfo),
            (c"current", lcurrent),
            (c"dumpheap", ldumpheap),
            (c"profactive", lprofactive),
        ],
    );
    1
}

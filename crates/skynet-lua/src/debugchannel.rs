//! `skynet.debugchannel`: the pipe between a `debug_agent` service and the
//! Lua hook of the service it debugs, plus the `sethook` that hook needs.
//! Stands for the reference's `lualib-src/lua-debugchannel.c`.
//!
//! The agent makes the channel (`create`) and writes console lines into it;
//! the debugged service attaches once (`connect`) and polls it from its own
//! worker thread. Lines are byte strings queued under a mutex, so either side
//! may run on any thread.
//!
//! Lua API (as the reference):
//! * `create()` -> channel, handle. The handle travels to the debugged
//!   service in a message. The reference hands over the channel's address;
//!   here it is a number standing for the channel in a process-wide table, so
//!   a stale or made-up handle gives `new channel failed` instead of reading
//!   freed memory.
//! * `connect(handle)` -> channel. Fails with `new channel failed` when the
//!   creator is gone or another side is already connected;
//!   `Invalid channel pointer` when the handle is not a (non-null) pointer.
//! * `channel:write(str)` queues a line; `channel:read([timeout])` takes the
//!   oldest one, or, when there is none, waits up to `timeout` (in the
//!   reference's unit: tenths of a second) and returns nothing.
//! * `release(channel)` lets go of the channel before it is collected.
//! * `sethook([thread,] [fn, mask [, count]])`: like `debug.sethook`, but the
//!   hook function may return a true value to yield the hooked coroutine
//!   (allowed by Lua for line and count events). Hook functions are kept in a
//!   weak-keyed table of their own in the registry.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use mlua::ffi::{self, lua_Debug, lua_State};
use parking_lot::{Condvar, Mutex};

use crate::udata::{check_udata, metatable, new_udata, protect, raise_here, set_funcs};

const METANAME: &CStr = c"debugchannel";

/// One channel: the queued lines and who is attached.
struct Channel {
    lines: Mutex<VecDeque<Box<[u8]>>>,
    arrived: Condvar,
    /// A reader has connected and not let go yet.
    connected: AtomicBool,
    handle: usize,
}

impl Channel {
    fn write(&self, line: Box<[u8]>) {
        self.lines.lock().push_back(line);
        self.arrived.notify_all();
    }

    /// The oldest line, waiting up to `wait` for one when the queue is empty.
    fn read(&self, wait: Duration) -> Option<Box<[u8]>> {
        let mut lines = self.lines.lock();
        if lines.is_empty() && !wait.is_zero() {
            let _ = self.arrived.wait_for(&mut lines, wait);
        }
        lines.pop_front()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        HANDLES.lock().channels.remove(&self.handle);
    }
}

/// What a channel userdata holds: one side of the channel.
struct Endpoint {
    chan: Arc<Channel>,
    reader: bool,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if self.reader {
            self.chan.connected.store(false, Ordering::Release);
        }
    }
}

/// Handles given out by `create`, for `connect`.
struct Handles {
    next: usize,
    channels: HashMap<usize, Weak<Channel>>,
}

static HANDLES: LazyLock<Mutex<Handles>> = LazyLock::new(|| {
    Mutex::new(Handles {
        // away from 0: a handle is passed as a non-null light userdata
        next: 0xdeb0_0000,
        channels: HashMap::new(),
    })
});

/// Pushes a new userdata for one side of a channel; returns its slot, to be
/// filled by the caller (nothing is owned yet if this raises).
unsafe fn new_endpoint(l: *mut lua_State) -> *mut Option<Endpoint> {
    metatable::<Endpoint>(l, METANAME, &[(c"read", lread), (c"write", lwrite)]);
    ffi::lua_pop(l, 1);
    new_udata::<Endpoint>(l, METANAME, 0)
}

/// `create()` -> channel, handle.
unsafe extern "C-unwind" fn lcreate(l: *mut lua_State) -> c_int {
    let slot = new_endpoint(l);
    let handle = {
        let mut handles = HANDLES.lock();
        let h = handles.next;
        handles.next = h.wrapping_add(1).max(1);
        h
    };
    let chan = Arc::new(Channel {
        lines: Mutex::new(VecDeque::new()),
        arrived: Condvar::new(),
        connected: AtomicBool::new(false),
        handle,
    });
    HANDLES
        .lock()
        .channels
        .insert(handle, Arc::downgrade(&chan));
    *slot = Some(Endpoint {
        chan,
        reader: false,
    });
    ffi::lua_pushlightuserdata(l, handle as *mut c_void);
    2
}

/// `connect(handle)` -> channel.
unsafe extern "C-unwind" fn lconnect(l: *mut lua_State) -> c_int {
    let handle = ffi::lua_touserdata(l, 1) as usize;
    if handle == 0 {
        raise_here(l, "Invalid channel pointer".to_string());
    }
    let slot = new_endpoint(l);
    let found = {
        let handles = HANDLES.lock();
        handles.channels.get(&handle).and_then(Weak::upgrade)
    };
    let attached = match found {
        Some(chan) => {
            if chan
                .connected
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                Some(chan)
            } else {
                drop(chan);
                None
            }
        }
        None => None,
    };
    match attached {
        Some(chan) => {
            *slot = Some(Endpoint { chan, reader: true });
            1
        }
        None => raise_here(l, "new channel failed".to_string()),
    }
}

/// `release(channel)`: drops this side now (anything else is ignored).
unsafe extern "C-unwind" fn lrelease(l: *mut lua_State) -> c_int {
    let slot = ffi::luaL_testudata(l, 1, METANAME.as_ptr()) as *mut Option<Endpoint>;
    if !slot.is_null() {
        let side = (*slot).take();
        drop(side);
    }
    0
}

/// How long `read(timeout)` may wait: the reference sleeps `timeout * 1e5`
/// microseconds. Negative, NaN or absurd values are clamped.
fn wait_for(timeout: f64) -> Duration {
    let micros = timeout * 100_000.0;
    if micros.is_nan() || micros <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_micros(micros.min(u32::MAX as f64) as u64)
    }
}

/// `channel:read([timeout])` -> line | nothing.
unsafe extern "C-unwind" fn lread(l: *mut lua_State) -> c_int {
    let side = check_udata::<Endpoint>(l, 1, METANAME);
    let timeout = ffi::luaL_optnumber(l, 2, 0.0);
    let Some(line) = side.chan.read(wait_for(timeout)) else {
        return 0;
    };
    // pushing may raise (memory): do it protected so `line` is freed
    let mut push = |l: *mut lua_State| {
        crate::udata::push_bytes(l, &line);
        1
    };
    let ok = protect(l, 0, &mut push);
    drop(line);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

/// `channel:write(str)`.
unsafe extern "C-unwind" fn lwrite(l: *mut lua_State) -> c_int {
    let side = check_udata::<Endpoint>(l, 1, METANAME);
    let bytes = crate::udata::check_bytes(l, 2);
    side.chan.write(Box::from(bytes));
    0
}

/// Its address keys the table of hook functions in the registry.
static HOOK_KEY: u8 = 0;

fn hook_key() -> *const c_void {
    &HOOK_KEY as *const u8 as *const c_void
}

/// The `lua_Hook` installed by `sethook`: calls the Lua function registered
/// for the running thread with (event name, line | nil) and yields the
/// thread when it returns a true value.
unsafe extern "C-unwind" fn hook(l: *mut lua_State, ar: *mut lua_Debug) {
    const EVENTS: [&CStr; 5] = [c"call", c"return", c"line", c"count", c"tail call"];
    let top = ffi::lua_gettop(l);
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, hook_key());
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        ffi::lua_settop(l, top);
        return;
    }
    ffi::lua_pushthread(l);
    if ffi::lua_rawget(l, -2) != ffi::LUA_TFUNCTION {
        ffi::lua_settop(l, top);
        return;
    }
    let event = EVENTS
        .get((*ar).event as usize)
        .copied()
        .unwrap_or(c"count");
    ffi::lua_pushstring(l, event.as_ptr());
    let line = (*ar).currentline;
    if line >= 0 {
        ffi::lua_pushinteger(l, line as ffi::lua_Integer);
    } else {
        ffi::lua_pushnil(l);
    }
    ffi::lua_call(l, 2, 1);
    let wants_yield = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_settop(l, top);
    if wants_yield {
        ffi::lua_yield(l, 0);
    }
}

/// The event mask for a mask string and count, as `debug.sethook`.
fn mask_of(spec: &[u8], count: c_int) -> c_int {
    let mut mask = 0;
    if spec.contains(&b'c') {
        mask |= ffi::LUA_MASKCALL;
    }
    if spec.contains(&b'r') {
        mask |= ffi::LUA_MASKRET;
    }
    if spec.contains(&b'l') {
        mask |= ffi::LUA_MASKLINE;
    }
    if count > 0 {
        mask |= ffi::LUA_MASKCOUNT;
    }
    mask
}

/// `sethook([thread,] [fn, mask [, count]])`; no function turns hooks off.
unsafe extern "C-unwind" fn lsethook(l: *mut lua_State) -> c_int {
    let (target, arg) = if ffi::lua_type(l, 1) == ffi::LUA_TTHREAD {
        (ffi::lua_tothread(l, 1), 1)
    } else {
        (l, 0)
    };
    let (func, mask, count): (Option<ffi::lua_Hook>, c_int, c_int) =
        if ffi::lua_isnoneornil(l, arg + 1) != 0 {
            ffi::lua_settop(l, arg + 1);
            (None, 0, 0)
        } else {
            let spec = crate::udata::check_bytes(l, arg + 2);
            ffi::luaL_checktype(l, arg + 1, ffi::LUA_TFUNCTION);
            let count = ffi::luaL_optinteger(l, arg + 3, 0);
            let count = count.clamp(0, c_int::MAX as ffi::lua_Integer) as c_int;
            (Some(hook), mask_of(spec, count), count)
        };
    if ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, hook_key()) != ffi::LUA_TTABLE {
        ffi::lua_pop(l, 1);
        ffi::lua_createtable(l, 0, 2);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, hook_key());
        // the table is its own metatable, with weak keys (the threads)
        ffi::lua_pushstring(l, c"k".as_ptr());
        ffi::lua_setfield(l, -2, c"__mode".as_ptr());
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setmetatable(l, -2);
    }
    ffi::lua_pushthread(target);
    if target != l {
        ffi::lua_xmove(target, l, 1);
    }
    ffi::lua_pushvalue(l, arg + 1);
    ffi::lua_rawset(l, -3);
    ffi::lua_sethook(target, func, mask, count);
    0
}

/// Opens `skynet.debugchannel`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_debugchannel(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 4);
    set_funcs(
        l,
        &[
            (c"create", lcreate),
            (c"connect", lconnect),
            (c"release", lrelease),
            (c"sethook", lsethook),
        ],
    );
    1
}

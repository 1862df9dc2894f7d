//! `skynet.stm`: one writer publishes successive versions of a message, any
//! number of readers in other services pick up the newest one. Stands for
//! the reference's `lualib-src/lua-stm.c`.
//!
//! The writer and each reader are userdata sharing one [`StmObject`] (an
//! `Arc`); a version is an immutable [`StmCopy`] (an `Arc` too), swapped in
//! under a read/write lock. A reader keeps the version it read last, so the
//! bytes it handed to its decoder stay valid until it reads a newer one.
//!
//! Lua API (as the reference):
//! * `stm.new(msg, sz)` / `stm.new(str)` -> writer. A light userdata message
//!   is taken over (it must come from the C allocator, like
//!   `skynet.pack`'s); a string is copied.
//! * `writer(msg, sz)` / `writer(str)` publishes a new version.
//! * `stm.copy(writer)` -> light userdata to hand to one reader (through a
//!   message). The reference passes the object's address; here it is a
//!   ticket number kept in a process-wide table, so a reader given a wrong
//!   or used value gets an error instead of reading freed memory.
//! * `stm.newcopy(ticket)` -> reader (the ticket is used up).
//! * `reader(f, ud)` -> `false` if nothing newer was published since its
//!   last read (or the writer is gone), else `true, f(msg, sz, ud)`.
//!
//! When the writer is collected its last version is dropped: readers then
//! read `false` forever.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::sync::{Arc, LazyLock};

use mlua::ffi::{self, lua_State};
use parking_lot::{Mutex, RwLock};
use skynet_core::Payload;

use crate::udata::{check_udata, metatable, new_udata, raise, raise_here, set_funcs};

const WRITER: &CStr = c"skynet.stm.writer";
const READER: &CStr = c"skynet.stm.reader";

/// One published version.
struct StmCopy {
    msg: Payload,
}

/// What the writer and its readers share.
struct StmObject {
    current: RwLock<Option<Arc<StmCopy>>>,
}

/// The writer's userdata. Dropping it withdraws the current version.
struct Writer {
    obj: Arc<StmObject>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let last = self.obj.current.write().take();
        drop(last);
    }
}

/// A reader's userdata.
struct Reader {
    obj: Arc<StmObject>,
    last: Option<Arc<StmCopy>>,
}

/// Tickets made by `stm.copy` and not yet used by `stm.newcopy`.
struct Tickets {
    next: usize,
    pending: HashMap<usize, Arc<StmObject>>,
}

static TICKETS: LazyLock<Mutex<Tickets>> = LazyLock::new(|| {
    Mutex::new(Tickets {
        // Start away from 0 so no ticket is a null light userdata.
        next: 0x5717_0000,
        pending: HashMap::new(),
    })
});

/// The message at argument `idx`: a light userdata + size taken over, or a
/// string copied. Raises on anything else (before owning anything).
unsafe fn message_arg(l: *mut lua_State, idx: c_int) -> Payload {
    if ffi::lua_type(l, idx) == ffi::LUA_TLIGHTUSERDATA {
        let p = ffi::lua_touserdata(l, idx) as *mut u8;
        let sz = ffi::luaL_checkinteger(l, idx + 1);
        if sz < 0 {
            raise_here(l, format!("Invalid message size {sz}"));
        }
        // SAFETY: like the reference, a light userdata message is a buffer
        // from the C allocator whose ownership the caller hands over.
        return Payload::from_raw(p, sz as usize);
    }
    let bytes = crate::udata::check_bytes(l, idx);
    Payload::from_slice(bytes)
}

/// `stm.new(msg, sz | str)`.
unsafe extern "C-unwind" fn lnew(l: *mut lua_State) -> c_int {
    if ffi::lua_type(l, 1) != ffi::LUA_TLIGHTUSERDATA {
        ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
    } else {
        ffi::luaL_checkinteger(l, 2);
    }
    let slot = new_udata::<Writer>(l, WRITER, 0);
    let msg = message_arg(l, 1);
    let obj = Arc::new(StmObject {
        current: RwLock::new(Some(Arc::new(StmCopy { msg }))),
    });
    *slot = Some(Writer { obj });
    1
}

/// `writer(msg, sz | str)`: publishes a new version.
unsafe extern "C-unwind" fn lupdate(l: *mut lua_State) -> c_int {
    let writer = check_udata::<Writer>(l, 1, WRITER);
    if ffi::lua_type(l, 2) != ffi::LUA_TLIGHTUSERDATA {
        ffi::luaL_checklstring(l, 2, std::ptr::null_mut());
    } else {
        ffi::luaL_checkinteger(l, 3);
    }
    let copy = Arc::new(StmCopy {
        msg: message_arg(l, 2),
    });
    let old = writer.obj.current.write().replace(copy);
    drop(old);
    0
}

/// `stm.copy(writer)` -> ticket.
unsafe extern "C-unwind" fn lcopy(l: *mut lua_State) -> c_int {
    let writer = check_udata::<Writer>(l, 1, WRITER);
    let ticket = {
        let mut tickets = TICKETS.lock();
        let t = tickets.next;
        tickets.next = t.wrapping_add(1).max(1);
        tickets.pending.insert(t, writer.obj.clone());
        t
    };
    ffi::lua_pushlightuserdata(l, ticket as *mut c_void);
    1
}

/// `stm.newcopy(ticket)` -> reader.
unsafe extern "C-unwind" fn lnewcopy(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TLIGHTUSERDATA);
    let ticket = ffi::lua_touserdata(l, 1) as usize;
    let slot = new_udata::<Reader>(l, READER, 0);
    let obj = TICKETS.lock().pending.remove(&ticket);
    let Some(obj) = obj else {
        raise(l, format!("Invalid stm copy {ticket:#x}"))
    };
    *slot = Some(Reader { obj, last: None });
    1
}

/// `reader(f, ud)` -> false | true, f(msg, sz, ud)...
unsafe extern "C-unwind" fn lread(l: *mut lua_State) -> c_int {
    let reader = check_udata::<Reader>(l, 1, READER);
    ffi::luaL_checktype(l, 2, ffi::LUA_TFUNCTION);
    ffi::lua_settop(l, 3);
    let current = reader.obj.current.read().clone();
    let unchanged = match (&current, &reader.last) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    // The reader keeps what it reads: the bytes stay valid while f runs.
    reader.last = current;
    let (msg, sz) = match (&reader.last, unchanged) {
        (Some(copy), false) => (copy.msg.as_ptr(), copy.msg.len()),
        _ => {
            ffi::lua_pushboolean(l, 0);
            return 1;
        }
    };
    ffi::lua_pushboolean(l, 1);
    ffi::lua_pushvalue(l, 2);
    ffi::lua_pushlightuserdata(l, msg as *mut c_void);
    ffi::lua_pushinteger(l, sz as ffi::lua_Integer);
    ffi::lua_pushvalue(l, 3);
    ffi::lua_call(l, 3, ffi::LUA_MULTRET);
    ffi::lua_gettop(l) - 3
}

/// Opens `skynet.stm`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_stm(l: *mut lua_State) -> c_int {
    metatable::<Writer>(l, WRITER, &[]);
    ffi::lua_pushcfunction(l, lupdate);
    ffi::lua_setfield(l, -2, c"__call".as_ptr());
    ffi::lua_pop(l, 1);
    metatable::<Reader>(l, READER, &[]);
    ffi::lua_pushcfunction(l, lread);
    ffi::lua_setfield(l, -2, c"__call".as_ptr());
    ffi::lua_pop(l, 1);
    ffi::lua_createtable(l, 0, 3);
    set_funcs(
        l,
        &[(c"new", lnew), (c"newcopy", lnewcopy), (c"copy", lcopy)],
    );
    1
}

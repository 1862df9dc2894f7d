//! Raw Lua C API edges shared by the native modules of the shared-data
//! family (`skynet.stm`, `skynet.multicast.core`, `skynet.sharedata.core`,
//! `skynet.sharetable.core`, `skynet.datasheet.core`, `skynet.memory`):
//! Rust values kept in Lua full userdata, and raising plain-string errors.
//! Stands for the `lauxlib` idioms (`luaL_newmetatable`, `luaL_checkudata`,
//! `luaL_error`) that the reference's `lualib-src/*.c` use.
//!
//! A Lua error is a `longjmp`: a function that may raise must not own a
//! value with a destructor at that point. The helpers here are built so that
//! callers can keep to that rule:
//! * [`raise`] takes the message by value, copies it to the Lua stack and
//!   frees it before jumping;
//! * [`new_udata`] allocates (the step that may raise) before any Rust value
//!   exists; [`protect`] runs Lua calls under `lua_pcall` when Rust values
//!   must stay alive across them;
//! * userdata hold an `Option<T>`, emptied by `__gc`, so a finalizer called
//!   twice (or by hand) cannot drop twice.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::{align_of, size_of};
use std::ptr;

use mlua::ffi::{self, lua_State};

use crate::snlua::SnluaShared;

/// Raises `msg` as a plain Lua string error (no position prefix).
///
/// # Safety
/// `l` is running a C function; the calling frames own nothing with a
/// destructor.
pub(crate) unsafe fn raise(l: *mut lua_State, msg: String) -> ! {
    ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
    drop(msg);
    ffi::lua_error(l)
}

/// Raises `msg` prefixed with the position of the calling Lua code, as
/// `luaL_error` does.
///
/// # Safety
/// As [`raise`].
pub(crate) unsafe fn raise_here(l: *mut lua_State, msg: String) -> ! {
    ffi::luaL_where(l, 1);
    ffi::lua_pushlstring(l, msg.as_ptr() as *const c_char, msg.len());
    drop(msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// Pushes a byte string.
///
/// # Safety
/// `l` is a valid state with a free stack slot; may raise (memory).
pub(crate) unsafe fn push_bytes(l: *mut lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
}

/// The bytes of the value at `idx` if it is a string (numbers are not
/// converted, so this is safe to use on keys during a traversal).
///
/// # Safety
/// The slice lives as long as the string stays reachable.
pub(crate) unsafe fn string_at<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(l, idx) != ffi::LUA_TSTRING {
        return None;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() || len == 0 {
        Some(&[])
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// `luaL_checklstring` as a byte slice (raises "bad argument ...").
///
/// # Safety
/// The slice lives while the string stays on the stack; may raise.
pub(crate) unsafe fn check_bytes<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, idx, &mut len);
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    }
}

/// The snlua service running this state (its registry's `skynet_context`),
/// if any: states made by the modules themselves have none.
///
/// # Safety
/// The registry entry, when present, is the live [`SnluaShared`] snlua put
/// there.
pub(crate) unsafe fn service<'a>(l: *mut lua_State) -> Option<&'a SnluaShared> {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"skynet_context".as_ptr());
    let p = ffi::lua_touserdata(l, -1) as *const SnluaShared;
    ffi::lua_pop(l, 1);
    p.as_ref()
}

/// Light C function run by [`protect`]: argument 1 is the body's address.
unsafe extern "C-unwind" fn trampoline<F: FnMut(*mut lua_State) -> c_int>(
    l: *mut lua_State,
) -> c_int {
    let body = ffi::lua_touserdata(l, 1) as *mut F;
    ffi::lua_remove(l, 1);
    (*body)(l)
}

/// Calls `body` under `lua_pcall` with the top `nargs` stack values as its
/// stack, so that a Lua error raised inside unwinds to here and not through
/// the caller, which may therefore own Rust values (such as the data `body`
/// reads through references). Nothing is allocated before the protected
/// call starts. Returns `true` with `body`'s results pushed, or `false`
/// with the error value pushed (the caller drops what it owns, then
/// re-raises it with `lua_error`). `body` itself keeps to the usual rule:
/// nothing with a destructor in its frame when it calls into Lua.
///
/// # Safety
/// `l` is a valid state with `nargs` values on top and two free slots.
pub(crate) unsafe fn protect<F: FnMut(*mut lua_State) -> c_int>(
    l: *mut lua_State,
    nargs: c_int,
    body: &mut F,
) -> bool {
    ffi::lua_pushcfunction(l, trampoline::<F>);
    ffi::lua_pushlightuserdata(l, body as *mut F as *mut c_void);
    // [args.., f, body] -> [f, body, args..]
    ffi::lua_rotate(l, -(nargs + 2), 2);
    ffi::lua_pcall(l, nargs + 1, ffi::LUA_MULTRET, 0) == ffi::LUA_OK
}

/// Registers functions into the table on top of the stack.
///
/// # Safety
/// `l` is a valid state with a table on top.
pub(crate) unsafe fn set_funcs(l: *mut lua_State, funcs: &[(&CStr, ffi::lua_CFunction)]) {
    for (name, f) in funcs {
        ffi::lua_pushcfunction(l, *f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

/// Creates (once per state) the metatable `name` in the registry with a
/// `__gc` that drops the `T` of its userdata, `__index` pointing to itself,
/// and the given methods; leaves it on the stack.
///
/// # Safety
/// `l` is a valid state.
pub(crate) unsafe fn metatable<T>(
    l: *mut lua_State,
    name: &CStr,
    methods: &[(&CStr, ffi::lua_CFunction)],
) {
    if ffi::luaL_newmetatable(l, name.as_ptr()) != 0 {
        ffi::lua_pushcfunction(l, drop_udata::<T>);
        ffi::lua_setfield(l, -2, c"__gc".as_ptr());
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        set_funcs(l, methods);
    }
}

/// `__gc` of a userdata made by [`new_udata`] / [`push_udata`].
unsafe extern "C-unwind" fn drop_udata<T>(l: *mut lua_State) -> c_int {
    let slot = ffi::lua_touserdata(l, 1) as *mut Option<T>;
    if !slot.is_null() {
        // Taking first leaves the slot empty even if T's drop runs code
        // that finds this userdata again.
        let value = (*slot).take();
        drop(value);
    }
    0
}

const fn fits<T>() -> bool {
    // Lua aligns userdata memory at least like a pointer / lua_Number.
    align_of::<Option<T>>() <= 8
}

/// Pushes a new, empty userdata for a `T` with the metatable `name` (made
/// beforehand by [`metatable`]) and `nuv` user values; returns its slot.
/// This is where a memory error may be raised, so the caller must not own
/// anything with a destructor yet; it fills the slot afterwards.
///
/// # Safety
/// As [`raise`].
pub(crate) unsafe fn new_udata<T>(l: *mut lua_State, name: &CStr, nuv: c_int) -> *mut Option<T> {
    const { assert!(fits::<T>()) };
    let slot = ffi::lua_newuserdatauv(l, size_of::<Option<T>>(), nuv) as *mut Option<T>;
    ptr::write(slot, None);
    ffi::luaL_setmetatable(l, name.as_ptr());
    slot
}

/// The `T` of the userdata at `idx`, which must have the metatable `name`
/// and still be alive; raises "bad argument" errors otherwise.
///
/// # Safety
/// `name` names a metatable made by [`metatable::<T>`]; may raise.
pub(crate) unsafe fn check_udata<'a, T>(l: *mut lua_State, idx: c_int, name: &CStr) -> &'a mut T {
    let slot = ffi::luaL_checkudata(l, idx, name.as_ptr()) as *mut Option<T>;
    match (*slot).as_mut() {
        Some(v) => v,
        None => {
            let msg = format!(
                "bad argument #{idx} ({} already released)",
                name.to_string_lossy()
            );
            raise_here(l, msg)
        }
    }
}

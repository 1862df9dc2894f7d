//! The few functions of the Lua 5.4 C API that `client.so` calls, declared
//! by hand, and small helpers over them. Stands for the `lua.h` /
//! `lauxlib.h` includes of the reference's `lua-clientsocket.c` and
//! `lua-crypt.c`.
//!
//! Why not mlua-sys: the module must call into the Lua of the interpreter
//! that `require`s it (e.g. Debian's `lua5.4`, which exports its API), with
//! every `lua_*` symbol left undefined in `client.so` and bound when the
//! interpreter loads it. mlua-sys can do that with its `module` feature, but
//! in this workspace mlua is built with `vendored`; Cargo unifies features
//! across the workspace, so a `cargo build --workspace` would hand this crate
//! the vendored Lua as well and link a second, private Lua into the module
//! (two Lua runtimes on one state: silent corruption). A dozen declarations
//! keep the module free of that coupling. They follow the Lua 5.4 ABI
//! (`lua_Integer` = `i64`, `lua_Number` = `f64`), the one of
//! `/usr/include/lua5.4`.
//!
//! Lua raises errors with `longjmp`: the helpers that may raise
//! ([`check_bytes`], [`check_integer`], [`raise`], ...) must be called from
//! frames that own nothing with a destructor.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt::{self, Write};

/// An opaque `lua_State`.
#[repr(C)]
pub struct LuaState {
    _opaque: [u8; 0],
}

/// A Lua state pointer, as every C function receives it.
pub type State = *mut LuaState;

/// `lua_CFunction`.
pub type CFunction = unsafe extern "C-unwind" fn(State) -> c_int;

/// `LUA_VERSION_NUM` of the headers this module is written against.
const LUA_VERSION_NUM: f64 = 504.0;
/// `LUAL_NUMSIZES`: `sizeof(lua_Integer) * 16 + sizeof(lua_Number)`.
const LUAL_NUMSIZES: usize = 8 * 16 + 8;

extern "C-unwind" {
    fn luaL_checkversion_(l: State, ver: f64, sz: usize);
    fn lua_createtable(l: State, narr: c_int, nrec: c_int);
    fn lua_pushcclosure(l: State, f: CFunction, n: c_int);
    fn lua_setfield(l: State, idx: c_int, k: *const c_char);
    fn lua_pushinteger(l: State, n: i64);
    fn lua_pushlstring(l: State, s: *const c_char, len: usize) -> *const c_char;
    fn lua_newuserdatauv(l: State, sz: usize, nuvalue: c_int) -> *mut c_void;
    fn luaL_checklstring(l: State, arg: c_int, len: *mut usize) -> *const c_char;
    fn luaL_checkinteger(l: State, arg: c_int) -> i64;
    fn luaL_optinteger(l: State, arg: c_int, def: i64) -> i64;
    fn luaL_checknumber(l: State, arg: c_int) -> f64;
}

extern "C" {
    fn luaL_error(l: State, fmt: *const c_char, ...) -> c_int;
}

/// Checks that the interpreter's Lua is the version and number layout this
/// module was written for (`luaL_checkversion`), then pushes a new table
/// holding `functions`.
///
/// # Safety
/// `l` is running a C function (an `luaopen_*`) with room on its stack.
pub unsafe fn new_library(l: State, functions: &[(&CStr, CFunction)]) {
    luaL_checkversion_(l, LUA_VERSION_NUM, LUAL_NUMSIZES);
    lua_createtable(l, 0, c_int::try_from(functions.len()).unwrap_or(0));
    for (name, f) in functions {
        lua_pushcclosure(l, *f, 0);
        lua_setfield(l, -2, name.as_ptr());
    }
}

/// Sets `t[name] = <value on top>` for the table just below the top, and
/// pops the value.
///
/// # Safety
/// The stack holds a table at -2 and the value at -1.
pub unsafe fn set_field(l: State, name: &CStr) {
    lua_setfield(l, -2, name.as_ptr());
}

/// Pushes a new table `{ [name] = value, ... }`.
///
/// # Safety
/// `l` has room for two more values.
pub unsafe fn push_int_table(l: State, entries: &[(&CStr, i64)]) {
    lua_createtable(l, 0, c_int::try_from(entries.len()).unwrap_or(0));
    for (name, value) in entries {
        lua_pushinteger(l, *value);
        lua_setfield(l, -2, name.as_ptr());
    }
}

/// Pushes an integer.
///
/// # Safety
/// `l` has room for one more value.
pub unsafe fn push_integer(l: State, n: i64) {
    lua_pushinteger(l, n);
}

/// Pushes `bytes` as a Lua string (may raise a memory error).
///
/// # Safety
/// `l` has room for one more value.
pub unsafe fn push_bytes(l: State, bytes: &[u8]) {
    lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
}

/// The string argument `arg` (raises the usual argument error otherwise).
/// The bytes live as long as the argument stays on the stack.
///
/// # Safety
/// `l` is running a C function; the caller's frame owns nothing with a
/// destructor.
pub unsafe fn check_bytes<'a>(l: State, arg: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = luaL_checklstring(l, arg, &mut len);
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p.cast(), len)
    }
}

/// The string argument `arg` as a C string (Lua strings end with a NUL).
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn check_cstr<'a>(l: State, arg: c_int) -> &'a CStr {
    let mut len = 0usize;
    CStr::from_ptr(luaL_checklstring(l, arg, &mut len))
}

/// The integer argument `arg`.
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn check_integer(l: State, arg: c_int) -> i64 {
    luaL_checkinteger(l, arg)
}

/// The optional integer argument `arg`, `def` when absent or nil.
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn opt_integer(l: State, arg: c_int, def: i64) -> i64 {
    luaL_optinteger(l, arg, def)
}

/// The number argument `arg`.
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn check_number(l: State, arg: c_int) -> f64 {
    luaL_checknumber(l, arg)
}

/// A writable buffer of `len` bytes owned by Lua (a userdata left on the
/// stack), so that no Rust allocation is pending if Lua raises. A C function
/// that then pushes its result and returns 1 returns just that result.
///
/// # Safety
/// `l` has room for one more value; the buffer lives while the userdata is
/// on the stack.
pub unsafe fn scratch<'a>(l: State, len: usize) -> &'a mut [u8] {
    let p = lua_newuserdatauv(l, len.max(1), 0).cast::<u8>();
    std::slice::from_raw_parts_mut(p, len)
}

/// The longest error text [`raise`] keeps; longer texts are cut.
const MSG_CAPACITY: usize = 256;

/// A NUL-terminated text on the stack, written through `fmt::Write`.
struct Msg {
    buf: [u8; MSG_CAPACITY],
    len: usize,
}

impl Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // keep the last byte for the NUL
        let room = MSG_CAPACITY - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Raises a Lua error with the text `args`, prefixed with the position of
/// the calling Lua code, as `luaL_error` does.
///
/// # Safety
/// `l` is running a C function; the frames unwound by the `longjmp` own
/// nothing with a destructor.
pub unsafe fn raise(l: State, args: fmt::Arguments) -> ! {
    let mut msg = Msg {
        buf: [0; MSG_CAPACITY],
        len: 0,
    };
    let _ = msg.write_fmt(args);
    msg.buf[msg.len] = 0;
    luaL_error(l, c"%s".as_ptr(), msg.buf.as_ptr().cast::<c_char>());
    // luaL_error never returns
    unreachable_after_error()
}

/// Reached only if `luaL_error` returned, which it never does.
fn unreachable_after_error() -> ! {
    std::process::abort()
}

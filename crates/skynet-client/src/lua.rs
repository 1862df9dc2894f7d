//! Small helpers over the Lua C API ([`crate::ffi`]) for the `client.socket`
//! functions: argument checks, pushes, Lua-owned scratch buffers and errors
//! raised with `luaL_error`'s texts.
//!
//! Lua raises errors with `longjmp`: the helpers that may raise
//! ([`check_bytes`], [`check_integer`], [`raise`], ...) must be called from
//! frames that own nothing with a destructor.

use std::ffi::{c_char, c_int, CStr};
use std::fmt::{self, Write};

use crate::ffi;

/// A Lua state pointer, as every C function receives it.
pub type State = *mut ffi::lua_State;

/// Checks that the interpreter's Lua is the version and number layout this
/// module was written for (`luaL_checkversion`), then pushes a new table
/// holding `functions`.
///
/// # Safety
/// `l` is running a C function (an `luaopen_*`) with room on its stack.
pub unsafe fn new_library(l: State, functions: &[(&CStr, ffi::lua_CFunction)]) {
    ffi::luaL_checkversion(l);
    ffi::lua_createtable(l, 0, c_int::try_from(functions.len()).unwrap_or(0));
    for (name, f) in functions {
        ffi::lua_pushcfunction(l, *f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

/// Pushes an integer.
///
/// # Safety
/// `l` has room for one more value.
pub unsafe fn push_integer(l: State, n: i64) {
    ffi::lua_pushinteger(l, n);
}

/// Pushes `bytes` as a Lua string (may raise a memory error).
///
/// # Safety
/// `l` has room for one more value.
pub unsafe fn push_bytes(l: State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
}

/// The string argument `arg` (raises the usual argument error otherwise).
/// The bytes live as long as the argument stays on the stack.
///
/// # Safety
/// `l` is running a C function; the caller's frame owns nothing with a
/// destructor.
pub unsafe fn check_bytes<'a>(l: State, arg: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, arg, &mut len);
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
    CStr::from_ptr(ffi::luaL_checklstring(l, arg, &mut len))
}

/// The integer argument `arg`.
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn check_integer(l: State, arg: c_int) -> i64 {
    ffi::luaL_checkinteger(l, arg)
}

/// The number argument `arg`.
///
/// # Safety
/// As [`check_bytes`].
pub unsafe fn check_number(l: State, arg: c_int) -> f64 {
    ffi::luaL_checknumber(l, arg)
}

/// A writable buffer of `len` bytes owned by Lua (a userdata left on the
/// stack), so that no Rust allocation is pending if Lua raises. A C function
/// that then pushes its result and returns 1 returns just that result.
///
/// # Safety
/// `l` has room for one more value; the buffer lives while the userdata is
/// on the stack.
pub unsafe fn scratch<'a>(l: State, len: usize) -> &'a mut [u8] {
    let p = ffi::lua_newuserdatauv(l, len.max(1), 0).cast::<u8>();
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
/// the running code as `luaL_error` does (nothing for a C function).
///
/// # Safety
/// `l` is running a C function; the frames unwound by the `longjmp` own
/// nothing with a destructor.
pub unsafe fn raise(l: State, args: fmt::Arguments) -> ! {
    let mut msg = Msg {
        buf: [0; MSG_CAPACITY],
        len: 0,
    };
    // Msg's writer never fails; a cut text is still raised
    let _ = msg.write_fmt(args);
    msg.buf[msg.len] = 0;
    ffi::luaL_error(l, c"%s".as_ptr(), msg.buf.as_ptr().cast::<c_char>());
    // luaL_error longjmps away
    std::process::abort()
}

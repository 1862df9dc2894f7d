//! Small helpers over the raw Lua C API shared by the native library modules
//! (`skynet.crypt`, `md5`, `bson`, `sproto.core`). Stands for the parts of
//! `lauxlib` the reference's `lualib-src/*.c` lean on.
//!
//! A Lua error is a `longjmp`: every helper that may raise keeps nothing with a
//! destructor in its frame. Error texts are formatted into a fixed buffer on
//! the stack ([`Msg`]) so that raising needs no heap value, and output buffers
//! are taken from Lua ([`scratch`]) so that the garbage collector owns them.

use std::ffi::{c_char, c_int, CStr};
use std::fmt;

use mlua::ffi::{self, lua_State};

/// A Lua state pointer, as every `lua_CFunction` receives it.
pub(crate) type State = *mut lua_State;

/// The longest error text raised through [`raise`]; longer texts are cut.
const MSG_CAPACITY: usize = 512;

/// A fixed-size text buffer, filled through `fmt::Write`, with no destructor.
pub(crate) struct Msg {
    buf: [u8; MSG_CAPACITY],
    len: usize,
}

impl Msg {
    pub(crate) fn new() -> Self {
        Msg {
            buf: [0; MSG_CAPACITY],
            len: 0,
        }
    }

    /// Appends raw bytes (cut at the capacity).
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        let room = MSG_CAPACITY - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Raises the message with the position of the code `level` calls up, as
/// `luaL_error` does with level 1.
///
/// # Safety
/// `l` is running a C function; the frames being unwound own nothing with a
/// destructor.
pub(crate) unsafe fn raise_msg(l: State, level: c_int, msg: &Msg) -> ! {
    let bytes = msg.as_bytes();
    ffi::luaL_where(l, level);
    ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// Formats and raises an error from a C function called directly by Lua
/// (the position is that of the caller, as with `luaL_error`).
///
/// # Safety
/// As [`raise_msg`].
pub(crate) unsafe fn raise(l: State, args: fmt::Arguments) -> ! {
    raise_at(l, 1, args)
}

/// Formats and raises an error with the position of the code `level` calls up.
///
/// # Safety
/// As [`raise_msg`].
pub(crate) unsafe fn raise_at(l: State, level: c_int, args: fmt::Arguments) -> ! {
    let mut msg = Msg::new();
    let _ = fmt::write(&mut msg, args);
    raise_msg(l, level, &msg)
}

/// Raises `bad argument #arg to 'fn' (extra)` like `luaL_argerror`.
///
/// # Safety
/// As [`raise_msg`].
pub(crate) unsafe fn arg_error(l: State, arg: c_int, extra: &CStr) -> ! {
    ffi::luaL_argerror(l, arg, extra.as_ptr());
    // luaL_argerror never returns; this only satisfies the type.
    ffi::lua_error(l)
}

/// The bytes of the string (or number) argument `arg`; raises the usual
/// "string expected" argument error otherwise.
///
/// # Safety
/// `l` is running a C function; the returned slice lives while the value
/// stays on the stack.
pub(crate) unsafe fn check_bytes<'a>(l: State, arg: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, arg, &mut len);
    bytes_of(p, len)
}

/// The bytes of the value at `idx` if it is a string or a number (numbers are
/// converted in place, as `lua_tolstring` does).
///
/// # Safety
/// As [`check_bytes`].
pub(crate) unsafe fn to_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(bytes_of(p, len))
    }
}

unsafe fn bytes_of<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    }
}

/// Pushes a byte string.
///
/// # Safety
/// `l` is a valid state with a free stack slot.
pub(crate) unsafe fn push_bytes(l: State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr() as *const c_char, bytes.len());
}

/// A writable buffer of `n` bytes owned by Lua: a new userdata left on the
/// stack, which keeps it alive until the C function returns.
///
/// # Safety
/// `l` is running a C function with a free stack slot; the slice must not be
/// used after that function returned or the userdata was removed.
pub(crate) unsafe fn scratch<'a>(l: State, n: usize) -> &'a mut [u8] {
    if n == 0 {
        return &mut [];
    }
    let p = ffi::lua_newuserdatauv(l, n, 0) as *mut u8;
    std::ptr::write_bytes(p, 0, n);
    std::slice::from_raw_parts_mut(p, n)
}

/// The name of the type of the value at `idx`.
///
/// # Safety
/// `l` is a valid state.
pub(crate) unsafe fn type_name<'a>(l: State, idx: c_int) -> &'a str {
    let t = ffi::lua_type(l, idx);
    CStr::from_ptr(ffi::lua_typename(l, t))
        .to_str()
        .unwrap_or("?")
}

/// Registers C functions in the table on top of the stack.
///
/// # Safety
/// `l` is a valid state with a table on top.
pub(crate) unsafe fn set_functions(l: State, funcs: &[(&CStr, ffi::lua_CFunction)]) {
    for (name, f) in funcs {
        ffi::lua_pushcfunction(l, *f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

//! `skynet.pack`, `skynet.unpack` and `skynet.packstring`: the byte format in
//! which Lua services exchange values (the reference's `lualib-src/lua-seri.c`).
//!
//! A message is a sequence of encoded values. Each value starts with one byte,
//! `tag | cookie << 3`:
//!
//! | tag | value         | cookie and what follows                                       |
//! |-----|---------------|---------------------------------------------------------------|
//! | 0   | nil           | –                                                             |
//! | 1   | boolean       | 0 false, 1 true                                               |
//! | 2   | number        | 0: integer 0; 1: u8; 2: u16; 4: i32; 6: i64; 8: f64 (all LE) |
//! | 3   | light userdata| the pointer, native width                                     |
//! | 4   | short string  | the length (0..=31), then the bytes                           |
//! | 5   | long string   | 2: u16 length, 4: u32 length, then the bytes                  |
//! | 6   | table         | array size if below 31, else 31 and an encoded integer; then  |
//! |     |               | the array items, the other (key, value) pairs and a nil byte  |
//!
//! The codec works on the Lua stack through the C API (`mlua::ffi`) rather than
//! through mlua values: it runs for every Lua message, and its errors must reach
//! Lua as plain strings with the reference's texts and positions, which an mlua
//! callback cannot raise. No crate implements this format, hence the hand-written
//! codec. A Lua error is a `longjmp`, so the functions that can raise one keep
//! nothing with a destructor in their frames: the output buffer of an encoding
//! belongs to a caller outside the protected call that fills it.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use mlua::{ffi, Error, Lua, MultiValue, Table, Value};
use skynet_core::Payload;

const TAG_NIL: u8 = 0;
const TAG_BOOLEAN: u8 = 1;
const TAG_NUMBER: u8 = 2;
const TAG_POINTER: u8 = 3;
const TAG_SHORT_STRING: u8 = 4;
const TAG_LONG_STRING: u8 = 5;
const TAG_TABLE: u8 = 6;

/// Cookies of [`TAG_NUMBER`]: how the number is stored.
const NUM_ZERO: u8 = 0;
const NUM_U8: u8 = 1;
const NUM_U16: u8 = 2;
const NUM_I32: u8 = 4;
const NUM_I64: u8 = 6;
const NUM_F64: u8 = 8;

/// Cookies of [`TAG_LONG_STRING`]: the width of the length that follows.
const LEN_U16: u8 = 2;
const LEN_U32: u8 = 4;

/// Strings shorter than this keep their length in the cookie.
const SHORT_STRING_LIMIT: usize = 32;
/// A table cookie meaning "the array size follows as an encoded integer";
/// smaller array sizes are the cookie itself.
const ARRAY_SIZE_FOLLOWS: u8 = 31;

/// Tables nested deeper than this cannot be packed (the reference's limit).
const MAX_PACK_DEPTH: u32 = 32;
/// Tables nested deeper than this are refused by unpack. The reference has no
/// such limit and recurses until the C stack overflows; its packer never nests
/// deeper than 33, so this only stops hostile input.
const MAX_UNPACK_DEPTH: u32 = 256;

/// First allocation of an encoding buffer (the reference's block size).
const INITIAL_CAPACITY: usize = 128;

/// Source lines of the reference's stream checks. Its error message reports
/// the line of the check that failed; we report the same numbers so that logs
/// read the same.
mod check_line {
    pub const U8: u32 = 378;
    pub const U16: u32 = 386;
    pub const I32: u32 = 394;
    pub const I64: u32 = 402;
    pub const NUMBER_KIND: u32 = 407;
    pub const F64: u32 = 417;
    pub const POINTER: u32 = 427;
    pub const BYTES: u32 = 437;
    pub const ARRAY_SIZE_MISSING: u32 = 450;
    pub const ARRAY_SIZE_KIND: u32 = 455;
    pub const LONG_LEN_U16: u32 = 503;
    pub const LONG_LEN_KIND: u32 = 510;
    pub const LONG_LEN_U32: u32 = 514;
    pub const TAG: u32 = 527;
    pub const VALUE_MISSING: u32 = 538;
}

fn head(tag: u8, cookie: u8) -> u8 {
    tag | (cookie << 3)
}

// ---------------------------------------------------------------------------
// Writing

fn write_integer(out: &mut Payload, v: i64) {
    match v {
        0 => out.push(head(TAG_NUMBER, NUM_ZERO)),
        1..=0xff => {
            out.push(head(TAG_NUMBER, NUM_U8));
            out.push(v as u8);
        }
        0x100..=0xffff => {
            out.push(head(TAG_NUMBER, NUM_U16));
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        // Negative values down to i32::MIN, and 65536..=i32::MAX.
        -0x8000_0000..=0x7fff_ffff => {
            out.push(head(TAG_NUMBER, NUM_I32));
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            out.push(head(TAG_NUMBER, NUM_I64));
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn write_real(out: &mut Payload, v: f64) {
    out.push(head(TAG_NUMBER, NUM_F64));
    out.extend_from_slice(&v.to_le_bytes());
}

fn write_pointer(out: &mut Payload, p: *mut c_void) {
    out.push(head(TAG_POINTER, 0));
    out.extend_from_slice(&(p as usize).to_le_bytes());
}

/// Writes a string; `None` when it is too long for the format (4 GiB).
fn write_string(out: &mut Payload, bytes: &[u8]) -> Option<()> {
    let len = bytes.len();
    if len < SHORT_STRING_LIMIT {
        out.push(head(TAG_SHORT_STRING, len as u8));
    } else if let Ok(len) = u16::try_from(len) {
        out.push(head(TAG_LONG_STRING, LEN_U16));
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        let len = u32::try_from(len).ok()?;
        out.push(head(TAG_LONG_STRING, LEN_U32));
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(bytes);
    Some(())
}

fn write_table_head(out: &mut Payload, array_size: usize) {
    if array_size >= usize::from(ARRAY_SIZE_FOLLOWS) {
        out.push(head(TAG_TABLE, ARRAY_SIZE_FOLLOWS));
        write_integer(out, array_size as i64);
    } else {
        out.push(head(TAG_TABLE, array_size as u8));
    }
}

// ---------------------------------------------------------------------------
// Raising Lua errors

/// Raises the string on top of the stack, prefixed like `luaL_error` does with
/// the position of the code `level` calls up (1: the caller of the running C
/// function; nothing when that is a C function).
///
/// # Safety
/// `state` is running a C function; the frames being unwound hold no values
/// with destructors.
unsafe fn raise_at(state: *mut ffi::lua_State, level: c_int) -> ! {
    ffi::luaL_where(state, level);
    ffi::lua_insert(state, -2);
    ffi::lua_concat(state, 2);
    ffi::lua_error(state)
}

/// Raises a fixed message with the position of the caller `level` calls up.
///
/// # Safety
/// As [`raise_at`].
unsafe fn raise_text(state: *mut ffi::lua_State, level: c_int, msg: &CStr) -> ! {
    ffi::lua_pushstring(state, msg.as_ptr());
    raise_at(state, level)
}

// ---------------------------------------------------------------------------
// Encoding (inside a protected call unless every value is plain, see `pack_stack`)

/// Whether the values at 1..=`count` are all of the kinds whose encoding
/// cannot raise: nil, booleans, numbers, light userdata, and strings the
/// format can hold (tables can: metamethods, nesting depth; other types are
/// refused with an error).
///
/// # Safety
/// `state` is a valid Lua state with at least `count` values on its stack.
unsafe fn only_plain_values(state: *mut ffi::lua_State, count: c_int) -> bool {
    (1..=count).all(|index| match ffi::lua_type(state, index) {
        ffi::LUA_TNIL | ffi::LUA_TBOOLEAN | ffi::LUA_TNUMBER | ffi::LUA_TLIGHTUSERDATA => true,
        ffi::LUA_TSTRING => u32::try_from(ffi::lua_rawlen(state, index)).is_ok(),
        _ => false,
    })
}

/// The C function that encodes values under `lua_pcall`. Its stack holds the
/// values followed by a light userdata pointing to the output [`Payload`].
/// Errors are raised with the position of the code that called `pack`, which
/// is two calls up (the protected call sits between).
unsafe extern "C-unwind" fn encode_protected(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `pack_stack` pushed a pointer to a Payload it owns and keeps
    // alive, unaliased, until this protected call has returned.
    let out = unsafe { &mut *(ffi::lua_touserdata(state, -1) as *mut Payload) };
    // SAFETY: plain stack manipulation on our own frame.
    let count = unsafe {
        ffi::lua_pop(state, 1);
        ffi::lua_gettop(state)
    };
    for index in 1..=count {
        // SAFETY: `index` is a valid slot of this frame; this frame and the
        // encoder's hold no destructors, only the borrowed `out`.
        unsafe { encode_value(state, out, index, 0) };
    }
    0
}

/// Appends the value at `index` to `out`. `depth` is the number of tables
/// enclosing the value.
///
/// # Safety
/// Called (indirectly) from [`encode_protected`]; `index` is a valid stack index.
unsafe fn encode_value(state: *mut ffi::lua_State, out: &mut Payload, index: c_int, depth: u32) {
    if depth > MAX_PACK_DEPTH {
        raise_text(state, 2, c"serialize can't pack too depth table");
    }
    let index = ffi::lua_absindex(state, index);
    match ffi::lua_type(state, index) {
        ffi::LUA_TNIL => out.push(head(TAG_NIL, 0)),
        ffi::LUA_TBOOLEAN => out.push(head(
            TAG_BOOLEAN,
            u8::from(ffi::lua_toboolean(state, index) != 0),
        )),
        ffi::LUA_TNUMBER => {
            if ffi::lua_isinteger(state, index) != 0 {
                write_integer(out, ffi::lua_tointeger(state, index));
            } else {
                write_real(out, ffi::lua_tonumber(state, index));
            }
        }
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(state, index, &mut len);
            // The string stays on the stack (at `index`) while we copy it.
            let bytes = std::slice::from_raw_parts(p as *const u8, len);
            if write_string(out, bytes).is_none() {
                raise_text(state, 2, c"serialize can't pack too long string");
            }
        }
        ffi::LUA_TLIGHTUSERDATA => write_pointer(out, ffi::lua_touserdata(state, index)),
        ffi::LUA_TTABLE => encode_table(state, out, index, depth + 1),
        other => {
            ffi::lua_pushfstring(
                state,
                c"Unsupport type %s to serialize".as_ptr(),
                ffi::lua_typename(state, other),
            );
            raise_at(state, 2)
        }
    }
}

/// Appends the table at the absolute `index`, which sits at nesting `depth`.
///
/// # Safety
/// As [`encode_value`]; `index` is absolute and holds a table.
unsafe fn encode_table(state: *mut ffi::lua_State, out: &mut Payload, index: c_int, depth: u32) {
    if ffi::lua_checkstack(state, ffi::LUA_MINSTACK) == 0 {
        ffi::lua_pushstring(state, c"out of memory".as_ptr());
        ffi::lua_error(state);
    }
    if ffi::luaL_getmetafield(state, index, c"__pairs".as_ptr()) != ffi::LUA_TNIL {
        encode_with_pairs(state, out, index, depth);
        return;
    }
    let array_size = ffi::lua_rawlen(state, index);
    write_table_head(out, array_size);
    for i in 1..=array_size {
        ffi::lua_rawgeti(state, index, i as ffi::lua_Integer);
        encode_value(state, out, -1, depth);
        ffi::lua_pop(state, 1);
    }
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, index) != 0 {
        // Keys 1..=array_size were written as the array part.
        let in_array = ffi::lua_isinteger(state, -2) != 0 && {
            let key = ffi::lua_tointeger(state, -2);
            key > 0 && (key as u64) <= array_size as u64
        };
        if !in_array {
            encode_value(state, out, -2, depth);
            encode_value(state, out, -1, depth);
        }
        ffi::lua_pop(state, 1);
    }
    out.push(head(TAG_NIL, 0));
}

/// Appends a table through its `__pairs` metamethod (on top of the stack): an
/// empty array part, then every pair the iteration yields. Errors raised by the
/// metamethod or the iterator propagate unchanged.
///
/// # Safety
/// As [`encode_table`], with the `__pairs` field pushed on top.
unsafe fn encode_with_pairs(
    state: *mut ffi::lua_State,
    out: &mut Payload,
    index: c_int,
    depth: u32,
) {
    out.push(head(TAG_TABLE, 0));
    ffi::lua_pushvalue(state, index);
    if ffi::lua_pcall(state, 1, 3, 0) != ffi::LUA_OK {
        ffi::lua_error(state);
    }
    // Stack: ... iterator state control
    loop {
        for _ in 0..3 {
            ffi::lua_pushvalue(state, -3);
        }
        if ffi::lua_pcall(state, 2, 2, 0) != ffi::LUA_OK {
            ffi::lua_error(state);
        }
        // Stack: ... iterator state control key value
        if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
            ffi::lua_pop(state, 5);
            break;
        }
        encode_value(state, out, -2, depth);
        encode_value(state, out, -1, depth);
        ffi::lua_pop(state, 1);
        // The key becomes the next control value.
        ffi::lua_replace(state, -2);
    }
    out.push(head(TAG_NIL, 0));
}

/// Encodes all the values on the stack of the running C function, consuming
/// them. On failure the error value is left on top and `None` returned.
///
/// # Safety
/// `state` is running a C function whose whole stack is the values to encode
/// and which has at least two free slots (every C function gets
/// `LUA_MINSTACK`). Nothing here raises: the encoding runs under `lua_pcall`.
unsafe fn pack_stack(state: *mut ffi::lua_State) -> Option<Payload> {
    let count = ffi::lua_gettop(state);
    let mut out = Payload::with_capacity(INITIAL_CAPACITY);
    if only_plain_values(state, count) {
        // Nothing here can raise, so no protected call is needed (the
        // common case of a request or answer made of a few scalars).
        for index in 1..=count {
            encode_value(state, &mut out, index, 0);
        }
        return Some(out);
    }
    ffi::lua_pushcfunction(state, encode_protected);
    ffi::lua_insert(state, 1);
    ffi::lua_pushlightuserdata(state, &mut out as *mut Payload as *mut c_void);
    if ffi::lua_pcall(state, count + 1, 0, 0) == ffi::LUA_OK {
        Some(out)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Decoding

/// Why a stream could not be decoded.
enum DecodeError {
    /// Malformed or truncated: bytes left unread, and the reference's check line.
    Stream { remaining: usize, line: u32 },
    /// Tables nested deeper than [`MAX_UNPACK_DEPTH`].
    TooDeep,
}

/// A cursor over the bytes of a message. Failed reads consume nothing.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { rest: data }
    }

    fn fail(&self, line: u32) -> DecodeError {
        DecodeError::Stream {
            remaining: self.rest.len(),
            line,
        }
    }

    fn take(&mut self, n: usize, line: u32) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(self.fail(line));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self, line: u32) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, line)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.fail(line))
    }

    fn integer(&mut self, cookie: u8) -> Result<i64, DecodeError> {
        Ok(match cookie {
            NUM_ZERO => 0,
            NUM_U8 => i64::from(self.array::<1>(check_line::U8)?[0]),
            NUM_U16 => i64::from(u16::from_le_bytes(self.array(check_line::U16)?)),
            NUM_I32 => i64::from(i32::from_le_bytes(self.array(check_line::I32)?)),
            NUM_I64 => i64::from_le_bytes(self.array(check_line::I64)?),
            _ => return Err(self.fail(check_line::NUMBER_KIND)),
        })
    }
}

/// Pushes every value of `data` on the stack.
///
/// # Safety
/// `state` is running a C function with `LUA_MINSTACK` free slots; this frame
/// and the decoder's hold no destructors (the stack may overflow, or a NaN table
/// key be rejected, with a Lua error).
unsafe fn push_all(state: *mut ffi::lua_State, data: &[u8]) -> Result<(), DecodeError> {
    let mut reader = Reader::new(data);
    let mut count: u64 = 0;
    loop {
        // Grow the stack every 8 values, as the reference does: a message with
        // too many values ends in Lua's "stack overflow".
        if count % 8 == 7 {
            ffi::luaL_checkstack(state, ffi::LUA_MINSTACK, ptr::null());
        }
        let Some(b) = reader.byte() else {
            return Ok(());
        };
        push_value(state, &mut reader, b, 0)?;
        count += 1;
    }
}

/// Pushes the value whose header byte `b` was just read; `depth` counts the
/// tables enclosing it.
///
/// # Safety
/// As [`push_all`], with a free stack slot.
unsafe fn push_value(
    state: *mut ffi::lua_State,
    reader: &mut Reader,
    b: u8,
    depth: u32,
) -> Result<(), DecodeError> {
    let cookie = b >> 3;
    match b & 7 {
        TAG_NIL => ffi::lua_pushnil(state),
        TAG_BOOLEAN => ffi::lua_pushboolean(state, c_int::from(cookie != 0)),
        TAG_NUMBER if cookie == NUM_F64 => {
            let v = f64::from_le_bytes(reader.array(check_line::F64)?);
            ffi::lua_pushnumber(state, v);
        }
        TAG_NUMBER => ffi::lua_pushinteger(state, reader.integer(cookie)?),
        TAG_POINTER => {
            let p = usize::from_le_bytes(reader.array(check_line::POINTER)?);
            ffi::lua_pushlightuserdata(state, p as *mut c_void);
        }
        TAG_SHORT_STRING => push_bytes(state, reader, usize::from(cookie))?,
        TAG_LONG_STRING => {
            let len = match cookie {
                LEN_U16 => usize::from(u16::from_le_bytes(reader.array(check_line::LONG_LEN_U16)?)),
                LEN_U32 => u32::from_le_bytes(reader.array(check_line::LONG_LEN_U32)?) as usize,
                _ => return Err(reader.fail(check_line::LONG_LEN_KIND)),
            };
            push_bytes(state, reader, len)?;
        }
        TAG_TABLE => push_table(state, reader, cookie, depth + 1)?,
        _ => return Err(reader.fail(check_line::TAG)),
    }
    Ok(())
}

/// # Safety
/// As [`push_value`].
unsafe fn push_bytes(
    state: *mut ffi::lua_State,
    reader: &mut Reader,
    len: usize,
) -> Result<(), DecodeError> {
    let bytes = reader.take(len, check_line::BYTES)?;
    ffi::lua_pushlstring(state, bytes.as_ptr() as *const c_char, bytes.len());
    Ok(())
}

/// Reads the next header byte of a value that must be there.
fn next_head(reader: &mut Reader) -> Result<u8, DecodeError> {
    reader
        .byte()
        .ok_or_else(|| reader.fail(check_line::VALUE_MISSING))
}

/// Pushes a table whose header cookie is `cookie`, at nesting `depth`.
///
/// # Safety
/// As [`push_value`].
unsafe fn push_table(
    state: *mut ffi::lua_State,
    reader: &mut Reader,
    cookie: u8,
    depth: u32,
) -> Result<(), DecodeError> {
    if depth > MAX_UNPACK_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let array_size = if cookie == ARRAY_SIZE_FOLLOWS {
        let b = reader
            .byte()
            .ok_or_else(|| reader.fail(check_line::ARRAY_SIZE_MISSING))?;
        if b & 7 != TAG_NUMBER || b >> 3 == NUM_F64 {
            return Err(reader.fail(check_line::ARRAY_SIZE_KIND));
        }
        // The reference keeps the size in a C int: only the low 32 bits count.
        reader.integer(b >> 3)? as i32
    } else {
        i32::from(cookie)
    };
    ffi::luaL_checkstack(state, ffi::LUA_MINSTACK, ptr::null());
    // Every item takes at least one byte, so a size beyond the bytes left is a
    // lie; do not let it allocate.
    let room = i32::try_from(reader.rest.len()).unwrap_or(i32::MAX);
    ffi::lua_createtable(state, array_size.clamp(0, room), 0);
    for i in 1..=array_size {
        let b = next_head(reader)?;
        push_value(state, reader, b, depth)?;
        ffi::lua_rawseti(state, -2, ffi::lua_Integer::from(i));
    }
    loop {
        let b = next_head(reader)?;
        push_value(state, reader, b, depth)?;
        if ffi::lua_type(state, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(state, 1);
            return Ok(());
        }
        let b = next_head(reader)?;
        push_value(state, reader, b, depth)?;
        ffi::lua_rawset(state, -3);
    }
}

// ---------------------------------------------------------------------------
// The Lua functions

/// `pack(...) -> lightuserdata, size`: the buffer comes from `malloc` and
/// belongs to the caller (normally handed to `skynet.send`, else `trash`ed).
unsafe extern "C-unwind" fn lua_pack(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: we are a C function called by Lua; our stack is the arguments.
    match unsafe { pack_stack(state) } {
        Some(payload) => {
            let (p, len) = payload.into_raw();
            // SAFETY: the arguments were consumed, so there is room for two values.
            unsafe {
                ffi::lua_pushlightuserdata(state, p as *mut c_void);
                ffi::lua_pushinteger(state, len as ffi::lua_Integer);
            }
            2
        }
        // SAFETY: the error value is on top and no destructor is pending here.
        None => unsafe { ffi::lua_error(state) },
    }
}

/// `packstring(...) -> string`: the same bytes as `pack`, as a Lua string.
unsafe extern "C-unwind" fn lua_packstring(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: we are a C function called by Lua; our stack is the arguments.
    let Some(payload) = (unsafe { pack_stack(state) }) else {
        // SAFETY: the error value is on top and no destructor is pending here.
        unsafe { ffi::lua_error(state) }
    };
    let (p, len) = payload.into_raw();
    // SAFETY: `p` holds `len` bytes from the C allocator and is ours to free.
    // Should pushing raise (out of memory), the buffer leaks; no destructor is
    // skipped.
    unsafe {
        ffi::lua_pushlstring(state, p as *const c_char, len);
        libc::free(p as *mut c_void);
    }
    1
}

/// `unpack(msg [, size]) -> ...`: `msg` is a string, or a pointer with its size.
/// Nothing (or nil) and size 0 give no values. The buffer is not freed.
unsafe extern "C-unwind" fn lua_unpack(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: we are a C function called by Lua and only read our arguments.
    let (p, len) = unsafe {
        if ffi::lua_isnoneornil(state, 1) != 0 {
            return 0;
        }
        if ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(state, 1, &mut len);
            (p as *const u8, len as i32)
        } else {
            let p = ffi::lua_touserdata(state, 1) as *const u8;
            // Like the reference, the size is a C int (low 32 bits).
            (p, ffi::luaL_checkinteger(state, 2) as i32)
        }
    };
    if len == 0 {
        return 0;
    }
    if p.is_null() {
        // SAFETY: no destructor is pending in this frame.
        unsafe { raise_text(state, 1, c"deserialize null pointer") }
    }
    // A negative size reads nothing, as in the reference.
    let len = usize::try_from(len).unwrap_or(0);
    // SAFETY: a string argument stays at index 1 (kept by `lua_settop`), and a
    // pointer comes with its size from the sender of the message, the same
    // trust the reference places in it. The decoder's frames and this one hold
    // no destructors when a Lua error unwinds them.
    unsafe {
        ffi::lua_settop(state, 1);
        let data = std::slice::from_raw_parts(p, len);
        if let Err(e) = push_all(state, data) {
            match e {
                DecodeError::Stream { remaining, line } => {
                    ffi::lua_pushfstring(
                        state,
                        c"Invalid serialize stream %d (line:%d)".as_ptr(),
                        remaining as c_int,
                        line as c_int,
                    );
                    raise_at(state, 1)
                }
                DecodeError::TooDeep => {
                    raise_text(state, 1, c"serialize can't unpack too depth table")
                }
            }
        }
        ffi::lua_gettop(state) - 1
    }
}

/// The error a failed protected call left as its only result.
fn error_from_stack(values: MultiValue) -> Error {
    match values.into_iter().next() {
        Some(Value::String(s)) => Error::runtime(s.to_string_lossy()),
        Some(Value::Error(e)) => *e,
        Some(other) => match other.to_string() {
            Ok(text) => Error::runtime(text),
            Err(_) => Error::runtime(format!("(error object is a {} value)", other.type_name())),
        },
        None => Error::runtime("(no error message)"),
    }
}

/// Encodes `values` as `skynet.pack` does.
///
/// Errors carry the reference's texts, e.g. `serialize can't pack too depth
/// table` or `Unsupport type function to serialize`.
pub fn pack(lua: &Lua, values: &MultiValue) -> mlua::Result<Payload> {
    let mut packed = None;
    // SAFETY: exec_raw runs the closure in a C function whose stack is exactly
    // `values`; `pack_stack` never raises. The closure holds only references.
    let rest: MultiValue = unsafe {
        lua.exec_raw(values, |state| {
            packed = pack_stack(state);
        })
    }?;
    packed.ok_or_else(|| error_from_stack(rest))
}

/// Decodes a message made by [`pack`] (or the reference's `skynet.pack`).
///
/// Malformed input gives an error such as `Invalid serialize stream 1
/// (line:527)`; empty input gives no values.
pub fn unpack(lua: &Lua, data: &[u8]) -> mlua::Result<MultiValue> {
    if data.is_empty() {
        return Ok(MultiValue::new());
    }
    let len = ffi::lua_Integer::try_from(data.len())
        .ok()
        .filter(|&n| i32::try_from(n).is_ok())
        .ok_or_else(|| {
            Error::runtime(format!(
                "serialized message too large ({} bytes)",
                data.len()
            ))
        })?;
    let mut status = ffi::LUA_OK;
    // SAFETY: exec_raw gives the closure a C function frame with room for the
    // three values pushed; `lua_unpack` runs under our own `lua_pcall` and reads
    // `data` only during that call, while `data` is borrowed.
    let values: MultiValue = unsafe {
        lua.exec_raw((), |state| {
            ffi::lua_pushcfunction(state, lua_unpack);
            ffi::lua_pushlightuserdata(state, data.as_ptr() as *mut c_void);
            ffi::lua_pushinteger(state, len);
            status = ffi::lua_pcall(state, 2, ffi::LUA_MULTRET, 0);
        })
    }?;
    if status == ffi::LUA_OK {
        Ok(values)
    } else {
        Err(error_from_stack(values))
    }
}

/// The serializer's Lua C functions, which `skynet.core` exports as
/// `pack`, `unpack` and `packstring`.
pub(crate) const LUA_FUNCTIONS: [(&CStr, ffi::lua_CFunction); 3] = [
    (c"pack", lua_pack),
    (c"unpack", lua_unpack),
    (c"packstring", lua_packstring),
];

/// The module table: `pack`, `unpack` and `packstring`, re-exported by
/// `skynet.core`.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    let functions: [(&str, ffi::lua_CFunction); 3] = [
        ("pack", lua_pack),
        ("unpack", lua_unpack),
        ("packstring", lua_packstring),
    ];
    for (name, f) in functions {
        // SAFETY: each function follows the Lua C function protocol and keeps
        // no destructors pending across Lua errors.
        let function = unsafe { lua.create_c_function(f) }?;
        module.set(name, function)?;
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::LightUserData;

    /// A Lua state with the module as the global `seri`, plus `nullptr()` and
    /// `free(p)` to handle raw buffers from Lua.
    fn new_lua() -> Lua {
        let lua = Lua::new();
        let g = lua.globals();
        g.set("seri", open(&lua).unwrap()).unwrap();
        let nullptr = lua
            .create_function(|_, ()| Ok(LightUserData(ptr::null_mut())))
            .unwrap();
        g.set("nullptr", nullptr).unwrap();
        let free = lua
            .create_function(|_, p: LightUserData| {
                // SAFETY: tests only pass buffers returned by `seri.pack`.
                unsafe { libc::free(p.0) };
                Ok(())
            })
            .unwrap();
        g.set("free", free).unwrap();
        lua
    }

    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn packstring_hex(lua: &Lua, args: &str) -> String {
        let s: mlua::LuaString = lua
            .load(format!("return seri.packstring({args})"))
            .eval()
            .unwrap();
        hex(&s.as_bytes())
    }

    /// The message of a Lua error raised by running `code`.
    fn lua_error(lua: &Lua, code: &str) -> String {
        let (ok, msg): (bool, String) = lua.load(code).eval().unwrap();
        assert!(!ok, "expected an error from {code}");
        msg
    }

    fn runtime_message(e: Error) -> String {
        match e {
            Error::RuntimeError(m) => m,
            other => panic!("unexpected error kind: {other:?}"),
        }
    }

    #[test]
    fn spec_vectors() {
        let lua = new_lua();
        assert_eq!(
            packstring_hex(&lua, r#"1, "a", {k=1}"#),
            "0a 01 0c 61 06 0c 6b 0a 01 00"
        );
        assert_eq!(
            packstring_hex(
                &lua,
                "nil, true, false, 0, -1, 255, 256, 65536, 2147483648, 1.5"
            ),
            "00 09 01 02 22 ff ff ff ff 0a ff 12 00 01 22 00 00 01 00 32 00 00 00 80 00 00 00 00 \
             42 00 00 00 00 00 00 f8 3f"
        );
        assert_eq!(
            packstring_hex(&lua, "{1, 2, 3, x=true}"),
            "1e 0a 01 0a 02 0a 03 0c 78 09 00"
        );
        assert_eq!(
            packstring_hex(&lua, "-2147483648, -2147483649"),
            "22 00 00 00 80 32 ff ff ff 7f ff ff ff ff"
        );
        assert_eq!(
            packstring_hex(&lua, "2^31 | 0"),
            "32 00 00 00 80 00 00 00 00"
        );
        let s31 = packstring_hex(&lua, r#"string.rep("x", 31)"#);
        assert!(s31.starts_with("fc 78"), "{s31}");
        let s70000 = packstring_hex(&lua, r#"string.rep("x", 70000)"#);
        assert!(s70000.starts_with("25 70 11 01 00 78"));
        let zeros = packstring_hex(
            &lua,
            "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}",
        );
        assert!(zeros.starts_with("fe 0a 1f 02"), "{zeros}");
        assert!(zeros.ends_with("02 02 00"));
    }

    #[test]
    fn number_and_string_widths() {
        let lua = new_lua();
        let cases: &[(&str, &str)] = &[
            ("1", "0a 01"),
            ("65535", "12 ff ff"),
            ("2147483647", "22 ff ff ff 7f"),
            ("math.maxinteger", "32 ff ff ff ff ff ff ff 7f"),
            ("math.mininteger", "32 00 00 00 00 00 00 00 80"),
            ("1.0", "42 00 00 00 00 00 00 f0 3f"),
            ("-0.0", "42 00 00 00 00 00 00 00 80"),
            ("''", "04"),
            ("nil, nil", "00 00"),
        ];
        for (args, expect) in cases {
            assert_eq!(packstring_hex(&lua, args), *expect, "packstring({args})");
        }
        let s32 = packstring_hex(&lua, r#"string.rep("y", 32)"#);
        assert!(s32.starts_with("15 20 00 79"));
        let s65535 = packstring_hex(&lua, r#"string.rep("y", 65535)"#);
        assert!(s65535.starts_with("15 ff ff 79"));
        let s65536 = packstring_hex(&lua, r#"string.rep("y", 65536)"#);
        assert!(s65536.starts_with("25 00 00 01 00 79"));
        // A light userdata is its address, little-endian and pointer-wide.
        let p = 0x1234_5678usize as *mut c_void;
        let bytes = pack(
            &lua,
            &MultiValue::from_iter([Value::LightUserData(LightUserData(p))]),
        )
        .unwrap();
        let mut expect = vec![0x03];
        expect.extend_from_slice(&(p as usize).to_le_bytes());
        assert_eq!(bytes.as_slice(), &expect[..]);
    }

    #[test]
    fn pack_gives_a_buffer_and_size() {
        let lua = new_lua();
        let (kind, size, a, b, n): (String, i64, i64, String, i64) = lua
            .load(
                r#"
                local p, n = seri.pack(1, "x")
                local a, b = seri.unpack(p, n)
                local count = select('#', seri.unpack(p, n))
                local kind = type(p)
                free(p)
                return kind, n, a, b, count
                "#,
            )
            .eval()
            .unwrap();
        assert_eq!(
            (kind.as_str(), size, a, b.as_str(), n),
            ("userdata", 4, 1, "x", 2)
        );
        // An empty pack is still a buffer, of size 0, that unpacks to nothing.
        let (n, count): (i64, i64) = lua
            .load("local p, n = seri.pack() local c = select('#', seri.unpack(p, n)) free(p) return n, c")
            .eval()
            .unwrap();
        assert_eq!((n, count), (0, 0));
    }

    #[test]
    fn unpack_of_nothing() {
        let lua = new_lua();
        let counts: (i64, i64, i64, i64, i64, i64) = lua
            .load(
                r#"return select('#', seri.unpack(seri.packstring())),
                    select('#', seri.unpack(seri.packstring(nil, nil))),
                    select('#', seri.unpack(nil)),
                    select('#', seri.unpack()),
                    select('#', seri.unpack("")),
                    select('#', seri.unpack(nullptr(), 0))"#,
            )
            .eval()
            .unwrap();
        assert_eq!(counts, (0, 2, 0, 0, 0, 0));
        assert_eq!(
            lua_error(&lua, "return pcall(seri.unpack, nullptr(), 3)"),
            "deserialize null pointer"
        );
        // luaL_error style: the caller's position comes first.
        let msg = lua_error(
            &lua,
            "return pcall(function() return seri.unpack(nullptr(), 3) end)",
        );
        assert!(msg.ends_with(":1: deserialize null pointer"), "{msg}");
        let msg = lua_error(&lua, "return pcall(seri.unpack, {})");
        assert!(msg.contains("bad argument #2"), "{msg}");
        assert!(unpack(&lua, &[]).unwrap().is_empty());
    }

    #[test]
    fn unsupported_types() {
        let lua = new_lua();
        assert_eq!(
            lua_error(&lua, "return pcall(seri.pack, function() end)"),
            "Unsupport type function to serialize"
        );
        assert_eq!(
            lua_error(
                &lua,
                "return pcall(seri.packstring, 1, {coroutine.create(print)})"
            ),
            "Unsupport type thread to serialize"
        );
        assert_eq!(
            lua_error(&lua, "return pcall(seri.packstring, io.stdout)"),
            "Unsupport type userdata to serialize"
        );
        let msg = lua_error(
            &lua,
            "return pcall(function()\n return seri.pack(print) end)",
        );
        assert!(
            msg.ends_with(":2: Unsupport type function to serialize"),
            "{msg}"
        );
        let f: mlua::Function = lua.load("print").eval().unwrap();
        let e = pack(&lua, &MultiValue::from_iter([Value::Function(f)])).unwrap_err();
        assert_eq!(runtime_message(e), "Unsupport type function to serialize");
    }

    #[test]
    fn depth_limit() {
        let lua = new_lua();
        lua.load(
            r#"
            function nest(levels, inner)
                local t = {inner}
                for _ = 2, levels do t = {t} end
                return t
            end
            "#,
        )
        .exec()
        .unwrap();
        // Observed on the reference: 32 tables with a value inside pack; a
        // 33rd table packs only while empty.
        let ok: bool = lua
            .load("return (pcall(seri.packstring, nest(32, 1)))")
            .eval()
            .unwrap();
        assert!(ok);
        let ok: bool = lua
            .load("return (pcall(seri.packstring, nest(33, nil)))")
            .eval()
            .unwrap();
        assert!(ok);
        assert_eq!(
            lua_error(&lua, "return pcall(seri.packstring, nest(33, 1))"),
            "serialize can't pack too depth table"
        );
        assert_eq!(
            lua_error(&lua, "return pcall(seri.pack, nest(40, 1))"),
            "serialize can't pack too depth table"
        );
        let deep: Value = lua.load("return nest(40, 1)").eval().unwrap();
        let e = pack(&lua, &MultiValue::from_iter([deep])).unwrap_err();
        assert_eq!(runtime_message(e), "serialize can't pack too depth table");
        // 32 levels survive a round trip.
        let depth: i64 = lua
            .load(
                r#"
                local t = seri.unpack(seri.packstring(nest(32, "end")))
                local n = 1
                while type(t[1]) == "table" do t = t[1]; n = n + 1 end
                assert(t[1] == "end")
                return n
                "#,
            )
            .eval()
            .unwrap();
        assert_eq!(depth, 32);
    }

    #[test]
    fn unpack_depth_limit() {
        let lua = new_lua();
        // Each level: a table with one array item (the next level), closed by
        // a nil after the item; the innermost table is empty.
        let nested = |levels: usize| {
            let mut bytes = vec![head(TAG_TABLE, 1); levels - 1];
            bytes.extend_from_slice(&[head(TAG_TABLE, 0), 0]);
            bytes.extend(std::iter::repeat_n(0u8, levels - 1));
            bytes
        };
        let values = unpack(&lua, &nested(MAX_UNPACK_DEPTH as usize)).unwrap();
        assert_eq!(values.len(), 1);
        let e = unpack(&lua, &nested(MAX_UNPACK_DEPTH as usize + 1)).unwrap_err();
        assert_eq!(runtime_message(e), "serialize can't unpack too depth table");
    }

    #[test]
    fn pairs_metamethod() {
        let lua = new_lua();
        // Observed on the reference: the array part is not used, only __pairs.
        let bytes = packstring_hex(
            &lua,
            r#"setmetatable({5, 6}, {__pairs = function(t)
                return function(_, k)
                    if not k then return 1, "a" elseif k == 1 then return 2, "b" end
                end, t, nil
            end})"#,
        );
        assert_eq!(bytes, "06 0a 01 0c 61 0a 02 0c 62 00");
        // The usual proxy pattern: the iteration sees the hidden table.
        let (a, b): (String, i64) = lua
            .load(
                r#"
                local hidden = {x = "y", n = 3}
                local proxy = setmetatable({}, {__index = hidden, __pairs = function() return next, hidden, nil end})
                local t = seri.unpack(seri.packstring(proxy))
                assert(getmetatable(t) == nil)
                return t.x, t.n
                "#,
            )
            .eval()
            .unwrap();
        assert_eq!((a.as_str(), b), ("y", 3));
        // Errors of the metamethod or the iterator come through unchanged.
        let msg = lua_error(
            &lua,
            "return pcall(seri.packstring, setmetatable({}, {__pairs = function() error('nope') end}))",
        );
        assert!(msg.ends_with(":1: nope"), "{msg}");
        assert_eq!(
            lua_error(
                &lua,
                "return pcall(seri.packstring, setmetatable({}, {__pairs = false}))"
            ),
            "attempt to call a boolean value"
        );
        assert_eq!(
            lua_error(
                &lua,
                "return pcall(seri.packstring, setmetatable({}, {__pairs = function() end}))"
            ),
            "attempt to call a nil value"
        );
        let (ok, err_is_table): (bool, bool) = lua
            .load(
                r#"
                local e = {}
                local ok, got = pcall(seri.pack, setmetatable({}, {__pairs = function() error(e) end}))
                return ok, got == e
                "#,
            )
            .eval()
            .unwrap();
        assert!(!ok && err_is_table);
    }

    /// Messages observed on the reference for malformed streams.
    #[test]
    fn malformed_streams() {
        let lua = new_lua();
        let cases: &[(&[u8], &str)] = &[
            (b"\xff\xff", "Invalid serialize stream 1 (line:527)"),
            (b"\x0a", "Invalid serialize stream 0 (line:378)"),
            (b"\x12\x01", "Invalid serialize stream 1 (line:386)"),
            (b"\x22\x01\x02", "Invalid serialize stream 2 (line:394)"),
            (b"\x32\x01", "Invalid serialize stream 1 (line:402)"),
            (b"\x1a", "Invalid serialize stream 0 (line:407)"),
            (b"\x42\x00\x00", "Invalid serialize stream 2 (line:417)"),
            (b"\x03\x01\x02", "Invalid serialize stream 2 (line:427)"),
            (b"\x2c\x61", "Invalid serialize stream 1 (line:437)"),
            (b"\x15\x05", "Invalid serialize stream 1 (line:503)"),
            (b"\x15\x05\x00ab", "Invalid serialize stream 2 (line:437)"),
            (b"\x1d", "Invalid serialize stream 0 (line:510)"),
            (b"\x25\x01\x00", "Invalid serialize stream 2 (line:514)"),
            (b"\xfe", "Invalid serialize stream 0 (line:450)"),
            (b"\xfe\x42", "Invalid serialize stream 0 (line:455)"),
            (b"\xfe\x0c", "Invalid serialize stream 0 (line:455)"),
            (b"\xfe\x1a", "Invalid serialize stream 0 (line:407)"),
            (b"\x0e", "Invalid serialize stream 0 (line:538)"),
            (b"\x06", "Invalid serialize stream 0 (line:538)"),
            (b"\x06\x0a\x01", "Invalid serialize stream 0 (line:538)"),
            (
                b"\x06\x0a\x01\x0a\x02",
                "Invalid serialize stream 0 (line:538)",
            ),
            (b"\x07", "Invalid serialize stream 0 (line:527)"),
            (
                b"\x06\x42\x00\x00\x00\x00\x00\x00\xf8\x7f\x0a\x01\x00",
                "table index is NaN",
            ),
            (b"\x06\x0c\x6b", "Invalid serialize stream 0 (line:538)"),
            (b"\x0a\x01\x0a", "Invalid serialize stream 0 (line:378)"),
            (b"\x00\x00\x0f\x07", "Invalid serialize stream 1 (line:527)"),
        ];
        let lua_unpack: mlua::Function = lua
            .load("function(s) return pcall(seri.unpack, s) end")
            .eval()
            .unwrap();
        for (bytes, expect) in cases {
            let e = unpack(&lua, bytes).unwrap_err();
            assert_eq!(runtime_message(e), *expect, "unpack({})", hex(bytes));
            let (ok, msg): (bool, String) =
                lua_unpack.call(lua.create_string(bytes).unwrap()).unwrap();
            assert!(!ok);
            assert_eq!(msg, *expect, "seri.unpack({})", hex(bytes));
        }
        // With a Lua caller, the position comes first (luaL_error).
        let msg = lua_error(
            &lua,
            "return pcall(function() return seri.unpack('\\255\\255') end)",
        );
        assert!(
            msg.ends_with(":1: Invalid serialize stream 1 (line:527)"),
            "{msg}"
        );
        // A length beyond the data, or beyond a C int, is only a short stream.
        let e = unpack(&lua, b"\x25\xff\xff\xff\xffab").unwrap_err();
        assert_eq!(runtime_message(e), "Invalid serialize stream 2 (line:437)");
        // An array size beyond the data does not allocate it.
        let e = unpack(&lua, b"\xfe\x22\xff\xff\xff\x7f\x00").unwrap_err();
        assert_eq!(runtime_message(e), "Invalid serialize stream 0 (line:538)");
    }

    #[test]
    fn too_many_values() {
        let lua = new_lua();
        let values = unpack(&lua, &vec![0u8; 100_000]).unwrap();
        assert_eq!(values.len(), 100_000);
        // Lua's stack holds at most a million slots.
        let e = unpack(&lua, &vec![0u8; 1_000_100]).unwrap_err();
        assert_eq!(runtime_message(e), "stack overflow");
    }

    // -----------------------------------------------------------------------
    // Generated values

    /// A deterministic xorshift generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// A value to build in Lua.
    #[derive(Debug)]
    enum Gen {
        Nil,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(Vec<u8>),
        Ptr(usize),
        Table {
            array: Vec<Gen>,
            hash: Vec<(Gen, Gen)>,
        },
    }

    const EDGE_INTEGERS: [i64; 13] = [
        0,
        1,
        -1,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        i64::MAX,
        i64::MIN,
    ];

    fn gen_int(rng: &mut Rng) -> i64 {
        match rng.below(3) {
            0 => rng.pick(&EDGE_INTEGERS),
            1 => rng
                .pick(&EDGE_INTEGERS)
                .wrapping_add(rng.below(5) as i64 - 2),
            _ => (rng.next() as i64) >> rng.below(64),
        }
    }

    fn gen_float(rng: &mut Rng) -> f64 {
        match rng.below(3) {
            0 => rng.pick(&[
                0.5,
                -0.0,
                2.0,
                1e300,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            ]),
            1 => (rng.next() as i64 >> rng.below(64)) as f64 / 8.0,
            _ => f64::from_bits(rng.next()),
        }
    }

    fn gen_string(rng: &mut Rng) -> Vec<u8> {
        let len = match rng.below(40) {
            0 => rng.pick(&[65535, 65536, 70000]),
            1..=6 => rng.pick(&[30, 31, 32, 33]),
            _ => rng.below(48) as usize,
        };
        rng.bytes(len)
    }

    /// A table key: anything but nil and NaN.
    fn gen_key(rng: &mut Rng) -> Gen {
        match rng.below(5) {
            0 => Gen::Bool(rng.below(2) == 1),
            1 => Gen::Int(gen_int(rng)),
            2 => {
                let f = gen_float(rng);
                Gen::Float(if f.is_nan() { 0.25 } else { f })
            }
            3 => Gen::Str(gen_string(rng)),
            _ => Gen::Ptr(rng.next() as usize),
        }
    }

    /// A value nesting at most `levels` tables. With `plain`, tables have no
    /// holes and at most one string key, so their encoding is predictable.
    fn gen_value(rng: &mut Rng, levels: u32, plain: bool) -> Gen {
        let kinds = if levels == 0 { 6 } else { 8 };
        match rng.below(kinds) {
            0 => Gen::Nil,
            1 => Gen::Bool(rng.below(2) == 1),
            2 => Gen::Int(gen_int(rng)),
            3 => Gen::Float(gen_float(rng)),
            4 => Gen::Str(gen_string(rng)),
            5 => Gen::Ptr(rng.next() as usize),
            _ => {
                let len = match rng.below(6) {
                    0 => rng.pick(&[30, 31, 32, 40]),
                    _ => rng.below(6) as usize,
                };
                // A nil would leave a hole (or no entry at all) in a plain table.
                let item = |rng: &mut Rng| loop {
                    let v = gen_value(rng, levels - 1, plain);
                    if !(plain && matches!(v, Gen::Nil)) {
                        return v;
                    }
                };
                let array = (0..len).map(|_| item(rng)).collect();
                let hash = if plain {
                    (0..rng.below(2))
                        .map(|_| (Gen::Str(gen_string(rng)), item(rng)))
                        .collect()
                } else {
                    (0..rng.below(5))
                        .map(|_| (gen_key(rng), gen_value(rng, levels - 1, plain)))
                        .collect()
                };
                Gen::Table { array, hash }
            }
        }
    }

    fn to_lua(lua: &Lua, g: &Gen) -> Value {
        match g {
            Gen::Nil => Value::Nil,
            Gen::Bool(b) => Value::Boolean(*b),
            Gen::Int(i) => Value::Integer(*i),
            Gen::Float(f) => Value::Number(*f),
            Gen::Str(s) => Value::String(lua.create_string(s).unwrap()),
            Gen::Ptr(p) => Value::LightUserData(LightUserData(*p as *mut c_void)),
            Gen::Table { array, hash } => {
                let t = lua.create_table().unwrap();
                for (i, v) in array.iter().enumerate() {
                    t.raw_set(i + 1, to_lua(lua, v)).unwrap();
                }
                for (k, v) in hash {
                    t.raw_set(to_lua(lua, k), to_lua(lua, v)).unwrap();
                }
                Value::Table(t)
            }
        }
    }

    /// The expected encoding of a `plain` value, written from the format table.
    fn expected_bytes(g: &Gen, out: &mut Vec<u8>) {
        fn integer(v: i64, out: &mut Vec<u8>) {
            if v == 0 {
                out.push(0x02);
            } else if (1..256).contains(&v) {
                out.extend_from_slice(&[0x0a, v as u8]);
            } else if (256..65536).contains(&v) {
                out.push(0x12);
                out.extend_from_slice(&(v as u16).to_le_bytes());
            } else if let Ok(v) = i32::try_from(v) {
                out.push(0x22);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.push(0x32);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        match g {
            Gen::Nil => out.push(0x00),
            Gen::Bool(b) => out.push(if *b { 0x09 } else { 0x01 }),
            Gen::Int(v) => integer(*v, out),
            Gen::Float(f) => {
                out.push(0x42);
                out.extend_from_slice(&f.to_le_bytes());
            }
            Gen::Str(s) => {
                if s.len() < 32 {
                    out.push(0x04 + ((s.len() as u8) << 3));
                } else if s.len() < 65536 {
                    out.push(0x15);
                    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
                } else {
                    out.push(0x25);
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                }
                out.extend_from_slice(s);
            }
            Gen::Ptr(p) => {
                out.push(0x03);
                out.extend_from_slice(&p.to_le_bytes());
            }
            Gen::Table { array, hash } => {
                if array.len() < 31 {
                    out.push(0x06 + ((array.len() as u8) << 3));
                } else {
                    out.push(0xfe);
                    integer(array.len() as i64, out);
                }
                for v in array {
                    expected_bytes(v, out);
                }
                for (k, v) in hash {
                    expected_bytes(k, out);
                    expected_bytes(v, out);
                }
                out.push(0x00);
            }
        }
    }

    /// Equal Lua values: same types (integer and float apart), same float
    /// bits, same table contents.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Boolean(x), Value::Boolean(y)) => x == y,
            (Value::Integer(x), Value::Integer(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => x.to_bits() == y.to_bits(),
            (Value::String(x), Value::String(y)) => x.as_bytes() == y.as_bytes(),
            (Value::LightUserData(x), Value::LightUserData(y)) => x.0 == y.0,
            (Value::Table(x), Value::Table(y)) => {
                let mut count = 0;
                for pair in x.pairs::<Value, Value>() {
                    let (k, v) = pair.unwrap();
                    if !same(&v, &y.raw_get::<Value>(k).unwrap()) {
                        return false;
                    }
                    count += 1;
                }
                count == y.pairs::<Value, Value>().count()
            }
            _ => false,
        }
    }

    #[test]
    fn generated_values_match_the_format() {
        let lua = new_lua();
        for seed in 1..=400u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let gens: Vec<Gen> = (0..rng.below(4))
                .map(|_| gen_value(&mut rng, 4, true))
                .collect();
            let mut expect = Vec::new();
            for g in &gens {
                expected_bytes(g, &mut expect);
            }
            let values = MultiValue::from_iter(gens.iter().map(|g| to_lua(&lua, g)));
            let packed = pack(&lua, &values).unwrap();
            let got = packed.as_slice();
            if got != &expect[..] {
                let at = got.iter().zip(&expect).take_while(|(a, b)| a == b).count();
                let window = |b: &[u8]| hex(&b[at.saturating_sub(8)..(at + 8).min(b.len())]);
                panic!(
                    "seed {seed}: {} bytes, expected {}; first difference at {at}: got {} expected {}",
                    got.len(),
                    expect.len(),
                    window(got),
                    window(&expect)
                );
            }
        }
    }

    #[test]
    fn generated_values_round_trip() {
        let lua = new_lua();
        let packstring: mlua::Function = lua.load("seri.packstring").eval().unwrap();
        let lua_unpack: mlua::Function = lua.load("seri.unpack").eval().unwrap();
        for seed in 1..=400u64 {
            let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03));
            let count = rng.below(5);
            let values = MultiValue::from_iter(
                (0..count).map(|_| to_lua(&lua, &gen_value(&mut rng, 5, false))),
            );
            let packed = pack(&lua, &values).unwrap();
            // The Lua function gives the same bytes.
            let s: mlua::LuaString = packstring.call(&values).unwrap();
            assert_eq!(&s.as_bytes()[..], packed.as_slice(), "seed {seed}");
            for back in [
                unpack(&lua, packed.as_slice()).unwrap(),
                lua_unpack.call::<MultiValue>(s).unwrap(),
            ] {
                assert_eq!(back.len(), values.len(), "seed {seed}");
                for (a, b) in values.iter().zip(back.iter()) {
                    assert!(same(a, b), "seed {seed}: {a:?} became {b:?}");
                }
            }
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let lua = new_lua();
        for seed in 1..=150u64 {
            let mut rng = Rng(seed.wrapping_mul(0x94d0_49bb_1331_11eb));
            let values = MultiValue::from_iter(
                (0..1 + rng.below(3)).map(|_| to_lua(&lua, &gen_value(&mut rng, 4, false))),
            );
            let packed = pack(&lua, &values).unwrap();
            let bytes = packed.as_slice();
            let step = (bytes.len() / 300).max(1);
            for cut in (1..bytes.len()).step_by(step) {
                // A cut may fall between two values; then it decodes to fewer.
                match unpack(&lua, &bytes[..cut]) {
                    Ok(back) => assert!(back.len() < values.len(), "seed {seed} cut {cut}"),
                    Err(e) => {
                        let msg = runtime_message(e);
                        assert!(
                            msg.starts_with("Invalid serialize stream "),
                            "seed {seed} cut {cut}: {msg}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn garbage_never_breaks_the_decoder() {
        let lua = new_lua();
        let mut rng = Rng(0x5eed);
        let mut failures = 0;
        for _ in 0..20_000 {
            let len = 1 + rng.below(40) as usize;
            let bytes = rng.bytes(len);
            if let Err(e) = unpack(&lua, &bytes) {
                failures += 1;
                let msg = runtime_message(e);
                assert!(
                    msg.starts_with("Invalid serialize stream ") || msg == "table index is NaN",
                    "{}: {msg}",
                    hex(&bytes)
                );
            }
        }
        assert!(
            failures > 10_000,
            "random bytes should mostly be rejected ({failures})"
        );
    }
}

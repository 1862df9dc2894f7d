//! The `bson` Lua module: BSON documents for the MongoDB driver. Stands for
//! the reference's `lualib-src/lua-bson.c`, with the same Lua API:
//!
//! - `encode(table)` / `encode_order(k1, v1, ...)` build a document, returned
//!   as a full userdata with the `bson` metatable (`__tostring` gives its
//!   bytes, `__len` its size, `makeindex` / `__newindex` patch fixed-size
//!   fields in place);
//! - `decode(doc)` reads a document from such a userdata or a light userdata
//!   (a pointer to a document whose length header is trusted), and, beyond the
//!   reference, from a string of its bytes;
//! - special values are strings starting with a zero byte and the BSON type
//!   (`null`, `minkey`, `maxkey`, `binary`, `regex`, `date`, `timestamp`,
//!   `objectid`, `int64`); `type(v)` tells them apart.
//!
//! Encoding runs under `lua_pcall` in a protected C function: `__len`,
//! `__index` and `__pairs` metamethods may raise, and the output `Vec` belongs
//! to the caller outside the protected call, so no Rust value is skipped by
//! the `longjmp`. Decoding pushes straight onto the Lua stack from a borrowed
//! byte slice and owns nothing.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use mlua::ffi;

use crate::capi::{
    check_bytes, push_bytes, raise, raise_at, set_functions, to_bytes, type_name, Msg, State,
};

const BSON_REAL: u8 = 1;
const BSON_STRING: u8 = 2;
const BSON_DOCUMENT: u8 = 3;
const BSON_ARRAY: u8 = 4;
const BSON_BINARY: u8 = 5;
const BSON_OBJECTID: u8 = 7;
const BSON_BOOLEAN: u8 = 8;
const BSON_DATE: u8 = 9;
const BSON_NULL: u8 = 10;
const BSON_REGEX: u8 = 11;
const BSON_DBPOINTER: u8 = 12;
const BSON_JSCODE: u8 = 13;
const BSON_SYMBOL: u8 = 14;
const BSON_CODEWS: u8 = 15;
const BSON_INT32: u8 = 16;
const BSON_TIMESTAMP: u8 = 17;
const BSON_INT64: u8 = 18;
const BSON_MINKEY: u8 = 255;
const BSON_MAXKEY: u8 = 127;

/// Field offsets in a `makeindex` table are shifted left by this; the low
/// bits hold the field's type.
const TYPE_SHIFT: u32 = 5;
/// Tables nested deeper than this are refused by encode (cycles end here).
const MAX_ENCODE_DEPTH: u32 = 128;
/// Documents nested deeper than this are refused by decode. The reference has
/// no limit and recurses on the C stack; its encoder never nests deeper than
/// this anyway.
const MAX_DECODE_DEPTH: u32 = 256;
/// Registry name of the metatable of encoded documents.
const META: &std::ffi::CStr = c"bson";

// ---------------------------------------------------------------------------
// Encoding

/// Checks that `s` is UTF-8 as the reference understands it: sequences of up
/// to four bytes, no overlong forms, nothing above U+10FFFF (surrogates pass).
pub fn valid_utf8(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let lead = s[i];
        let count = match lead {
            0x00..=0x7f => 0,
            0xc0..=0xdf => 1,
            0xe0..=0xef => 2,
            0xf0..=0xf7 => 3,
            _ => return false,
        };
        let mut code = u32::from(lead) & (0x7f >> count);
        for k in 1..=count {
            match s.get(i + k) {
                Some(&c) if c & 0xc0 == 0x80 => code = (code << 6) | u32::from(c & 0x3f),
                _ => return false,
            }
        }
        let floor = [0, 0x7f, 0x7ff, 0xffff][count];
        if count > 0 && (code <= floor || code > 0x10ffff) {
            return false;
        }
        i += count + 1;
    }
    true
}

/// The output of an encoding, behind the light userdata handed to the
/// protected encoder.
type Out = Vec<u8>;

/// # Safety
/// Raises from a frame owning nothing.
unsafe fn write_cstring(l: State, out: &mut Out, s: &[u8]) {
    if !valid_utf8(s) {
        raise(l, format_args!("Invalid utf8 string"));
    }
    out.extend_from_slice(s);
    out.push(0);
}

/// # Safety
/// As [`write_cstring`].
unsafe fn append_key(l: State, out: &mut Out, kind: u8, key: &[u8]) {
    out.push(kind);
    write_cstring(l, out, key);
}

fn begin_length(out: &mut Out) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

fn set_length(out: &mut Out, at: usize, len: i32) {
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Closes a document opened at `at`: the terminating zero and the length.
fn end_document(out: &mut Out, at: usize) {
    out.push(0);
    let len = (out.len() - at) as i32;
    set_length(out, at, len);
}

/// Appends the value on top of the stack under `key`. `depth` counts the
/// tables enclosing it.
///
/// # Safety
/// Runs inside the protected encoder; raises from frames owning nothing.
unsafe fn append_value(l: State, out: &mut Out, key: &[u8], depth: u32) {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TNUMBER => {
            if ffi::lua_isinteger(l, -1) != 0 {
                let v = ffi::lua_tointeger(l, -1);
                if let Ok(v) = i32::try_from(v) {
                    append_key(l, out, BSON_INT32, key);
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    append_key(l, out, BSON_INT64, key);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            } else {
                append_key(l, out, BSON_REAL, key);
                out.extend_from_slice(&ffi::lua_tonumber(l, -1).to_le_bytes());
            }
        }
        ffi::LUA_TUSERDATA | ffi::LUA_TLIGHTUSERDATA => {
            append_key(l, out, BSON_DOCUMENT, key);
            let doc = embedded_document(l, -1);
            out.extend_from_slice(doc);
        }
        ffi::LUA_TSTRING => {
            let s = to_bytes(l, -1).unwrap_or(&[]);
            if s.len() > 1 && s[0] == 0 {
                append_special(l, out, key, s[1], &s[2..]);
            } else {
                append_key(l, out, BSON_STRING, key);
                let at = begin_length(out);
                write_cstring(l, out, s);
                set_length(out, at, (s.len() + 1) as i32);
            }
        }
        ffi::LUA_TTABLE => append_table(l, out, key, depth + 1),
        ffi::LUA_TBOOLEAN => {
            append_key(l, out, BSON_BOOLEAN, key);
            out.push(u8::from(ffi::lua_toboolean(l, -1) != 0));
        }
        ffi::LUA_TNIL => raise(
            l,
            format_args!("Bson array has a hole (nil), Use bson.null instead"),
        ),
        _ => raise(l, format_args!("Invalid value type : {}", type_name(l, -1))),
    }
}

/// The bytes of a document given as a (light) userdata: its length header
/// says how many. A full userdata bounds it; a light one is trusted.
///
/// # Safety
/// As [`append_value`]; a light userdata must point to a whole document.
unsafe fn embedded_document<'a>(l: State, idx: c_int) -> &'a [u8] {
    let p = ffi::lua_touserdata(l, idx) as *const u8;
    if p.is_null() {
        raise(l, format_args!("Invalid bson document (null pointer)"));
    }
    let full = ffi::lua_type(l, idx) == ffi::LUA_TUSERDATA;
    let room = ffi::lua_rawlen(l, idx);
    if full && room < 4 {
        raise(l, format_args!("Invalid bson document (size {room})"));
    }
    let len = i32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
    if len < 5 || (full && len as usize > room) {
        raise(l, format_args!("Invalid bson document (length {len})"));
    }
    std::slice::from_raw_parts(p, len as usize)
}

/// Appends a special value (`\0`, type byte, payload) under `key`.
///
/// # Safety
/// As [`append_value`].
unsafe fn append_special(l: State, out: &mut Out, key: &[u8], kind: u8, payload: &[u8]) {
    append_key(l, out, kind, key);
    match kind {
        BSON_BINARY => {
            // Length of the data without the subtype byte, then both.
            let len = payload.len() as i32 - 1;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(payload);
        }
        BSON_OBJECTID | BSON_JSCODE | BSON_DBPOINTER | BSON_SYMBOL | BSON_CODEWS => {
            if kind == BSON_OBJECTID && payload.len() != 12 {
                let shown = payload.split(|&b| b == 0).next().unwrap_or(&[]);
                let mut msg = Msg::new();
                msg.push_bytes(b"Invalid object id ");
                msg.push_bytes(shown);
                crate::capi::raise_msg(l, 1, &msg);
            }
            out.extend_from_slice(payload);
        }
        BSON_DATE => {
            let Ok(secs) = <[u8; 4]>::try_from(payload) else {
                raise(l, format_args!("Invalid date"));
            };
            let millis = i64::from(u32::from_le_bytes(secs)) * 1000;
            out.extend_from_slice(&millis.to_le_bytes());
        }
        BSON_TIMESTAMP => {
            if payload.len() != 8 {
                raise(l, format_args!("Invalid timestamp"));
            }
            out.extend_from_slice(payload);
        }
        BSON_REGEX => {
            // Payload: pattern \0 options \0.
            let Some((pattern, options)) = split_regex(payload) else {
                raise(l, format_args!("Invalid regex"));
            };
            write_cstring(l, out, pattern);
            write_cstring(l, out, options);
        }
        BSON_MINKEY | BSON_MAXKEY | BSON_NULL => {}
        BSON_INT64 => {
            if payload.len() != 8 {
                raise(l, format_args!("Invalid int64"));
            }
            out.extend_from_slice(payload);
        }
        _ => raise(l, format_args!("Invalid subtype {kind}")),
    }
}

/// Splits a regex payload (`pattern \0 options \0`) at the last zero before
/// its final byte (which, as in the reference, is dropped unchecked).
fn split_regex(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, body) = payload.split_last()?;
    let cut = body.iter().rposition(|&b| b == 0)?;
    Some((&body[..cut], &body[cut + 1..]))
}

/// Appends the table on top of the stack under `key`: an array when it has a
/// `__len` metamethod or looks like a sequence, else a document.
///
/// # Safety
/// As [`append_value`].
unsafe fn append_table(l: State, out: &mut Out, key: &[u8], depth: u32) {
    if depth > MAX_ENCODE_DEPTH {
        raise(l, format_args!("Too depth while encoding bson"));
    }
    ffi::luaL_checkstack(l, 16, std::ptr::null());
    if ffi::luaL_getmetafield(l, -1, c"__len".as_ptr()) != ffi::LUA_TNIL {
        ffi::lua_pushvalue(l, -2);
        ffi::lua_call(l, 1, 1);
        if ffi::lua_isinteger(l, -1) == 0 {
            raise(l, format_args!("__len should return integer"));
        }
        let len = ffi::lua_tointeger(l, -1);
        ffi::lua_pop(l, 1);
        append_key(l, out, BSON_ARRAY, key);
        write_array(l, out, depth, len);
    } else if ffi::luaL_getmetafield(l, -1, c"__pairs".as_ptr()) != ffi::LUA_TNIL {
        append_key(l, out, BSON_DOCUMENT, key);
        write_pairs_document(l, out, depth);
    } else if looks_like_array(l) {
        append_key(l, out, BSON_ARRAY, key);
        write_array(l, out, depth, ffi::lua_rawlen(l, -1) as i64);
    } else {
        append_key(l, out, BSON_DOCUMENT, key);
        write_plain_document(l, out, depth);
    }
}

/// A table is written as an array when its first key (in `next` order) is 1,
/// or an integer within its border.
///
/// # Safety
/// The table is on top of the stack.
unsafe fn looks_like_array(l: State) -> bool {
    ffi::lua_pushnil(l);
    if ffi::lua_next(l, -2) == 0 {
        return false;
    }
    let first = if ffi::lua_isinteger(l, -2) != 0 {
        ffi::lua_tointeger(l, -2)
    } else {
        0
    };
    ffi::lua_pop(l, 2);
    if first <= 1 {
        first > 0
    } else {
        first as u64 <= ffi::lua_rawlen(l, -1) as u64
    }
}

/// Writes items 1..=len of the table on top (through `__index`) as an array
/// document with keys "0", "1", ...
///
/// # Safety
/// As [`append_value`].
unsafe fn write_array(l: State, out: &mut Out, depth: u32, len: i64) {
    let at = begin_length(out);
    let mut i: i64 = 1;
    while (i as u64) <= (len as u64) && i > 0 {
        let digits = itoa_buf(i - 1);
        ffi::lua_geti(l, -1, i);
        append_value(l, out, digits.as_slice(), depth);
        ffi::lua_pop(l, 1);
        i += 1;
    }
    end_document(out, at);
}

/// Decimal digits of a non-negative number, without allocation.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: i64) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d
}

/// Writes one (key, value) pair of a document: the key on -2, the value on
/// top, which is popped.
///
/// # Safety
/// As [`append_value`].
unsafe fn write_pair(l: State, out: &mut Out, depth: u32) {
    match ffi::lua_type(l, -2) {
        ffi::LUA_TNUMBER => raise(l, format_args!("Bson dictionary's key can't be number")),
        ffi::LUA_TSTRING => {
            let key = to_bytes(l, -2).unwrap_or(&[]);
            append_value(l, out, key, depth);
            ffi::lua_pop(l, 1);
        }
        _ => raise(l, format_args!("Invalid key type : {}", type_name(l, -2))),
    }
}

/// Writes the table on top as a document, in `next` order.
///
/// # Safety
/// As [`append_value`].
unsafe fn write_plain_document(l: State, out: &mut Out, depth: u32) {
    let at = begin_length(out);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        write_pair(l, out, depth);
    }
    end_document(out, at);
}

/// Writes the object below its `__pairs` metamethod (on top) as a document.
///
/// # Safety
/// As [`append_value`].
unsafe fn write_pairs_document(l: State, out: &mut Out, depth: u32) {
    let at = begin_length(out);
    ffi::lua_pushvalue(l, -2);
    ffi::lua_call(l, 1, 3);
    // Stack: ... object next state key
    loop {
        ffi::lua_pushvalue(l, -3);
        ffi::lua_pushvalue(l, -3);
        ffi::lua_pushvalue(l, -3);
        ffi::lua_call(l, 2, 2);
        // Stack: ... object next state key k v
        ffi::lua_remove(l, -3);
        // Stack: ... object next state k v
        if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 4);
            break;
        }
        write_pair(l, out, depth);
    }
    end_document(out, at);
}

/// Creates the userdata holding the encoded bytes (one user value slot for
/// `makeindex`).
///
/// # Safety
/// `l` has a free stack slot.
unsafe fn push_document(l: State, bytes: &[u8]) {
    let p = ffi::lua_newuserdatauv(l, bytes.len(), 1) as *mut u8;
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
}

/// Protected part of `encode`: stack is (table, out pointer).
unsafe extern "C-unwind" fn encode_protected(l: State) -> c_int {
    // SAFETY: l_encode passes a pointer to a Vec it owns and keeps alive,
    // unaliased, until this protected call returns.
    let out = unsafe { &mut *(ffi::lua_touserdata(l, 2) as *mut Out) };
    // SAFETY: C API calls on this frame's stack; raises own nothing here.
    unsafe {
        ffi::lua_settop(l, 1);
        if ffi::luaL_getmetafield(l, -1, c"__pairs".as_ptr()) != ffi::LUA_TNIL {
            write_pairs_document(l, out, 0);
        } else {
            write_plain_document(l, out, 0);
        }
        push_document(l, out);
    }
    1
}

/// Protected part of `encode_order`: stack is (v1, k2, v2, ..., k1, out).
unsafe extern "C-unwind" fn encode_order_protected(l: State) -> c_int {
    // SAFETY: as in encode_protected.
    unsafe {
        let n = ffi::lua_gettop(l) - 1;
        let out = &mut *(ffi::lua_touserdata(l, n + 1) as *mut Out);
        ffi::lua_settop(l, n);
        let at = begin_length(out);
        let mut key = if n > 0 { to_bytes(l, n) } else { None };
        let mut i = 0;
        while i < n {
            let Some(k) = key else {
                raise_at(l, 1, format_args!("Argument {} need a string", i + 1));
            };
            ffi::lua_pushvalue(l, i + 1);
            append_value(l, out, k, 0);
            ffi::lua_pop(l, 1);
            key = if i + 2 <= n { to_bytes(l, i + 2) } else { None };
            i += 2;
        }
        end_document(out, at);
        ffi::lua_settop(l, 0);
        push_document(l, out);
    }
    1
}

/// Sets the `bson` metatable on the document on top of the stack.
///
/// # Safety
/// `l` has a document userdata on top and room for three slots.
unsafe fn set_document_meta(l: State) {
    if ffi::luaL_newmetatable(l, META.as_ptr()) != 0 {
        ffi::lua_createtable(l, 0, 2);
        set_functions(l, &[(c"decode", l_decode), (c"makeindex", l_makeindex)]);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        set_functions(
            l,
            &[
                (c"__tostring", l_tostring),
                (c"__len", l_len),
                (c"__newindex", l_replace),
            ],
        );
    }
    ffi::lua_setmetatable(l, -2);
}

/// Runs a protected encoder over the whole stack plus a pointer to a fresh
/// output buffer; leaves the document (with its metatable) on top, or raises
/// the encoder's error once the buffer is freed.
///
/// # Safety
/// `l` is running a C function whose stack holds the encoder's arguments.
unsafe fn run_encoder(l: State, encoder: ffi::lua_CFunction) -> c_int {
    let ok = {
        let mut out: Out = Vec::with_capacity(64);
        let nargs = ffi::lua_gettop(l);
        ffi::lua_pushcfunction(l, encoder);
        ffi::lua_insert(l, 1);
        ffi::lua_pushlightuserdata(l, &mut out as *mut Out as *mut c_void);
        ffi::lua_pcall(l, nargs + 1, 1, 0) == ffi::LUA_OK
    };
    if !ok {
        ffi::lua_error(l);
    }
    set_document_meta(l);
    1
}

unsafe extern "C-unwind" fn l_encode(l: State) -> c_int {
    ffi::lua_settop(l, 1);
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    run_encoder(l, encode_protected)
}

unsafe extern "C-unwind" fn l_encode_order(l: State) -> c_int {
    let n = ffi::lua_gettop(l);
    if n % 2 != 0 {
        raise(l, format_args!("Invalid ordered dict"));
    }
    // The first key goes last, where the protected encoder looks for it.
    if n > 0 {
        ffi::lua_pushvalue(l, 1);
        ffi::lua_remove(l, 1);
    }
    run_encoder(l, encode_order_protected)
}

// ---------------------------------------------------------------------------
// Decoding

/// A cursor over document bytes. `size` is signed, as lengths read from the
/// data are, so that bad lengths show up in the error text as read.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> i64 {
        (self.data.len() - self.pos) as i64
    }

    /// # Safety
    /// Raises from a frame owning nothing.
    unsafe fn take(&mut self, l: State, n: i64) -> &'a [u8] {
        if n < 0 || n > self.left() {
            raise(
                l,
                format_args!("Invalid bson block ({}:{})", self.left() as i32, n as i32),
            );
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        s
    }

    unsafe fn byte(&mut self, l: State) -> u8 {
        self.take(l, 1)[0]
    }

    unsafe fn i32(&mut self, l: State) -> i32 {
        let b = self.take(l, 4);
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    unsafe fn i64(&mut self, l: State) -> i64 {
        let b = self.take(l, 8);
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        i64::from_le_bytes(a)
    }

    unsafe fn cstring(&mut self, l: State) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                self.pos += n + 1;
                &rest[..n]
            }
            None => raise(l, format_args!("Invalid bson block : cstring")),
        }
    }
}

/// `strtol(key, NULL, 10)`: leading blanks, a sign, digits; saturating.
fn c_strtol(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        let d = i64::from(c - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    v
}

/// Pushes `\0`, `kind` and the payload as one string.
///
/// # Safety
/// `l` has two free stack slots.
unsafe fn push_special(l: State, kind: u8, parts: &[&[u8]]) {
    push_bytes(l, &[0, kind]);
    for p in parts {
        push_bytes(l, p);
    }
    ffi::lua_concat(l, parts.len() as c_int + 1);
}

/// Reads a document (length, fields, zero) from `r` and pushes it as a table;
/// in an array, keys are the field names plus one.
///
/// # Safety
/// `l` is running a C function; raises from frames owning nothing.
unsafe fn push_document_table(l: State, r: &mut Reader, array: bool, depth: u32) {
    if depth > MAX_DECODE_DEPTH {
        raise(l, format_args!("Too depth while decoding bson"));
    }
    ffi::luaL_checkstack(l, 16, std::ptr::null());
    let size = r.i32(l);
    if size < 5 {
        // The reference steps back into the length and fails on the first
        // field of a negative-sized body.
        raise(
            l,
            format_args!("Invalid bson block ({}:1)", size.wrapping_sub(5)),
        );
    }
    let body = r.take(l, i64::from(size) - 5);
    if r.byte(l) != 0 {
        raise(l, format_args!("Invalid document end"));
    }
    ffi::lua_createtable(l, 0, 0);
    let mut t = Reader { data: body, pos: 0 };
    while t.left() > 0 {
        let kind = t.byte(l);
        let key = t.cstring(l);
        if array {
            let id = c_strtol(key).wrapping_add(1) as i32;
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(id));
        } else {
            push_bytes(l, key);
        }
        push_field(l, &mut t, kind, depth);
        ffi::lua_rawset(l, -3);
    }
}

/// Pushes the value of a field of type `kind`.
///
/// # Safety
/// As [`push_document_table`].
unsafe fn push_field(l: State, t: &mut Reader, kind: u8, depth: u32) {
    match kind {
        BSON_REAL => ffi::lua_pushnumber(l, f64::from_bits(t.i64(l) as u64)),
        BSON_BOOLEAN => ffi::lua_pushboolean(l, c_int::from(t.byte(l) != 0)),
        BSON_STRING => {
            let size = t.i32(l);
            if size <= 0 {
                raise(l, format_args!("Invalid bson string , length = {size}"));
            }
            let s = t.take(l, i64::from(size));
            push_bytes(l, &s[..s.len() - 1]);
        }
        BSON_DOCUMENT => push_document_table(l, t, false, depth + 1),
        BSON_ARRAY => push_document_table(l, t, true, depth + 1),
        BSON_BINARY => {
            let size = t.i32(l);
            let subtype = t.byte(l);
            let data = t.take(l, i64::from(size));
            push_special(l, BSON_BINARY, &[&[subtype], data]);
        }
        BSON_OBJECTID => {
            let id = t.take(l, 12);
            push_special(l, BSON_OBJECTID, &[id]);
        }
        BSON_DATE => {
            let secs = (t.i64(l) / 1000) as u32;
            push_special(l, BSON_DATE, &[&secs.to_le_bytes()]);
        }
        BSON_MINKEY | BSON_MAXKEY | BSON_NULL => push_special(l, kind, &[]),
        BSON_REGEX => {
            let pattern = t.cstring(l);
            let options = t.cstring(l);
            push_special(l, BSON_REGEX, &[pattern, &[0], options, &[0]]);
        }
        BSON_INT32 => ffi::lua_pushinteger(l, ffi::lua_Integer::from(t.i32(l))),
        BSON_TIMESTAMP => {
            let inc = t.i32(l);
            let secs = t.i32(l);
            push_special(
                l,
                BSON_TIMESTAMP,
                &[&inc.to_le_bytes(), &secs.to_le_bytes()],
            );
        }
        BSON_INT64 => ffi::lua_pushinteger(l, t.i64(l)),
        BSON_DBPOINTER => {
            let start = t.pos;
            let size = t.i32(l);
            t.take(l, i64::from(size) + 12);
            push_special(l, kind, &[&t.data[start..t.pos]]);
        }
        BSON_JSCODE | BSON_SYMBOL => {
            let start = t.pos;
            let size = t.i32(l);
            t.take(l, i64::from(size));
            push_special(l, kind, &[&t.data[start..t.pos]]);
        }
        BSON_CODEWS => {
            let start = t.pos;
            let size = t.i32(l);
            t.take(l, i64::from(size) - 4);
            push_special(l, kind, &[&t.data[start..t.pos]]);
        }
        _ => raise(l, format_args!("Invalid bson type : {kind}")),
    }
}

/// The bytes of the document argument at `idx`: a full userdata (bounded by
/// its size), a light userdata (bounded by its length header) or a string.
/// `None` when the value is none of these.
///
/// # Safety
/// `l` is running a C function; a light userdata must point to a document.
unsafe fn document_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => to_bytes(l, idx),
        ffi::LUA_TUSERDATA => {
            let p = ffi::lua_touserdata(l, idx) as *const u8;
            let n = ffi::lua_rawlen(l, idx);
            Some(if n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, n)
            })
        }
        ffi::LUA_TLIGHTUSERDATA => {
            let p = ffi::lua_touserdata(l, idx) as *const u8;
            if p.is_null() {
                return None;
            }
            let len = i32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
            Some(std::slice::from_raw_parts(p, len.max(4) as usize))
        }
        _ => None,
    }
}

unsafe extern "C-unwind" fn l_decode(l: State) -> c_int {
    let Some(data) = document_bytes(l, 1) else {
        return 0;
    };
    // The length header bounds the reader, as in the reference; a buffer
    // shorter than its header is read only as far as it goes.
    let header = if data.len() >= 4 {
        i32::from_le_bytes([data[0], data[1], data[2], data[3]])
    } else {
        data.len() as i32
    };
    let bound = if header < 0 {
        0
    } else {
        (header as usize).min(data.len())
    };
    let mut r = Reader {
        data: &data[..bound],
        pos: 0,
    };
    push_document_table(l, &mut r, false, 0);
    1
}

// ---------------------------------------------------------------------------
// Document userdata methods

unsafe extern "C-unwind" fn l_tostring(l: State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *const c_char;
    let n = ffi::lua_rawlen(l, 1);
    if p.is_null() {
        push_bytes(l, &[]);
    } else {
        ffi::lua_pushlstring(l, p, n);
    }
    1
}

unsafe extern "C-unwind" fn l_len(l: State) -> c_int {
    ffi::lua_pushinteger(l, ffi::lua_rawlen(l, 1) as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn l_makeindex(l: State) -> c_int {
    let p = ffi::luaL_checkudata(l, 1, META.as_ptr()) as *const u8;
    let room = ffi::lua_rawlen(l, 1);
    let data = std::slice::from_raw_parts(p, room);
    let header = if room >= 4 {
        i32::from_le_bytes([data[0], data[1], data[2], data[3]])
    } else {
        0
    };
    let end = (i64::from(header) - 1).max(4).min(room as i64) as usize;
    let mut r = Reader {
        data: &data[..end],
        pos: 4.min(end),
    };
    ffi::lua_createtable(l, 0, 0);
    while r.left() > 0 {
        let kind = r.byte(l);
        let key = r.cstring(l);
        let fixed = match kind {
            BSON_INT64 | BSON_TIMESTAMP | BSON_DATE | BSON_REAL => 8,
            BSON_BOOLEAN => 1,
            BSON_OBJECTID => 12,
            BSON_INT32 => 4,
            BSON_JSCODE | BSON_SYMBOL | BSON_STRING => {
                let n = r.i32(l);
                r.take(l, i64::from(n));
                0
            }
            BSON_CODEWS | BSON_ARRAY | BSON_DOCUMENT => {
                let n = r.i32(l);
                r.take(l, i64::from(n) - 4);
                0
            }
            BSON_BINARY => {
                let n = r.i32(l);
                r.take(l, i64::from(n) + 1);
                0
            }
            BSON_MINKEY | BSON_MAXKEY | BSON_NULL => 0,
            BSON_REGEX => {
                r.cstring(l);
                r.cstring(l);
                0
            }
            BSON_DBPOINTER => {
                let n = r.i32(l);
                r.take(l, i64::from(n) + 12);
                0
            }
            _ => raise(l, format_args!("Invalid bson type : {kind}")),
        };
        if fixed > 0 {
            let id = i64::from(kind) | ((r.pos as i64) << TYPE_SHIFT);
            r.take(l, fixed);
            push_bytes(l, key);
            ffi::lua_pushinteger(l, id);
            ffi::lua_rawset(l, -3);
        }
    }
    ffi::lua_setiuservalue(l, 1, 1);
    ffi::lua_settop(l, 1);
    1
}

/// Reads a special-value argument of `kind` for `__newindex` and checks its
/// size; returns its payload.
///
/// # Safety
/// `l` is running a C function.
unsafe fn check_special<'a>(l: State, kind: u8, size: usize, what: &str) -> &'a [u8] {
    let data = check_bytes(l, 3);
    if data.len() < 6 || data[0] != 0 || data[1] != kind {
        raise(l, format_args!("Type mismatch, need bson type {kind}"));
    }
    if data.len() != size + 2 {
        raise(l, format_args!("Invalid {what}"));
    }
    &data[2..]
}

/// Raises the message on top of the stack with the caller's position.
///
/// # Safety
/// `l` is running a C function; raises from a frame owning nothing.
unsafe fn raise_top(l: State) -> ! {
    ffi::luaL_where(l, 1);
    ffi::lua_insert(l, -2);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

unsafe extern "C-unwind" fn l_replace(l: State) -> c_int {
    ffi::lua_getiuservalue(l, 1, 1);
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        raise(l, format_args!("call makeindex first"));
    }
    ffi::lua_pushvalue(l, 2);
    if ffi::lua_rawget(l, -2) != ffi::LUA_TNUMBER {
        let mut msg = Msg::new();
        msg.push_bytes(b"Can't replace key : ");
        msg.push_bytes(to_bytes(l, 2).unwrap_or(b"(null)"));
        crate::capi::raise_msg(l, 1, &msg);
    }
    let id = ffi::lua_tointeger(l, -1);
    let kind = (id & ((1 << TYPE_SHIFT) - 1)) as u8;
    let offset = (id >> TYPE_SHIFT) as usize;
    let p = ffi::lua_touserdata(l, 1) as *mut u8;
    let room = ffi::lua_rawlen(l, 1);
    let mut field = [0u8; 12];
    let size = match kind {
        BSON_REAL => {
            field[..8].copy_from_slice(&ffi::luaL_checknumber(l, 3).to_le_bytes());
            8
        }
        BSON_BOOLEAN => {
            field[0] = u8::from(ffi::lua_toboolean(l, 3) != 0);
            1
        }
        BSON_OBJECTID => {
            field.copy_from_slice(check_special(l, kind, 12, "object id"));
            12
        }
        BSON_DATE => {
            let secs = check_special(l, kind, 4, "date");
            let millis = i64::from(u32::from_le_bytes([secs[0], secs[1], secs[2], secs[3]])) * 1000;
            field[..8].copy_from_slice(&millis.to_le_bytes());
            8
        }
        BSON_TIMESTAMP => {
            field[..8].copy_from_slice(check_special(l, kind, 8, "timestamp"));
            8
        }
        BSON_INT32 => {
            if ffi::lua_isinteger(l, 3) == 0 {
                // Lua's own %f (the reference formats with luaL_error).
                ffi::lua_pushfstring(
                    l,
                    c"%f must be a 32bit integer ".as_ptr(),
                    ffi::lua_tonumber(l, 3),
                );
                raise_top(l);
            }
            field[..4].copy_from_slice(&(ffi::lua_tointeger(l, 3) as i32).to_le_bytes());
            4
        }
        BSON_INT64 => {
            if ffi::lua_isinteger(l, 3) == 0 {
                // Lua's own %f (the reference formats with luaL_error).
                ffi::lua_pushfstring(
                    l,
                    c"%f must be a 64bit integer ".as_ptr(),
                    ffi::lua_tonumber(l, 3),
                );
                raise_top(l);
            }
            field[..8].copy_from_slice(&ffi::lua_tointeger(l, 3).to_le_bytes());
            8
        }
        _ => raise(l, format_args!("Can't replace type {kind}")),
    };
    if offset + size > room {
        raise(l, format_args!("Can't replace key : index out of range"));
    }
    std::ptr::copy_nonoverlapping(field.as_ptr(), p.add(offset), size);
    0
}

// ---------------------------------------------------------------------------
// Special values

unsafe extern "C-unwind" fn l_date(l: State) -> c_int {
    let secs = ffi::luaL_checkinteger(l, 1) as i32;
    push_special(l, BSON_DATE, &[&secs.to_le_bytes()]);
    1
}

unsafe extern "C-unwind" fn l_int64(l: State) -> c_int {
    let v = ffi::luaL_checkinteger(l, 1);
    push_special(l, BSON_INT64, &[&v.to_le_bytes()]);
    1
}

/// The increment of `timestamp` calls that give none.
static TIMESTAMP_INC: AtomicU32 = AtomicU32::new(0);

unsafe extern "C-unwind" fn l_timestamp(l: State) -> c_int {
    let secs = ffi::luaL_checkinteger(l, 1) as i32;
    let inc = if ffi::lua_isnoneornil(l, 2) != 0 {
        TIMESTAMP_INC.fetch_add(1, Ordering::Relaxed)
    } else {
        ffi::lua_tointegerx(l, 2, std::ptr::null_mut()) as u32
    };
    push_special(
        l,
        BSON_TIMESTAMP,
        &[&inc.to_le_bytes(), &secs.to_le_bytes()],
    );
    1
}

unsafe extern "C-unwind" fn l_regex(l: State) -> c_int {
    let pattern = check_bytes(l, 1);
    let options = if ffi::lua_isnoneornil(l, 2) != 0 {
        &[][..]
    } else {
        check_bytes(l, 2)
    };
    push_special(l, BSON_REGEX, &[pattern, &[0], options, &[0]]);
    1
}

unsafe extern "C-unwind" fn l_binary(l: State) -> c_int {
    let data = check_bytes(l, 1);
    push_special(l, BSON_BINARY, &[&[0], data]);
    1
}

/// The five bytes of generated object ids after the time: a hostname hash
/// and the process id.
fn oid_header() -> &'static [u8; 5] {
    static HEADER: OnceLock<[u8; 5]> = OnceLock::new();
    HEADER.get_or_init(|| {
        let mut name = [0u8; 256];
        let mut h: u32 = 0;
        // SAFETY: gethostname writes at most name.len() bytes into name.
        if unsafe { libc::gethostname(name.as_mut_ptr() as *mut c_char, name.len()) } == 0 {
            let mut n = 0;
            for &c in name.iter().take_while(|&&c| c != 0) {
                let c = c as i8 as i32 as u32;
                h ^= (h << 5).wrapping_add(h >> 2).wrapping_add(c);
                n += 1;
            }
            h ^= n;
        }
        let pid = std::process::id();
        [
            h as u8,
            (h >> 8) as u8,
            (h >> 16) as u8,
            pid as u8,
            (pid >> 8) as u8,
        ]
    })
}

/// The counter of generated object ids, started from a per-process value.
fn oid_counter() -> &'static AtomicU64 {
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    COUNTER.get_or_init(|| {
        let h = oid_header();
        let now = unix_time();
        let local = 0u8;
        let mut c = u64::from(u32::from_le_bytes([h[0], h[1], h[2], 0]))
            ^ now
            ^ (&local as *const u8 as u64);
        if c == 0 {
            c = 1;
        }
        AtomicU64::new(c)
    })
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Lenient hex digit value of object id strings (anything else is 0).
fn oid_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'z' => c - b'a' + 10,
        b'A'..=b'Z' => c - b'A' + 10,
        _ => 0,
    }
}

unsafe extern "C-unwind" fn l_objectid(l: State) -> c_int {
    let mut oid = [0u8; 12];
    if ffi::lua_isstring(l, 1) != 0 {
        let text = to_bytes(l, 1).unwrap_or(&[]);
        if text.len() != 24 {
            let mut msg = Msg::new();
            msg.push_bytes(b"Invalid objectid ");
            msg.push_bytes(text.split(|&b| b == 0).next().unwrap_or(&[]));
            crate::capi::raise_msg(l, 1, &msg);
        }
        for (o, pair) in oid.iter_mut().zip(text.chunks_exact(2)) {
            *o = (oid_digit(pair[0]) << 4) | oid_digit(pair[1]);
        }
    } else {
        let now = unix_time() as u32;
        let id = oid_counter().fetch_add(1, Ordering::Relaxed) as u32;
        oid[..4].copy_from_slice(&now.to_be_bytes());
        oid[4..9].copy_from_slice(oid_header());
        oid[9..].copy_from_slice(&id.to_be_bytes()[1..]);
    }
    push_special(l, BSON_OBJECTID, &[&oid]);
    1
}

unsafe extern "C-unwind" fn l_to_lightuserdata(l: State) -> c_int {
    ffi::lua_pushlightuserdata(l, ffi::lua_touserdata(l, 1));
    1
}

/// Pushes `name` followed by `values` strings; returns how many were pushed.
///
/// # Safety
/// `l` has room for the values.
unsafe fn push_typed(l: State, name: &str, values: &[&[u8]]) -> c_int {
    push_bytes(l, name.as_bytes());
    for v in values {
        push_bytes(l, v);
    }
    values.len() as c_int + 1
}

/// `type` of a special string: its kind and payload.
///
/// # Safety
/// `l` is running a C function.
unsafe fn special_type(l: State, kind: u8, payload: &[u8]) -> c_int {
    match kind {
        BSON_BINARY => {
            let Some((&subtype, data)) = payload.split_first() else {
                raise(l, format_args!("Invalid binary"));
            };
            push_typed(l, "binary", &[data]);
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(subtype));
            3
        }
        BSON_OBJECTID => {
            if payload.len() != 12 {
                raise(l, format_args!("Invalid object id"));
            }
            let mut hex = [0u8; 24];
            crate::crypt::hex_encode(payload, &mut hex);
            push_typed(l, "objectid", &[&hex])
        }
        BSON_DATE => {
            let Ok(secs) = <[u8; 4]>::try_from(payload) else {
                raise(l, format_args!("Invalid date"));
            };
            push_typed(l, "date", &[]);
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(i32::from_le_bytes(secs)));
            2
        }
        BSON_TIMESTAMP => {
            if payload.len() != 8 {
                raise(l, format_args!("Invalid timestamp"));
            }
            let inc = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
            let secs = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
            push_typed(l, "timestamp", &[]);
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(secs));
            ffi::lua_pushinteger(l, ffi::lua_Integer::from(inc));
            3
        }
        BSON_REGEX => {
            let Some((pattern, options)) = split_regex(payload) else {
                raise(l, format_args!("Invalid regex"));
            };
            push_typed(l, "regex", &[pattern, options])
        }
        BSON_MINKEY => push_typed(l, "minkey", &[]),
        BSON_MAXKEY => push_typed(l, "maxkey", &[]),
        BSON_NULL => push_typed(l, "nil", &[]),
        BSON_JSCODE | BSON_DBPOINTER | BSON_SYMBOL | BSON_CODEWS => {
            push_typed(l, "unsupported", &[payload])
        }
        BSON_INT64 => {
            let Ok(v) = <[u8; 8]>::try_from(payload) else {
                raise(l, format_args!("Invalid int64"));
            };
            push_typed(l, "int64", &[]);
            ffi::lua_pushinteger(l, i64::from_le_bytes(v));
            2
        }
        _ => raise(l, format_args!("Invalid subtype {kind}")),
    }
}

unsafe extern "C-unwind" fn l_type(l: State) -> c_int {
    let name = match ffi::lua_type(l, 1) {
        ffi::LUA_TNUMBER => "number",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TTABLE => "table",
        ffi::LUA_TNIL => return push_typed(l, "nil", &[]),
        ffi::LUA_TSTRING => {
            let s = to_bytes(l, 1).unwrap_or(&[]);
            if s.len() >= 2 && s[0] == 0 {
                return special_type(l, s[1], &s[2..]);
            }
            "string"
        }
        _ => raise(l, format_args!("Invalid type {}", type_name(l, 1))),
    };
    push_bytes(l, name.as_bytes());
    ffi::lua_pushvalue(l, 1);
    2
}

/// Opens `bson`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_bson(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 14);
    set_functions(
        l,
        &[
            (c"encode", l_encode),
            (c"encode_order", l_encode_order),
            (c"date", l_date),
            (c"timestamp", l_timestamp),
            (c"regex", l_regex),
            (c"binary", l_binary),
            (c"objectid", l_objectid),
            (c"int64", l_int64),
            (c"decode", l_decode),
            (c"to_lightuserdata", l_to_lightuserdata),
            (c"type", l_type),
        ],
    );
    for (name, kind) in [
        (c"null", BSON_NULL),
        (c"minkey", BSON_MINKEY),
        (c"maxkey", BSON_MAXKEY),
    ] {
        push_bytes(l, &[0, kind]);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    oid_counter();
    1
}

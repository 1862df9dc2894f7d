//! Encoding a Lua table as a sproto struct (`sproto.core.encode`), with the
//! reference's layout, value conversions and error texts.
//!
//! A struct is a header (field count, then one 16-bit slot per field) and a
//! data part. Small non-negative integers and booleans live in their slot as
//! `(v + 1) * 2`; other values go to the data part with a 32-bit length; a gap
//! in tags takes a slot of `(gap - 1) * 2 + 1`. Arrays of integers carry one
//! width byte (4 or 8) before their items; when one item needs 64 bits, all
//! do.
//!
//! Everything runs inside a protected call (see `lua.rs`): values are read
//! with the Lua C API, `__index` / `__pairs` metamethods may run and raise,
//! and the output buffer is owned outside the protected call. Errors carry the
//! position of the Lua code that called `encode` (two levels up).

use std::ffi::c_int;

use mlua::ffi;

use super::schema::{Field, Type, TBOOLEAN, TDOUBLE, TINTEGER, TSTRING, TSTRUCT};
use crate::capi::{raise_at, to_bytes, type_name, State};

/// Nesting at which encoding and decoding give up ("The table is too deep").
pub const MAX_DEPTH: i32 = 64;
/// The largest encoding (the reference's buffer limit).
pub const MAX_SIZE: usize = 0x100_0000;
/// Errors are reported for the caller of `encode`: above the protected call.
const LEVEL: c_int = 2;

/// An integer as sproto stores it: 32 bits when it fits, else 64.
#[derive(Clone, Copy)]
enum Int {
    I32(u32),
    I64(u64),
}

/// The state of one struct being encoded.
struct StructEncoder<'a> {
    l: State,
    st: &'a Type,
    /// Stack index of the table being encoded.
    table: c_int,
    depth: i32,
    /// Stack slot of the reusable key/value table of map fields (0: none yet).
    map_entry: c_int,
}

/// Appends the struct `st` read from the table at stack index `table`.
///
/// # Safety
/// Runs inside the protected encoder; raises from frames owning nothing but
/// borrows.
pub unsafe fn encode_struct(l: State, out: &mut Vec<u8>, st: &Type, table: c_int, depth: i32) {
    if depth >= MAX_DEPTH && !st.fields.is_empty() {
        raise_at(l, LEVEL, format_args!("The table is too deep"));
    }
    let top = ffi::lua_gettop(l);
    let mut enc = StructEncoder {
        l,
        st,
        table: ffi::lua_absindex(l, table),
        depth,
        map_entry: 0,
    };
    let header_at = out.len();
    let header_len = 2 + 2 * st.maxn;
    out.resize(header_at + header_len, 0);
    let mut slots = 0usize;
    let mut last_tag = -1i32;
    for f in &st.fields {
        ffi::luaL_checkstack(l, 12, std::ptr::null());
        let slot = if f.array {
            enc.array_field(out, f)
        } else {
            enc.plain_field(out, f)
        };
        check_size(l, out);
        let Some(value) = slot else {
            continue;
        };
        let gap = f.tag - last_tag - 1;
        if gap > 0 {
            write_slot(out, header_at, slots, ((gap - 1) * 2 + 1) as u16);
            slots += 1;
        }
        write_slot(out, header_at, slots, value);
        slots += 1;
        last_tag = f.tag;
    }
    out[header_at..header_at + 2].copy_from_slice(&(slots as u16).to_le_bytes());
    // Unused header slots are dropped: the data follows the last slot.
    let used = 2 + 2 * slots;
    if used < header_len {
        out.drain(header_at + used..header_at + header_len);
    }
    ffi::lua_settop(l, top);
}

fn write_slot(out: &mut [u8], header_at: usize, index: usize, value: u16) {
    let at = header_at + 2 + 2 * index;
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// # Safety
/// As [`encode_struct`].
unsafe fn check_size(l: State, out: &[u8]) {
    if out.len() > MAX_SIZE {
        raise_at(l, LEVEL, format_args!("object is too large (>{MAX_SIZE})"));
    }
}

/// Starts a data item: reserves its length.
fn begin_item(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Ends the data item started at `at`.
fn end_item(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Rounds like C's `round` then converts like a C cast on x86-64 (values
/// out of range, and NaN, become `i64::MIN`).
fn round_to_i64(v: f64) -> i64 {
    let r = v.round();
    // 2^63: i64::MAX rounds up to it as a double.
    let limit = i64::MAX as f64;
    if r.is_nan() || !(-limit..limit).contains(&r) {
        i64::MIN
    } else {
        r as i64
    }
}

impl StructEncoder<'_> {
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn raise_type(&self, f: &Field, index: i64, what: &str, idx: c_int) -> ! {
        raise_at(
            self.l,
            LEVEL,
            format_args!(
                "{}.{}[{index}] is not {what} (Is a {})",
                self.st.name_str(),
                f.name.to_str().unwrap_or("?"),
                type_name(self.l, idx)
            ),
        )
    }

    /// Reads the integer on top of the stack (popped).
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn integer(&self, f: &Field, index: i64) -> Int {
        let l = self.l;
        let v = if f.extra != 0 {
            let n = ffi::lua_tonumberx(l, -1, std::ptr::null_mut());
            round_to_i64(n * f64::from(f.extra))
        } else {
            let mut ok = 0;
            let v = ffi::lua_tointegerx(l, -1, &mut ok);
            if ok == 0 {
                self.raise_type(f, index, "an integer", -1);
            }
            v
        };
        ffi::lua_pop(l, 1);
        let high = v >> 31;
        if high == 0 || high == -1 {
            Int::I32(v as u32)
        } else {
            Int::I64(v as u64)
        }
    }

    /// Reads the boolean on top of the stack (popped).
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn boolean(&self, f: &Field, index: i64) -> bool {
        if ffi::lua_type(self.l, -1) != ffi::LUA_TBOOLEAN {
            self.raise_type(f, index, "a boolean", -1);
        }
        let v = ffi::lua_toboolean(self.l, -1) != 0;
        ffi::lua_pop(self.l, 1);
        v
    }

    /// Reads the double on top of the stack (popped); non-numbers read as 0.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn double(&self) -> f64 {
        let v = ffi::lua_tonumberx(self.l, -1, std::ptr::null_mut());
        ffi::lua_pop(self.l, 1);
        v
    }

    /// Appends the string or struct on top of the stack (popped) as a data
    /// item.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn object(&mut self, out: &mut Vec<u8>, f: &Field, index: i64) {
        let l = self.l;
        let at = begin_item(out);
        if f.kind == TSTRING {
            if ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
                self.raise_type(f, index, "a string", -1);
            }
            out.extend_from_slice(to_bytes(l, -1).unwrap_or(&[]));
        } else if let Some(sub) = self.st.subtype(f) {
            encode_struct(l, out, sub, -1, self.depth + 1);
        }
        ffi::lua_pop(l, 1);
        end_item(out, at);
    }

    /// Encodes a non-array field; returns its header slot value, `None` when
    /// the field is nil.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn plain_field(&mut self, out: &mut Vec<u8>, f: &Field) -> Option<u16> {
        let l = self.l;
        ffi::lua_getfield(l, self.table, f.name.as_ptr());
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            return None;
        }
        let int = match f.kind {
            TINTEGER => self.integer(f, 0),
            TBOOLEAN => Int::I32(u32::from(self.boolean(f, 0))),
            TDOUBLE => Int::I64(self.double().to_bits()),
            TSTRING | TSTRUCT => {
                self.object(out, f, 0);
                return Some(0);
            }
            _ => {
                ffi::lua_pop(l, 1);
                return None;
            }
        };
        match int {
            Int::I32(v) if v < 0x7fff => return Some(((v + 1) * 2) as u16),
            Int::I32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Int::I64(v) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Some(0)
    }

    /// Encodes an array field; returns its slot value (always 0: data), or
    /// `None` when the field is nil.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn array_field(&mut self, out: &mut Vec<u8>, f: &Field) -> Option<u16> {
        let l = self.l;
        let map = f.map && f.key >= 0;
        ffi::lua_getfield(l, self.table, f.name.as_ptr());
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            return None;
        }
        let mut created_entry = false;
        if map && self.map_entry == 0 {
            // The key/value table serves every map field of the struct: it
            // goes below the field's value so that it outlives the field.
            ffi::lua_createtable(l, 0, 2);
            ffi::lua_insert(l, -2);
            self.map_entry = ffi::lua_gettop(l) - 1;
            created_entry = true;
        }
        let array = ffi::lua_gettop(l);
        let has_pairs = ffi::luaL_getmetafield(l, array, c"__pairs".as_ptr()) != ffi::LUA_TNIL;
        if has_pairs {
            ffi::lua_pushvalue(l, array);
            ffi::lua_call(l, 1, 3);
        } else if ffi::lua_type(l, array) != ffi::LUA_TTABLE {
            // The reference names the type of whatever is on top here: the
            // map entry table when it was just made for this field.
            let shown = if created_entry { self.map_entry } else { array };
            raise_at(
                l,
                LEVEL,
                format_args!(
                    "{}.{}(1) should be a table or an userdata with metamethods (Is a {})",
                    self.st.name_str(),
                    f.name.to_str().unwrap_or("?"),
                    type_name(l, shown)
                ),
            );
        }
        let mut iter = if f.key < 0 {
            Iter::Index
        } else if has_pairs {
            Iter::Pairs(ffi::lua_gettop(l) - 2)
        } else {
            ffi::lua_pushnil(l);
            Iter::Next(ffi::lua_gettop(l))
        };
        let at = begin_item(out);
        let items_at = out.len();
        let mut width = 4usize;
        let mut index: i64 = 1;
        let numeric = f.kind == TINTEGER || f.kind == TDOUBLE;
        if numeric {
            out.push(0);
        }
        while self.next_item(f, array, &mut iter, map, index) {
            match f.kind {
                TINTEGER | TDOUBLE => {
                    let v = if f.kind == TDOUBLE {
                        Int::I64(self.double().to_bits())
                    } else {
                        self.integer(f, index)
                    };
                    match v {
                        Int::I32(v) if width == 4 => out.extend_from_slice(&v.to_le_bytes()),
                        Int::I32(v) => {
                            out.extend_from_slice(&i64::from(v as i32).to_le_bytes());
                        }
                        Int::I64(v) => {
                            if width == 4 {
                                widen(out, items_at + 1);
                                width = 8;
                            }
                            out.extend_from_slice(&v.to_le_bytes());
                        }
                    }
                }
                TBOOLEAN => out.push(u8::from(self.boolean(f, index))),
                _ => {
                    let item = begin_item(out);
                    self.object_item(out, f, index);
                    end_item(out, item);
                }
            }
            check_size(l, out);
            index += 1;
        }
        if numeric {
            if out.len() == items_at + 1 {
                out.truncate(items_at);
            } else {
                out[items_at] = width as u8;
            }
        }
        end_item(out, at);
        ffi::lua_settop(l, array - 1);
        Some(0)
    }

    /// The contents of a string or struct array item (value on top, popped).
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn object_item(&mut self, out: &mut Vec<u8>, f: &Field, index: i64) {
        let l = self.l;
        if f.kind == TSTRING {
            if ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
                self.raise_type(f, index, "a string", -1);
            }
            out.extend_from_slice(to_bytes(l, -1).unwrap_or(&[]));
        } else if let Some(sub) = self.st.subtype(f) {
            encode_struct(l, out, sub, -1, self.depth + 1);
        }
        ffi::lua_pop(l, 1);
    }

    /// Pushes the next item of the array at `array`; false (nothing pushed)
    /// at the end.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn next_item(
        &mut self,
        f: &Field,
        array: c_int,
        iter: &mut Iter,
        map: bool,
        index: i64,
    ) -> bool {
        let l = self.l;
        match *iter {
            Iter::Index => {
                ffi::lua_geti(l, array, index);
            }
            Iter::Next(key) => {
                ffi::lua_pushvalue(l, key);
                if ffi::lua_next(l, array) == 0 {
                    return false;
                }
                self.take_entry(f, key, map);
            }
            Iter::Pairs(func) => {
                ffi::lua_pushvalue(l, func);
                ffi::lua_pushvalue(l, func + 1);
                ffi::lua_pushvalue(l, func + 2);
                ffi::lua_call(l, 2, 2);
                if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                    ffi::lua_pop(l, 2);
                    return false;
                }
                self.take_entry(f, func + 2, map);
            }
        }
        self.pop_nil()
    }

    /// With (key, value) pushed by an iteration: saves the key as the control
    /// value at `key_slot` and leaves the item (the value, or for maps the
    /// filled entry table) on top.
    ///
    /// # Safety
    /// As [`encode_struct`].
    unsafe fn take_entry(&mut self, f: &Field, key_slot: c_int, map: bool) {
        let l = self.l;
        let sub = self.st.subtype(f);
        let names = sub.and_then(|st| Some((st.fields.first()?, st.fields.get(1)?)));
        match (map, names) {
            (true, Some((k, v))) => {
                ffi::lua_pushvalue(l, -2);
                ffi::lua_replace(l, key_slot);
                ffi::lua_setfield(l, self.map_entry, v.name.as_ptr());
                ffi::lua_setfield(l, self.map_entry, k.name.as_ptr());
                ffi::lua_pushvalue(l, self.map_entry);
            }
            _ => {
                ffi::lua_insert(l, -2);
                ffi::lua_replace(l, key_slot);
            }
        }
    }

    /// Pops a nil on top and answers false, or answers true for any other
    /// value (left on top).
    ///
    /// # Safety
    /// A value is on top of the stack.
    unsafe fn pop_nil(&self) -> bool {
        if ffi::lua_type(self.l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(self.l, 1);
            false
        } else {
            true
        }
    }
}

/// How the items of an array field are visited.
#[derive(Clone, Copy)]
enum Iter {
    /// `t[1]`, `t[2]`, ... until nil.
    Index,
    /// `next` over the table; the slot holds the control key.
    Next(c_int),
    /// A `__pairs` iterator: slots of the function, the state and the key.
    Pairs(c_int),
}

/// Turns the 32-bit items from `from` to the end of `out` into 64-bit ones,
/// sign-extended.
fn widen(out: &mut Vec<u8>, from: usize) {
    let items: Vec<i32> = out[from..]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    out.truncate(from);
    for v in items {
        out.extend_from_slice(&i64::from(v).to_le_bytes());
    }
}

//! Decoding a sproto struct into a Lua table (`sproto.core.decode`), with the
//! reference's checks: any malformed or truncated part makes the whole decode
//! fail (`decode error`), unknown tags are skipped, arrays of structs with a
//! main index become tables keyed by it, and two-field maps become key → value
//! tables.
//!
//! The decoder reads a borrowed byte slice and pushes onto the Lua stack; it
//! owns nothing, so the Lua errors it raises (too deep, missing main index)
//! unwind nothing of Rust's.

use std::ffi::c_int;

use mlua::ffi;

use super::encode::MAX_DEPTH;
use super::schema::{Field, Type, TBOOLEAN, TDOUBLE, TINTEGER, TSTRING, TSTRUCT};
use crate::capi::{push_bytes, raise, State};

/// A malformed message.
#[derive(Debug)]
pub struct Malformed;

type Result<T> = std::result::Result<T, Malformed>;

fn word(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 2).ok_or(Malformed)?;
    Ok(u32::from(s[0]) | (u32::from(s[1]) << 8))
}

fn dword(b: &[u8], at: usize) -> Result<u32> {
    let s = b.get(at..at + 4).ok_or(Malformed)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A 32-bit value sign-extended to 64 bits.
fn extend32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// The state of one struct being decoded.
struct StructDecoder<'a> {
    l: State,
    st: &'a Type,
    /// Stack index of the result table.
    result: c_int,
    depth: i32,
    /// The tag whose value is the main index of this struct (-1: none), and
    /// the stack slot that receives it.
    main_tag: i32,
    key_slot: c_int,
    /// Stack slot of the reusable entry table of map fields (0: none yet).
    map_entry: c_int,
}

/// Decodes `data` as the struct `st` into the table at stack index `result`;
/// returns the number of bytes used.
///
/// # Safety
/// `l` is running a C function; `result` is an absolute index.
pub unsafe fn decode_struct(
    l: State,
    st: &Type,
    data: &[u8],
    result: c_int,
    depth: i32,
) -> Result<usize> {
    let mut dec = StructDecoder {
        l,
        st,
        result,
        depth,
        main_tag: -1,
        key_slot: 0,
        map_entry: 0,
    };
    dec.run(data)
}

impl StructDecoder<'_> {
    unsafe fn run(&mut self, data: &[u8]) -> Result<usize> {
        let n = word(data, 0)? as usize;
        let header_end = 2 + 2 * n;
        if data.len() < header_end {
            return Err(Malformed);
        }
        let mut at = header_end;
        let mut tag: i64 = -1;
        for i in 0..n {
            let v = word(data, 2 + 2 * i)?;
            tag += 1;
            if v & 1 != 0 {
                tag += i64::from(v / 2);
                continue;
            }
            let item = if v == 0 {
                let len = dword(data, at)? as usize;
                let item = data
                    .get(at + 4..(at + 4).checked_add(len).ok_or(Malformed)?)
                    .ok_or(Malformed)?;
                at += 4 + len;
                Some(item)
            } else {
                None
            };
            let Some(f) = i32::try_from(tag)
                .ok()
                .and_then(|t| self.st.field_by_tag(t))
            else {
                continue;
            };
            self.enter_field();
            match item {
                Some(item) => self.data_field(f, item)?,
                None => self.inline_field(f, (v / 2) as i64 - 1)?,
            }
        }
        Ok(at)
    }

    /// What the reference checks before each value it hands to Lua.
    unsafe fn enter_field(&self) {
        if self.depth >= MAX_DEPTH {
            raise(self.l, format_args!("The table is too deep"));
        }
        ffi::luaL_checkstack(self.l, 12, std::ptr::null());
    }

    /// Stores the value on top as field `f` (popped).
    unsafe fn set_field(&self, f: &Field) {
        if self.main_tag == f.tag {
            ffi::lua_pushvalue(self.l, -1);
            ffi::lua_replace(self.l, self.key_slot);
        }
        ffi::lua_setfield(self.l, self.result, f.name.as_ptr());
    }

    unsafe fn push_integer(&self, f: &Field, v: i64) {
        if f.extra != 0 {
            ffi::lua_pushnumber(self.l, v as f64 / f64::from(f.extra));
        } else {
            ffi::lua_pushinteger(self.l, v);
        }
    }

    /// A value kept in the header slot.
    unsafe fn inline_field(&mut self, f: &Field, value: i64) -> Result<()> {
        if f.array {
            return Err(Malformed);
        }
        match f.kind {
            TINTEGER => self.push_integer(f, value),
            TBOOLEAN => ffi::lua_pushboolean(self.l, c_int::from(value != 0)),
            _ => return Err(Malformed),
        }
        self.set_field(f);
        Ok(())
    }

    /// A value kept in the data part.
    unsafe fn data_field(&mut self, f: &Field, item: &[u8]) -> Result<()> {
        if f.array {
            return self.array_field(f, item);
        }
        match f.kind {
            TINTEGER | TDOUBLE => {
                let v = number(item)?;
                self.push_number(f, v);
            }
            TSTRING => push_bytes(self.l, item),
            TSTRUCT => self.push_struct(f, item)?,
            _ => return Err(Malformed),
        }
        self.set_field(f);
        Ok(())
    }

    unsafe fn push_number(&self, f: &Field, bits: u64) {
        if f.kind == TDOUBLE {
            ffi::lua_pushnumber(self.l, f64::from_bits(bits));
        } else {
            self.push_integer(f, bits as i64);
        }
    }

    /// Pushes a new table decoded from `item` as the struct of `f`.
    unsafe fn push_struct(&self, f: &Field, item: &[u8]) -> Result<()> {
        let sub = self.st.subtype(f).ok_or(Malformed)?;
        ffi::lua_createtable(self.l, 0, 0);
        let table = ffi::lua_gettop(self.l);
        let used = decode_struct(self.l, sub, item, table, self.depth + 1)?;
        if used != item.len() {
            return Err(Malformed);
        }
        ffi::lua_settop(self.l, table);
        Ok(())
    }

    /// An array: a new table set as field `f`, then its items.
    unsafe fn array_field(&mut self, f: &Field, item: &[u8]) -> Result<()> {
        let l = self.l;
        let numeric = f.kind == TINTEGER || f.kind == TDOUBLE;
        // Integer arrays check their width byte before any table is made.
        let width = match (numeric, item.split_first()) {
            (true, Some((&w, rest))) if !rest.is_empty() => {
                let w = usize::from(w);
                if (w != 4 && w != 8) || rest.len() % w != 0 {
                    return Err(Malformed);
                }
                w
            }
            _ => 0,
        };
        if f.kind == TSTRUCT && f.key >= 0 && f.map && self.map_entry == 0 {
            // The entry table is reused for every item of every map of this
            // struct; it stays below the arrays until the struct is done.
            ffi::lua_createtable(l, 0, 2);
            self.map_entry = ffi::lua_gettop(l);
        }
        ffi::lua_createtable(l, 0, 0);
        let array = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setfield(l, self.result, f.name.as_ptr());
        match f.kind {
            _ if item.is_empty() => {}
            TINTEGER | TDOUBLE => {
                if width > 0 {
                    for (i, c) in item[1..].chunks_exact(width).enumerate() {
                        let bits = if width == 4 {
                            extend32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        } else {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(c);
                            u64::from_le_bytes(a)
                        };
                        self.push_number(f, bits);
                        ffi::lua_seti(l, array, i as i64 + 1);
                    }
                }
            }
            TBOOLEAN => {
                for (i, &b) in item.iter().enumerate() {
                    ffi::lua_pushboolean(l, c_int::from(b != 0));
                    ffi::lua_seti(l, array, i as i64 + 1);
                }
            }
            TSTRING | TSTRUCT => {
                let mut at = 0;
                let mut index = 1i64;
                while at < item.len() {
                    let len = dword(item, at)? as usize;
                    let elem = item
                        .get(at + 4..(at + 4).checked_add(len).ok_or(Malformed)?)
                        .ok_or(Malformed)?;
                    at += 4 + len;
                    if f.kind == TSTRING {
                        push_bytes(l, elem);
                        ffi::lua_seti(l, array, index);
                    } else {
                        self.struct_item(f, elem, array, index)?;
                    }
                    index += 1;
                }
            }
            _ => return Err(Malformed),
        }
        ffi::lua_settop(l, array - 1);
        Ok(())
    }

    /// One struct of an array: stored at `index`, or under its main index, or
    /// as a key → value pair for maps.
    unsafe fn struct_item(
        &mut self,
        f: &Field,
        elem: &[u8],
        array: c_int,
        index: i64,
    ) -> Result<()> {
        let l = self.l;
        let sub = self.st.subtype(f).ok_or(Malformed)?;
        if f.key < 0 {
            ffi::lua_createtable(l, 0, 0);
            let table = ffi::lua_gettop(l);
            let used = decode_struct(l, sub, elem, table, self.depth + 1)?;
            if used != elem.len() {
                return Err(Malformed);
            }
            ffi::lua_settop(l, table);
            ffi::lua_seti(l, array, index);
            return Ok(());
        }
        let map = f.map && self.map_entry != 0;
        let table = if map {
            self.map_entry
        } else {
            ffi::lua_createtable(l, 0, 0);
            ffi::lua_gettop(l)
        };
        let base = ffi::lua_gettop(l);
        ffi::lua_pushnil(l);
        let key_slot = ffi::lua_gettop(l);
        let mut sub_dec = StructDecoder {
            l,
            st: sub,
            result: table,
            depth: self.depth + 1,
            main_tag: f.key,
            key_slot,
            map_entry: 0,
        };
        let used = sub_dec.run(elem)?;
        if used != elem.len() {
            return Err(Malformed);
        }
        if map {
            let (Some(k), Some(v)) = (sub.fields.first(), sub.fields.get(1)) else {
                return Err(Malformed);
            };
            ffi::lua_getfield(l, table, k.name.as_ptr());
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                raise(
                    l,
                    format_args!("Can't find key field in [{}]", field_name(f)),
                );
            }
            ffi::lua_getfield(l, table, v.name.as_ptr());
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                raise(
                    l,
                    format_args!("Can't find value field in [{}]", field_name(f)),
                );
            }
            ffi::lua_settable(l, array);
        } else {
            ffi::lua_pushvalue(l, key_slot);
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                raise(
                    l,
                    format_args!(
                        "Can't find main index (tag={}) in [{}]",
                        f.key,
                        field_name(f)
                    ),
                );
            }
            ffi::lua_pushvalue(l, table);
            ffi::lua_settable(l, array);
        }
        ffi::lua_settop(l, if map { base } else { base - 1 });
        Ok(())
    }
}

fn field_name(f: &Field) -> &str {
    f.name.to_str().unwrap_or("?")
}

/// An integer or double data item: 4 bytes (sign-extended) or 8.
fn number(item: &[u8]) -> Result<u64> {
    match item.len() {
        4 => Ok(extend32(dword(item, 0)?)),
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(item);
            Ok(u64::from_le_bytes(a))
        }
        _ => Err(Malformed),
    }
}

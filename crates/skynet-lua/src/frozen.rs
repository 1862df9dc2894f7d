//! An immutable copy of a graph of Lua tables, built once from a Lua table
//! and then read by any number of Lua states on any thread without copying:
//! the shared store behind `skynet.sharedata.core` and
//! `skynet.sharetable.core`. Stands for the table layout of the reference's
//! `lualib-src/lua-sharedata.c` (`struct table`, `convtable`, `lookup_key`)
//! and for what `lua-sharetable.c` gets from its patched Lua (tables marked
//! shared and read in place by every state).
//!
//! A [`Frozen`] holds tables, strings (one byte arena) and, for sharetable,
//! dumped Lua functions. Each table has an array part (keys 1..n, holes
//! allowed) and a hash part (entries in traversal order, found through an
//! open-addressing index). Tables are numbered; table 0 is the root. A table
//! reached twice (or through a cycle) is stored once.
//!
//! Building reads the Lua table with `lua_next` under `lua_pcall` (see
//! [`crate::udata::protect`]): the value being built lives in the caller's
//! frame, and errors (an unsupported type...) are raised as Lua strings with
//! the texts of the reference, then returned as `Err`.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::ptr;

use mlua::ffi::{self, lua_State};

use crate::udata::{protect, raise};

/// A stored value (also used as a key; keys are never `Nil`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Index into the string table.
    Str(u32),
    /// Index into the table list.
    Table(u32),
    LightUd(usize),
    /// A light C function (no upvalues).
    CFunc(usize),
    /// Index into the dumped Lua functions.
    LuaFunc(u32),
}

/// A key as a reader asks for it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key<'a> {
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    Bool(bool),
    LightUd(usize),
    Table(u32),
    CFunc(usize),
    LuaFunc(u32),
}

/// Which values a store accepts, and the error texts of its reference.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    /// lua-sharedata.c: integer or string keys; nil, number, string,
    /// boolean and table values; metatables ignored.
    Sharedata,
    /// lua-sharetable.c: also light userdata and functions without upvalues
    /// (as keys too); metatables refused.
    Sharetable,
}

pub(crate) struct FrozenTable {
    array: Box<[Value]>,
    /// The hash part, (key, value) in traversal order.
    entries: Box<[(Value, Value)]>,
    /// Open addressing over `entries` (0 is empty, else index + 1); empty
    /// for small tables, which are scanned.
    slots: Box<[u32]>,
}

/// Hash parts up to this size are scanned instead of indexed.
const SCAN_LIMIT: usize = 8;

/// The immutable store.
pub(crate) struct Frozen {
    tables: Vec<FrozenTable>,
    bytes: Vec<u8>,
    /// (start, len) of each string in `bytes`.
    strings: Vec<(u32, u32)>,
    /// Open addressing over `strings` by content, to turn a key string into
    /// a string number (a string that is not stored is in no table).
    string_slots: Box<[u32]>,
    functions: Vec<Vec<u8>>,
}

// ---------------------------------------------------------------------------
// Hashing

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(SEED);
    (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = SEED ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(SEED);
    }
    let mut tail = [0u8; 8];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(SEED);
    mix(h)
}

fn hash_tagged(tag: u64, v: u64) -> u64 {
    mix(v ^ tag.rotate_left(56))
}

/// Hash of a stored key (strings by number: they are unique in a store).
fn hash_value(v: Value) -> u64 {
    match v {
        Value::Nil => 0,
        Value::Bool(b) => hash_tagged(1, b as u64),
        Value::Int(i) => hash_tagged(2, i as u64),
        Value::Float(f) => hash_tagged(3, f.to_bits()),
        Value::Str(s) => hash_tagged(4, s as u64),
        Value::Table(t) => hash_tagged(5, t as u64),
        Value::LightUd(p) => hash_tagged(6, p as u64),
        Value::CFunc(p) => hash_tagged(7, p as u64),
        Value::LuaFunc(f) => hash_tagged(8, f as u64),
    }
}

/// Open-addressing table of `n` items hashed by `hash(i)`.
fn build_slots(n: usize, hash: impl Fn(usize) -> u64) -> Box<[u32]> {
    let size = (n * 2).next_power_of_two();
    let mut slots = vec![0u32; size];
    for i in 0..n {
        let mut at = hash(i) as usize & (size - 1);
        while slots[at] != 0 {
            at = (at + 1) & (size - 1);
        }
        slots[at] = i as u32 + 1;
    }
    slots.into_boxed_slice()
}

// ---------------------------------------------------------------------------
// Reading

impl Frozen {
    pub(crate) fn string(&self, s: u32) -> &[u8] {
        let (start, len) = self.strings[s as usize];
        &self.bytes[start as usize..(start + len) as usize]
    }

    pub(crate) fn function(&self, f: u32) -> &[u8] {
        &self.functions[f as usize]
    }

    /// Length of the array part (what `#` gives).
    pub(crate) fn array_len(&self, t: u32) -> usize {
        self.tables[t as usize].array.len()
    }

    /// Number of hash entries.
    pub(crate) fn hash_len(&self, t: u32) -> usize {
        self.tables[t as usize].entries.len()
    }

    /// The stored form of a key, if any table can hold it.
    fn resolve(&self, key: Key) -> Option<Value> {
        Some(match key {
            Key::Int(i) => Value::Int(i),
            Key::Float(f) => Value::Float(f),
            Key::Bool(b) => Value::Bool(b),
            Key::LightUd(p) => Value::LightUd(p),
            Key::Table(t) => Value::Table(t),
            Key::CFunc(p) => Value::CFunc(p),
            Key::LuaFunc(f) => Value::LuaFunc(f),
            Key::Str(bytes) => {
                if self.string_slots.is_empty() {
                    return None;
                }
                let mask = self.string_slots.len() - 1;
                let mut at = hash_bytes(bytes) as usize & mask;
                loop {
                    let slot = self.string_slots[at];
                    if slot == 0 {
                        return None;
                    }
                    if self.string(slot - 1) == bytes {
                        break Value::Str(slot - 1);
                    }
                    at = (at + 1) & mask;
                }
            }
        })
    }

    /// Position of a stored key in table `t`'s entries.
    fn find(&self, t: u32, key: Value) -> Option<usize> {
        let tbl = &self.tables[t as usize];
        if tbl.slots.is_empty() {
            return tbl.entries.iter().position(|(k, _)| *k == key);
        }
        let mask = tbl.slots.len() - 1;
        let mut at = hash_value(key) as usize & mask;
        loop {
            let slot = tbl.slots[at];
            if slot == 0 {
                return None;
            }
            let e = (slot - 1) as usize;
            if tbl.entries[e].0 == key {
                return Some(e);
            }
            at = (at + 1) & mask;
        }
    }

    /// `t[key]` (Nil when absent).
    pub(crate) fn get(&self, t: u32, key: Key) -> Value {
        let tbl = &self.tables[t as usize];
        if let Key::Int(i) = key {
            if i >= 1 && (i as u64) <= tbl.array.len() as u64 {
                return tbl.array[(i - 1) as usize];
            }
        }
        match self.resolve(key).and_then(|k| self.find(t, k)) {
            Some(e) => tbl.entries[e].1,
            None => Value::Nil,
        }
    }

    /// The entry after `key` (the first one for `None`) in traversal order:
    /// the array part, then the hash part. `None` at the end or when `key`
    /// is not in the table.
    pub(crate) fn next(&self, t: u32, key: Option<Key>) -> Option<(Value, Value)> {
        let tbl = &self.tables[t as usize];
        let n = tbl.array.len();
        // position to scan from, over the array (0..n) then the hash part
        let start = match key {
            None => 0,
            Some(Key::Int(i)) if i >= 1 && (i as u64) <= n as u64 => i as usize,
            Some(k) => n + self.find(t, self.resolve(k)?)? + 1,
        };
        for pos in start..n {
            if tbl.array[pos] != Value::Nil {
                return Some((Value::Int(pos as i64 + 1), tbl.array[pos]));
            }
        }
        tbl.entries.get(start.max(n) - n).copied()
    }

    /// The table-valued entries of `t`: (key, child table).
    pub(crate) fn children(&self, t: u32) -> impl Iterator<Item = (Value, u32)> + '_ {
        let tbl = &self.tables[t as usize];
        let array = tbl
            .array
            .iter()
            .enumerate()
            .map(|(i, v)| (Value::Int(i as i64 + 1), *v));
        array
            .chain(tbl.entries.iter().copied())
            .filter_map(|(k, v)| match v {
                Value::Table(c) => Some((k, c)),
                _ => None,
            })
    }

    /// A key stored in this store, as a lookup key.
    pub(crate) fn as_key(&self, v: Value) -> Option<Key<'_>> {
        Some(match v {
            Value::Nil => return None,
            Value::Bool(b) => Key::Bool(b),
            Value::Int(i) => Key::Int(i),
            Value::Float(f) => Key::Float(f),
            Value::Str(s) => Key::Str(self.string(s)),
            Value::Table(t) => Key::Table(t),
            Value::LightUd(p) => Key::LightUd(p),
            Value::CFunc(p) => Key::CFunc(p),
            Value::LuaFunc(f) => Key::LuaFunc(f),
        })
    }

    /// Bytes held by the store.
    pub(crate) fn size(&self) -> usize {
        use std::mem::size_of;
        let tables: usize = self
            .tables
            .iter()
            .map(|t| {
                size_of::<FrozenTable>()
                    + t.array.len() * size_of::<Value>()
                    + t.entries.len() * size_of::<(Value, Value)>()
                    + t.slots.len() * 4
            })
            .sum();
        let functions: usize = self.functions.iter().map(|f| f.capacity()).sum();
        size_of::<Frozen>()
            + tables
            + self.bytes.capacity()
            + self.strings.capacity() * size_of::<(u32, u32)>()
            + self.string_slots.len() * 4
            + functions
    }
}

// ---------------------------------------------------------------------------
// Reading a Lua value as a key

/// The key for the Lua value at `idx`, for the kinds that need no store:
/// strings, numbers (integral floats are integers, as Lua normalises them),
/// booleans, light userdata and light C functions. `None` for nil/NaN and
/// for tables/functions/other kinds (the caller resolves those).
///
/// # Safety
/// `l` is a valid state; the returned bytes live while the value does.
pub(crate) unsafe fn plain_key<'a>(l: *mut lua_State, idx: c_int) -> Option<Key<'a>> {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => crate::udata::string_at(l, idx).map(Key::Str),
        ffi::LUA_TNUMBER => {
            if ffi::lua_isinteger(l, idx) != 0 {
                Some(Key::Int(ffi::lua_tointegerx(l, idx, ptr::null_mut())))
            } else {
                float_key(ffi::lua_tonumberx(l, idx, ptr::null_mut()))
            }
        }
        ffi::LUA_TBOOLEAN => Some(Key::Bool(ffi::lua_toboolean(l, idx) != 0)),
        ffi::LUA_TLIGHTUSERDATA => Some(Key::LightUd(ffi::lua_touserdata(l, idx) as usize)),
        ffi::LUA_TFUNCTION if ffi::lua_iscfunction(l, idx) != 0 => {
            if ffi::lua_getupvalue(l, idx, 1).is_null() {
                ffi::lua_tocfunction(l, idx).map(|f| Key::CFunc(f as usize))
            } else {
                ffi::lua_pop(l, 1);
                None
            }
        }
        _ => None,
    }
}

fn float_key(f: f64) -> Option<Key<'static>> {
    if f.is_nan() {
        None
    } else if f == f.floor() && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Some(Key::Int(f as i64))
    } else {
        Some(Key::Float(f))
    }
}

// ---------------------------------------------------------------------------
// Building

/// A table while it is being filled.
#[derive(Default)]
struct Draft {
    array: Vec<Value>,
    entries: Vec<(Value, Value)>,
}

struct Builder {
    flavor: Flavor,
    tables: Vec<Draft>,
    bytes: Vec<u8>,
    strings: Vec<(u32, u32)>,
    string_ids: HashMap<Vec<u8>, u32>,
    functions: Vec<Vec<u8>>,
    /// Lua table / function address -> its number.
    seen: HashMap<usize, u32>,
    /// Stack index of the anchor table holding the Lua tables by number + 1.
    anchor: c_int,
}

impl Builder {
    fn intern(&mut self, s: &[u8]) -> u32 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s);
        self.strings.push((start, s.len() as u32));
        self.string_ids.insert(s.to_vec(), id);
        id
    }

    /// The finished store.
    fn finish(self) -> Frozen {
        let Builder {
            tables,
            mut bytes,
            mut strings,
            functions,
            ..
        } = self;
        bytes.shrink_to_fit();
        strings.shrink_to_fit();
        let string_slots = build_slots(strings.len(), |i| {
            let (start, len) = strings[i];
            hash_bytes(&bytes[start as usize..(start + len) as usize])
        });
        let tables = tables
            .into_iter()
            .map(|d| {
                let slots = if d.entries.len() > SCAN_LIMIT {
                    build_slots(d.entries.len(), |i| hash_value(d.entries[i].0))
                } else {
                    Box::default()
                };
                FrozenTable {
                    array: d.array.into_boxed_slice(),
                    entries: d.entries.into_boxed_slice(),
                    slots,
                }
            })
            .collect();
        Frozen {
            tables,
            bytes,
            strings,
            string_slots,
            functions,
        }
    }
}

/// `lua_Writer` collecting a dump into a `Vec<u8>`.
unsafe extern "C-unwind" fn dump_writer(
    _l: *mut lua_State,
    p: *const c_void,
    sz: usize,
    ud: *mut c_void,
) -> c_int {
    let out = &mut *(ud as *mut Vec<u8>);
    if sz > 0 {
        out.extend_from_slice(std::slice::from_raw_parts(p as *const u8, sz));
    }
    0
}

/// Converts the value at `idx` (a key if `is_key`). Raises on what the
/// flavor does not store. Tables not seen before get a number and are put
/// in the anchor, to be converted later.
unsafe fn convert(b: &mut Builder, l: *mut lua_State, idx: c_int, is_key: bool) -> Value {
    let t = ffi::lua_type(l, idx);
    let sharetable = b.flavor == Flavor::Sharetable;
    // sharedata keys are integers or strings only
    let plain_key_only = is_key && !sharetable;
    match t {
        ffi::LUA_TNIL => Value::Nil,
        ffi::LUA_TBOOLEAN if !plain_key_only => Value::Bool(ffi::lua_toboolean(l, idx) != 0),
        ffi::LUA_TNUMBER => {
            if ffi::lua_isinteger(l, idx) != 0 {
                Value::Int(ffi::lua_tointegerx(l, idx, ptr::null_mut()))
            } else {
                let f = ffi::lua_tonumberx(l, idx, ptr::null_mut());
                if plain_key_only {
                    raise(l, format!("Invalid key {f:.6}"))
                }
                Value::Float(f)
            }
        }
        ffi::LUA_TSTRING => {
            let s = crate::udata::string_at(l, idx).unwrap_or(&[]);
            Value::Str(b.intern(s))
        }
        ffi::LUA_TTABLE if !plain_key_only => {
            let p = ffi::lua_topointer(l, idx) as usize;
            if let Some(&n) = b.seen.get(&p) {
                return Value::Table(n);
            }
            if sharetable && ffi::lua_getmetatable(l, idx) != 0 {
                raise(l, "Can't share metatable".to_string())
            }
            let n = b.tables.len() as u32;
            b.tables.push(Draft::default());
            b.seen.insert(p, n);
            ffi::lua_pushvalue(l, idx);
            ffi::lua_rawseti(l, b.anchor, n as ffi::lua_Integer + 1);
            Value::Table(n)
        }
        ffi::LUA_TLIGHTUSERDATA if sharetable => {
            Value::LightUd(ffi::lua_touserdata(l, idx) as usize)
        }
        ffi::LUA_TFUNCTION if sharetable => {
            if !ffi::lua_getupvalue(l, idx, 1).is_null() {
                raise(l, "Invalid function with upvalue".to_string())
            }
            if ffi::lua_iscfunction(l, idx) != 0 {
                match ffi::lua_tocfunction(l, idx) {
                    Some(f) => Value::CFunc(f as usize),
                    None => raise(l, "Invalid type [function]".to_string()),
                }
            } else {
                let p = ffi::lua_topointer(l, idx) as usize;
                if let Some(&n) = b.seen.get(&p) {
                    return Value::LuaFunc(n);
                }
                let n = b.functions.len() as u32;
                b.functions.push(Vec::new());
                b.seen.insert(p, n);
                let code = &mut b.functions[n as usize];
                ffi::lua_pushvalue(l, idx);
                ffi::lua_dump(l, dump_writer, code as *mut Vec<u8> as *mut c_void, 0);
                ffi::lua_pop(l, 1);
                Value::LuaFunc(n)
            }
        }
        _ => {
            let msg = {
                let name = std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                match (b.flavor, is_key) {
                    (Flavor::Sharedata, true) => format!("Invalid key type {name}"),
                    (Flavor::Sharedata, false) => format!("Unsupport value type {name}"),
                    (Flavor::Sharetable, _) => format!("Invalid type [{name}]"),
                }
            };
            raise(l, msg)
        }
    }
}

/// Fills table `n` from the Lua table on top of the stack. Everything goes
/// straight into the builder (owned by the caller of `protect`), so a raise
/// in `convert` leaves nothing behind in this frame.
unsafe fn fill_table(b: &mut Builder, l: *mut lua_State, n: u32) {
    let top = ffi::lua_gettop(l);
    let len = ffi::lua_rawlen(l, top);
    let t = n as usize;
    b.tables[t].array.resize(len, Value::Nil);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, top) != 0 {
        let key = convert(b, l, -2, true);
        let val = convert(b, l, -1, false);
        let tbl = &mut b.tables[t];
        match key {
            Value::Int(i) if i >= 1 && (i as u64) <= len as u64 => {
                tbl.array[(i - 1) as usize] = val
            }
            _ => tbl.entries.push((key, val)),
        }
        ffi::lua_pop(l, 1);
    }
}

/// Builds a store from the table at stack index `idx` of `l`. On a Lua
/// error (bad value type, memory) the error value is left on the stack and
/// `Err(())` is returned: the caller raises it once it owns nothing.
///
/// # Safety
/// `l` is a valid state; `idx` holds a table.
pub(crate) unsafe fn build(l: *mut lua_State, idx: c_int, flavor: Flavor) -> Result<Frozen, ()> {
    let idx = ffi::lua_absindex(l, idx);
    let mut b = Builder {
        flavor,
        tables: Vec::new(),
        bytes: Vec::new(),
        strings: Vec::new(),
        string_ids: HashMap::new(),
        functions: Vec::new(),
        seen: HashMap::new(),
        anchor: 0,
    };
    ffi::lua_pushvalue(l, idx);
    let ok = protect(l, 1, &mut |l| {
        // stack: [root]
        ffi::lua_createtable(l, 1, 0);
        b.anchor = ffi::lua_gettop(l);
        if convert(&mut b, l, 1, false) != Value::Table(0) {
            raise(l, "Not a table".to_string())
        }
        let mut n = 0;
        while n < b.tables.len() {
            ffi::lua_rawgeti(l, b.anchor, n as ffi::lua_Integer + 1);
            fill_table(&mut b, l, n as u32);
            ffi::lua_pop(l, 1);
            n += 1;
        }
        0
    });
    if !ok {
        return Err(());
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    /// Builds a store from the table the Lua chunk `src` returns.
    fn build_from(src: &str, flavor: Flavor) -> Result<Frozen, String> {
        let lua = Lua::new();
        let t: mlua::Value = lua.load(src).eval().expect("test chunk");
        let mut out = None;
        // SAFETY: the closure uses the raw state mlua hands it, with the
        // table at index 1.
        unsafe {
            lua.exec_raw::<()>(t, |l| {
                out = Some(build(l, 1, flavor).map_err(|()| {
                    crate::udata::string_at(l, -1)
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default()
                }));
            })
        }
        .expect("exec_raw");
        out.expect("the closure ran")
    }

    fn text(f: &Frozen, v: Value) -> Vec<u8> {
        match v {
            Value::Str(s) => f.string(s).to_vec(),
            other => panic!("not a string: {other:?}"),
        }
    }

    const MIXED: &str = r#"
        local t = { 10, 20, 30, x = 1, y = "s", [100] = 5, [2.5] = 7, [true] = 8 }
        for i = 1, 50 do t["k" .. i] = i end
        return t
    "#;

    #[test]
    fn lookups() {
        let f = build_from(MIXED, Flavor::Sharetable).expect("build");
        assert_eq!(f.array_len(0), 3);
        assert_eq!(f.get(0, Key::Int(1)), Value::Int(10));
        assert_eq!(f.get(0, Key::Int(3)), Value::Int(30));
        assert_eq!(f.get(0, Key::Str(b"x")), Value::Int(1));
        assert_eq!(text(&f, f.get(0, Key::Str(b"y"))), b"s");
        // more than SCAN_LIMIT entries: found through the slots
        assert_eq!(f.get(0, Key::Str(b"k37")), Value::Int(37));
        assert_eq!(f.get(0, Key::Int(100)), Value::Int(5));
        assert_eq!(f.get(0, Key::Float(2.5)), Value::Int(7));
        assert_eq!(f.get(0, Key::Bool(true)), Value::Int(8));
        assert_eq!(f.get(0, Key::Str(b"nope")), Value::Nil);
        assert_eq!(f.get(0, Key::Int(4)), Value::Nil);
        assert_eq!(f.get(0, Key::Bool(false)), Value::Nil);
    }

    #[test]
    fn next_visits_every_entry_once() {
        let f = build_from(MIXED, Flavor::Sharetable).expect("build");
        let mut seen = Vec::new();
        let mut key = None;
        while let Some((k, _)) = f.next(0, key) {
            seen.push(k);
            key = f.as_key(k);
        }
        assert_eq!(seen.len(), 3 + 5 + 50);
        assert_eq!(&seen[..3], &[Value::Int(1), Value::Int(2), Value::Int(3)]);
        // a key that is not in the table ends the traversal
        assert_eq!(f.next(0, Some(Key::Str(b"nope"))), None);
    }

    #[test]
    fn shared_tables_and_cycles() {
        let src = "local s = { v = 1 } local r = { a = s, b = s } r.c = r return r";
        let f = build_from(src, Flavor::Sharedata).expect("build");
        let a = f.get(0, Key::Str(b"a"));
        assert!(matches!(a, Value::Table(n) if n != 0));
        assert_eq!(f.get(0, Key::Str(b"b")), a);
        assert_eq!(f.get(0, Key::Str(b"c")), Value::Table(0));
        assert_eq!(f.children(0).count(), 3);
    }

    #[test]
    fn strings_keep_nul_bytes() {
        let f = build_from(r#"return { ["a\0b"] = "x\0y" }"#, Flavor::Sharedata).expect("build");
        assert_eq!(text(&f, f.get(0, Key::Str(b"a\0b"))), b"x\0y");
        assert_eq!(f.get(0, Key::Str(b"a")), Value::Nil);
    }

    #[test]
    fn refused_values() {
        let err = |src: &str, flavor| build_from(src, flavor).err().expect("an error");
        assert_eq!(
            err("return { f = print }", Flavor::Sharedata),
            "Unsupport value type function"
        );
        assert_eq!(
            err("return { [true] = 1 }", Flavor::Sharedata),
            "Invalid key type boolean"
        );
        assert_eq!(
            err("return { [1.5] = 1 }", Flavor::Sharedata),
            "Invalid key 1.500000"
        );
        assert_eq!(
            err("return { t = setmetatable({}, {}) }", Flavor::Sharetable),
            "Can't share metatable"
        );
        assert_eq!(
            err(
                "return { co = coroutine.create(print) }",
                Flavor::Sharetable
            ),
            "Invalid type [thread]"
        );
        assert_eq!(
            err(
                "local up = 1 return { f = function() return up end }",
                Flavor::Sharetable
            ),
            "Invalid function with upvalue"
        );
    }

    #[test]
    fn functions_are_dumped_once() {
        let src = "local function f() return 1 end return { a = f, b = f, m = math.max }";
        let f = build_from(src, Flavor::Sharetable).expect("build");
        let a = f.get(0, Key::Str(b"a"));
        assert!(matches!(a, Value::LuaFunc(0)));
        assert_eq!(f.get(0, Key::Str(b"b")), a);
        assert!(!f.function(0).is_empty());
        assert!(matches!(f.get(0, Key::Str(b"m")), Value::CFunc(_)));
    }
}

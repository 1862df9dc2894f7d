//! `skynet.datasheet.core`: reader side of datasheet documents. Stands for
//! the reference's `lualib-src/lua-datasheet.c`.
//!
//! A document is the binary form made by lualib/skynet/datasheet/dump.lua
//! (tables of typed 32-bit values, a string table; every number
//! little-endian):
//! ```text
//! document: u32 strtbl, u32 n, u32 index[n], tables, strings (NUL-ended)
//! table:    u32 array, u32 dict, u8 type[array+dict] (padded to 4),
//!           value[array], (u32 key string, value)[dict]
//! types:    0 nil, 1 i32, 2 f32, 3 bool, 4 table number, 5 string offset
//! ```
//! `index[i]` is where table i starts after the index (0xffffffff: the
//! table is gone, in documents made by `dump.diff`).
//!
//! The builder publishes a document with `stringpointer(str)`: the
//! reference hands out the address of the builder's Lua string; here the
//! bytes are copied once into a process-wide table and the handle names
//! that copy (`release(handle)` drops it, when the builder learns nobody
//! reads it any more). Readers keep their own reference to the documents
//! they read, and every read is bounds-checked: a bad document or handle
//! gives an error, never a stray read.
//!
//! Readers see a document through proxy tables, as in the reference: a
//! proxy is an empty table whose metatable fills it from the document on
//! its first use (then removes itself), so a table a service reads is
//! copied into that service once, and tables it never reads cost nothing.
//! `update(proxy, handle)` moves every proxy of the proxy's document to the
//! new one: each is emptied and armed again, and reads the new version on
//! its next use.
//!
//! API: `stringpointer(str)` -> handle, `release(handle)`,
//! `new(handle)` -> root proxy, `update(proxy, handle)`.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::sync::{Arc, LazyLock};

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

use crate::udata::{metatable, new_udata, protect, push_bytes, raise, raise_here};

const NODE: &CStr = c"skynet.datasheet.node";
/// Registry: (document table address) -> proxy, weak.
const NODES: &CStr = c"skynet.datasheet.nodes";
/// Registry: proxy -> node userdata, weak keys.
const PROXIES: &CStr = c"skynet.datasheet.proxies";

const INVALID_OFFSET: u32 = 0xffff_ffff;

const VALUE_NIL: u8 = 0;
const VALUE_INTEGER: u8 = 1;
const VALUE_REAL: u8 = 2;
const VALUE_BOOLEAN: u8 = 3;
const VALUE_TABLE: u8 = 4;
const VALUE_STRING: u8 = 5;

/// A published document.
struct Doc {
    bytes: Box<[u8]>,
}

/// Documents published by builders, by handle.
static DOCS: LazyLock<Mutex<HashMap<usize, Arc<Doc>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// What a proxy shows: table `index` of `doc`.
struct Node {
    doc: Arc<Doc>,
    index: u32,
}

fn handle_of(doc: &Arc<Doc>) -> usize {
    Arc::as_ptr(doc) as usize
}

// ---------------------------------------------------------------------------
// Reading a document (every access checked)

/// A table of a document: where its types and values are.
struct TableAt {
    array: u32,
    dict: u32,
    types: usize,
    values: usize,
}

impl Doc {
    fn u32_at(&self, pos: usize) -> Option<u32> {
        let b = self.bytes.get(pos..pos.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&self) -> Option<u32> {
        self.u32_at(4)
    }

    /// Start of table `i`, `Ok(None)` if the table is gone, `Err` if the
    /// document is malformed there.
    fn table(&self, i: u32) -> Result<Option<TableAt>, ()> {
        let n = self.count().ok_or(())?;
        if i >= n {
            return Err(());
        }
        let offset = self.u32_at(8 + 4 * i as usize).ok_or(())?;
        if offset == INVALID_OFFSET {
            return Ok(None);
        }
        let start = 8 + 4 * n as usize + offset as usize;
        let array = self.u32_at(start).ok_or(())?;
        let dict = self.u32_at(start + 4).ok_or(())?;
        let ntypes = array as usize + dict as usize;
        let values = start + ((ntypes + 8 + 3) & !3);
        let end = values + 4 * (array as usize + 2 * dict as usize);
        if end > self.bytes.len() {
            return Err(());
        }
        Ok(Some(TableAt {
            array,
            dict,
            types: start + 8,
            values,
        }))
    }

    /// The NUL-ended string at `offset` of the string table.
    fn string(&self, offset: u32) -> Option<&[u8]> {
        let start = self.u32_at(0)? as usize + offset as usize;
        let tail = self.bytes.get(start..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        Some(&tail[..end])
    }

    /// Address of table `i` inside the document (the key of its proxy).
    fn table_key(&self, i: u32) -> Option<usize> {
        let n = self.count()?;
        let offset = self.u32_at(8 + 4 * i as usize)?;
        (i < n && offset != INVALID_OFFSET)
            .then(|| self.bytes.as_ptr() as usize + 8 + 4 * n as usize + offset as usize)
    }
}

// ---------------------------------------------------------------------------
// Proxies

unsafe fn registry_table(l: *mut lua_State, name: &CStr) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, name.as_ptr());
}

/// Pushes the proxy of table `index` of `doc` (from the cache, or new,
/// with the metatable at `meta`). Raises `Invalid index` if the document
/// has no such table.
unsafe fn push_proxy(l: *mut lua_State, meta: c_int, doc: &Arc<Doc>, index: u32) {
    let Some(key) = doc.table_key(index) else {
        raise_here(l, format!("Invalid index {index}"))
    };
    registry_table(l, NODES);
    if ffi::lua_rawgetp(l, -1, key as *const c_void) == ffi::LUA_TTABLE {
        ffi::lua_remove(l, -2);
        return;
    }
    ffi::lua_pop(l, 1);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_pushvalue(l, meta);
    ffi::lua_setmetatable(l, -2);
    ffi::lua_pushvalue(l, -1);
    ffi::lua_rawsetp(l, -3, key as *const c_void);
    ffi::lua_remove(l, -2);
    // proxies[proxy] = node
    registry_table(l, PROXIES);
    ffi::lua_pushvalue(l, -2);
    let slot = new_udata::<Node>(l, NODE, 0);
    *slot = Some(Node {
        doc: doc.clone(),
        index,
    });
    ffi::lua_rawset(l, -3);
    ffi::lua_pop(l, 1);
}

/// The node of the proxy at `idx`, or a raise.
unsafe fn node_of<'a>(l: *mut lua_State, idx: c_int) -> &'a Node {
    registry_table(l, PROXIES);
    ffi::lua_pushvalue(l, idx);
    let found = ffi::lua_rawget(l, -2) == ffi::LUA_TUSERDATA;
    let slot = ffi::lua_touserdata(l, -1) as *mut Option<Node>;
    ffi::lua_pop(l, 2);
    match (found, slot.as_ref().and_then(|s| s.as_ref())) {
        (true, Some(node)) => node,
        _ => {
            let p = ffi::lua_topointer(l, idx);
            raise_here(l, format!("Invalid proxy table {p:p}"))
        }
    }
}

/// Pushes the 32-bit value at `pos` of type `t`.
unsafe fn push_value(l: *mut lua_State, meta: c_int, doc: &Arc<Doc>, t: u8, pos: usize) {
    let Some(v) = doc.u32_at(pos) else {
        raise(l, format!("Invalid type {t} at {pos:#x}"))
    };
    match t {
        VALUE_NIL => ffi::lua_pushnil(l),
        VALUE_INTEGER => ffi::lua_pushinteger(l, v as i32 as ffi::lua_Integer),
        VALUE_REAL => ffi::lua_pushnumber(l, f32::from_bits(v) as f64),
        VALUE_BOOLEAN => ffi::lua_pushboolean(l, (v != 0) as c_int),
        VALUE_TABLE => push_proxy(l, meta, doc, v),
        VALUE_STRING => match doc.string(v) {
            Some(s) => push_bytes(l, s),
            None => raise(l, format!("Invalid type {t} at {pos:#x}")),
        },
        _ => raise(l, format!("Invalid type {t} at {pos:#x}")),
    }
}

/// Fills the proxy at 1 from its table and drops its metatable (a
/// metamethod: the proxies' metatable is its upvalue).
unsafe fn fill(l: *mut lua_State) {
    let meta = ffi::lua_upvalueindex(1);
    let node = node_of(l, 1);
    let doc = &node.doc;
    let total = doc.count().unwrap_or(0);
    let t = match doc.table(node.index) {
        Ok(Some(t)) => t,
        Ok(None) => raise(l, format!("Invalid proxy (index = {})", node.index)),
        Err(()) => raise(
            l,
            format!("Invalid proxy (index = {}, total = {total})", node.index),
        ),
    };
    let mut pos = t.values;
    for i in 0..t.array as usize {
        push_value(l, meta, doc, doc.bytes[t.types + i], pos);
        ffi::lua_rawseti(l, 1, i as ffi::lua_Integer + 1);
        pos += 4;
    }
    for i in 0..t.dict as usize {
        push_value(l, meta, doc, VALUE_STRING, pos);
        push_value(
            l,
            meta,
            doc,
            doc.bytes[t.types + t.array as usize + i],
            pos + 4,
        );
        ffi::lua_rawset(l, 1);
        pos += 8;
    }
    ffi::lua_pushnil(l);
    ffi::lua_setmetatable(l, 1);
}

unsafe extern "C-unwind" fn proxy_index(l: *mut lua_State) -> c_int {
    fill(l);
    ffi::lua_rawget(l, 1);
    1
}

unsafe extern "C-unwind" fn raw_next(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_settop(l, 2);
    if ffi::lua_next(l, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

unsafe extern "C-unwind" fn proxy_pairs(l: *mut lua_State) -> c_int {
    fill(l);
    ffi::lua_pushcfunction(l, raw_next);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

unsafe extern "C-unwind" fn proxy_len(l: *mut lua_State) -> c_int {
    fill(l);
    ffi::lua_pushinteger(l, ffi::lua_rawlen(l, 1) as ffi::lua_Integer);
    1
}

// ---------------------------------------------------------------------------
// The module

/// The published document of `handle` (argument `idx`), or a raise.
unsafe fn doc_at(l: *mut lua_State, idx: c_int) -> Arc<Doc> {
    ffi::luaL_checktype(l, idx, ffi::LUA_TLIGHTUSERDATA);
    let h = ffi::lua_touserdata(l, idx) as usize;
    let found = DOCS.lock().get(&h).cloned();
    match found {
        Some(d) => d,
        None => raise_here(l, format!("Invalid data handle {h:#x}")),
    }
}

/// `stringpointer(str)` -> handle.
unsafe extern "C-unwind" fn lstringpointer(l: *mut lua_State) -> c_int {
    let bytes = crate::udata::check_bytes(l, 1);
    let doc = Arc::new(Doc {
        bytes: bytes.into(),
    });
    let h = handle_of(&doc);
    DOCS.lock().insert(h, doc);
    ffi::lua_pushlightuserdata(l, h as *mut c_void);
    1
}

/// `release(handle)`: the builder lets go of a document.
unsafe extern "C-unwind" fn lrelease(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TLIGHTUSERDATA);
    let h = ffi::lua_touserdata(l, 1) as usize;
    let gone = DOCS.lock().remove(&h);
    drop(gone);
    0
}

/// `new(handle)` -> root proxy.
unsafe extern "C-unwind" fn lnew(l: *mut lua_State) -> c_int {
    let doc = doc_at(l, 1);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    // the body's stack: 1 the proxies' metatable
    let ok = protect(l, 1, &mut |l| {
        push_proxy(l, 1, &doc, 0);
        1
    });
    drop(doc);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

/// `update(proxy, handle)`: every proxy of the proxy's document moves to
/// the document of `handle`.
unsafe extern "C-unwind" fn lupdate(l: *mut lua_State) -> c_int {
    ffi::lua_settop(l, 2);
    let old = node_of(l, 1).doc.clone();
    let new = DOCS
        .lock()
        .get(&(ffi::lua_touserdata(l, 2) as usize))
        .cloned();
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    // the body's stack: 1 the proxies' metatable
    let ok = match &new {
        None => false,
        Some(new) => protect(l, 1, &mut |l| {
            move_proxies(l, 1, &old, new);
            0
        }),
    };
    let known = new.is_some();
    drop(old);
    drop(new);
    if !known {
        raise_here(l, "Invalid data handle".to_string())
    }
    if !ok {
        ffi::lua_error(l);
    }
    0
}

/// Empties and re-arms (with the metatable at `meta`) every cached proxy of
/// `old`, now showing `new`.
unsafe fn move_proxies(l: *mut lua_State, meta: c_int, old: &Arc<Doc>, new: &Arc<Doc>) {
    registry_table(l, NODES);
    let nodes = ffi::lua_gettop(l);
    registry_table(l, PROXIES);
    let proxies = ffi::lua_gettop(l);
    // collect the proxies of `old` first: the cache changes below
    ffi::lua_createtable(l, 0, 0);
    let moving = ffi::lua_gettop(l);
    let mut count = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, nodes) != 0 {
        // key (document address) at -2, proxy at -1
        ffi::lua_pushvalue(l, -1);
        if ffi::lua_rawget(l, proxies) == ffi::LUA_TUSERDATA {
            let slot = ffi::lua_touserdata(l, -1) as *mut Option<Node>;
            if let Some(node) = (*slot).as_ref() {
                if Arc::ptr_eq(&node.doc, old) {
                    count += 1;
                    // moving[count] = key, moving[-count] = proxy
                    ffi::lua_pushvalue(l, -3);
                    ffi::lua_rawseti(l, moving, count);
                    ffi::lua_pushvalue(l, -2);
                    ffi::lua_rawseti(l, moving, -count);
                }
            }
        }
        ffi::lua_pop(l, 2);
    }
    for i in 1..=count {
        ffi::lua_rawgeti(l, moving, i); // key
        ffi::lua_pushnil(l);
        ffi::lua_rawset(l, nodes);
        ffi::lua_rawgeti(l, moving, -i); // proxy
        let proxy = ffi::lua_gettop(l);
        clear(l, proxy);
        ffi::lua_pushvalue(l, meta);
        ffi::lua_setmetatable(l, proxy);
        ffi::lua_pushvalue(l, proxy);
        ffi::lua_rawget(l, proxies);
        let slot = ffi::lua_touserdata(l, -1) as *mut Option<Node>;
        ffi::lua_pop(l, 1);
        if let Some(node) = (*slot).as_mut() {
            node.doc = new.clone();
            if let Some(key) = new.table_key(node.index) {
                ffi::lua_pushvalue(l, proxy);
                ffi::lua_rawsetp(l, nodes, key as *const c_void);
            }
        }
        ffi::lua_settop(l, moving);
    }
    ffi::lua_settop(l, nodes - 1);
}

/// Removes every field of the table at `t`.
unsafe fn clear(l: *mut lua_State, t: c_int) {
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        ffi::lua_pop(l, 1);
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushnil(l);
        ffi::lua_rawset(l, t);
    }
}

unsafe fn weak_registry_table(l: *mut lua_State, name: &CStr, mode: &CStr) {
    if ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, name.as_ptr()) == ffi::LUA_TTABLE {
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushstring(l, mode.as_ptr());
    ffi::lua_setfield(l, -2, c"__mode".as_ptr());
    ffi::lua_setmetatable(l, -2);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, name.as_ptr());
}

/// Opens `skynet.datasheet.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_datasheet_core(l: *mut lua_State) -> c_int {
    metatable::<Node>(l, NODE, &[]);
    ffi::lua_pop(l, 1);
    weak_registry_table(l, NODES, c"kv");
    weak_registry_table(l, PROXIES, c"k");
    ffi::lua_createtable(l, 0, 4);
    // the proxies' metatable; the functions that make proxies get it as
    // their upvalue
    ffi::lua_createtable(l, 0, 3);
    let meta = ffi::lua_gettop(l);
    let methods: [(&CStr, ffi::lua_CFunction); 3] = [
        (c"__index", proxy_index),
        (c"__pairs", proxy_pairs),
        (c"__len", proxy_len),
    ];
    for (name, f) in methods {
        ffi::lua_pushvalue(l, meta);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, meta, name.as_ptr());
    }
    let api: [(&CStr, ffi::lua_CFunction); 2] = [(c"new", lnew), (c"update", lupdate)];
    for (name, f) in api {
        ffi::lua_pushvalue(l, meta);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -3, name.as_ptr());
    }
    ffi::lua_pop(l, 1);
    ffi::lua_pushcfunction(l, lstringpointer);
    ffi::lua_setfield(l, -2, c"stringpointer".as_ptr());
    ffi::lua_pushcfunction(l, lrelease);
    ffi::lua_setfield(l, -2, c"release".as_ptr());
    1
}

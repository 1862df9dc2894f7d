//! `skynet.sharedata.core`: read-only data built once by sharedatad and read
//! in place by every service. Stands for the reference's
//! `lualib-src/lua-sharedata.c`.
//!
//! An object is a [`Frozen`] store (see frozen.rs) plus a dirty flag and a
//! reference count, kept in an `Arc`. sharedatad owns one reference per
//! object it keeps, through a process-wide table keyed by the object's
//! address; that address (a light userdata, the "ticket") is what crosses
//! messages, as the reference's table pointer does. Readers turn a ticket
//! into userdata holding their own `Arc`, so the data stays alive while any
//! reader uses it, whatever the reference counts say; an unknown ticket is
//! an error (`Need a conf object`), not a stale pointer.
//!
//! Host side (sharedatad): `new(tbl)` -> ticket, `delete(ticket)`,
//! `markdirty(ticket)`, `getref`, `incref`, `decref` (-> new count).
//! Reader side (lualib/skynet/sharedata/corelib.lua):
//! * `box(ticket)` -> box (holds a reference, released when collected);
//!   `root(box)` -> node of the root table; `ticket(node)` -> its ticket.
//! * `index(node, key)`, `nextkey(node, key)`, `len(node)` (size of the
//!   array part), `hashlen(node)`, `isdirty(node)`, `nodeid(node)` (the
//!   table's number in its object), `size(node)` (bytes of the object's
//!   store). A table value comes back as a new node.
//! * `update(box, ticket, tbl)` records the newer object (and keeps `tbl`);
//!   `needupdate(box)` -> root node of that object and `tbl`, or nothing.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

use crate::frozen::{self, Flavor, Frozen, Key, Value};
use crate::udata::{check_udata, metatable, new_udata, push_bytes, raise_here, set_funcs};

const BOX: &CStr = c"skynet.sharedata.box";
const NODE: &CStr = c"skynet.sharedata.node";

struct SharedObj {
    data: Frozen,
    dirty: AtomicBool,
    refs: AtomicI64,
}

/// Objects kept by sharedatad, by ticket.
static OBJECTS: LazyLock<Mutex<HashMap<usize, Arc<SharedObj>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn ticket_of(obj: &Arc<SharedObj>) -> usize {
    Arc::as_ptr(obj) as usize
}

/// A reader's hold on an object.
struct SdBox {
    root: Arc<SharedObj>,
    update: Option<Arc<SharedObj>>,
}

impl Drop for SdBox {
    fn drop(&mut self) {
        self.root.refs.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One table of an object.
struct SdNode {
    obj: Arc<SharedObj>,
    table: u32,
}

/// The object behind the ticket at argument `idx`; raises if unknown.
unsafe fn check_ticket(l: *mut lua_State, idx: c_int) -> Arc<SharedObj> {
    let p = ffi::lua_touserdata(l, idx) as usize;
    let found = OBJECTS.lock().get(&p).cloned();
    match found {
        Some(obj) => obj,
        None => raise_here(l, "Need a conf object".to_string()),
    }
}

/// Runs `f` on the object of a ticket, with no Arc kept in this frame.
unsafe fn with_ticket<R>(l: *mut lua_State, f: impl FnOnce(&SharedObj) -> R) -> R {
    let obj = check_ticket(l, 1);
    f(&obj)
}

unsafe extern "C-unwind" fn lnew(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let built = frozen::build(l, 1, Flavor::Sharedata);
    let Ok(data) = built else {
        // the error value is on the stack
        ffi::lua_error(l)
    };
    let obj = Arc::new(SharedObj {
        data,
        dirty: AtomicBool::new(false),
        refs: AtomicI64::new(0),
    });
    let ticket = ticket_of(&obj);
    OBJECTS.lock().insert(ticket, obj);
    ffi::lua_pushlightuserdata(l, ticket as *mut c_void);
    1
}

unsafe extern "C-unwind" fn ldelete(l: *mut lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as usize;
    let removed = OBJECTS.lock().remove(&p);
    if removed.is_none() {
        raise_here(l, "Need a conf object".to_string())
    }
    drop(removed);
    0
}

unsafe extern "C-unwind" fn lmarkdirty(l: *mut lua_State) -> c_int {
    with_ticket(l, |obj| obj.dirty.store(true, Ordering::SeqCst));
    0
}

unsafe fn push_count(l: *mut lua_State, n: i64) -> c_int {
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lgetref(l: *mut lua_State) -> c_int {
    let n = with_ticket(l, |obj| obj.refs.load(Ordering::SeqCst));
    push_count(l, n)
}

unsafe extern "C-unwind" fn lincref(l: *mut lua_State) -> c_int {
    let n = with_ticket(l, |obj| obj.refs.fetch_add(1, Ordering::SeqCst) + 1);
    push_count(l, n)
}

unsafe extern "C-unwind" fn ldecref(l: *mut lua_State) -> c_int {
    let n = with_ticket(l, |obj| obj.refs.fetch_sub(1, Ordering::SeqCst) - 1);
    push_count(l, n)
}

// ---------------------------------------------------------------------------
// Reader side

/// Pushes a node userdata for table `table` of `obj`.
unsafe fn push_node(l: *mut lua_State, obj: &Arc<SharedObj>, table: u32) {
    let slot = new_udata::<SdNode>(l, NODE, 0);
    *slot = Some(SdNode {
        obj: obj.clone(),
        table,
    });
}

unsafe extern "C-unwind" fn lbox(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TLIGHTUSERDATA);
    // allocate first: nothing is owned if that raises
    let slot = new_udata::<SdBox>(l, BOX, 1);
    let root = check_ticket(l, 1);
    root.refs.fetch_add(1, Ordering::SeqCst);
    *slot = Some(SdBox { root, update: None });
    1
}

unsafe extern "C-unwind" fn lroot(l: *mut lua_State) -> c_int {
    let b = check_udata::<SdBox>(l, 1, BOX);
    push_node(l, &b.root, 0);
    1
}

unsafe extern "C-unwind" fn lticket(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushlightuserdata(l, ticket_of(&node.obj) as *mut c_void);
    1
}

/// The key at argument 2 as the reference reads it: integers and strings;
/// a non-integral number raises `Invalid key %f` when `strict`, else gives
/// `None`; other types raise `luaL_checklstring`'s argument error.
unsafe fn key_arg<'a>(l: *mut lua_State, strict: bool) -> Option<Key<'a>> {
    match frozen::plain_key(l, 2) {
        Some(k @ (Key::Int(_) | Key::Str(_))) => Some(k),
        Some(Key::Float(f)) => {
            if strict {
                raise_here(l, format!("Invalid key {f:.6}"))
            }
            None
        }
        _ => {
            ffi::luaL_checklstring(l, 2, std::ptr::null_mut());
            None
        }
    }
}

unsafe fn push_value(l: *mut lua_State, obj: &Arc<SharedObj>, v: Value) {
    match v {
        Value::Nil => ffi::lua_pushnil(l),
        Value::Bool(b) => ffi::lua_pushboolean(l, b as c_int),
        Value::Int(i) => ffi::lua_pushinteger(l, i),
        Value::Float(f) => ffi::lua_pushnumber(l, f),
        Value::Str(s) => push_bytes(l, obj.data.string(s)),
        Value::Table(t) => push_node(l, obj, t),
        // not stored by the sharedata flavor
        Value::LightUd(_) | Value::CFunc(_) | Value::LuaFunc(_) => ffi::lua_pushnil(l),
    }
}

unsafe extern "C-unwind" fn lindex(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    if ffi::lua_isnil(l, 2) != 0 {
        return 0;
    }
    let Some(key) = key_arg(l, true) else {
        return 0;
    };
    let v = node.obj.data.get(node.table, key);
    push_value(l, &node.obj, v);
    1
}

unsafe extern "C-unwind" fn lnextkey(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    let key = if ffi::lua_isnoneornil(l, 2) != 0 {
        None
    } else {
        match key_arg(l, false) {
            Some(k) => Some(k),
            None => return 0,
        }
    };
    match node.obj.data.next(node.table, key) {
        Some((k, _)) => {
            push_value(l, &node.obj, k);
            1
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn llen(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushinteger(l, node.obj.data.array_len(node.table) as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lhashlen(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushinteger(l, node.obj.data.hash_len(node.table) as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lisdirty(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushboolean(l, node.obj.dirty.load(Ordering::SeqCst) as c_int);
    1
}

/// `size(node)` -> bytes of the whole object's store (shared by all readers).
unsafe extern "C-unwind" fn lsize(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushinteger(l, node.obj.data.size() as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lnodeid(l: *mut lua_State) -> c_int {
    let node = check_udata::<SdNode>(l, 1, NODE);
    ffi::lua_pushinteger(l, node.table as ffi::lua_Integer);
    1
}

unsafe extern "C-unwind" fn lneedupdate(l: *mut lua_State) -> c_int {
    let b = check_udata::<SdBox>(l, 1, BOX);
    match &b.update {
        Some(obj) => {
            push_node(l, obj, 0);
            ffi::lua_getiuservalue(l, 1, 1);
            2
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn lupdate(l: *mut lua_State) -> c_int {
    let b = check_udata::<SdBox>(l, 1, BOX);
    ffi::luaL_checktype(l, 2, ffi::LUA_TLIGHTUSERDATA);
    ffi::luaL_checktype(l, 3, ffi::LUA_TTABLE);
    if ffi::lua_touserdata(l, 2) as usize == ticket_of(&b.root) {
        raise_here(l, "You should update a new object".to_string())
    }
    ffi::lua_settop(l, 3);
    ffi::lua_setiuservalue(l, 1, 1);
    let obj = check_ticket(l, 2);
    b.update = Some(obj);
    0
}

/// Opens `skynet.sharedata.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_sharedata_core(l: *mut lua_State) -> c_int {
    metatable::<SdBox>(l, BOX, &[]);
    ffi::lua_pop(l, 1);
    metatable::<SdNode>(l, NODE, &[]);
    ffi::lua_pop(l, 1);
    ffi::lua_createtable(l, 0, 17);
    set_funcs(
        l,
        &[
            (c"new", lnew),
            (c"delete", ldelete),
            (c"markdirty", lmarkdirty),
            (c"getref", lgetref),
            (c"incref", lincref),
            (c"decref", ldecref),
            (c"box", lbox),
            (c"root", lroot),
            (c"ticket", lticket),
            (c"index", lindex),
            (c"nextkey", lnextkey),
            (c"len", llen),
            (c"hashlen", lhashlen),
            (c"isdirty", lisdirty),
            (c"nodeid", lnodeid),
            (c"size", lsize),
            (c"needupdate", lneedupdate),
            (c"update", lupdate),
        ],
    );
    1
}

//! `skynet.sharetable.core`: tables loaded once and shared, not copied, by
//! every service that queries them. Stands for the reference's
//! `lualib-src/lua-sharetable.c`.
//!
//! The reference marks the tables of a loaded data set as shared in a
//! patched Lua and lets every Lua state point at them directly
//! (`lua_clonetable`). Stock Lua 5.4 cannot share objects between states,
//! so here a data set is a [`Frozen`] store (frozen.rs), one copy per data
//! set per process, and each Lua state sees it through *proxies*: empty Lua
//! tables whose metatable reads the store (`__index`, `__len`, `__pairs`)
//! and refuses writes. A proxy is made the first time a table is reached
//! and reused while it lives, so `t.a == t.a` and a table reached by two
//! paths is one proxy. What a state pays per data set is its proxies, not
//! the data. Differences from real shared tables: `type(t)` is "table" but
//! `next(t)` / `rawget(t, k)` / `rawlen(t)` see an empty table (`pairs`,
//! `ipairs`, `#`, indexing and the `table` library work); long strings are
//! made again on each access (short ones are interned by Lua); Lua
//! functions are loaded once per state from their bytecode.
//!
//! Per state, each data set has a *view* (a userdata holding the store's
//! `Arc`, found through a registry table keyed by the store's address):
//! its user values are the proxies by table number (weak), the table
//! number of each proxy (weak keys), the functions loaded so far, and the
//! metatable of its proxies (whose C closures have the view as upvalue).
//!
//! `migrate(old_root, ptr, nilobj)` moves a state onto a newer version of
//! a data set in place: every live proxy of the old version whose path
//! still leads to a table in the new one is switched to it (same Lua
//! table, new contents), so every reference to it anywhere in the state
//! sees the new data. Proxies that cannot be switched (the path is gone or
//! no longer a table, or the new version already has its own proxy) are
//! returned in a table `{ [old proxy] = replacement }` (`nilobj` for nil),
//! which lualib/skynet/sharetable.lua resolves by walking the state as the
//! reference does.
//!
//! API: `matrix(source, ...)` -> matrix (loads in a fresh Lua state;
//! `@file` for a file; extra arguments: nil, boolean, number, light
//! userdata, light C function), `fromtable(tbl)` -> matrix, matrix methods
//! `getptr()` / `size()` / `close()`, `clone(ptr)` -> root proxy,
//! `is_sharedtable(v)`, `stackvalues(co, t)` -> n, `migrate(...)`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, LazyLock, Weak};

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

use crate::frozen::{self, Flavor, Frozen, Key, Value};
use crate::udata::{metatable, new_udata, protect, push_bytes, raise, raise_here, set_funcs};

const MATRIX: &CStr = c"skynet.sharetable.matrix";
const VIEW: &CStr = c"skynet.sharetable.view";
const VIEWS: &CStr = c"skynet.sharetable.views";

/// Its address marks (and names the view of) a proxy metatable.
static SENTINEL: u8 = 0;

fn sentinel() -> *const c_void {
    &SENTINEL as *const u8 as *const c_void
}

const UV_CACHE: c_int = 1;
const UV_INDEX: c_int = 2;
const UV_FUNCS: c_int = 3;
const UV_META: c_int = 4;

/// Data sets alive in the process, by address (what `getptr` gives).
static MATRICES: LazyLock<Mutex<HashMap<usize, Weak<Frozen>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn address(data: &Arc<Frozen>) -> usize {
    Arc::as_ptr(data) as usize
}

/// The matrix userdata of the sharetable service: one loaded data set.
struct Matrix {
    data: Arc<Frozen>,
}

impl Drop for Matrix {
    fn drop(&mut self) {
        MATRICES.lock().remove(&address(&self.data));
    }
}

/// A state's view of one data set.
struct View {
    data: Arc<Frozen>,
}

// ---------------------------------------------------------------------------
// Loading

/// Copies the extra arguments 2..=top of `l` onto `m` (fresh state), as
/// the reference allows them; raises in `l` otherwise.
unsafe fn copy_args(l: *mut lua_State, m: *mut lua_State, top: c_int) {
    for i in 2..=top {
        match ffi::lua_type(l, i) {
            ffi::LUA_TNIL => ffi::lua_pushnil(m),
            ffi::LUA_TBOOLEAN => ffi::lua_pushboolean(m, ffi::lua_toboolean(l, i)),
            ffi::LUA_TNUMBER => {
                if ffi::lua_isinteger(l, i) != 0 {
                    ffi::lua_pushinteger(m, ffi::lua_tointegerx(l, i, std::ptr::null_mut()));
                } else {
                    ffi::lua_pushnumber(m, ffi::lua_tonumberx(l, i, std::ptr::null_mut()));
                }
            }
            ffi::LUA_TLIGHTUSERDATA => ffi::lua_pushlightuserdata(m, ffi::lua_touserdata(l, i)),
            ffi::LUA_TFUNCTION => {
                let light =
                    ffi::lua_iscfunction(l, i) != 0 && ffi::lua_getupvalue(l, i, 1).is_null();
                match (light, ffi::lua_tocfunction(l, i)) {
                    (true, Some(f)) => ffi::lua_pushcfunction(m, f),
                    _ => {
                        ffi::lua_close(m);
                        raise_here(
                            l,
                            format!(
                                "bad argument #{i} to 'matrix' (Only support light C function)"
                            ),
                        )
                    }
                }
            }
            _ => {
                ffi::lua_close(m);
                raise_here(l, format!("bad argument #{i} to 'matrix' (Type invalid)"))
            }
        }
    }
}

/// Runs in the fresh state: [source (light userdata), args...] -> table.
unsafe extern "C-unwind" fn load_in_state(m: *mut lua_State) -> c_int {
    ffi::luaL_openlibs(m);
    let source = CStr::from_ptr(ffi::lua_touserdata(m, 1) as *const c_char);
    let bytes = source.to_bytes();
    let status = if let Some(path) = bytes.strip_prefix(b"@") {
        ffi::luaL_loadfilex(m, path.as_ptr() as *const c_char, std::ptr::null())
    } else {
        ffi::luaL_loadstring(m, source.as_ptr())
    };
    if status != ffi::LUA_OK {
        ffi::lua_error(m);
    }
    ffi::lua_replace(m, 1);
    ffi::lua_call(m, ffi::lua_gettop(m) - 1, 1);
    if ffi::lua_type(m, -1) != ffi::LUA_TTABLE {
        let msg = {
            let t = ffi::lua_type(m, -1);
            let name = CStr::from_ptr(ffi::lua_typename(m, t)).to_string_lossy();
            format!("Not a table, it's a {name}.")
        };
        raise(m, msg)
    }
    1
}

/// Moves the error string on top of `m` to `l`, closes `m` and raises it.
unsafe fn raise_from(l: *mut lua_State, m: *mut lua_State) -> ! {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(m, -1, &mut len);
    if p.is_null() {
        ffi::lua_pushstring(l, c"(error object is not a string)".as_ptr());
    } else {
        ffi::lua_pushlstring(l, p, len);
    }
    ffi::lua_close(m);
    ffi::lua_error(l)
}

/// Registers a data set and fills the matrix slot with it.
fn install(slot: *mut Option<Matrix>, data: Frozen) {
    let data = Arc::new(data);
    MATRICES
        .lock()
        .insert(address(&data), Arc::downgrade(&data));
    // SAFETY: the slot was just made by new_udata for a Matrix.
    unsafe { *slot = Some(Matrix { data }) };
}

/// `matrix(source, ...)` -> matrix.
unsafe extern "C-unwind" fn lmatrix(l: *mut lua_State) -> c_int {
    let top = ffi::lua_gettop(l);
    let source = ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
    let slot = new_udata::<Matrix>(l, MATRIX, 0);
    let m = ffi::luaL_newstate();
    if m.is_null() {
        raise_here(l, "luaL_newstate failed".to_string())
    }
    if ffi::lua_checkstack(m, top + 2) == 0 {
        ffi::lua_close(m);
        raise_here(l, format!("Too many argument {top}"))
    }
    ffi::lua_pushcfunction(m, load_in_state);
    ffi::lua_pushlightuserdata(m, source as *mut c_void);
    copy_args(l, m, top);
    if ffi::lua_pcall(m, top, 1, 0) != ffi::LUA_OK {
        raise_from(l, m)
    }
    ffi::lua_gc(m, ffi::LUA_GCCOLLECT, 0);
    let built = frozen::build(m, -1, Flavor::Sharetable);
    let Ok(data) = built else { raise_from(l, m) };
    ffi::lua_close(m);
    install(slot, data);
    1
}

/// `fromtable(tbl)` -> matrix: a data set made from a table of this state.
unsafe extern "C-unwind" fn lfromtable(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let slot = new_udata::<Matrix>(l, MATRIX, 0);
    let built = frozen::build(l, 1, Flavor::Sharetable);
    let Ok(data) = built else { ffi::lua_error(l) };
    install(slot, data);
    1
}

unsafe extern "C-unwind" fn lmatrix_close(l: *mut lua_State) -> c_int {
    let slot = ffi::luaL_checkudata(l, 1, MATRIX.as_ptr()) as *mut Option<Matrix>;
    let closed = (*slot).take();
    drop(closed);
    0
}

unsafe extern "C-unwind" fn lmatrix_getptr(l: *mut lua_State) -> c_int {
    let slot = ffi::luaL_checkudata(l, 1, MATRIX.as_ptr()) as *mut Option<Matrix>;
    match &*slot {
        Some(m) => {
            ffi::lua_pushlightuserdata(l, address(&m.data) as *mut c_void);
            1
        }
        None => 0,
    }
}

unsafe extern "C-unwind" fn lmatrix_size(l: *mut lua_State) -> c_int {
    let slot = ffi::luaL_checkudata(l, 1, MATRIX.as_ptr()) as *mut Option<Matrix>;
    let size = (*slot).as_ref().map_or(0, |m| m.data.size());
    ffi::lua_pushinteger(l, size as ffi::lua_Integer);
    1
}

// ---------------------------------------------------------------------------
// Views and proxies

/// Pushes the view of `data` in this state (made on first use). Returns its
/// absolute stack index.
unsafe fn push_view(l: *mut lua_State, data: &Arc<Frozen>) -> c_int {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, VIEWS.as_ptr());
    let views = ffi::lua_gettop(l);
    if ffi::lua_rawgetp(l, views, address(data) as *const c_void) == ffi::LUA_TUSERDATA {
        ffi::lua_remove(l, views);
        return ffi::lua_gettop(l);
    }
    ffi::lua_pop(l, 1);
    let slot = new_udata::<View>(l, VIEW, 4);
    *slot = Some(View { data: data.clone() });
    let view = ffi::lua_gettop(l);
    weak_table(l, c"v");
    ffi::lua_setiuservalue(l, view, UV_CACHE);
    weak_table(l, c"k");
    ffi::lua_setiuservalue(l, view, UV_INDEX);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_setiuservalue(l, view, UV_FUNCS);
    // the proxies' metatable
    ffi::lua_createtable(l, 0, 5);
    let proxy_methods: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"__index", proxy_index),
        (c"__newindex", proxy_newindex),
        (c"__len", proxy_len),
        (c"__pairs", proxy_pairs),
    ];
    for (name, f) in proxy_methods {
        ffi::lua_pushvalue(l, view);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    ffi::lua_pushvalue(l, view);
    ffi::lua_rawsetp(l, -2, sentinel());
    ffi::lua_setiuservalue(l, view, UV_META);
    ffi::lua_pushvalue(l, view);
    ffi::lua_rawsetp(l, views, address(data) as *const c_void);
    ffi::lua_remove(l, views);
    ffi::lua_gettop(l)
}

unsafe fn weak_table(l: *mut lua_State, mode: &CStr) {
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushstring(l, mode.as_ptr());
    ffi::lua_setfield(l, -2, c"__mode".as_ptr());
    ffi::lua_setmetatable(l, -2);
}

/// The view (userdata) of the proxy at `idx`, pushed; false if `idx` is no
/// proxy.
unsafe fn push_view_of(l: *mut lua_State, idx: c_int) -> bool {
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE || ffi::lua_getmetatable(l, idx) == 0 {
        return false;
    }
    if ffi::lua_rawgetp(l, -1, sentinel()) == ffi::LUA_TUSERDATA {
        ffi::lua_remove(l, -2);
        true
    } else {
        ffi::lua_pop(l, 2);
        false
    }
}

/// The table number of the proxy at `proxy` in the view at `view`.
unsafe fn node_of(l: *mut lua_State, view: c_int, proxy: c_int) -> Option<u32> {
    ffi::lua_getiuservalue(l, view, UV_INDEX);
    ffi::lua_pushvalue(l, proxy);
    let found = ffi::lua_rawget(l, -2) == ffi::LUA_TNUMBER;
    let n = ffi::lua_tointegerx(l, -1, std::ptr::null_mut());
    ffi::lua_pop(l, 2);
    found.then_some(n as u32)
}

/// Pushes the proxy of table `node` (made if needed).
unsafe fn push_proxy(l: *mut lua_State, view: c_int, node: u32) {
    ffi::lua_getiuservalue(l, view, UV_CACHE);
    if ffi::lua_rawgeti(l, -1, node as ffi::lua_Integer + 1) == ffi::LUA_TTABLE {
        ffi::lua_remove(l, -2);
        return;
    }
    ffi::lua_pop(l, 1);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_getiuservalue(l, view, UV_META);
    ffi::lua_setmetatable(l, -2);
    ffi::lua_pushvalue(l, -1);
    ffi::lua_rawseti(l, -3, node as ffi::lua_Integer + 1);
    ffi::lua_remove(l, -2);
    set_node(l, view, -1, node);
}

/// Records that the proxy at `proxy` shows table `node` of the view.
unsafe fn set_node(l: *mut lua_State, view: c_int, proxy: c_int, node: u32) {
    let proxy = ffi::lua_absindex(l, proxy);
    ffi::lua_getiuservalue(l, view, UV_INDEX);
    ffi::lua_pushvalue(l, proxy);
    ffi::lua_pushinteger(l, node as ffi::lua_Integer);
    ffi::lua_rawset(l, -3);
    ffi::lua_pop(l, 1);
}

/// The view's data (borrowed from the userdata at `view`).
unsafe fn view_data<'a>(l: *mut lua_State, view: c_int) -> &'a Frozen {
    let slot = ffi::lua_touserdata(l, view) as *mut Option<View>;
    match (*slot).as_ref() {
        Some(v) => &v.data,
        None => raise(l, "sharetable view released".to_string()),
    }
}

/// Pushes a stored value in this state.
unsafe fn push_value(l: *mut lua_State, view: c_int, data: &Frozen, v: Value) {
    match v {
        Value::Nil => ffi::lua_pushnil(l),
        Value::Bool(b) => ffi::lua_pushboolean(l, b as c_int),
        Value::Int(i) => ffi::lua_pushinteger(l, i),
        Value::Float(f) => ffi::lua_pushnumber(l, f),
        Value::Str(s) => push_bytes(l, data.string(s)),
        Value::Table(t) => push_proxy(l, view, t),
        Value::LightUd(p) => ffi::lua_pushlightuserdata(l, p as *mut c_void),
        Value::CFunc(p) => {
            // SAFETY: p was read from a light C function of this process.
            let f: ffi::lua_CFunction = std::mem::transmute::<usize, ffi::lua_CFunction>(p);
            ffi::lua_pushcfunction(l, f)
        }
        Value::LuaFunc(f) => push_function(l, view, data, f),
    }
}

/// Pushes Lua function `f` of the data set, loaded once per state.
unsafe fn push_function(l: *mut lua_State, view: c_int, data: &Frozen, f: u32) {
    ffi::lua_getiuservalue(l, view, UV_FUNCS);
    if ffi::lua_rawgeti(l, -1, f as ffi::lua_Integer + 1) == ffi::LUA_TFUNCTION {
        ffi::lua_remove(l, -2);
        return;
    }
    ffi::lua_pop(l, 1);
    let code = data.function(f);
    if ffi::luaL_loadbufferx(
        l,
        code.as_ptr() as *const c_char,
        code.len(),
        c"=sharetable".as_ptr(),
        c"b".as_ptr(),
    ) != ffi::LUA_OK
    {
        ffi::lua_error(l);
    }
    // funcs[f + 1] = fn, funcs[fn] = f
    ffi::lua_pushvalue(l, -1);
    ffi::lua_rawseti(l, -3, f as ffi::lua_Integer + 1);
    ffi::lua_pushvalue(l, -1);
    ffi::lua_pushinteger(l, f as ffi::lua_Integer);
    ffi::lua_rawset(l, -4);
    ffi::lua_remove(l, -2);
}

/// The key at `idx` for the view at `view`; `None` when no table of the
/// data set can hold it.
unsafe fn key_at<'a>(l: *mut lua_State, view: c_int, idx: c_int) -> Option<Key<'a>> {
    if let Some(k) = frozen::plain_key(l, idx) {
        return Some(k);
    }
    match ffi::lua_type(l, idx) {
        ffi::LUA_TTABLE => {
            let idx = ffi::lua_absindex(l, idx);
            if !push_view_of(l, idx) {
                return None;
            }
            let same = ffi::lua_rawequal(l, -1, view) != 0;
            ffi::lua_pop(l, 1);
            if same {
                node_of(l, view, idx).map(Key::Table)
            } else {
                None
            }
        }
        ffi::LUA_TFUNCTION => {
            let idx = ffi::lua_absindex(l, idx);
            ffi::lua_getiuservalue(l, view, UV_FUNCS);
            ffi::lua_pushvalue(l, idx);
            let found = ffi::lua_rawget(l, -2) == ffi::LUA_TNUMBER;
            let f = ffi::lua_tointegerx(l, -1, std::ptr::null_mut());
            ffi::lua_pop(l, 2);
            found.then_some(Key::LuaFunc(f as u32))
        }
        _ => None,
    }
}

/// The view upvalue and the table number of the proxy at 1.
unsafe fn proxy_args(l: *mut lua_State) -> (c_int, u32) {
    let view = ffi::lua_upvalueindex(1);
    match node_of(l, view, 1) {
        Some(n) => (view, n),
        None => raise(l, "Not a shared table".to_string()),
    }
}

unsafe extern "C-unwind" fn proxy_index(l: *mut lua_State) -> c_int {
    let (view, node) = proxy_args(l);
    let data = view_data(l, view);
    let v = match key_at(l, view, 2) {
        Some(k) => data.get(node, k),
        None => Value::Nil,
    };
    push_value(l, view, data, v);
    1
}

unsafe extern "C-unwind" fn proxy_newindex(l: *mut lua_State) -> c_int {
    raise_here(l, "attempt to index a table value".to_string())
}

unsafe extern "C-unwind" fn proxy_len(l: *mut lua_State) -> c_int {
    let (view, node) = proxy_args(l);
    let n = view_data(l, view).array_len(node);
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    1
}

/// The `next` of a proxy: (proxy, key) -> next key, value.
unsafe extern "C-unwind" fn proxy_next(l: *mut lua_State) -> c_int {
    let (view, node) = proxy_args(l);
    let data = view_data(l, view);
    let key = if ffi::lua_isnoneornil(l, 2) != 0 {
        None
    } else {
        match key_at(l, view, 2) {
            Some(k) => Some(k),
            None => return 0,
        }
    };
    match data.next(node, key) {
        Some((k, v)) => {
            push_value(l, view, data, k);
            push_value(l, view, data, v);
            2
        }
        None => {
            ffi::lua_pushnil(l);
            1
        }
    }
}

unsafe extern "C-unwind" fn proxy_pairs(l: *mut lua_State) -> c_int {
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushcclosure(l, proxy_next, 1);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

/// The live data set at `ptr` (argument `idx`), or a raise.
unsafe fn data_at(l: *mut lua_State, idx: c_int) -> Arc<Frozen> {
    let p = ffi::lua_touserdata(l, idx) as usize;
    let found = MATRICES.lock().get(&p).and_then(Weak::upgrade);
    match found {
        Some(d) => d,
        None => raise_here(l, "Not a shared table".to_string()),
    }
}

/// `clone(ptr)` -> the root proxy of that data set in this state.
unsafe extern "C-unwind" fn lclone(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TLIGHTUSERDATA);
    let data = data_at(l, 1);
    // the view keeps its own Arc; nothing owned may cross a raise
    let ok = protect(l, 0, &mut |l| {
        let view = push_view(l, &data);
        push_proxy(l, view, 0);
        1
    });
    drop(data);
    if !ok {
        ffi::lua_error(l);
    }
    1
}

unsafe extern "C-unwind" fn lis_sharedtable(l: *mut lua_State) -> c_int {
    let yes = push_view_of(l, 1);
    ffi::lua_pushboolean(l, yes as c_int);
    1
}

/// `stackvalues(co, t)`: copies the values on the stack of suspended
/// coroutine `co` into t[1..n]; returns n (0 for the running one).
unsafe extern "C-unwind" fn lstackvalues(l: *mut lua_State) -> c_int {
    let co = ffi::lua_tothread(l, 1);
    if co.is_null() {
        ffi::luaL_argerror(l, 1, c"thread expected".as_ptr());
    }
    let mut n = 0;
    if co != l {
        ffi::luaL_checktype(l, 2, ffi::LUA_TTABLE);
        n = ffi::lua_gettop(co);
        if n > 0 {
            ffi::luaL_checkstack(l, n + 1, std::ptr::null());
            let top = ffi::lua_gettop(l);
            ffi::lua_xmove(co, l, n);
            for i in 1..=n {
                ffi::lua_pushvalue(l, top + i);
                ffi::lua_seti(l, 2, i as ffi::lua_Integer);
            }
            ffi::lua_xmove(l, co, n);
        }
    }
    ffi::lua_pushinteger(l, n as ffi::lua_Integer);
    1
}

// ---------------------------------------------------------------------------
// Moving to a newer version

/// One table of the old version to carry over: its number, and either its
/// number in the new version or what replaces it there (Nil: nothing).
struct Move {
    old: u32,
    new: Result<u32, Value>,
}

/// The key of `old`'s data, as a key of `new`'s (tables and Lua functions
/// are identities of their own data set: not carried).
fn carry_key<'a>(old: &'a Frozen, k: Value) -> Option<Key<'a>> {
    match k {
        Value::Table(_) | Value::LuaFunc(_) => None,
        other => old.as_key(other),
    }
}

/// `migrate(old_root, ptr, nilobj)` -> new root proxy, replacements | nil.
unsafe extern "C-unwind" fn lmigrate(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 2, ffi::LUA_TLIGHTUSERDATA);
    ffi::lua_settop(l, 3);
    if !push_view_of(l, 1) {
        raise_here(l, "Not a shared table".to_string())
    }
    let old_view = ffi::lua_gettop(l); // 4
    let Some(old_root) = node_of(l, old_view, 1) else {
        raise_here(l, "Not a shared table".to_string())
    };
    let new_data = data_at(l, 2);
    let mut queue: VecDeque<Move> = VecDeque::new();
    let mut visited: HashSet<u32> = HashSet::new();
    // the body's stack: 1 old root, 2 ptr, 3 nilobj, 4 old view
    let ok = protect(l, 4, &mut |l| {
        let new_view = push_view(l, &new_data); // 5
        let old_data = view_data(l, old_view);
        ffi::lua_createtable(l, 0, 0); // 6: replacements
        let replace = ffi::lua_gettop(l);
        let mut replaced = 0;
        ffi::lua_getiuservalue(l, old_view, UV_CACHE); // 7
        let old_cache = ffi::lua_gettop(l);
        ffi::lua_getiuservalue(l, new_view, UV_CACHE); // 8
        let new_cache = ffi::lua_gettop(l);
        let same = ffi::lua_rawequal(l, old_view, new_view) != 0;
        queue.push_back(Move {
            old: old_root,
            new: Ok(0),
        });
        visited.insert(old_root);
        while let Some(Move { old, new }) = queue.pop_front() {
            if same {
                break;
            }
            let live =
                ffi::lua_rawgeti(l, old_cache, old as ffi::lua_Integer + 1) == ffi::LUA_TTABLE;
            let proxy = ffi::lua_gettop(l);
            if live {
                match new {
                    Ok(n) => {
                        if ffi::lua_rawgeti(l, new_cache, n as ffi::lua_Integer + 1)
                            == ffi::LUA_TTABLE
                        {
                            // the new version already has its proxy
                            ffi::lua_pushvalue(l, proxy);
                            ffi::lua_insert(l, -2);
                            ffi::lua_rawset(l, replace);
                            replaced += 1;
                        } else {
                            ffi::lua_pop(l, 1);
                            // switch the proxy to the new version
                            ffi::lua_pushnil(l);
                            ffi::lua_rawseti(l, old_cache, old as ffi::lua_Integer + 1);
                            ffi::lua_getiuservalue(l, old_view, UV_INDEX);
                            ffi::lua_pushvalue(l, proxy);
                            ffi::lua_pushnil(l);
                            ffi::lua_rawset(l, -3);
                            ffi::lua_pop(l, 1);
                            ffi::lua_getiuservalue(l, new_view, UV_META);
                            ffi::lua_setmetatable(l, proxy);
                            ffi::lua_pushvalue(l, proxy);
                            ffi::lua_rawseti(l, new_cache, n as ffi::lua_Integer + 1);
                            set_node(l, new_view, proxy, n);
                        }
                    }
                    Err(v) => {
                        ffi::lua_pushvalue(l, proxy);
                        if v == Value::Nil {
                            ffi::lua_pushvalue(l, 3);
                        } else {
                            push_value(l, new_view, &new_data, v);
                        }
                        ffi::lua_rawset(l, replace);
                        replaced += 1;
                    }
                }
            }
            ffi::lua_settop(l, proxy - 1);
            for (k, child) in old_data.children(old) {
                if !visited.insert(child) {
                    continue;
                }
                let target = match (new, carry_key(old_data, k)) {
                    (Ok(n), Some(key)) => match new_data.get(n, key) {
                        Value::Table(c) => Ok(c),
                        other => Err(other),
                    },
                    _ => Err(Value::Nil),
                };
                // below a vanished table everything vanishes
                let target = match (new, target) {
                    (Err(_), _) => Err(Value::Nil),
                    (_, t) => t,
                };
                queue.push_back(Move {
                    old: child,
                    new: target,
                });
            }
        }
        ffi::lua_settop(l, replace);
        push_proxy(l, new_view, 0);
        ffi::lua_insert(l, replace);
        if replaced == 0 {
            ffi::lua_pop(l, 1);
            ffi::lua_pushnil(l);
        }
        2
    });
    drop(queue);
    drop(visited);
    drop(new_data);
    if !ok {
        ffi::lua_error(l);
    }
    2
}

/// Opens `skynet.sharetable.core`.
///
/// # Safety
/// Called by Lua as a `lua_CFunction`.
pub unsafe extern "C-unwind" fn luaopen_skynet_sharetable_core(l: *mut lua_State) -> c_int {
    metatable::<Matrix>(
        l,
        MATRIX,
        &[
            (c"close", lmatrix_close),
            (c"getptr", lmatrix_getptr),
            (c"size", lmatrix_size),
        ],
    );
    ffi::lua_pop(l, 1);
    metatable::<View>(l, VIEW, &[]);
    ffi::lua_pop(l, 1);
    if ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, VIEWS.as_ptr()) != ffi::LUA_TTABLE {
        ffi::lua_pop(l, 1);
        weak_table(l, c"v");
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, VIEWS.as_ptr());
    } else {
        ffi::lua_pop(l, 1);
    }
    ffi::lua_createtable(l, 0, 7);
    set_funcs(
        l,
        &[
            (c"matrix", lmatrix),
            (c"fromtable", lfromtable),
            (c"clone", lclone),
            (c"is_sharedtable", lis_sharedtable),
            (c"stackvalues", lstackvalues),
            (c"migrate", lmigrate),
        ],
    );
    1
}

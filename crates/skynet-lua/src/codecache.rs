//! `skynet.codecache`: a process-wide cache of compiled Lua chunks, so that
//! launching the same service file many times parses it once. Stands for
//! the code cache the reference patches into `lauxlib.c`
//! (`luaL_loadfilex`, `cache.clear`, `cache.mode`).
//!
//! With Lua 5.4 (the default build) a cached chunk is a prototype shared by
//! every state (see `shared_proto`), as in the reference: a state that
//! loads it gets a closure without parsing, undumping or copying the code.
//! With Lua 5.5 we keep the chunk's bytecode (with debug information, so
//! tracebacks are unchanged) and undump it. Modes, per Lua state: `ON`
//! (cache and use), `EXIST` (use what is cached, add nothing), `OFF`. Both
//! `loadfile` and `require`'s Lua-file searcher go through the cache, and
//! snlua loads `lualoader` through it. `clear` forgets the cached chunks
//! (shared prototypes stay alive: states may still run them).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::sync::{Arc, OnceLock};

use mlua::ffi::{self, lua_State};
use parking_lot::RwLock;

#[cfg(feature = "lua54")]
use crate::shared_proto::{self, SharedProto};

/// A cached chunk.
#[derive(Clone)]
enum Compiled {
    /// A prototype every state shares (Lua 5.4 build).
    #[cfg(feature = "lua54")]
    Shared(SharedProto),
    /// Bytecode each state undumps.
    #[cfg_attr(feature = "lua54", allow(dead_code))]
    Bytecode(Arc<Vec<u8>>),
}

type Cache = RwLock<HashMap<Vec<u8>, Compiled>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

const MODES: [&CStr; 3] = [c"OFF", c"EXIST", c"ON"];
const MODE_OFF: usize = 0;
const MODE_ON: usize = 2;
/// Registry key of the state's mode (an integer index into MODES).
const MODE_KEY: &CStr = c"skynet.codecache.mode";

unsafe fn mode_of(l: *mut lua_State) -> usize {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, MODE_KEY.as_ptr());
    let m = ffi::lua_tointegerx(l, -1, ptr::null_mut());
    let is_num = ffi::lua_type(l, -1) == ffi::LUA_TNUMBER;
    ffi::lua_pop(l, 1);
    if is_num && (0..MODE_ON as i64).contains(&m) {
        m as usize
    } else {
        MODE_ON
    }
}

unsafe extern "C-unwind" fn cache_clear(_l: *mut lua_State) -> c_int {
    cache().write().clear();
    0
}

unsafe extern "C-unwind" fn cache_mode(l: *mut lua_State) -> c_int {
    if ffi::lua_isnoneornil(l, 1) != 0 {
        let m = mode_of(l);
        ffi::lua_pushstring(l, MODES[m].as_ptr());
        return 1;
    }
    let list = [
        MODES[0].as_ptr(),
        MODES[1].as_ptr(),
        MODES[2].as_ptr(),
        ptr::null(),
    ];
    let m = ffi::luaL_checkoption(l, 1, c"OFF".as_ptr(), list.as_ptr());
    ffi::lua_pushinteger(l, m as ffi::lua_Integer);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, MODE_KEY.as_ptr());
    0
}

unsafe extern "C-unwind" fn dump_writer(
    _l: *mut lua_State,
    p: *const c_void,
    sz: usize,
    ud: *mut c_void,
) -> c_int {
    // SAFETY: `ud` is the Vec passed to lua_dump below; p holds sz bytes.
    let out = &mut *(ud as *mut Vec<u8>);
    out.extend_from_slice(std::slice::from_raw_parts(p as *const u8, sz));
    0
}

/// Pushes the cached chunk of file `name` and returns true; returns false
/// (pushing nothing) when it is not cached or its entry does not load.
unsafe fn push_cached(l: *mut lua_State, name: &[u8]) -> bool {
    let code = match cache().read().get(name).cloned() {
        None => return false,
        #[cfg(feature = "lua54")]
        Some(Compiled::Shared(proto)) => {
            shared_proto::push(l, proto);
            return true;
        }
        Some(Compiled::Bytecode(code)) => code,
    };
    let mut chunkname = Vec::with_capacity(name.len() + 2);
    chunkname.push(b'@');
    chunkname.extend_from_slice(name);
    chunkname.push(0);
    let r = ffi::luaL_loadbufferx(
        l,
        code.as_ptr() as *const c_char,
        code.len(),
        chunkname.as_ptr() as *const c_char,
        c"b".as_ptr(),
    );
    if r == ffi::LUA_OK {
        return true;
    }
    ffi::lua_pop(l, 1); // a broken entry: the caller loads the file
    false
}

/// A miss in mode ON, Lua 5.4: shares file `name` through the template
/// state and pushes a closure of it. False (nothing pushed) when the file
/// does not load that way; the caller then loads it itself, which reports
/// the error as usual.
#[cfg(feature = "lua54")]
unsafe fn share_and_push(l: *mut lua_State, name: &[u8]) -> bool {
    let Ok(path) = std::ffi::CString::new(name) else {
        return false;
    };
    let Some(proto) = shared_proto::load(&path) else {
        return false;
    };
    cache()
        .write()
        .entry(name.to_vec())
        .or_insert(Compiled::Shared(proto));
    shared_proto::push(l, proto);
    true
}

#[cfg(not(feature = "lua54"))]
unsafe fn share_and_push(_l: *mut lua_State, _name: &[u8]) -> bool {
    false
}

/// Keeps the bytecode of the function on top of the stack (left there) as
/// the chunk of file `name` (the Lua 5.5 build; 5.4 shares prototypes).
unsafe fn remember(l: *mut lua_State, name: &[u8]) {
    if cfg!(feature = "lua54") {
        return;
    }
    let mut code: Vec<u8> = Vec::new();
    ffi::lua_dump(l, dump_writer, &mut code as *mut Vec<u8> as *mut c_void, 0);
    cache()
        .write()
        .entry(name.to_vec())
        .or_insert_with(|| Compiled::Bytecode(Arc::new(code)));
}

/// `luaL_loadfilex(l, path, NULL)` through the cache, for the state's
/// mode: the same status, and the chunk or the error message pushed. snlua
/// loads `lualoader` with it, so the loader is not parsed for every
/// service either.
///
/// # Safety
/// `l` is a valid state with room for a few stack slots.
pub unsafe fn load_file(l: *mut lua_State, path: &CStr) -> c_int {
    let mode = mode_of(l);
    let name = path.to_bytes();
    if mode != MODE_OFF && push_cached(l, name) {
        return ffi::LUA_OK;
    }
    if mode == MODE_ON && share_and_push(l, name) {
        return ffi::LUA_OK;
    }
    let status = ffi::luaL_loadfilex(l, path.as_ptr(), ptr::null());
    if status == ffi::LUA_OK && mode == MODE_ON {
        remember(l, name);
    }
    status
}

/// `loadfile(filename [, mode [, env]])` through the cache. Upvalue 1 is
/// the original `loadfile`, used for a miss and for any call with a mode or
/// an environment.
unsafe extern "C-unwind" fn cached_loadfile(l: *mut lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    let mode = mode_of(l);
    if mode == MODE_OFF || n != 1 || ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
        return call_original(l, n);
    }
    let mut len = 0usize;
    let name_ptr = ffi::lua_tolstring(l, 1, &mut len);
    let name = std::slice::from_raw_parts(name_ptr as *const u8, len).to_vec();
    if push_cached(l, &name) || (mode == MODE_ON && share_and_push(l, &name)) {
        return 1;
    }
    let results = call_original(l, 1);
    if mode == MODE_ON && ffi::lua_type(l, -results) == ffi::LUA_TFUNCTION {
        ffi::lua_pushvalue(l, -results);
        remember(l, &name);
        ffi::lua_pop(l, 1);
    }
    results
}

/// Calls upvalue 1 with the `n` arguments on the stack; returns the number
/// of results.
unsafe fn call_original(l: *mut lua_State, n: c_int) -> c_int {
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    ffi::lua_gettop(l)
}

const SEARCHER: &str = r#"
local load_cached = ...
local searchpath, format = package.searchpath, string.format
package.searchers[2] = function(name)
    local filename, err = searchpath(name, package.path)
    if not filename then
        return err
    end
    local f, msg = load_cached(filename)
    if f then
        return f, filename
    end
    error(format("error loading module '%s' from file '%s':\n\t%s", name, filename, msg), 0)
end
"#;

/// Pushes the searcher installer compiled from SEARCHER. It is compiled
/// once per process; every later state loads its bytecode.
unsafe fn load_searcher(l: *mut lua_State) {
    static COMPILED: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(code) = COMPILED.get() {
        if ffi::luaL_loadbufferx(
            l,
            code.as_ptr() as *const c_char,
            code.len(),
            c"=[skynet codecache]".as_ptr(),
            c"b".as_ptr(),
        ) == ffi::LUA_OK
        {
            return;
        }
        ffi::lua_error(l);
    }
    if ffi::luaL_loadbufferx(
        l,
        SEARCHER.as_ptr() as *const c_char,
        SEARCHER.len(),
        c"=[skynet codecache]".as_ptr(),
        c"t".as_ptr(),
    ) != ffi::LUA_OK
    {
        ffi::lua_error(l);
    }
    let mut code: Vec<u8> = Vec::new();
    ffi::lua_dump(l, dump_writer, &mut code as *mut Vec<u8> as *mut c_void, 0);
    let _ = COMPILED.set(code);
}

/// Opens `skynet.codecache` (`clear`, `mode`, `loadfile`), replaces the
/// global `loadfile` with the cached one and makes `require` load Lua
/// files through it.
///
/// # Safety
/// Called by Lua as a C function, after the standard libraries are open.
pub unsafe extern "C-unwind" fn luaopen_skynet_codecache(l: *mut lua_State) -> c_int {
    ffi::lua_createtable(l, 0, 3);
    ffi::lua_pushcfunction(l, cache_clear);
    ffi::lua_setfield(l, -2, c"clear".as_ptr());
    ffi::lua_pushcfunction(l, cache_mode);
    ffi::lua_setfield(l, -2, c"mode".as_ptr());
    ffi::lua_getglobal(l, c"loadfile".as_ptr());
    ffi::lua_pushcclosure(l, cached_loadfile, 1);
    ffi::lua_pushvalue(l, -1);
    ffi::lua_setglobal(l, c"loadfile".as_ptr());
    ffi::lua_pushvalue(l, -1);
    ffi::lua_setfield(l, -3, c"loadfile".as_ptr());
    // stack: module, cached loadfile
    load_searcher(l);
    ffi::lua_insert(l, -2);
    ffi::lua_call(l, 1, 0);
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua_state::{LuaState, MemoryAccount};
    use std::ffi::CString;

    fn state() -> LuaState {
        let s = LuaState::new(Arc::new(MemoryAccount::new(Box::new(|_| {})))).unwrap();
        // SAFETY: a fresh state; the opener runs protected.
        unsafe {
            let l = s.as_ptr();
            ffi::lua_pushcfunction(l, luaopen_skynet_codecache);
            assert_eq!(ffi::lua_pcall(l, 0, 1, 0), ffi::LUA_OK);
            ffi::lua_setglobal(l, c"cache".as_ptr());
        }
        s
    }

    /// The value on top of `l` as a string (the result when `ok`, else the
    /// error); empties the stack.
    ///
    /// # Safety
    /// `l` is valid and has a value on top.
    unsafe fn take_result(l: *mut lua_State, ok: bool) -> Result<String, String> {
        let mut len = 0;
        let p = ffi::luaL_tolstring(l, -1, &mut len);
        let text =
            String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned();
        ffi::lua_settop(l, 0);
        if ok {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Runs `code` (which returns one value) and gives it as a string.
    fn eval(s: &LuaState, code: &str) -> String {
        let c = CString::new(code).unwrap();
        // SAFETY: protected call on a valid state; the result is popped.
        unsafe {
            let l = s.as_ptr();
            let ok = ffi::luaL_loadstring(l, c.as_ptr()) == ffi::LUA_OK
                && ffi::lua_pcall(l, 0, 1, 0) == ffi::LUA_OK;
            take_result(l, ok).unwrap_or_else(|e| format!("ERROR: {e}"))
        }
    }

    #[test]
    fn second_load_comes_from_the_cache_and_modes_switch() {
        let dir = std::env::temp_dir().join(format!("skynet-codecache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("svc.lua");
        std::fs::write(&file, "return 40 + 2").unwrap();
        let s = state();
        let path = file.display().to_string();
        assert_eq!(eval(&s, &format!("return loadfile('{path}')()")), "42");
        // change the file: the cached chunk is still used while mode is ON
        std::fs::write(&file, "return 1").unwrap();
        assert_eq!(eval(&s, &format!("return loadfile('{path}')()")), "42");
        assert_eq!(eval(&s, "return cache.mode()"), "ON");
        eval(&s, "cache.mode('OFF') return 0");
        assert_eq!(eval(&s, &format!("return loadfile('{path}')()")), "1");
        eval(&s, "cache.mode('ON') cache.clear() return 0");
        assert_eq!(eval(&s, &format!("return loadfile('{path}')()")), "1");
        assert!(
            eval(&s, "return select(2, loadfile('/nonexistent/x.lua'))").contains("No such file")
        );
        assert!(eval(&s, "return select(2, pcall(cache.mode, 'MAYBE'))")
            .contains("invalid option 'MAYBE'"));
        // a chunk from the cache keeps its name for tracebacks
        std::fs::write(&file, "return debug.getinfo(1, 'S').source").unwrap();
        eval(&s, "cache.clear() return 0");
        let first = eval(&s, &format!("return loadfile('{path}')()"));
        let second = eval(&s, &format!("return loadfile('{path}')()"));
        assert_eq!(first, format!("@{path}"));
        assert_eq!(second, first);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn require_goes_through_the_cache_and_keeps_its_messages() {
        let dir = std::env::temp_dir().join(format!("skynet-codecache-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cmod.lua"), "return { name = ..., v = 7 }").unwrap();
        std::fs::write(dir.join("broken.lua"), "return {").unwrap();
        let s = state();
        let setup = format!("package.path = '{}/?.lua' return 0", dir.display());
        eval(&s, &setup);
        assert_eq!(
            eval(&s, "local m = require 'cmod' return m.name .. m.v"),
            "cmod7"
        );
        let missing = eval(&s, "return select(2, pcall(require, 'nosuchmod'))");
        assert!(
            missing.contains("module 'nosuchmod' not found"),
            "{missing}"
        );
        assert!(missing.contains("no file '"), "{missing}");
        let broken = eval(&s, "return select(2, pcall(require, 'broken'))");
        assert!(
            broken.starts_with("error loading module 'broken' from file '"),
            "{broken}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Loads `path` with [`load_file`]; the chunk's result, or the error.
    fn run_file(s: &LuaState, path: &str) -> Result<String, String> {
        let c = CString::new(path).unwrap();
        // SAFETY: a valid state; the pushed value is read and popped.
        unsafe {
            let l = s.as_ptr();
            let ok = load_file(l, &c) == ffi::LUA_OK && ffi::lua_pcall(l, 0, 1, 0) == ffi::LUA_OK;
            take_result(l, ok)
        }
    }

    #[test]
    fn load_file_caches_like_loadfile_and_keeps_the_missing_file_message() {
        let dir = std::env::temp_dir().join(format!("skynet-codecache-lf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("loader.lua");
        std::fs::write(&file, "return 'first'").unwrap();
        let path = file.display().to_string();
        let s = state();
        assert_eq!(run_file(&s, &path), Ok("first".to_string()));
        // a second state gets the cached chunk, not the changed file
        std::fs::write(&file, "return 'second'").unwrap();
        let other = state();
        assert_eq!(run_file(&other, &path), Ok("first".to_string()));
        // with the cache off the file is read again
        eval(&other, "cache.mode 'OFF' return 0");
        assert_eq!(run_file(&other, &path), Ok("second".to_string()));
        // a missing file fails with luaL_loadfilex's own message
        let missing = dir.join("nowhere.lua").display().to_string();
        let err = run_file(&s, &missing).unwrap_err();
        assert!(err.starts_with(&format!("cannot open {missing}")), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

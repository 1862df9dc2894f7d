//! The native Lua modules every Lua service can `require`, found by the
//! first of `package.searchers` in each snlua state (after
//! `package.preload`, so a service can still override one there). Stands
//! for the reference's `luaclib/*.so` files (skynet.so, sproto.so, bson.so,
//! md5.so, ...), which are built into the binary here.

use std::ffi::c_int;

use mlua::ffi::{self, lua_CFunction, lua_State};

use crate::{bson, cluster, core, crypt, debugchannel, md5, netpack, socketdriver, sproto, tls};

/// Module names and openers (besides the shared-data family of
/// [`crate::datalibs`]).
const MODULES: [(&str, lua_CFunction); 13] = [
    ("skynet.core", core::luaopen_skynet_core),
    (
        "skynet.socketdriver",
        socketdriver::luaopen_skynet_socketdriver,
    ),
    ("skynet.netpack", netpack::luaopen_skynet_netpack),
    ("skynet.cluster.core", cluster::luaopen_skynet_cluster_core),
    ("skynet.crypt", crypt::luaopen_skynet_crypt),
    ("client.crypt", crypt::luaopen_skynet_crypt),
    ("md5", md5::luaopen_md5),
    ("md5.core", md5::luaopen_md5),
    ("bson", bson::luaopen_bson),
    ("sproto.core", sproto::luaopen_sproto_core),
    (
        "skynet.debugchannel",
        debugchannel::luaopen_skynet_debugchannel,
    ),
    ("ltls.c", tls::luaopen_ltls_c),
    ("ltls.init.c", tls::luaopen_ltls_init_c),
];

/// Every module name with its opener.
pub fn all() -> impl Iterator<Item = (&'static str, lua_CFunction)> {
    MODULES.into_iter().chain(crate::datalibs::MODULES)
}

/// The opener of built-in module `name`.
fn builtin(name: &[u8]) -> Option<lua_CFunction> {
    all()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|(_, open)| open)
}

/// `package.searchers[1]` of an snlua state: the standard preload searcher
/// (upvalue 1) first, then the built-in modules. A miss returns the
/// standard searcher's message, so `require`'s error text is unchanged.
unsafe extern "C-unwind" fn search_preload_then_builtins(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let name = ffi::luaL_checklstring(l, 1, &mut len);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushvalue(l, 1);
    ffi::lua_call(l, 1, 2);
    if ffi::lua_type(l, -2) == ffi::LUA_TFUNCTION {
        return 2;
    }
    match builtin(std::slice::from_raw_parts(name as *const u8, len)) {
        Some(open) => {
            // what the preload searcher passes an opener found there
            ffi::lua_pushcfunction(l, open);
            ffi::lua_pushstring(l, c":preload:".as_ptr());
            2
        }
        None => 2,
    }
}

/// Makes the built-in modules loadable with `require`: wraps
/// `package.searchers[1]`. Nothing is stored per module, so a state pays
/// only for the modules it loads.
///
/// # Safety
/// Runs inside a protected call on a state whose `package` library is open.
pub(crate) unsafe fn install_builtins(l: *mut lua_State) -> c_int {
    ffi::lua_getglobal(l, c"package".as_ptr());
    ffi::lua_getfield(l, -1, c"searchers".as_ptr());
    ffi::lua_rawgeti(l, -1, 1);
    ffi::lua_pushcclosure(l, search_preload_then_builtins, 1);
    ffi::lua_rawseti(l, -2, 1);
    ffi::lua_pop(l, 2);
    0
}

/// Adds every module to `preload`, the `package.preload` table of an mlua
/// state (for tests and tools; snlua uses [`install_builtins`]).
pub fn preload(lua: &mlua::Lua, preload: &mlua::Table) -> mlua::Result<()> {
    for (name, open) in all() {
        // SAFETY: every opener is a lua_CFunction written against the C API.
        let f = unsafe { lua.create_c_function(open)? };
        preload.set(name, f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua_state::{LuaState, MemoryAccount};
    use std::ffi::CString;
    use std::sync::Arc;

    /// Runs `code` (returning one value) as a string, or the error text.
    fn eval(s: &LuaState, code: &str) -> Result<String, String> {
        let c = CString::new(code).unwrap();
        // SAFETY: a valid state; the chunk runs protected and the stack is
        // emptied afterwards.
        unsafe {
            let l = s.as_ptr();
            let ok = ffi::luaL_loadstring(l, c.as_ptr()) == ffi::LUA_OK
                && ffi::lua_pcall(l, 0, 1, 0) == ffi::LUA_OK;
            let mut len = 0;
            let p = ffi::luaL_tolstring(l, -1, &mut len);
            let text = String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len))
                .into_owned();
            ffi::lua_settop(l, 0);
            if ok {
                Ok(text)
            } else {
                Err(text)
            }
        }
    }

    unsafe extern "C-unwind" fn install(l: *mut lua_State) -> c_int {
        install_builtins(l)
    }

    #[test]
    fn builtins_load_after_preload_and_misses_keep_the_standard_message() {
        let s = LuaState::new(Arc::new(MemoryAccount::new(Box::new(|_| {})))).unwrap();
        // SAFETY: a fresh state with its libraries open; protected call.
        unsafe {
            let l = s.as_ptr();
            ffi::lua_pushcfunction(l, install);
            assert_eq!(ffi::lua_pcall(l, 0, 0, 0), ffi::LUA_OK);
        }
        // a built-in module, opened with (name, ":preload:")
        assert_eq!(
            eval(&s, "return type(require 'md5'.sumhexa)"),
            Ok("function".to_string())
        );
        assert_eq!(
            eval(&s, "return select(2, require 'skynet.stm')"),
            Ok(":preload:".to_string())
        );
        // package.preload still comes first
        assert_eq!(
            eval(
                &s,
                "package.preload['bson'] = function() return 'mine' end return require 'bson'"
            ),
            Ok("mine".to_string())
        );
        // nothing stored per module
        assert_eq!(
            eval(&s, "return tostring(next(package.preload, 'bson'))"),
            Ok("nil".to_string())
        );
        // a miss: the standard text, preload line first
        let err = eval(&s, "return require 'no.such.module'").unwrap_err();
        assert!(
            err.contains("module 'no.such.module' not found:\n\tno field package.preload['no.such.module']\n\tno file"),
            "{err}"
        );
    }
}

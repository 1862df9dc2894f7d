//! The native Lua modules every Lua service can `require`, put in each
//! state's `package.preload` by snlua. Stands for the reference's
//! `luaclib/*.so` files (skynet.so, sproto.so, bson.so, md5.so, ...), which
//! are built into the binary here.

use std::ffi::{c_int, CString};

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

/// Adds every module to `package.preload`.
///
/// # Safety
/// Runs inside a protected call on a state whose `package` library is open.
pub(crate) unsafe fn preload_all(l: *mut lua_State) -> c_int {
    ffi::lua_getglobal(l, c"package".as_ptr());
    ffi::lua_getfield(l, -1, c"preload".as_ptr());
    for (name, open) in all() {
        let name = CString::new(name).unwrap_or_default();
        ffi::lua_pushcfunction(l, open);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    ffi::lua_pop(l, 2);
    0
}

/// Adds every module to `preload`, the `package.preload` table of an mlua
/// state (for tests and tools; snlua uses [`preload_all`]).
pub fn preload(lua: &mlua::Lua, preload: &mlua::Table) -> mlua::Result<()> {
    for (name, open) in all() {
        // SAFETY: every opener is a lua_CFunction written against the C API.
        let f = unsafe { lua.create_c_function(open)? };
        preload.set(name, f)?;
    }
    Ok(())
}

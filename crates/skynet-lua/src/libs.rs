//! Registers the native library modules of `lualib-src/` that services load
//! with `require` (`skynet.crypt`, `client.crypt`, `md5`, `md5.core`, `bson`,
//! `sproto.core`) in a Lua state's `package.preload`. Stands for the
//! reference's `luaclib/*.so` files, which are built into the binary here.

use mlua::{Lua, Table};

use crate::{bson, crypt, md5, sproto};

/// The modules and their openers.
const MODULES: [(&str, mlua::ffi::lua_CFunction); 6] = [
    ("skynet.crypt", crypt::luaopen_skynet_crypt),
    ("client.crypt", crypt::luaopen_skynet_crypt),
    ("md5", md5::luaopen_md5),
    ("md5.core", md5::luaopen_md5),
    ("bson", bson::luaopen_bson),
    ("sproto.core", sproto::luaopen_sproto_core),
];

/// Adds every module to `preload` (the `package.preload` table of `lua`).
pub fn preload(lua: &Lua, preload: &Table) -> mlua::Result<()> {
    for (name, open) in MODULES {
        // SAFETY: every opener is a lua_CFunction written against the C API.
        let f = unsafe { lua.create_c_function(open)? };
        preload.set(name, f)?;
    }
    Ok(())
}

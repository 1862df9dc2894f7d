//! `client.so`: the Lua C modules a plain Lua 5.4 interpreter needs to run
//! the reference's client scripts (`examples/client.lua`,
//! `examples/login/client.lua`) against a skynet-rs node. Stands for the
//! reference's `luaclib/client.so` (`lualib-src/lua-clientsocket.c` +
//! `lua-crypt.c`) and `luaclib/sproto.so` (`lualib-src/sproto/`).
//!
//! Exports, found by Lua's all-in-one C loader:
//! - `luaopen_client_socket` ([`socket`], written here);
//! - `luaopen_client_crypt` (the node's `skynet.crypt`);
//! - `luaopen_sproto_core` (the node's `sproto.core`), for
//!   `require "sproto"` of lualib/sproto.lua.
//!
//! The crypt and sproto modules are the node's own sources
//! (`crates/skynet-lua/src/{capi,crypt}.rs`, `sproto/`), compiled into this
//! library against [`ffi`], the interpreter's Lua API declared by hand under
//! `mlua::ffi`'s names (`extern crate self as mlua` below), instead of the
//! node's vendored Lua (why in ffi.rs). So the client speaks byte for byte
//! what the node does, from a single implementation.
//!
//! Build and install (Lua looks for `client.so` and `sproto.so` on
//! `package.cpath`, `luaclib/?.so` in the scripts):
//!
//! ```sh
//! cargo build --release -p skynet-client
//! mkdir -p luaclib
//! cp target/release/libclient.so luaclib/client.so
//! ln -sf client.so luaclib/sproto.so
//! ```

// The node's modules say `use mlua::ffi`: here that names [`ffi`].
extern crate self as mlua;

pub mod ffi;
pub mod lua;
pub mod socket;
mod stdin;

// The node's sources, as they are; only what the three openers reach is
// used, hence no dead-code warnings for the rest.
#[allow(dead_code)]
#[path = "../../skynet-lua/src/capi.rs"]
mod capi;
#[allow(dead_code)]
#[path = "../../skynet-lua/src/crypt.rs"]
mod crypt;
#[allow(dead_code)]
#[path = "../../skynet-lua/src/sproto/mod.rs"]
mod sproto;

use std::ffi::c_int;

/// `require "client.crypt"`: the same module as the node's `skynet.crypt`.
///
/// # Safety
/// Called by Lua as a C function.
#[no_mangle]
pub unsafe extern "C-unwind" fn luaopen_client_crypt(l: lua::State) -> c_int {
    ffi::luaL_checkversion(l);
    crypt::luaopen_skynet_crypt(l)
}

/// `require "sproto.core"`: the node's sproto encoder/decoder.
///
/// # Safety
/// Called by Lua as a C function.
#[no_mangle]
pub unsafe extern "C-unwind" fn luaopen_sproto_core(l: lua::State) -> c_int {
    ffi::luaL_checkversion(l);
    sproto::luaopen_sproto_core(l)
}

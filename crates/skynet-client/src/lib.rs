//! `client.so`: the Lua C modules of the reference's `luaclib/client.so`
//! (`lualib-src/lua-clientsocket.c` + `lua-crypt.c`) for a plain Lua 5.4
//! interpreter, so that `lua5.4 examples/client.lua` and
//! `lua5.4 examples/login/client.lua` talk to a skynet-rs node.
//!
//! It exports `luaopen_client_socket` ([`socket`]) and
//! `luaopen_client_crypt` ([`luacrypt`]); Lua finds both in `client.so`
//! through its all-in-one loader (`require "client.socket"` with
//! `package.cpath = "luaclib/?.so"`). Build and install:
//!
//! ```sh
//! cargo build --release -p skynet-client
//! mkdir -p luaclib && cp target/release/libclient.so luaclib/client.so
//! ```
//!
//! The Lua API is reached through the interpreter's own symbols, declared
//! in [`lua`] (why not mlua-sys is explained there).

pub mod crypt;
pub mod lua;
pub mod luacrypt;
pub mod socket;
mod stdin;

//! sproto: the schema-driven serialization of skynet's client protocol, as the
//! `sproto.core` Lua module. Stands for the reference's `lualib-src/sproto/`
//! (`sproto.c`, `lsproto.c`); the Lua side (`sproto.lua`, `sprotoparser.lua`,
//! `sprotoloader.lua`) lives in `lualib/`.
//!
//! - [`schema`]: the binary schema (as made by `sprotoparser.parse`) read into
//!   types and protocols, with the reference's validation;
//! - [`encode`] / [`decode`]: the wire format between Lua tables and bytes;
//! - [`pack`]: the zero-packing applied to messages on the wire;
//! - [`lua`]: the `sproto.core` functions.
//!
//! A schema lives at a fixed address once created (`newproto` hands Lua a light
//! userdata to it, `querytype` light userdata to its types) until
//! `deleteproto`, as in the reference.

pub mod decode;
pub mod encode;
pub mod lua;
pub mod pack;
pub mod schema;

pub use lua::luaopen_sproto_core;

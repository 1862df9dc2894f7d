//! skynet-lua: snlua and the Lua native modules (the reference's
//! `service_snlua.c` and `lualib-src/`).

pub mod bson;
mod capi;
pub mod cluster;
pub mod codecache;
pub mod core;
pub mod crypt;
pub mod datalibs;
pub mod datasheet;
pub mod debugchannel;
mod frozen;
pub mod libs;
pub mod lua_state;
pub mod md5;
pub mod memory;
pub mod multicast;
pub mod netpack;
pub mod profile;
pub mod seri;
#[cfg(feature = "lua54")]
pub mod shared_proto;
pub mod sharedata;
pub mod sharetable;
pub mod snlua;
pub mod socketdriver;
pub mod sproto;
pub mod state_pool;
pub mod stm;
pub mod tls;
mod udata;

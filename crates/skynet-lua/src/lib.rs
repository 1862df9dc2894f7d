//! skynet-lua: snlua and the Lua native modules (the reference's
//! `service_snlua.c` and `lualib-src/`).

pub mod codecache;
pub mod core;
pub mod profile;
pub mod seri;
pub mod snlua;

//! The native modules of the shared-data family (`skynet.stm`,
//! `skynet.multicast.core`, `skynet.sharedata.core`, `skynet.sharetable.core`,
//! `skynet.datasheet.core`, `skynet.memory`), which every Lua service can
//! `require` (see libs.rs). Stands for the matching `luaclib/*.so` of the
//! reference, built into the binary here.

use mlua::ffi::lua_CFunction;

use crate::{datasheet, memory, multicast, sharedata, sharetable, stm};

/// Module name and opener.
pub const MODULES: [(&str, lua_CFunction); 6] = [
    (
        "skynet.datasheet.core",
        datasheet::luaopen_skynet_datasheet_core,
    ),
    (
        "skynet.sharetable.core",
        sharetable::luaopen_skynet_sharetable_core,
    ),
    (
        "skynet.sharedata.core",
        sharedata::luaopen_skynet_sharedata_core,
    ),
    ("skynet.memory", memory::luaopen_skynet_memory),
    ("skynet.stm", stm::luaopen_skynet_stm),
    (
        "skynet.multicast.core",
        multicast::luaopen_skynet_multicast_core,
    ),
];

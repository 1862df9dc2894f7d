//! The `skynet` binary: `skynet CONFIG` loads a reference-format config
//! file into the env, registers the native services and runs the node.
//! Stands for the reference's `skynet-src/skynet_main.c`.

use skynet_core::config::load_config;
use skynet_core::env::Env;
use skynet_core::start::{build_node, run, StartConfig};
use skynet_lua::snlua::{set_default_paths, DefaultPaths};

mod embedded;

/// Rust-side allocations (messages, contexts, queues) go to mimalloc, as
/// do Lua states (skynet-lua's lua_state.rs); payloads shared with C code
/// keep using the C allocator (`skynet_malloc` is `malloc`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "Need a config file. Please read skynet wiki : https://github.com/cloudwu/skynet/wiki/Config\nusage: skynet configfilename";

fn main() {
    // Keep the C ABI in the binary for dlopen'ed C services and modules.
    std::hint::black_box(skynet_core::ffi::exported_symbols());
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("{USAGE}");
        std::process::exit(1);
    };
    let pairs = match load_config(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let env = Env::new();
    for (k, v) in &pairs {
        env.set(k, v);
    }
    let config = match StartConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if ["lualoader", "lua_path", "luaservice"]
        .iter()
        .any(|k| env.get(k).is_none())
    {
        use_embedded_lua();
    }
    let node = build_node(&config, env);
    skynet_services::register_all(&node);
    skynet_lua::snlua::register(&node);
    if let Err(e) = run(&node, &config) {
        if !e.is_empty() {
            eprintln!("{e}");
        }
        std::process::exit(1);
    }
}

/// Points snlua's defaults at the Lua library built into the binary.
fn use_embedded_lua() {
    match embedded::extract() {
        Ok(dir) => {
            let d = dir.display();
            set_default_paths(DefaultPaths {
                lualoader: format!("{d}/lualib/loader.lua"),
                lua_path: format!("{d}/lualib/?.lua;{d}/lualib/?/init.lua"),
                luaservice: format!("{d}/service/?.lua"),
            });
        }
        Err(e) => eprintln!(
            "skynet: can't unpack the built-in Lua library ({e}); using ./lualib and ./service"
        ),
    }
}

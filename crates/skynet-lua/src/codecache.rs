//! `skynet.codecache`: a process-wide cache of compiled Lua chunks, so that
//! launching the same service file many times parses it once. Stands for
//! the code cache the reference patches into `lauxlib.c`
//! (`luaL_loadfilex`, `cache.clear`, `cache.mode`).
//!
//! The reference shares function prototypes between states; we keep the
//! chunk's bytecode (with debug information, so tracebacks are unchanged)
//! and load that instead of the source. Modes, per Lua state: `ON` (cache
//! and use), `EXIST` (use what is cached, add nothing), `OFF`.

use std::collections::HashMap;
use std::sync::OnceLock;

use mlua::{Function, Lua, Table, Value};
use parking_lot::RwLock;

fn cache() -> &'static RwLock<HashMap<String, Vec<u8>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Vec<u8>>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

const MODES: [&str; 3] = ["OFF", "EXIST", "ON"];
const MODE_KEY: &str = "skynet.codecache.mode";

fn mode_of(lua: &Lua) -> usize {
    match lua.named_registry_value::<Option<i64>>(MODE_KEY) {
        Ok(Some(m)) if (0..2).contains(&m) => m as usize,
        _ => 2,
    }
}

/// Loads `filename` through the cache; returns the chunk or (nil, message)
/// like `loadfile`. `original` is the uncached `loadfile`.
fn cached_load(
    lua: &Lua,
    original: &Function,
    filename: Option<String>,
    rest: mlua::MultiValue,
) -> mlua::Result<mlua::MultiValue> {
    let mode = mode_of(lua);
    let name = match filename {
        Some(name) if mode != 0 && rest.is_empty() => name,
        other => {
            // Uncached: a mode or environment argument, no file name
            // (stdin), or the cache is off.
            let mut args = rest;
            args.push_front(match other {
                Some(n) => Value::String(lua.create_string(&n)?),
                None => Value::Nil,
            });
            return original.call(args);
        }
    };
    if let Some(code) = cache().read().get(&name) {
        let f = lua
            .load(&code[..])
            .set_name(format!("@{name}"))
            .set_mode(mlua::chunk::ChunkMode::Binary)
            .into_function()?;
        return Ok(mlua::MultiValue::from_iter([Value::Function(f)]));
    }
    let loaded: mlua::MultiValue = original.call(name.clone())?;
    if mode == 2 {
        if let Some(Value::Function(f)) = loaded.front() {
            let code = f.dump(false);
            cache().write().entry(name).or_insert(code);
        }
    }
    Ok(loaded)
}

/// The module table: `clear()`, `mode([m])`, and `loadfile` (cached).
/// Also replaces the global `loadfile` with the cached one.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "clear",
        lua.create_function(|_, ()| {
            cache().write().clear();
            Ok(())
        })?,
    )?;
    t.set(
        "mode",
        lua.create_function(|lua, m: Option<String>| match m {
            None => Ok(Some(MODES[mode_of(lua)].to_string())),
            Some(m) => match MODES.iter().position(|x| *x == m) {
                Some(i) => {
                    lua.set_named_registry_value(MODE_KEY, i as i64)?;
                    Ok(None)
                }
                None => Err(mlua::Error::RuntimeError(format!(
                    "bad argument #1 to 'mode' (invalid option '{m}')"
                ))),
            },
        })?,
    )?;
    let original: Function = lua.globals().get("loadfile")?;
    let cached = lua.create_function(
        move |lua, (name, rest): (Option<String>, mlua::MultiValue)| {
            cached_load(lua, &original, name, rest)
        },
    )?;
    t.set("loadfile", cached.clone())?;
    lua.globals().set("loadfile", cached)?;
    Ok(t)
}

/// Makes `require` load Lua modules through the cache too: replaces the
/// Lua-file searcher (`package.searchers[2]`) with one that finds the file
/// on `package.path` the same way and loads it with the cached `loadfile`.
pub fn install_searcher(lua: &Lua, codecache: &Table) -> mlua::Result<()> {
    let cached_loadfile: Function = codecache.get("loadfile")?;
    lua.load(
        r#"
        local load_cached = ...
        local searchpath, format = package.searchpath, string.format
        package.searchers[2] = function(name)
            local filename, err = searchpath(name, package.path)
            if not filename then
                return err
            end
            local f, msg = load_cached(filename)
            if f then
                return f, filename
            end
            error(format("error loading module '%s' from file '%s':\n\t%s", name, filename, msg), 0)
        end
        "#,
    )
    .set_name("=[skynet codecache]")
    .call::<()>(cached_loadfile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_load_comes_from_the_cache_and_modes_switch() {
        let dir = std::env::temp_dir().join(format!("skynet-codecache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("svc.lua");
        std::fs::write(&file, "return 40 + 2").unwrap();
        let path = file.to_string_lossy().to_string();
        let lua = Lua::new();
        let t = open(&lua).unwrap();
        lua.globals().set("cache", t).unwrap();
        lua.globals().set("path", path.clone()).unwrap();
        let first: i64 = lua.load("return loadfile(path)()").eval().unwrap();
        assert_eq!(first, 42);
        // change the file: the cached chunk is still used while mode is ON
        std::fs::write(&file, "return 1").unwrap();
        let second: i64 = lua.load("return loadfile(path)()").eval().unwrap();
        assert_eq!(second, 42);
        let mode: String = lua.load("return cache.mode()").eval().unwrap();
        assert_eq!(mode, "ON");
        lua.load("cache.mode('OFF')").exec().unwrap();
        let off: i64 = lua.load("return loadfile(path)()").eval().unwrap();
        assert_eq!(off, 1);
        lua.load("cache.mode('ON'); cache.clear()").exec().unwrap();
        let cleared: i64 = lua.load("return loadfile(path)()").eval().unwrap();
        assert_eq!(cleared, 1);
        let bad = lua
            .load("return loadfile('/nonexistent/x.lua')")
            .eval::<(Value, String)>()
            .unwrap();
        assert!(bad.1.contains("No such file"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn require_goes_through_the_cache_and_keeps_its_messages() {
        let dir = std::env::temp_dir().join(format!("skynet-codecache-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cmod.lua"), "return { name = ..., v = 7 }").unwrap();
        std::fs::write(dir.join("broken.lua"), "return {").unwrap();
        let lua = Lua::new();
        let t = open(&lua).unwrap();
        install_searcher(&lua, &t).unwrap();
        let path = format!("{}/?.lua", dir.display());
        lua.globals().set("p", path).unwrap();
        let (name, v): (String, i64) = lua
            .load("package.path = p local m = require 'cmod' return m.name, m.v")
            .eval()
            .unwrap();
        assert_eq!((name.as_str(), v), ("cmod", 7));
        let missing: String = lua
            .load("return select(2, pcall(require, 'nosuchmod'))")
            .eval()
            .unwrap();
        assert!(
            missing.contains("module 'nosuchmod' not found"),
            "{missing}"
        );
        assert!(missing.contains("no file '"), "{missing}");
        let broken: String = lua
            .load("return select(2, pcall(require, 'broken'))")
            .eval()
            .unwrap();
        assert!(
            broken.starts_with("error loading module 'broken' from file '"),
            "{broken}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

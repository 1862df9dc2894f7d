//! Shared helpers of the library-module tests: a Lua state with the native
//! modules preloaded and `lualib/` on the path, and the vector-file runner.
//! Each test binary uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use mlua::{Lua, Table};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Lua state with `skynet.crypt`, `md5`, `bson` and `sproto.core` in
/// `package.preload` and the repository's `lualib/` on `package.path`.
pub fn lua() -> Lua {
    let lua = Lua::new();
    let package: Table = lua.globals().get("package").expect("package");
    let preload: Table = package.get("preload").expect("preload");
    skynet_lua::libs::preload(&lua, &preload).expect("preload modules");
    let path = format!("{}/lualib/?.lua", repo().display());
    package.set("path", path).expect("set path");
    lua
}

/// Reads a data file of `tests/data/`.
pub fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Runs the scenario script `script` of `tests/data/` (it returns a list of
/// output lines) and checks its lines against `transcript`, what the same
/// script printed with the reference; `min_lines` guards against an empty
/// or truncated transcript.
pub fn check_scenario(lua: &Lua, script: &str, transcript: &str, min_lines: usize) {
    let lines: Vec<String> = lua
        .load(data(script))
        .set_name(format!("={script}"))
        .eval::<Table>()
        .expect("scenario runs")
        .sequence_values::<String>()
        .collect::<mlua::Result<_>>()
        .expect("lines");
    let expected = data(transcript);
    let expected: Vec<&str> = expected.lines().collect();
    assert!(expected.len() > min_lines, "too few expected lines");
    let mut diffs = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        match lines.get(i) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("want {want}\n got {got}")),
            None => diffs.push(format!("want {want}\n got nothing")),
        }
    }
    if lines.len() > expected.len() {
        diffs.push(format!("{} extra lines", lines.len() - expected.len()));
    }
    assert!(
        diffs.is_empty(),
        "{} of {} lines differ:\n{}",
        diffs.len(),
        expected.len(),
        diffs.join("\n")
    );
}

/// Runs every line of a vector file against module `module` and returns
/// (cases run, failure descriptions).
///
/// A line is `function<TAB>arg...<TAB>=<TAB>result`; an argument is `s:HEX`
/// (string), `i:N` (integer) or `n:` (nil); the result is `ok:HEX` (a string)
/// or `err:TEXT` (the error message, newlines as `\n`). In argument errors the
/// function's qualified name (which depends on how the module was loaded) is
/// compared by its last part only.
pub fn run_vectors(lua: &Lua, module: &str, text: &str) -> (i64, Vec<String>) {
    let runner = r#"
        local modname, text = ...
        local mod = require(modname)
        local function unhex(h)
            return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
        end
        local function hex(s)
            return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
        end
        local function norm(m)
            return (m:gsub("bad argument #(%d+) to '[^']-([%w_]+)'", "bad argument #%1 to '%2'"))
        end
        local count, fails = 0, {}
        for line in text:gmatch("[^\n]+") do
            local fields = {}
            for f in line:gmatch("[^\t]+") do fields[#fields + 1] = f end
            local fname = fields[1]
            local args, n, i = {}, 0, 2
            while fields[i] ~= "=" do
                local kind, v = fields[i]:match("^(%a):(.*)$")
                n = n + 1
                if kind == "s" then args[n] = unhex(v)
                elseif kind == "i" then args[n] = math.tointeger(tonumber(v))
                else args[n] = nil end
                i = i + 1
            end
            local want = fields[i + 1] or ""
            local ok, r = pcall(mod[fname], table.unpack(args, 1, n))
            local got
            if ok then got = "ok:" .. hex(r) else got = "err:" .. tostring(r):gsub("\n", "\\n") end
            count = count + 1
            if norm(got) ~= norm(want) then
                fails[#fails + 1] = line .. "\n    got " .. got
            end
        end
        return count, fails
    "#;
    let (count, fails): (i64, Vec<String>) = lua
        .load(runner)
        .set_name("=vectors")
        .call((module, text))
        .expect("vector runner");
    (count, fails)
}

/// Asserts that every vector of `file` passes against `module`.
pub fn check_vectors(module: &str, file: &str) {
    let lua = lua();
    let (count, fails) = run_vectors(&lua, module, &data(file));
    assert!(count > 0, "{file}: no vectors");
    assert!(
        fails.is_empty(),
        "{file}: {} of {count} vectors failed:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

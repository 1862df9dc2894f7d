//! Loading a node's config file: the part of the reference's `skynet_main.c`
//! that runs the config chunk and turns its globals into env strings
//! (its embedded Lua loader plus `_init_env`).
//!
//! A config is a Lua chunk run in a fresh Lua state with a private global
//! table: the only name it can read that it did not set itself is `include`.
//! Before a file is compiled, every `$NAME` (one or more ASCII letters, digits
//! or underscores) is replaced by the environment variable `NAME`, everywhere
//! in the text, comments and strings included; an unset variable is an error.
//! `include "file"` runs another file against the same globals. The folder
//! of a relative name is resolved against the folder of the including file,
//! the first file's folder being `./`. After the run each global becomes an
//! env string: booleans are `true`/`false`, strings and numbers take Lua's
//! `tostring` form (`8`, `0.5`, `2.0`), anything else is an error.
//!
//! The messages are the reference's: Lua's own load and runtime errors (named
//! after the chunk, i.e. the name given to `include`), `<path>: <strerror>`
//! for a file that cannot be read, `os.getenv() failed: NAME`,
//! `Invalid config table` and `Invalid config table key = NAME`.
//! [`ConfigError`] puts them on one line after the config's path.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, Table, Value};
use parking_lot::Mutex;

/// Registry key under which the loader keeps the table the config fills.
const GLOBALS_KEY: &str = "skynet.config.globals";

/// Why a config file could not be turned into env pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    path: String,
    message: String,
}

impl ConfigError {
    fn new(path: &str, message: String) -> Self {
        ConfigError {
            path: path.to_owned(),
            message,
        }
    }

    /// The config file that was being loaded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The failure itself, worded as the reference prints it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message holds (a Lua error may span lines).
        let one_line = self.message.replace('\r', "\\r").replace('\n', "\\n");
        write!(f, "Can't load config {}: {}", self.path, one_line)
    }
}

impl std::error::Error for ConfigError {}

/// Runs the config file at `path` and returns the globals it set as
/// `(key, value)` env pairs sorted by key.
pub fn load_config(path: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let fail = |message: String| ConfigError::new(path, message);
    let lua = Lua::new();
    let globals = prepare(&lua).map_err(|e| fail(lua_error_text(e)))?;
    let includes = Arc::new(Mutex::new(Includes::default()));
    install_include(&lua, &globals, &includes).map_err(|e| fail(lua_error_text(e)))?;

    run_file(&lua, &includes, path.as_bytes()).map_err(fail)?;

    // `include` is a loader facility, not a config value.
    globals
        .set_metatable(None)
        .map_err(|e| fail(lua_error_text(e)))?;
    collect_env(&lua, &globals).map_err(fail)
}

/// Creates the table the config chunks use as their globals.
fn prepare(lua: &Lua) -> mlua::Result<Table> {
    let globals = lua.create_table()?;
    lua.set_named_registry_value(GLOBALS_KEY, &globals)?;
    Ok(globals)
}

/// What the loader tracks across nested `include`s.
#[derive(Default)]
struct Includes {
    /// Folder (with its trailing `/`) of the file being run; empty means `./`.
    folder: Option<Vec<u8>>,
    /// The first failure inside a nested include, reported in preference to
    /// the error value that unwinds the including chunks.
    failure: Option<String>,
}

impl Includes {
    fn folder(&self) -> Vec<u8> {
        self.folder.clone().unwrap_or_else(|| b"./".to_vec())
    }
}

/// Makes `include` readable (but not a real global) from the config chunks.
fn install_include(
    lua: &Lua,
    globals: &Table,
    includes: &Arc<Mutex<Includes>>,
) -> mlua::Result<()> {
    let state = Arc::clone(includes);
    let include = lua.create_function(move |lua, name: Value| {
        let outcome = match &name {
            Value::String(s) => {
                let bytes = s.as_bytes().to_vec();
                run_file(lua, &state, &bytes)
            }
            other => Err(format!(
                "bad argument #1 to 'include' (string expected, got {})",
                other.type_name()
            )),
        };
        outcome.map_err(|message| {
            let mut st = state.lock();
            if st.failure.is_none() {
                st.failure = Some(message.clone());
            }
            mlua::Error::RuntimeError(message)
        })
    })?;
    let fallback = lua.create_table()?;
    fallback.raw_set("include", include)?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", fallback)?;
    globals.set_metatable(Some(meta))
}

/// Runs one config file, named as the user or an `include` wrote it.
fn run_file(lua: &Lua, includes: &Arc<Mutex<Includes>>, name: &[u8]) -> Result<(), String> {
    let (folder_part, file_part) = match name.iter().rposition(|&b| b == b'/') {
        Some(cut) => name.split_at(cut + 1),
        None => (&name[..0], name),
    };
    let outer = includes.lock().folder.clone();
    let folder = if folder_part.first() == Some(&b'/') {
        folder_part.to_vec()
    } else {
        let mut base = includes.lock().folder();
        base.extend_from_slice(folder_part);
        base
    };
    includes.lock().folder = Some(folder.clone());

    let mut file = folder;
    file.extend_from_slice(file_part);
    let outcome = run_chunk(lua, includes, &file, name);

    includes.lock().folder = outer;
    outcome
}

/// Reads, expands, compiles and runs the file at `file`; `name` names the chunk.
fn run_chunk(
    lua: &Lua,
    includes: &Arc<Mutex<Includes>>,
    file: &[u8],
    name: &[u8],
) -> Result<(), String> {
    let text = std::fs::read(OsStr::from_bytes(file))
        .map_err(|e| format!("{}: {}", String::from_utf8_lossy(file), os_error_text(&e)))?;
    let source = expand_env(&text)?;

    let globals: Table = lua
        .named_registry_value(GLOBALS_KEY)
        .map_err(lua_error_text)?;
    let chunk = lua
        .load(source)
        .set_name(format!("@{}", String::from_utf8_lossy(name)))
        .set_mode(ChunkMode::Text)
        .set_environment(globals)
        .into_function()
        .map_err(lua_error_text)?;

    // Lua's own pcall hands back the bare error value, without the traceback
    // mlua appends to errors escaping a call.
    let pcall: Function = lua.globals().raw_get("pcall").map_err(lua_error_text)?;
    let (ok, error): (bool, Value) = pcall.call(chunk).map_err(lua_error_text)?;
    if ok {
        return Ok(());
    }
    if let Some(nested) = includes.lock().failure.take() {
        return Err(nested);
    }
    Err(error_value_text(lua, error))
}

/// Replaces each `$NAME` in `text` by the value of the environment variable.
fn expand_env(text: &[u8]) -> Result<Vec<u8>, String> {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.iter().position(|&b| b == b'$') {
        out.extend_from_slice(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let len = after.iter().take_while(|&&b| is_name_byte(b)).count();
        if len == 0 {
            out.push(b'$');
            rest = after;
            continue;
        }
        let var: String = after[..len].iter().map(|&b| char::from(b)).collect();
        match std::env::var_os(&var) {
            Some(value) => out.extend_from_slice(value.as_bytes()),
            None => return Err(format!("os.getenv() failed: {var}")),
        }
        rest = &after[len..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// Turns the globals the config set into sorted env pairs.
fn collect_env(lua: &Lua, globals: &Table) -> Result<Vec<(String, String)>, String> {
    let mut raw = Vec::new();
    for pair in globals.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(lua_error_text)?;
        let Value::String(key) = key else {
            return Err("Invalid config table".to_owned());
        };
        raw.push((key.as_bytes().to_vec(), value));
    }
    raw.sort_by(|a, b| a.0.cmp(&b.0));

    let mut env = Vec::with_capacity(raw.len());
    for (key_bytes, value) in raw {
        let key = String::from_utf8(key_bytes).map_err(|e| {
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            format!("Invalid config table key = {lossy} (key is not UTF-8)")
        })?;
        let text = match value {
            Value::Boolean(b) => if b { "true" } else { "false" }.to_owned(),
            Value::Integer(_) | Value::Number(_) | Value::String(_) => {
                let s = lua
                    .coerce_string(value)
                    .map_err(lua_error_text)?
                    .ok_or_else(|| format!("Invalid config table key = {key}"))?;
                let bytes = s.as_bytes().to_vec();
                String::from_utf8(bytes)
                    .map_err(|_| format!("Invalid config table key = {key} (value is not UTF-8)"))?
            }
            _ => return Err(format!("Invalid config table key = {key}")),
        };
        env.push((key, text));
    }
    Ok(env)
}

/// The text of an OS error without std's ` (os error N)` suffix, as C's
/// `strerror` words it.
fn os_error_text(e: &std::io::Error) -> String {
    let full = e.to_string();
    match e.raw_os_error() {
        Some(code) => full
            .strip_suffix(&format!(" (os error {code})"))
            .map(str::to_owned)
            .unwrap_or(full),
        None => full,
    }
}

/// The message of an mlua error as Lua itself words it.
fn lua_error_text(e: mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message,
        mlua::Error::RuntimeError(message) | mlua::Error::MemoryError(message) => message,
        mlua::Error::CallbackError { cause, .. } => lua_error_text((*cause).clone()),
        other => other.to_string(),
    }
}

/// The text of a value raised by `error` in a config chunk.
fn error_value_text(lua: &Lua, value: Value) -> String {
    if let Value::Error(e) = value {
        return lua_error_text(*e);
    }
    let type_name = value.type_name();
    match lua.coerce_string(value) {
        Ok(Some(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        _ => format!("(error object is a {type_name} value)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch folder removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "skynet-config-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path_str(&path)
        }

        fn path(&self, name: &str) -> String {
            path_str(&self.0.join(name))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn path_str(p: &Path) -> String {
        p.to_str().expect("temp dir path is UTF-8").to_owned()
    }

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// An environment variable name that no test sets and no sane CI exports.
    const UNSET_VAR: &str = "SKYNET_CONFIG_TEST_NEVER_SET_4F1C";

    #[test]
    fn config_values_become_sorted_env_strings() {
        let dir = Scratch::new();
        let path = dir.write(
            "config",
            "thread = 8\n\
             harbor = -1\n\
             ratio = 0.5\n\
             whole = 2.0\n\
             big = 2^53\n\
             daemon = nil\n\
             profile = false\n\
             standalone = true\n\
             root = \"./\"\n\
             cpath = root .. \"cservice/?.so\"\n",
        );
        let env = load_config(&path).unwrap();
        let expected: Vec<(String, String)> = [
            ("big", "9.007199254741e+15"),
            ("cpath", "./cservice/?.so"),
            ("harbor", "-1"),
            ("profile", "false"),
            ("ratio", "0.5"),
            ("root", "./"),
            ("standalone", "true"),
            ("thread", "8"),
            ("whole", "2.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, expected);
    }

    #[test]
    fn config_missing_file_names_the_path_like_io_open() {
        let err = load_config("surely-missing-folder/config").unwrap_err();
        assert_eq!(
            err.message(),
            "./surely-missing-folder/config: No such file or directory"
        );
        assert_eq!(
            err.to_string(),
            "Can't load config surely-missing-folder/config: \
             ./surely-missing-folder/config: No such file or directory"
        );

        let dir = Scratch::new();
        let absolute = dir.path("nothing");
        let err = load_config(&absolute).unwrap_err();
        assert_eq!(err.path(), absolute);
        assert_eq!(
            err.message(),
            format!("{absolute}: No such file or directory")
        );
    }

    #[test]
    fn config_syntax_error_reports_chunk_and_line() {
        let dir = Scratch::new();
        let path = dir.write("config", "thread = 8\nharbor = 1\nstart = = \"main\"\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            format!("{path}:3: unexpected symbol near '='")
        );
        assert_eq!(
            err.to_string(),
            format!("Can't load config {path}: {path}:3: unexpected symbol near '='")
        );
    }

    #[test]
    fn config_runtime_error_reports_chunk_and_line_without_traceback() {
        let dir = Scratch::new();
        let path = dir.write("config", "thread = 8\n\nx = missing + 1\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            format!("{path}:3: attempt to perform arithmetic on a nil value (global 'missing')")
        );

        // The standard library is not visible from a config.
        let path = dir.write("printing", "print(\"hi\")\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            format!("{path}:1: attempt to call a nil value (global 'print')")
        );
    }

    #[test]
    fn config_error_message_is_one_line() {
        let dir = Scratch::new();
        let path = dir.write("config", "include \"two\\nlines\"\n");
        let err = load_config(&path).unwrap_err();
        let missing = dir.path("two\nlines");
        assert_eq!(
            err.message(),
            format!("{missing}: No such file or directory")
        );
        let shown = err.to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert_eq!(
            shown,
            format!(
                "Can't load config {path}: {}: No such file or directory",
                missing.replace('\n', "\\n")
            )
        );
    }

    #[test]
    fn config_invalid_value_type_is_rejected_with_reference_text() {
        let dir = Scratch::new();
        let path = dir.write("config", "thread = 8\nservices = { \"a\", \"b\" }\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), "Invalid config table key = services");

        let path = dir.write("function", "callback = function() end\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), "Invalid config table key = callback");

        let path = dir.write("numeric_key", "_ENV[1] = \"one\"\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), "Invalid config table");
    }

    #[test]
    fn config_dollar_names_are_replaced_by_the_environment() {
        let home = std::env::var("PATH").expect("PATH is set for tests");
        let dir = Scratch::new();
        let path = dir.write(
            "config",
            "search = \"$PATH\"\n\
             price = \"$$PATH;$\"\n\
             -- a comment naming $PATH is expanded too\n",
        );
        let env = load_config(&path).unwrap();
        assert_eq!(get(&env, "search"), Some(home.as_str()));
        assert_eq!(get(&env, "price"), Some(format!("${home};$").as_str()));
    }

    #[test]
    fn config_unset_dollar_name_is_an_error_even_in_a_comment() {
        assert!(std::env::var_os(UNSET_VAR).is_none());
        let dir = Scratch::new();
        let path = dir.write("config", &format!("thread = 8\n-- ${UNSET_VAR}\n"));
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), format!("os.getenv() failed: {UNSET_VAR}"));
    }

    #[test]
    fn config_include_resolves_against_the_including_file() {
        let dir = Scratch::new();
        dir.write(
            "node/config",
            "include \"paths/config.path\"\nthread = 4\ncpath = root .. \"cservice/?.so\"\n",
        );
        dir.write(
            "node/paths/config.path",
            "root = \"./\"\ninclude \"extra.lua\"\n",
        );
        dir.write("node/paths/extra.lua", "extra = root .. \"x\"\n");
        // Relative to the including file's folder, not the process's.
        dir.write("node/extra.lua", "extra = \"wrong file\"\n");
        // An absolute include name is taken as is.
        let absolute = dir.write("elsewhere/abs.lua", "absolute = true\n");
        let main = dir.write(
            "node/main",
            &format!("include \"config\"\ninclude \"{absolute}\"\nafter = extra\n"),
        );

        let env = load_config(&main).unwrap();
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["absolute", "after", "cpath", "extra", "root", "thread"]
        );
        assert_eq!(get(&env, "extra"), Some("./x"));
        assert_eq!(get(&env, "after"), Some("./x"));
        assert_eq!(get(&env, "cpath"), Some("./cservice/?.so"));
        assert_eq!(get(&env, "absolute"), Some("true"));
        assert_eq!(get(&env, "thread"), Some("4"));
    }

    #[test]
    fn config_missing_include_reports_the_resolved_path() {
        let dir = Scratch::new();
        let path = dir.write("node/config", "thread = 8\ninclude \"sub/none.lua\"\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            format!(
                "{}: No such file or directory",
                dir.path("node/sub/none.lua")
            )
        );
    }

    #[test]
    fn config_errors_inside_an_include_name_the_included_chunk() {
        let dir = Scratch::new();
        dir.write("inc.lua", "ok = 1\nbroken = (\n");
        let path = dir.write("config", "include \"inc.lua\"\nthread = 8\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), "inc.lua:3: unexpected symbol near <eof>");

        dir.write("run.lua", "\nvalue = nothing.field\n");
        let path = dir.write("config2", "include \"run.lua\"\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            "run.lua:2: attempt to index a nil value (global 'nothing')"
        );

        dir.write("dollar.lua", &format!("x = \"${UNSET_VAR}\"\n"));
        let path = dir.write("config3", "include \"dollar.lua\"\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.message(), format!("os.getenv() failed: {UNSET_VAR}"));

        let path = dir.write("config4", "include(42 > 1)\n");
        let err = load_config(&path).unwrap_err();
        assert_eq!(
            err.message(),
            "bad argument #1 to 'include' (string expected, got boolean)"
        );
    }

    #[test]
    fn config_include_is_not_exported_unless_assigned() {
        let dir = Scratch::new();
        dir.write("empty.lua", "");
        let path = dir.write("config", "include \"empty.lua\"\n");
        assert_eq!(load_config(&path).unwrap(), Vec::new());

        let path = dir.write("shadow", "include = \"mine\"\n");
        assert_eq!(
            load_config(&path).unwrap(),
            vec![("include".to_owned(), "mine".to_owned())]
        );
    }

    #[test]
    fn config_binary_chunks_are_refused() {
        let dir = Scratch::new();
        let path = dir.0.join("config");
        std::fs::write(&path, b"\x1bLua\x54\x00").unwrap();
        let path = path_str(&path);
        let err = load_config(&path).unwrap_err();
        assert!(
            err.message().contains("attempt to load a binary chunk"),
            "{}",
            err.message()
        );
    }
}

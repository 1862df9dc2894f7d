//! Build script of the `skynet` binary.
//!
//! 1. Exports the binary's symbols dynamically so that Lua C modules
//!    (lua_cpath) and C services (cpath) loaded with dlopen can resolve the
//!    Lua C API and the skynet.h API from the running executable.
//! 2. Embeds `lualib/` and `service/` in the binary (see src/embedded.rs),
//!    the fallback when a config names no Lua paths.
use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "lua") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
        }
    }
}

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    for dir in ["lualib", "service"] {
        println!("cargo:rerun-if-changed={dir}");
        collect(&root.join(dir), &root, &mut files);
    }
    let mut code =
        String::from("/// Embedded Lua files: (path relative to the repository, contents).\n");
    code.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, path) in &files {
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded_lua.rs");
    if fs::read_to_string(&out).ok().as_deref() != Some(code.as_str()) {
        fs::write(&out, code).expect("write embedded_lua.rs");
    }
}

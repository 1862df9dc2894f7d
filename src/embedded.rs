//! The Lua library and system services built into the binary. When a config
//! leaves `lualoader`, `lua_path` or `luaservice` out, they are written
//! once to a cache folder named after their content and snlua's defaults
//! point there, so `skynet myconfig` works from any folder. A config that
//! sets them is honoured exactly (the reference's defaults are `./lualib`
//! and `./service`, relative to the working folder).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/embedded_lua.rs"));

fn content_hash() -> u64 {
    let mut h = DefaultHasher::new();
    for (path, bytes) in FILES {
        path.hash(&mut h);
        bytes.hash(&mut h);
    }
    h.finish()
}

fn cache_base() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("skynet-rs");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("skynet-rs");
    }
    std::env::temp_dir().join("skynet-rs")
}

/// Writes the embedded files under a folder named after their content (if
/// not there yet) and returns that folder.
pub fn extract() -> std::io::Result<PathBuf> {
    let dir = cache_base().join(format!("lua-{:016x}", content_hash()));
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir);
    }
    for (rel, bytes) in FILES {
        write_atomically(&dir.join(rel), bytes)?;
    }
    std::fs::File::create(&done)?;
    Ok(dir)
}

/// Writes through a temporary file and a rename, so a node starting at the
/// same time never reads half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_loader_and_bootstrap() {
        let names: Vec<&str> = FILES.iter().map(|(p, _)| *p).collect();
        assert!(names.contains(&"lualib/loader.lua"), "{names:?}");
        assert!(names.contains(&"lualib/skynet.lua"));
        assert!(names.contains(&"service/bootstrap.lua"));
    }
}

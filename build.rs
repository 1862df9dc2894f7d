//! Build script of the `skynet` binary: export its symbols dynamically so that
//! Lua C modules (lua_cpath) and C services (cpath) loaded with dlopen can
//! resolve the Lua C API and the skynet.h API from the running executable.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic");
}

// skynet-rs: the crate compiles no C itself (mlua-sys's build script does,
// through this crate), so Cargo would not notice a changed Lua source file.
// Watching the source folders here rebuilds this crate when one changes,
// and with it mlua-sys and its Lua library.
fn main() {
    println!("cargo:rerun-if-changed=lua-5.4.9");
    println!("cargo:rerun-if-changed=lua-5.5.1");
}

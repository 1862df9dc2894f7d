use mlua::Lua;
fn main() {
    let lua = unsafe { Lua::unsafe_new() };
    let code = std::env::args().nth(1).unwrap_or_default();
    lua.load(&code).exec().unwrap();
}

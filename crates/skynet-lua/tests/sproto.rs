//! sproto (`sproto.core` with `lualib/sproto.lua`, `sprotoparser.lua`,
//! `sprotoloader.lua`) against the reference: `tests/data/sproto_cases.lua`
//! runs schemas, encodings, decodings, packing, RPC and bad input, and its
//! output must equal `sproto_cases.txt`, which is what the same script printed
//! with the reference's lualib and C `sproto.core` under Lua 5.4.

mod common;

#[test]
fn sproto_scenario_matches_reference() {
    let lua = common::lua();
    // The script prints its results too; the returned list is what we compare.
    lua.globals()
        .set("print", lua.create_function(|_, ()| Ok(())).expect("print"))
        .expect("silence print");
    common::check_scenario(&lua, "sproto_cases.lua", "sproto_cases.txt", 1000);
}

#[test]
fn decode_rejects_lengths_past_the_end() {
    let lua = common::lua();
    lua.load(
        r#"
        local sproto = require "sproto"
        local sp = sproto.parse ".P { name 0 : string }"
        local ok, err = pcall(sp.decode, sp, "P", "\1\0\0\0\255\255\255\255abc")
        assert(not ok and err:match "decode error$", err)
        ok, err = pcall(sp.decode, sp, "P", "\1\0\0\0\10\0\0\0abc")
        assert(not ok and err:match "decode error$", err)
        "#,
    )
    .exec()
    .expect("bad lengths");
}

#[test]
fn userdata_buffers_are_bounded() {
    let lua = common::lua();
    lua.load(
        r#"
        local core = require "sproto.core"
        local ok, err = pcall(core.unpack, io.stdout, 1 << 40)
        assert(not ok and err:match "size out of range", err)
        ok, err = pcall(core.pack, io.stdout, -1)
        assert(not ok and err:match "size out of range", err)
        "#,
    )
    .exec()
    .expect("bounded buffers");
}

#[test]
fn dump_lists_types_and_protocols() {
    let bin = {
        let lua = common::lua();
        lua.load(
            r#"return require("sprotoparser").parse [[
                .P { name 0 : string  n 2 : integer(2)  m 3 : *Q(k)  b 4 : binary }
                .Q { k 0 : integer  v 1 : string }
                p 1 { request P response nil }
                q 2 { response Q }
            ]]"#,
        )
        .eval::<mlua::LuaString>()
        .expect("parse")
        .as_bytes()
        .to_vec()
    };
    let sp = skynet_lua::sproto::schema::Sproto::create(&bin).expect("schema");
    assert_eq!(
        sp.dump(),
        "=== 2 types ===\nP\n\tname (0) string\n\tn (2) decimal(100)\n\tm (3) *Q key[0]\n\tb (4) binary\n\
         Q\n\tk (0) integer\n\tv (1) string\n=== 2 protocol ===\n\
         \tp (1) request:P response nil\n\tq (2) request:(null) response:Q\n"
    );
}

#[test]
fn damaged_messages_never_crash() {
    let lua = common::lua();
    let (decoded, refused): (i64, i64) = lua
        .load(
            r#"
            local sproto = require "sproto"
            local sp = sproto.parse [[
                .Item { id 0 : integer  name 1 : string  tags 2 : *string  n 3 : *integer
                        f 4 : double  b 5 : *boolean  sub 6 : Item  d 7 : integer(2) }
                .Bag { byid 0 : *Item(id)  map 1 : *Pair()  list 2 : *Item }
                .Pair { k 0 : string  v 1 : Item }
            ]]
            local item = { id = 1, name = "x", tags = { "a", "bc" }, n = { 1, 1 << 40, -3 },
                f = 0.5, b = { true, false }, sub = { id = 2 }, d = 1.25 }
            local msg = sp:encode("Bag", { byid = { [1] = item }, map = { k = item }, list = { item, item } })
            local packed = sproto.pack(msg)
            local schema = require("sprotoparser").parse ".A { a 0 : *B(k) b 1 : B } .B { k 0 : integer m 1 : *B() }"
            local seed, ok_count, err_count = 11, 0, 0
            local function rand(n)
                seed = (seed * 1103515245 + 12345) % 2147483648
                return (seed >> 8) % n
            end
            local function damage(s)
                for _ = 1, 1 + rand(3) do
                    local at = 1 + rand(#s)
                    s = s:sub(1, at - 1) .. string.char(rand(256)) .. s:sub(at + 1)
                end
                if rand(4) == 0 then s = s:sub(1, rand(#s + 1)) end
                return s
            end
            for _ = 1, 10000 do
                local ok, r = pcall(sp.decode, sp, "Bag", damage(msg))
                if ok then ok_count = ok_count + 1 else assert(type(r) == "string"); err_count = err_count + 1 end
                ok, r = pcall(sp.pdecode, sp, "Bag", damage(packed))
                if ok then ok_count = ok_count + 1 else assert(type(r) == "string"); err_count = err_count + 1 end
                ok, r = pcall(sproto.new, damage(schema))
                if not ok then
                    assert(type(r) == "string")
                end
            end
            return ok_count, err_count
            "#,
        )
        .eval()
        .expect("fuzz");
    assert!(
        decoded > 0 && refused > 0,
        "{decoded} decoded, {refused} refused"
    );
}

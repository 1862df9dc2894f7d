//! `bson` against the reference: `tests/data/bson_cases.lua` runs encodings,
//! special values, decodings, in-place replacement and bad input, and its
//! output must equal `bson_cases.txt`, which is what the same script printed
//! with the reference's `lua-bson.c` under Lua 5.4. Plus properties the
//! vectors cannot pin down (object ids, timestamps) and robustness against
//! random damage.

mod common;

#[test]
fn bson_scenario_matches_reference() {
    common::check_scenario(&common::lua(), "bson_cases.lua", "bson_cases.txt", 300);
}

#[test]
fn generated_ids_and_timestamps() {
    let lua = common::lua();
    lua.load(
        r#"
        local bson = require "bson"
        local a, b = bson.objectid(), bson.objectid()
        assert(#a == 14 and a:sub(1, 2) == "\0\7" and a ~= b)
        -- same time prefix (or one second apart), same host/pid part,
        -- counters one apart
        assert(a:sub(7, 11) == b:sub(7, 11))
        local ca = string.unpack(">I3", a, 12)
        local cb = string.unpack(">I3", b, 12)
        assert((ca + 1) % (1 << 24) == cb)
        local t, hexid = bson.type(a)
        assert(t == "objectid" and #hexid == 24)
        assert(bson.objectid(hexid) == a)
        local now = os.time()
        local secs = string.unpack(">I4", a, 3)
        assert(math.abs(secs - now) <= 2)
        local t1, t2 = bson.timestamp(now), bson.timestamp(now)
        local _, ts1, inc1 = bson.type(t1)
        local _, ts2, inc2 = bson.type(t2)
        assert(ts1 == now and ts2 == now and inc2 > inc1)
        "#,
    )
    .exec()
    .expect("ids");
}

#[test]
fn regex_without_separator_is_refused() {
    let lua = common::lua();
    lua.load(
        r#"
        local bson = require "bson"
        -- The reference reads past the string here; we refuse it.
        local ok, err = pcall(bson.encode_order, "r", "\0\11abc")
        assert(not ok and err == "Invalid regex", err)
        ok, err = pcall(bson.encode_order, "r", "\0\11")
        assert(not ok and err == "Invalid regex", err)
        ok, err = pcall(bson.type, "\0\5")
        assert(not ok and err:match "Invalid binary", err)
        "#,
    )
    .exec()
    .expect("regex");
}

#[test]
fn damaged_documents_never_crash() {
    let lua = common::lua();
    let (decoded, failed): (i64, i64) = lua
        .load(
            r#"
            local bson = require "bson"
            local doc = tostring(bson.encode_order(
                "name", "value", "n", -7, "list", { 1, "two", { three = 3.5 } },
                "bin", bson.binary "\255\0\1", "r", bson.regex("a", "i"),
                "o", bson.objectid "00112233445566778899aabb", "i", bson.int64(-1),
                "j", "\0\13" .. string.pack("<s4", "js\0"), "t", bson.timestamp(5, 6)))
            assert(bson.decode(doc).name == "value")
            local seed, ok_count, err_count = 7, 0, 0
            local function rand(n)
                seed = (seed * 1103515245 + 12345) % 2147483648
                return (seed >> 8) % n
            end
            for _ = 1, 20000 do
                local d = doc
                for _ = 1, 1 + rand(4) do
                    local at = 1 + rand(#d)
                    d = d:sub(1, at - 1) .. string.char(rand(256)) .. d:sub(at + 1)
                end
                if rand(4) == 0 then d = d:sub(1, rand(#d + 1)) end
                local ok, r = pcall(bson.decode, d)
                if ok then
                    assert(type(r) == "table")
                    ok_count = ok_count + 1
                else
                    assert(type(r) == "string" and #r > 0)
                    err_count = err_count + 1
                end
            end
            return ok_count, err_count
            "#,
        )
        .eval()
        .expect("fuzz");
    assert!(
        decoded > 0 && failed > 0,
        "{decoded} decoded, {failed} refused"
    );
}

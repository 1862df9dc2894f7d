//! The checks run by the fuzz targets of `fuzz_targets/`, one function per
//! decoder that reads bytes from the network or from another process:
//! `sproto.core` decode and unpack (the reference's `lualib-src/sproto/`),
//! `bson.decode` (`lua-bson.c`), `skynet.unpack` (`lua-seri.c`) and the
//! netpack framing (`lua-netpack.c`).
//!
//! Every check feeds the bytes to the decoder as a service would: a Lua error
//! is the expected answer to bad input; a panic, an abort or a sanitizer
//! report is a bug. Where the decoder accepted the input, the check also
//! asserts what must hold of the result (a value re-encoded by us decodes
//! again, framing matches a plain model of the 2-byte length protocol).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use mlua::{Function, Lua};
use skynet_lua::netpack::{Filtered, Queue};

/// The schema the sproto checks decode with: every field kind, arrays,
/// a map with a main key, a decimal, binary and a recursive struct.
const SCHEMA: &str = r#"
.package {
    type 0 : integer
    session 1 : integer
}

.Phone {
    number 0 : string
    kind 1 : integer
}

.Person {
    name 0 : string
    id 1 : integer
    email 2 : string
    phone 3 : *Phone
    flags 4 : *boolean
    scores 5 : *integer
    ratio 6 : double
    money 7 : integer(2)
    blob 8 : binary
    friends 9 : *Person(id)
    nums 10 : *double
    tags 11 : *string
    cents 12 : *integer(3)
    best 13 : Person
    alive 14 : boolean
}

ping 1 {
    request Person
    response {
        ok 0 : boolean
    }
}

bye 2 {}
"#;

/// The Lua side of the checks. Each function takes the fuzz bytes and
/// returns nothing; decode errors are caught, broken invariants are raised
/// as errors starting with `INVARIANT`.
const CHECKS: &str = r#"
local schema = ...
local core = require "sproto.core"
local sproto = require "sproto"
local parser = require "sprotoparser"
local bson = require "bson"

local sp = sproto.parse(schema)
local bin = parser.parse(schema)
local coresp = core.newproto(bin)
local person = core.querytype(coresp, "Person")
local package = core.querytype(coresp, "package")
local host = sp:host "package"

local function invariant(ok, what, detail)
    if not ok then
        error("INVARIANT " .. what .. ": " .. tostring(detail), 0)
    end
end

local checks = {}

-- sproto decode: raw decode of two types, the packed form through the Lua
-- wrapper, and the RPC host. What decodes must re-encode and decode again.
function checks.sproto_decode(data)
    local mode = data:byte(1) or 0
    local body = data:sub(2)
    if mode % 4 == 0 then
        local ok, t = pcall(core.decode, person, body)
        if ok then
            local eok, again = pcall(core.encode, person, t)
            if eok then
                local dok, err = pcall(core.decode, person, again)
                invariant(dok, "re-encoded Person does not decode", err)
            end
        end
    elseif mode % 4 == 1 then
        local ok, t = pcall(core.decode, package, body)
        if ok then
            local again = core.encode(package, t)
            local dok, err = pcall(core.decode, package, again)
            invariant(dok, "re-encoded package does not decode", err)
        end
    elseif mode % 4 == 2 then
        pcall(sp.pdecode, sp, "Person", body)
    else
        pcall(host.dispatch, host, body)
    end
end

-- sproto unpack: the 0-pack stream. An unpacked buffer packs and unpacks
-- back to itself; any buffer packs to something that unpacks to it padded
-- to a multiple of 8 bytes.
function checks.sproto_unpack(data)
    local ok, plain = pcall(core.unpack, data)
    if ok then
        local again = core.unpack(core.pack(plain))
        invariant(again == plain, "pack/unpack changed an unpacked buffer", #plain)
    end
    local packed = core.pack(data)
    local back = core.unpack(packed)
    local padded = #data
    if padded % 8 ~= 0 then
        padded = padded + 8 - padded % 8
    end
    invariant(#back == padded, "unpack(pack(x)) has the wrong length", #back)
    invariant(back:sub(1, #data) == data, "unpack(pack(x)) lost bytes", #data)
    invariant(back:sub(#data + 1) == string.rep("\0", padded - #data), "bad padding", #back)
end

-- A schema itself is decoded from bytes by newproto.
function checks.sproto_schema(data)
    local ok, obj = pcall(core.newproto, data)
    if ok and obj then
        pcall(core.querytype, obj, "Person")
        pcall(core.protocol, obj, 1)
        pcall(core.protocol, obj, "ping")
        -- a raw sproto object lives until deleted (sproto.lua does it in __gc)
        core.deleteproto(obj)
    end
end

-- bson decode: a document that decodes and re-encodes decodes again.
function checks.bson_decode(data)
    local ok, t = pcall(bson.decode, data)
    if ok and type(t) == "table" then
        local eok, doc = pcall(bson.encode, t)
        if eok then
            local dok, err = pcall(bson.decode, doc)
            invariant(dok, "re-encoded bson does not decode", err)
        end
    end
end

-- Well-formed inputs to start each corpus from.
function checks.seeds()
    local phone = { number = "123", kind = 2 }
    local alice = {
        name = "alice", id = 1, email = "a@b", phone = { phone, phone },
        flags = { true, false, true }, scores = { 1, -2, 1 << 40, -(1 << 62) },
        ratio = 0.25, money = 12.34, blob = "\0\1\2\255", nums = { 1.5, -0.0, 1e300 },
        tags = { "x", "", "zz" }, cents = { 1.001, -2.5 }, alive = true,
    }
    alice.friends = { [7] = { id = 7, name = "bob" }, [9] = { id = 9 } }
    alice.best = { id = 3, name = "carol", best = { id = 4 } }
    local raw = core.encode(person, alice)
    local request = host:attach(sp)("ping", alice, 5)
    local pkg = core.encode(package, { type = 1, session = 99 })
    local out = {
        sproto_decode = {
            "\0" .. raw, "\1" .. pkg, "\2" .. core.pack(raw), "\3" .. request,
            "\0" .. core.encode(person, {}),
        },
        sproto_unpack = { core.pack(raw), request, bin, core.pack(string.rep("\0", 64)) },
        bson_decode = {
            tostring(bson.encode { a = 1, b = "two", c = { 1, 2, 3 }, d = { e = true, f = 1.5 } }),
            tostring(bson.encode_order("x", bson.date(1), "y", bson.binary("\1\2"), "z",
                bson.objectid("0123456789abcdef01234567"), "w", bson.regex("a.*", "i"),
                "v", bson.timestamp(5, 6), "u", bson.null, "t", bson.minkey, "s", bson.maxkey,
                "r", 1 << 40)),
        },
    }
    return out
end

return checks
"#;

/// The Lua state of the checks, made on first use. A static (rather than a
/// thread local) so that the leak checker sees it as reachable at exit.
static LUA: Mutex<Option<(Lua, HashMap<String, Function>)>> = Mutex::new(None);

/// Runs `f` with the Lua state of the checks.
fn with_lua<R>(f: impl FnOnce(&Lua, &HashMap<String, Function>) -> R) -> R {
    let mut slot = LUA.lock().unwrap_or_else(|e| e.into_inner());
    let (lua, checks) = slot.get_or_insert_with(make_lua);
    f(lua, checks)
}

/// A Lua state with the native library modules preloaded, `lualib/` on the
/// path, and the check functions loaded.
fn make_lua() -> (Lua, HashMap<String, Function>) {
    let lua = Lua::new();
    let lualib = concat!(env!("CARGO_MANIFEST_DIR"), "/../lualib/?.lua");
    let package: mlua::Table = lua.globals().get("package").expect("package table");
    package.set("path", lualib).expect("set package.path");
    let preload: mlua::Table = package.get("preload").expect("package.preload");
    skynet_lua::libs::preload(&lua, &preload).expect("preload native modules");
    let checks: mlua::Table = lua
        .load(CHECKS)
        .set_name("=fuzz_checks")
        .call(SCHEMA)
        .expect("load the fuzz checks");
    let mut map = HashMap::new();
    for pair in checks.pairs::<String, Function>() {
        let (name, f) = pair.expect("check function");
        map.insert(name, f);
    }
    (lua, map)
}

/// Runs the Lua check `name` on `data`. Lua errors other than broken
/// invariants were caught inside; anything reaching here is a failure.
fn run_lua_check(name: &str, data: &[u8]) {
    with_lua(|lua, checks| {
        let f = checks.get(name).expect("known check");
        let arg = lua.create_string(data).expect("fuzz bytes as a Lua string");
        if let Err(e) = f.call::<()>(arg) {
            panic!("{name}: {e}");
        }
        // Keep the heap small across millions of runs.
        lua.gc_collect().expect("full gc");
    })
}

/// sproto decode of fuzz bytes (raw, packed and through the RPC host).
pub fn sproto_decode(data: &[u8]) {
    run_lua_check("sproto_decode", data);
}

/// sproto 0-unpack of fuzz bytes, and schema loading from fuzz bytes.
pub fn sproto_unpack(data: &[u8]) {
    run_lua_check("sproto_unpack", data);
    run_lua_check("sproto_schema", data);
}

/// bson decode of fuzz bytes.
pub fn bson_decode(data: &[u8]) {
    run_lua_check("bson_decode", data);
}

/// `skynet.unpack` of fuzz bytes: errors are fine; values that decode pack
/// again, and that message unpacks to the same number of values.
pub fn seri_unpack(data: &[u8]) {
    with_lua(|lua, _| {
        if let Ok(values) = skynet_lua::seri::unpack(lua, data) {
            let count = values.len();
            if let Ok(packed) = skynet_lua::seri::pack(lua, &values) {
                match skynet_lua::seri::unpack(lua, packed.as_slice()) {
                    Ok(again) => assert_eq!(
                        again.len(),
                        count,
                        "repacked message has another value count"
                    ),
                    Err(e) => panic!("repacked message does not unpack: {e}"),
                }
            }
        }
        lua.gc_collect().expect("full gc");
    })
}

/// A plain model of the netpack framing: per connection, the bytes not yet
/// cut into packets.
#[derive(Default)]
struct Model {
    pending: HashMap<i32, Vec<u8>>,
    packets: VecDeque<(i32, Vec<u8>)>,
}

impl Model {
    fn feed(&mut self, id: i32, bytes: &[u8]) {
        let buf = self.pending.entry(id).or_default();
        buf.extend_from_slice(bytes);
        loop {
            if buf.len() < 2 {
                break;
            }
            let size = (usize::from(buf[0]) << 8) | usize::from(buf[1]);
            if buf.len() < size + 2 {
                break;
            }
            let body = buf[2..2 + size].to_vec();
            buf.drain(..2 + size);
            self.packets.push_back((id, body));
        }
    }

    fn close(&mut self, id: i32) {
        self.pending.remove(&id);
    }
}

/// The netpack queue fed chunks of the fuzz bytes on a few connections,
/// with closes in between, must give the packets the model gives, in order.
///
/// The input is read as commands: one control byte (connection in bits 0-1,
/// close when bit 2 is set, chunk length in the rest) and then the chunk.
pub fn netpack(data: &[u8]) {
    let mut queue = Queue::default();
    let mut model = Model::default();
    let mut rest = data;
    while let Some((&control, tail)) = rest.split_first() {
        let id = i32::from(control & 3);
        if control & 4 != 0 {
            queue.close(id);
            model.close(id);
            rest = tail;
            continue;
        }
        let len = usize::from(control >> 3).min(tail.len());
        let (chunk, after) = tail.split_at(len);
        rest = after;
        model.feed(id, chunk);
        let mut got = Vec::new();
        match queue.filter(id, chunk) {
            Filtered::Nothing => {}
            Filtered::One(p) => got.push((p.id, p.body.as_slice().to_vec())),
            Filtered::More => {
                while let Some(p) = queue.pop() {
                    got.push((p.id, p.body.as_slice().to_vec()));
                }
            }
        }
        let want: Vec<(i32, Vec<u8>)> = model.packets.drain(..).collect();
        assert_eq!(got, want, "netpack gave other packets than the model");
    }
}

/// Seed inputs for each target's corpus: well-formed messages of every
/// decoder, as (target, bytes).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let (lua, checks) = make_lua();
    let mut out = Vec::new();
    let by_target: mlua::Table = checks["seeds"].call(()).expect("seed messages");
    for pair in by_target.pairs::<String, Vec<mlua::LuaString>>() {
        let (target, list) = pair.expect("seed list");
        for s in list {
            out.push((target.clone(), s.as_bytes().to_vec()));
        }
    }
    let samples = lua
        .load(r#"return 1, -1, 2^53, "str", string.rep("x", 300), true, nil, {1, 2, {a = {b = "c"}}}, 0.5, math.maxinteger"#)
        .eval::<mlua::MultiValue>()
        .expect("seri samples");
    let packed = skynet_lua::seri::pack(&lua, &samples).expect("pack samples");
    out.push(("seri_unpack".into(), packed.as_slice().to_vec()));
    for n in [0u8, 1, 255] {
        let one = mlua::MultiValue::from_vec(vec![mlua::Value::Integer(i64::from(n))]);
        let packed = skynet_lua::seri::pack(&lua, &one).expect("pack a number");
        out.push(("seri_unpack".into(), packed.as_slice().to_vec()));
    }
    // netpack commands: a 3-byte packet in one chunk, a packet split after
    // its first byte, two packets in one chunk, and a close in between.
    out.push(("netpack".into(), vec![5 << 3, 0, 3, b'a', b'b', b'c']));
    out.push(("netpack".into(), vec![1 << 3 | 1, 0, 2 << 3 | 1, 1, b'z']));
    out.push((
        "netpack".into(),
        vec![
            7 << 3 | 2,
            0,
            1,
            b'p',
            0,
            2,
            b'q',
            b'r',
            4 | 2,
            2 << 3 | 2,
            0,
            0,
        ],
    ));
    out
}

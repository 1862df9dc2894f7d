-- sproto scenario: runs the sproto Lua API (sproto, sprotoparser,
-- sprotoloader over sproto.core) through schemas, encodings, decodings,
-- packing, RPC and bad input, and prints one line per result. The expected
-- output (sproto_cases.txt) was produced by running this same script against
-- the reference's lualib and its C sproto.core under Lua 5.4; the test runs it
-- against ours and compares line by line.
--
-- Results are printed canonically: strings in hex, tables with sorted keys,
-- errors without their "file:line:" prefix.

local sproto = require "sproto"
local parser = require "sprotoparser"
local loader = require "sprotoloader"
local core = require "sproto.core"

local out = {}
local function emit(name, text)
	out[#out + 1] = name .. ": " .. text
end

local function hex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function clean(msg)
	msg = tostring(msg)
	local prev
	repeat
		prev = msg
		msg = msg:gsub("^[^:\n]*:%d+: ", "")
	until msg == prev
	return (msg:gsub("\n", "\\n"))
end

local function keyorder(a, b)
	local ta, tb = type(a), type(b)
	if ta ~= tb then return ta < tb end
	if ta == "number" or ta == "string" then return a < b end
	return tostring(a) < tostring(b)
end

local function dump(v, depth)
	depth = depth or 0
	local t = type(v)
	if t == "string" then
		return '"' .. hex(v) .. '"'
	elseif t == "number" then
		if math.type(v) == "integer" then return tostring(v) end
		return string.format("%.17g", v)
	elseif t == "table" then
		if depth > 20 then return "{...}" end
		local keys = {}
		for k in pairs(v) do keys[#keys + 1] = k end
		table.sort(keys, keyorder)
		local parts = {}
		for _, k in ipairs(keys) do
			parts[#parts + 1] = dump(k, depth + 1) .. "=" .. dump(v[k], depth + 1)
		end
		return "{" .. table.concat(parts, ",") .. "}"
	elseif t == "userdata" then
		return v == nil and "nil" or "userdata"
	else
		return tostring(v)
	end
end

-- Runs f and prints its results (or its error).
local function case(name, f, ...)
	local r = table.pack(pcall(f, ...))
	if r[1] then
		local parts = {}
		for i = 2, r.n do parts[#parts + 1] = dump(r[i]) end
		emit(name, "ok " .. table.concat(parts, " "))
	else
		emit(name, "err " .. clean(r[2]))
	end
end

-- A deterministic byte source.
local seed = 4242
local function rand(n)
	seed = (seed * 1103515245 + 12345) % 2147483648
	return (seed >> 8) % n
end

---------------------------------------------------------------------------
-- Schemas

local schema_text = [[
# a comment
.Person {
	name 0 : string
	id 1 : integer
	email 2 : string

	.PhoneNumber {
		number 0 : string
		type 1 : integer
	}

	phone 3 : *PhoneNumber
	height 4 : integer(2)
	data 5 : binary
	weight 6 : double
	friends 8 : *integer
	flags 10 : *boolean
	scores 11 : *double
	nick 12 : *string
	money 13 : *integer(3)
}

.AddressBook {
	person 0 : *Person(id)
	others 1 : *Person
}

.Pair { key 0 : string  value 1 : integer }
.Dict { pairs 0 : *Pair()  byid 1 : *Pair(key)  next 2 : Dict  small 3 : integer }

.Tree { value 0 : integer  left 1 : Tree  right 2 : Tree  list 3 : *Tree }

.Empty {}

.package {
	type 0 : integer
	session 1 : integer
	ud 2 : string
}

foobar 1 {
	request Person
	response {
		ok 0 : boolean
	}
}
foo 2 { response nil }
bar 3 {}
blackhole 4 { request Empty }
nested 5 { request { inner 0 : Person.PhoneNumber  n 1 : integer } response Dict }
]]

case("parse main", function() return parser.parse(schema_text) end)

local more_schemas = {
	"",
	".A {}",
	".A { a 0 : integer }",
	".A{a 0:integer b 1:string}",
	".A { a 0 : integer }\r\n.B { b 1 : A }",
	".A { .B { .C { x 0 : integer } c 0 : C } b 0 : B  c 1 : B.C }",
	".A { x 0 : integer }\n.B { .A { y 0 : boolean } a 0 : A }",
	".A { a 0 : integer b 5 : integer c 100 : string d 32766 : boolean }",
	".A { a 0 : *integer(0) b 1 : integer(9) c 2 : binary d 3 : *binary }",
	"p 0 {}",
	".T { a 0 : integer }\np 7 { request T response T }\nq 3 { response T }\nr 9 { request T }\ns 1 { response nil request T }",
	".A { k 0 : integer v 1 : string }\n.B { m 0 : *A() n 1 : *A(k) o 2 : *A(v) }",
	".A {} .B {}",
	".A {}\n.B {}.C {}",
	".A { a 0 : integer }\t# trailing comment",
	"# only a comment",
	"\n\n.A { a 0 : integer }\n\n",
	".A { x 0 : integer(2)(3) }",
	".A { x 0 : A(id) }",
	".A { x 0 : integer(id) }",
}
for i, text in ipairs(more_schemas) do
	case("parse " .. i, function() return parser.parse(text) end)
end

local bad_schemas = {
	".A { a 0 : integer",
	".A { a : integer }",
	".A { a 0 integer }",
	"A { a 0 : integer }",
	".A {}\n\n.B { a 0 : }\n",
	".A {}\n.B {}\n.C {} .D {}\n",
	".A { a 0 : integer }\n.A { b 0 : integer }",
	".A { a 0 : integer a 1 : integer }",
	".A { a 0 : integer b 0 : integer }",
	".A { a 0 : B }",
	"p 1 { request X }",
	"p 1 { response X }",
	".A {}\np 1 {}\nq 1 {}",
	".A {}\np 1 { request A request A }",
	".A { m 0 : *B() }\n.B { a 0 : integer b 1 : integer c 2 : integer }",
	".A { m 0 : *B(c) }\n.B { a 0 : integer b 1 : integer }",
	".A { m 0 : *B(b) }\n.B { a 0 : integer b 1 : B }",
	".A { x 0 : string(2) }",
	".A { .B {} .B {} }",
	".A { a 0 : integer }\r.B {}",
	"p 1 {}",
	".A { a 99999 : integer }",
	"# c\n.A { a 0 : integer } # c\n\n  .B {\n  x 0 : integer\n  y 1 ;\n}",
	".A {\n# comment\n\tb 1 : *\n}",
}
for i, text in ipairs(bad_schemas) do
	case("bad schema " .. i, function() return parser.parse(text) end)
end

local sp = sproto.parse(schema_text)

---------------------------------------------------------------------------
-- Encoding and decoding

local function roundtrip(name, typename, tbl)
	local ok, bin = pcall(sp.encode, sp, typename, tbl)
	if not ok then
		emit(name .. " encode", "err " .. clean(bin))
		return
	end
	emit(name .. " encode", "ok " .. hex(bin))
	case(name .. " decode", function() return sp:decode(typename, bin) end)
	local packed = sproto.pack(bin)
	emit(name .. " pack", hex(packed))
	case(name .. " unpack", function() return sproto.unpack(packed) end)
	return bin
end

local person = {
	name = "Alice",
	id = 10000,
	email = "alice@example.com",
	phone = { { number = "123456789", type = 1 }, { number = "87654321", type = 2 } },
	height = 1.75,
	data = "\0\1\2\255",
	weight = 55.5,
	friends = { 1, 2, 3 },
	flags = { true, false, true },
	scores = { 1.5, -2.25, 0 },
	nick = { "a", "", "ccc" },
	money = { 1.2345, -3 },
}
local samples = {
	{ "Person", person },
	{ "Person", {} },
	{ "Person", { id = 0 } },
	{ "Person", { id = 32766 } },
	{ "Person", { id = 32767 } },
	{ "Person", { id = -1 } },
	{ "Person", { id = 2147483647 } },
	{ "Person", { id = 2147483648 } },
	{ "Person", { id = -2147483648 } },
	{ "Person", { id = -2147483649 } },
	{ "Person", { id = math.maxinteger } },
	{ "Person", { id = math.mininteger } },
	{ "Person", { id = 3.0 } },
	{ "Person", { id = "12" } },
	{ "Person", { height = 0.005 } },
	{ "Person", { height = -0.005 } },
	{ "Person", { height = 1.005 } },
	{ "Person", { height = 327.66 } },
	{ "Person", { height = 1e15 } },
	{ "Person", { height = "3.14" } },
	{ "Person", { weight = 0.1 } },
	{ "Person", { weight = -0.0 } },
	{ "Person", { weight = 1e308 } },
	{ "Person", { weight = 7 } },
	{ "Person", { friends = {} } },
	{ "Person", { friends = { 1, 2, 1 << 40, -1, 5 } } },
	{ "Person", { friends = { 1 << 33 } } },
	{ "Person", { friends = { -5, -1 << 31, 1 << 31 } } },
	{ "Person", { friends = { 1, 2, nil, 4 } } },
	{ "Person", { flags = {} } },
	{ "Person", { scores = {} } },
	{ "Person", { scores = { 1 } } },
	{ "Person", { nick = {} } },
	{ "Person", { phone = {} } },
	{ "Person", { phone = { {} } } },
	{ "Person", { money = { 0.0005, 0.0004, -0.0005 } } },
	{ "Person", { email = ("x"):rep(300) } },
	{ "Person", { email = ("y"):rep(70000) } },
	{ "AddressBook", { person = { [10000] = person } } },
	{ "AddressBook", { person = { { id = 1, name = "a" }, { id = 2, name = "b" }, { id = 3 } } } },
	{ "AddressBook", { others = { person, { id = 7 } } } },
	{ "AddressBook", { person = {} } },
	{ "Dict", { pairs = { one = 1 } } },
	{ "Dict", { pairs = { [""] = 0 } } },
	{ "Dict", { byid = { x = { key = "x", value = 5 } } } },
	{ "Dict", { next = { next = { small = 3 } }, small = 1 } },
	{ "Dict", { pairs = {}, byid = {} } },
	{ "Tree", { value = 1, left = { value = 2 }, right = { value = 3, list = { { value = 4 }, {} } } } },
	{ "Empty", {} },
	{ "Empty", { anything = 1 } },
	{ "package", { type = 1, session = 2, ud = "u" } },
}
for i, s in ipairs(samples) do
	roundtrip("sample " .. i, s[1], s[2])
end

-- __index and __pairs
do
	local proxied = setmetatable({}, { __index = function(_, k)
		if k == "name" then return "proxy" end
		if k == "id" then return 99 end
	end })
	roundtrip("index meta", "Person", proxied)
	local arr = setmetatable({}, { __index = function(_, i) if i <= 3 then return i * 10 end end })
	roundtrip("index array", "Person", { friends = arr })
	local entries = { a = 1 }
	local pairs_obj = setmetatable({}, { __pairs = function() return next, entries, nil end })
	roundtrip("pairs map", "Dict", { pairs = pairs_obj })
	local people = { { id = 5, name = "five" } }
	local pairs_people = setmetatable({}, { __pairs = function() return ipairs(people) end })
	roundtrip("pairs mainindex", "AddressBook", { person = pairs_people })
end

-- Encoding errors
local bad_values = {
	{ "Person", { id = "x" } },
	{ "Person", { id = 1.5 } },
	{ "Person", { id = {} } },
	{ "Person", { name = 1 } },
	{ "Person", { name = true } },
	{ "Person", { friends = { 1, "a" } } },
	{ "Person", { friends = 5 } },
	{ "Person", { friends = "str" } },
	{ "Person", { flags = { 1 } } },
	{ "Person", { nick = { 1 } } },
	{ "Person", { phone = { 5 } } },
	{ "Person", { phone = 5 } },
	{ "AddressBook", { person = 5 } },
	{ "Dict", { pairs = 5 } },
	{ "Dict", { byid = {}, pairs = 7 } },
	{ "Dict", { pairs = { [1] = 2 } } },
	{ "Dict", { pairs = { a = "x" } } },
	{ "Person", { weight = "heavy" } },
	{ "Person", { height = "tall" } },
	{ "Person", { scores = { "x" } } },
	{ "Person", { friends = { 1.5 } } },
	{ "Person", { flags = { "yes" } } },
}
for i, b in ipairs(bad_values) do
	case("bad value " .. i, function() return sp:encode(b[1], b[2]) end)
end

do
	local deep = {}
	local t = deep
	for _ = 1, 70 do
		t.left = {}
		t = t.left
	end
	case("too deep encode", function() return sp:encode("Tree", deep) end)
	local ok63 = {}
	t = ok63
	for _ = 1, 63 do
		t.left = { value = 1 }
		t = t.left
	end
	case("deep 63 encode", function() return hex(sp:encode("Tree", ok63)) end)
	local loop = {}
	loop.left = loop
	case("cycle encode", function() return sp:encode("Tree", loop) end)
	case("unknown type", function() return sp:encode("Nope", {}) end)
	case("encode non table", function() return sp:encode("Person", 5) end)
	case("encode string as struct", function() return hex(sp:encode("Tree", "text")) end)
end

-- Decoding bad input: every truncation and single-byte change of a message
do
	local bin = sp:encode("AddressBook", { person = { [10000] = person }, others = { { id = 3, name = "z" } } })
	for n = 0, #bin - 1 do
		case("truncated " .. n, function() return sp:decode("AddressBook", bin:sub(1, n)) end)
	end
	for i = 1, 200 do
		local at = 1 + rand(#bin)
		local b = bin:byte(at) ~ (1 << rand(8))
		local mutated = bin:sub(1, at - 1) .. string.char(b) .. bin:sub(at + 1)
		case("mutated " .. i, function() return sp:decode("AddressBook", mutated) end)
	end
	local dict = sp:encode("Dict", { pairs = { k = 1 }, byid = { x = { key = "x", value = 2 } }, next = { small = 9 } })
	for n = 0, #dict - 1 do
		case("dict truncated " .. n, function() return sp:decode("Dict", dict:sub(1, n)) end)
	end
	for i = 1, 100 do
		local at = 1 + rand(#dict)
		local b = rand(256)
		local mutated = dict:sub(1, at - 1) .. string.char(b) .. dict:sub(at + 1)
		case("dict mutated " .. i, function() return sp:decode("Dict", mutated) end)
	end
	case("decode extra bytes", function() return sp:decode("Person", sp:encode("Person", { id = 1 }) .. "junk") end)
	case("decode into table", function() return sp:decode("Person", sp:encode("Person", { id = 1 }), { keep = true }) end)
	case("decode empty", function() return sp:decode("Person", "") end)
	case("decode zero header", function() return sp:decode("Person", "\0\0") end)
	case("decode unknown tags", function() return sp:decode("Person", "\2\0\9\0\0\0\3\0\0\0abc") end)
	case("decode inline string", function() return sp:decode("Person", "\1\0\4\0") end)
	case("decode inline array", function() return sp:decode("Person", "\2\0\15\0\4\0") end)
	case("decode bool in data", function() return sp:decode("Dict", "\2\0\5\0\0\0\1\0\0\0\1") end)
	case("decode int width 3", function() return sp:decode("Person", "\1\0\0\0\4\0\0\0\1\2\3\4") end)
	case("decode int size 5", function() return sp:decode("Person", "\2\0\1\0\0\0\5\0\0\0\1\2\3\4\5") end)
	case("decode int array width 5", function() return sp:decode("Person", "\2\0\15\0\0\0\6\0\0\0\5\1\2\3\4\5") end)
	case("decode int array ragged", function() return sp:decode("Person", "\2\0\15\0\0\0\6\0\0\0\4\1\2\3\4\5") end)
	case("decode int array width only", function() return sp:decode("Person", "\2\0\15\0\0\0\1\0\0\0\9") end)
	case("decode int 4 in double", function() return sp:decode("Person", "\2\0\11\0\0\0\4\0\0\0\0\0\128\63") end)
	case("decode missing main index", function() return sp:decode("AddressBook", sp:encode("AddressBook", { others = { { name = "n" } } }):gsub("^\2\0\1\0", "\1\0")) end)
	local noindex = "\1\0\0\0" .. string.pack("<I4", 13) .. string.pack("<I4", 9) .. "\1\0\0\0" .. string.pack("<s4", "n")
	case("decode mainindex missing", function() return sp:decode("AddressBook", noindex) end)
	local nokey = "\1\0\0\0" .. string.pack("<I4", 8) .. string.pack("<I4", 4) .. "\2\0\1\0\4\0"
	case("decode map missing key", function() return sp:decode("Dict", nokey) end)
	local novalue = "\1\0\0\0" .. string.pack("<I4", 13) .. string.pack("<I4", 9) .. "\1\0\0\0" .. string.pack("<s4", "k")
	case("decode map missing value", function() return sp:decode("Dict", novalue) end)
	local deep = "\0\0"
	for _ = 1, 70 do
		deep = "\2\0\1\0\0\0" .. string.pack("<s4", deep)
	end
	case("decode too deep", function() return sp:decode("Tree", deep) end)
	case("decode bad arg", function() return sp:decode("Tree", {}) end)
end

---------------------------------------------------------------------------
-- Packing

do
	local inputs = {
		"",
		"\0",
		"\1",
		("\0"):rep(8),
		("\0"):rep(9),
		("\1"):rep(8),
		("\1"):rep(7),
		("\1"):rep(8) .. "\1\2\3\4\5\6\0\0" .. "\0\0\0\0\0\0\0\1",
		("\1"):rep(8) .. "\1\2\3\4\5\0\0\0",
		("\7"):rep(8 * 300),
		("\7"):rep(8 * 256 + 3),
		("\7"):rep(8 * 255) .. "\1\2\3\4\5\6\7\0",
		("\3"):rep(13),
	}
	for i = 1, 8 do
		local t = {}
		for j = 1, 50 + rand(300) do
			t[j] = rand(3) == 0 and string.char(rand(256)) or (rand(2) == 0 and "\0" or "\255")
		end
		inputs[#inputs + 1] = table.concat(t)
	end
	for i, s in ipairs(inputs) do
		local packed = sproto.pack(s)
		emit("pack " .. i, hex(packed))
		case("unpack " .. i, function() return hex(sproto.unpack(packed)) end)
	end
	local bad_packed = { "\255", "\255\0", "\255\0\1\2\3\4\5\6\7", "\3", "\3\1", "\1\1\255\1\1", "\255\1" .. ("\1"):rep(8) }
	for i, s in ipairs(bad_packed) do
		case("bad unpack " .. i, function() return hex(sproto.unpack(s)) end)
	end
	case("pack bad arg", function() return sproto.pack({}) end)
	case("unpack bad arg", function() return sproto.unpack(nil) end)
end

---------------------------------------------------------------------------
-- Protocols and RPC

do
	case("exist_type", function() return sp:exist_type("Person"), sp:exist_type("Nope") end)
	case("exist_proto", function() return sp:exist_proto("foobar"), sp:exist_proto("nope"), sp:exist_proto(2) end)
	case("queryproto name", function()
		local p = sp:queryproto("foobar")
		return p.name, p.tag, p.request ~= nil, p.response ~= nil
	end)
	case("queryproto tag", function()
		local p = sp:queryproto(2)
		return p.name, p.tag, p.request ~= nil, p.response ~= nil
	end)
	case("queryproto missing", function() return sp:queryproto("nope") end)
	case("queryproto missing tag", function() return sp:queryproto(99) end)
	case("request_encode", function()
		local bin, tag = sp:request_encode("foobar", { name = "x", id = 1 })
		return hex(bin), tag
	end)
	case("request_encode none", function() local bin, tag = sp:request_encode("foo", nil) return hex(bin), tag end)
	case("response_encode", function() return hex(sp:response_encode("foobar", { ok = true })) end)
	case("response_encode nil", function() return hex(sp:response_encode("foo")) end)
	case("response_encode nil with table", function() return sp:response_encode("foo", {}) end)
	case("response_encode none", function() return hex(sp:response_encode("bar", {})) end)
	case("request_decode", function() return sp:request_decode("foobar", sp:request_encode("foobar", { name = "x" })) end)
	case("request_decode none", function() return sp:request_decode("bar", "") end)
	case("response_decode", function() return sp:response_decode("foobar", sp:response_encode("foobar", { ok = false })) end)
	case("response_decode none", function() return sp:response_decode("foo", "") end)
	case("pencode", function() return hex(sp:pencode("Person", person)) end)
	case("pdecode", function() return sp:pdecode("Person", sp:pencode("Person", person)) end)
	case("default Person", function() return sp:default("Person") end)
	case("default Dict", function() return sp:default("Dict") end)
	case("default request", function() return sp:default("foobar", "REQUEST") end)
	case("default response", function() return sp:default("foobar", "RESPONSE") end)
	case("default response nil", function() return sp:default("foo", "RESPONSE") end)
	case("default bad", function() return sp:default("foobar", "OTHER") end)

	local server = sp:host "package"
	local client = sp:host "package"
	local client_request = client:attach(sp)
	local req = client_request("foobar", { name = "bob", id = 3 }, 1, "ud1")
	emit("rpc request", hex(req))
	local kind, name, args, respond, ud = server:dispatch(req)
	emit("rpc dispatch request", table.concat({ kind, name, dump(args), type(respond), dump(ud) }, " "))
	local resp = respond({ ok = true }, "ud2")
	emit("rpc response", hex(resp))
	case("rpc dispatch response", function() return client:dispatch(resp) end)
	case("rpc dispatch response again", function() return client:dispatch(resp) end)
	local push = client_request("foo", nil, 5)
	emit("rpc confirm request", hex(push))
	local k2, n2, a2, r2 = server:dispatch(push)
	emit("rpc confirm dispatch", table.concat({ k2, n2, dump(a2), type(r2) }, " "))
	local ack = r2()
	emit("rpc confirm response", hex(ack))
	case("rpc confirm dispatch response", function() return client:dispatch(ack) end)
	local oneway = client_request("bar")
	emit("rpc oneway", hex(oneway))
	case("rpc oneway dispatch", function() return server:dispatch(oneway) end)
	local nested = client_request("nested", { inner = { number = "1", type = 2 }, n = 3 }, 9)
	emit("rpc nested", hex(nested))
	local k3, n3, a3, r3 = server:dispatch(nested)
	emit("rpc nested dispatch", table.concat({ k3, n3, dump(a3), type(r3) }, " "))
	emit("rpc nested response", hex(r3({ small = 4 })))
	case("rpc unknown session", function() return client:dispatch(sproto.pack(sp:encode("package", { session = 77 }))) end)
	case("rpc no session", function() return client:dispatch(sproto.pack(sp:encode("package", {}))) end)
	case("rpc unknown proto", function() return server:dispatch(sproto.pack(sp:encode("package", { type = 42 }))) end)
	case("rpc bad package", function() return sp:host "Nope" end)
	case("rpc garbage", function() return server:dispatch("\255") end)
end

---------------------------------------------------------------------------
-- Core API edges and the loader

do
	case("newproto bad", function() return core.newproto("garbage") end)
	case("newproto empty", function() return core.newproto("") end)
	case("sproto.new bad", function() return sproto.new("\0\0") end)
	case("querytype bad", function() return core.querytype(nil, "x") end)
	case("protocol bad", function() return core.protocol(nil, 1) end)
	case("protocol bad name", function() return core.protocol(sp.__cobj, {}) end)
	case("encode nil type", function() return core.encode(nil, nil) end)
	case("encode nil type table", function() return core.encode(nil, {}) end)
	case("decode nil type", function() return core.decode(nil, "") end)
	case("default bad", function() return core.default(nil) end)
	case("saveproto bad slot", function() return core.saveproto(sp.__cobj, 16) end)
	case("loadproto bad slot", function() return core.loadproto(-1) end)
	case("loadproto empty slot", function() return core.loadproto(15) end)
	loader.save(parser.parse(".X { a 0 : integer }\np 1 { request X }"), 3)
	local shared = loader.load(3)
	case("loader load", function() return hex(shared:encode("X", { a = 7 })), shared:exist_proto("p") end)
	case("loader load 2", function() return loader.load(3):decode("X", "\1\0\16\0") end)
	-- bad schema binaries: every truncation of a good one is refused cleanly
	local bin = parser.parse(schema_text)
	local accepted = 0
	for n = 0, #bin - 1 do
		if core.newproto(bin:sub(1, n)) then accepted = accepted + 1 end
	end
	emit("truncated schemas accepted", tostring(accepted))
	for i = 1, 100 do
		local at = 1 + rand(#bin)
		local mutated = bin:sub(1, at - 1) .. string.char(rand(256)) .. bin:sub(at + 1)
		local ok, p = pcall(core.newproto, mutated)
		emit("mutated schema " .. i, ok and (p and "accepted" or "refused") or ("err " .. clean(p)))
	end
end

print(table.concat(out, "\n"))
return out

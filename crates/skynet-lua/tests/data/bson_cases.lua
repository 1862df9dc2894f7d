-- bson scenario: runs the bson module through encodings, special values,
-- decodings, in-place replacement and bad input, and returns one line per
-- result. The expected output (bson_cases.txt) was produced by running this
-- script against the reference's lua-bson.c under Lua 5.4; the test runs it
-- against ours and compares line by line.
--
-- Documents to decode are made from strings by `todoc`: with the reference
-- (which decodes only userdata) a small helper module copies the string into
-- a userdata; ours also decodes strings directly.

local bson = require "bson"

local todoc
do
	local ok, strud = pcall(require, "strud")
	todoc = ok and strud.new or function(s) return s end
end

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
		if depth > 40 then return "{...}" end
		local keys = {}
		for k in pairs(v) do keys[#keys + 1] = k end
		table.sort(keys, keyorder)
		local parts = {}
		for _, k in ipairs(keys) do
			parts[#parts + 1] = dump(k, depth + 1) .. "=" .. dump(v[k], depth + 1)
		end
		return "{" .. table.concat(parts, ",") .. "}"
	elseif t == "userdata" then
		return "doc:" .. hex(tostring(v))
	else
		return tostring(v)
	end
end

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

local OID = "0123456789abcdefABCDEF01"

---------------------------------------------------------------------------
-- Special values and bson.type

local specials = {
	null = bson.null,
	minkey = bson.minkey,
	maxkey = bson.maxkey,
	binary = bson.binary "hello\0world",
	binary_empty = bson.binary "",
	regex = bson.regex("^a.*b$", "i"),
	regex_noopt = bson.regex "x+",
	regex_nil = bson.regex("x+", nil),
	date = bson.date(1700000000),
	date_neg = bson.date(-5),
	date_big = bson.date(1 << 33),
	timestamp = bson.timestamp(1700000000, 42),
	int64 = bson.int64(1 << 40),
	int64_small = bson.int64(-3),
	objectid = bson.objectid(OID),
	objectid_odd = bson.objectid "zz23456789abcdefABCDEF0G",
}
local names = {}
for k in pairs(specials) do names[#names + 1] = k end
table.sort(names)
for _, k in ipairs(names) do
	emit("special " .. k, hex(specials[k]))
	case("type " .. k, bson.type, specials[k])
end
for i, v in ipairs { 1, 2.5, true, false, "text", "", "\0", {} } do
	case("type plain " .. i, function() local t = bson.type(v) return t end)
end
case("type nil", bson.type, nil)
case("type function", bson.type, print)
case("type bad objectid", bson.type, "\0\7short")
case("type bad date", bson.type, "\0\9abc")
case("type bad timestamp", bson.type, "\0\17abc")
case("type bad int64", bson.type, "\0\18abc")
case("type bad regex", bson.type, "\0\11abc")
case("type bad subtype", bson.type, "\0\99abc")
case("type jscode", bson.type, "\0\13abcd")
case("objectid bad", bson.objectid, "abc")
case("objectid number", bson.objectid, 123)
case("date bad", bson.date, "x")
case("int64 bad", bson.int64, 1.5)
case("regex bad", bson.regex, nil)
case("binary number", function() return hex(bson.binary(12)) end)

---------------------------------------------------------------------------
-- Encoding

local function encode_case(name, ...)
	local ok, doc = pcall(bson.encode_order, ...)
	if not ok then
		emit(name, "err " .. clean(doc))
		return
	end
	emit(name, "ok " .. hex(tostring(doc)) .. " len " .. #doc)
	case(name .. " decode", function() return bson.decode(doc) end)
	case(name .. " method decode", function() return doc:decode() end)
	case(name .. " lightuserdata decode", function() return bson.decode(bson.to_lightuserdata(doc)) end)
	return doc
end

local metaarray = setmetatable({ n = 3 }, {
	__len = function(self) return self.n end,
	__index = function(_, i) return "item" .. i end,
})
local pairs_obj = setmetatable({}, { __pairs = function()
	local done = false
	return function()
		if done then return nil end
		done = true
		return "only", 1
	end
end })

encode_case("empty")
encode_case("int", "a", 1, "b", -1, "c", 2147483647, "d", -2147483648, "e", 2147483648, "f", math.mininteger)
encode_case("float", "a", 0.5, "b", -0.0, "c", 1e300, "d", 1 / 0, "e", 3.0)
encode_case("bool", "t", true, "f", false)
encode_case("string", "s", "hello", "e", "", "u", "h\195\169llo \226\130\172 \240\159\152\128")
encode_case("specials", "n", bson.null, "mi", bson.minkey, "ma", bson.maxkey, "b", specials.binary,
	"be", specials.binary_empty, "r", specials.regex, "r2", specials.regex_noopt, "d", specials.date,
	"dn", specials.date_neg, "ts", specials.timestamp, "i", specials.int64, "o", specials.objectid)
encode_case("array", "a", { 1, 2, 3 }, "e", {}, "n", { { 1 }, { x = 1 } })
encode_case("array of 12", "a", { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 })
encode_case("nested", "d", { x = { y = { z = "deep" } } })
encode_case("metaarray", "m", metaarray)
encode_case("pairs object", "p", pairs_obj)
encode_case("number key", "", 1, "k", 2)
encode_case("sub document", "sub", bson.encode_order("x", 1), "after", 2)
encode_case("numeric key arg", 12, "v")
encode_case("jscode raw", "j", "\0\13" .. string.pack("<s4", "code\0"))
encode_case("symbol raw", "s", "\0\14" .. string.pack("<s4", "sym\0"))
encode_case("dbpointer raw", "p", "\0\12" .. string.pack("<s4", "ns\0") .. ("\1"):rep(12))
encode_case("codews raw", "c", "\0\15" .. string.pack("<i4", 4 + 7 + 5) .. string.pack("<s4", "fn\0") .. "\5\0\0\0\0")

-- Tables that look like arrays or not
encode_case("holey array", "a", { 1, nil, 3 })
encode_case("sparse", "a", { [2] = "x" })
encode_case("first key 1", "a", { [1] = "x", k = "y" })
encode_case("dict", "a", { k = "y" })

-- Encoding errors
encode_case("odd args", "a")
encode_case("nil value", "a", nil)
encode_case("function value", "a", print)
encode_case("bad key", {}, 1)
encode_case("bad utf8 value", "s", "\255")
encode_case("overlong utf8", "s", "\192\128")
encode_case("surrogate utf8", "s", "\237\160\128")
encode_case("too big utf8", "s", "\244\144\128\128")
encode_case("five byte utf8", "s", "\248\136\128\128\128")
encode_case("truncated utf8", "s", "ab\226\130")
encode_case("continuation utf8", "s", "\128")
encode_case("bad utf8 key", "\255", 1)
encode_case("bad objectid", "o", "\0\7short")
encode_case("bad objectid nul", "o", "\0\7ab\0cd")
encode_case("bad date", "d", "\0\9abc")
encode_case("bad timestamp", "t", "\0\17abc")
encode_case("bad int64", "i", "\0\18abc")
encode_case("bad subtype", "x", "\0\99abc")
encode_case("regex no nul end", "r", "\0\11ab\0cde")
encode_case("table number key", "t", { [1.5] = 1 })
encode_case("table bool key", "t", { [true] = 1 })
encode_case("array hole nil", "t", setmetatable({}, { __len = function() return 2 end }))
encode_case("len not integer", "t", setmetatable({}, { __len = function() return "2" end }))
do
	local deep = {}
	local t = deep
	for _ = 1, 130 do
		t.x = {}
		t = t.x
	end
	encode_case("too deep", "d", deep)
	local ok128 = {}
	t = ok128
	for _ = 1, 127 do
		t.x = {}
		t = t.x
	end
	encode_case("depth 128", "d", ok128)
	local loop = {}
	loop.x = loop
	encode_case("cycle", "l", loop)
end
case("encode single key", function() return hex(tostring(bson.encode { key = "value" })) end)
case("encode pairs top", function() return hex(tostring(bson.encode(pairs_obj))) end)
case("encode number top", function() return bson.encode(5) end)
case("encode array top", function() return bson.encode { 1, 2 } end)

---------------------------------------------------------------------------
-- Decoding bad documents

local sample = bson.encode_order("name", "value", "n", 7, "list", { 1, "two", { three = 3 } },
	"f", 1.5, "b", true, "o", specials.objectid, "r", specials.regex, "bin", specials.binary,
	"ts", specials.timestamp, "d", specials.date, "i", specials.int64, "nul", bson.null)
local raw = tostring(sample)
emit("sample", hex(raw))
-- Cut the document short, with its length and end byte set to the cut.
for n = 5, #raw - 1 do
	local cut = string.pack("<i4", n) .. raw:sub(5, n - 1) .. "\0"
	case("cut " .. n, function() return bson.decode(todoc(cut)) end)
end
case("bad end", function() return bson.decode(todoc(raw:sub(1, -2) .. "\1")) end)
case("bad type", function() return bson.decode(todoc("\12\0\0\0\99k\0\0\0\0\0\0")) end)
case("string length 0", function() return bson.decode(todoc("\13\0\0\0\2k\0\0\0\0\0\0\0")) end)
case("string length negative", function() return bson.decode(todoc("\13\0\0\0\2k\0\255\255\255\255\0\0")) end)
case("string too long", function() return bson.decode(todoc("\14\0\0\0\2k\0\9\0\0\0ab\0\0")) end)
case("key without nul", function() return bson.decode(todoc("\8\0\0\0\16kk\0")) end)
case("short int32", function() return bson.decode(todoc("\10\0\0\0\16k\0\1\2\0")) end)
case("short double", function() return bson.decode(todoc("\12\0\0\0\1k\0\1\2\3\4\0")) end)
case("length 4", function() return bson.decode(todoc("\4\0\0\0\0")) end)
case("length 5", function() return bson.decode(todoc("\5\0\0\0\0")) end)
case("array keys", function() return bson.decode(todoc("\27\0\0\0\4a\0\19\0\0\0\16x\0\1\0\0\0\16 9\0\2\0\0\0\0\0")) end)
case("decode string arg", function() return bson.decode(5) end)
case("decode nothing", function() return select("#", bson.decode(nil)) end)

---------------------------------------------------------------------------
-- makeindex and in-place replacement

do
	local doc = bson.encode_order("i", 1, "l", 1 << 40, "f", 1.5, "b", false, "o", specials.objectid,
		"d", specials.date, "t", specials.timestamp, "s", "str", "a", { 1 })
	case("replace before index", function() doc.i = 2 end)
	case("makeindex", function() return doc:makeindex() == doc end)
	case("replace int", function() doc.i = 5 return hex(tostring(doc)) end)
	case("replace int64", function() doc.l = -7 return hex(tostring(doc)) end)
	case("replace double", function() doc.f = 2 return hex(tostring(doc)) end)
	case("replace bool", function() doc.b = 1 return hex(tostring(doc)) end)
	case("replace objectid", function() doc.o = bson.objectid("ffeeddccbbaa998877665544") return hex(tostring(doc)) end)
	case("replace date", function() doc.d = bson.date(1) return hex(tostring(doc)) end)
	case("replace timestamp", function() doc.t = bson.timestamp(2, 3) return hex(tostring(doc)) end)
	case("replace int with float", function() doc.i = 1.5 end)
	case("replace int64 with string", function() doc.l = "x" end)
	case("replace string", function() doc.s = "new" end)
	case("replace array", function() doc.a = {} end)
	case("replace missing", function() doc.zz = 1 end)
	case("replace date with int", function() doc.d = 5 end)
	case("replace date mismatch", function() doc.d = bson.int64(1) end)
	case("replace double with string", function() doc.f = "abc" end)
	case("replace objectid short", function() doc.o = "\0\7abcdef" end)
	case("after replace", function() return bson.decode(doc) end)
	case("len", function() return #doc end)
	case("makeindex non doc", function() return bson.encode_order().makeindex({}) end)
end

return out

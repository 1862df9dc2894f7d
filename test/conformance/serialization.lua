-- serialization.lua — conformance section K (skynet.pack / unpack byte format and errors), run
-- as the `start` service of its own node. Covers K1–K9 with the byte vectors observed on the
-- reference.
--
-- Stands for the reference's lualib-src/lua-seri.c behaviour; no reference test file
-- corresponds to it.

local skynet = require "skynet"
local check = require "check"

local T = check.suite("serialization")

local function hex(s)
	return (s:gsub(".", function(c)
		return string.format("%02x ", c:byte())
	end):gsub(" $", ""))
end

T:case("K1", function()
	local msg, sz = skynet.pack(1, "x")
	check.type(msg, "userdata", "pack message")
	check.eq(sz, 4, "pack size")
	check.values("round trip", table.pack(1, "x"), skynet.unpack(msg, sz))
	skynet.trash(msg, sz)
end)

T:case("K2", function()
	check.eq(hex(skynet.packstring(1, "a", { k = 1 })), "0a 01 0c 61 06 0c 6b 0a 01 00", "1, \"a\", {k=1}")
	check.eq(hex(skynet.packstring(nil, true, false, 0, -1, 255, 256, 65536, 2 ^ 31 | 0, 1.5)),
		"00 09 01 02 22 ff ff ff ff 0a ff 12 00 01 22 00 00 01 00 32 00 00 00 80 00 00 00 00 42 00 00 00 00 00 00 f8 3f",
		"scalars")
	check.eq(hex(skynet.packstring({ 1, 2, 3, x = true })), "1e 0a 01 0a 02 0a 03 0c 78 09 00", "{1,2,3,x=true}")
	check.eq(hex(skynet.packstring(string.rep("s", 31)):sub(1, 1)), "fc", "31-byte string")
	local long = skynet.packstring(string.rep("s", 70000))
	check.eq(hex(long:sub(1, 5)), "25 70 11 01 00", "70000-byte string header")
	check.eq(#long, 70005, "70000-byte string size")
	local zeros = {}
	for i = 1, 31 do zeros[i] = 0 end
	check.eq(hex(skynet.packstring(zeros):sub(1, 4)), "fe 0a 1f 02", "31-element array")
	check.eq(hex(skynet.packstring(-2147483648, -2147483649)), "22 00 00 00 80 32 ff ff ff 7f ff ff ff ff",
		"int32 and int64 boundaries")
end)

T:case("K3", function()
	local r = table.pack(skynet.unpack(skynet.packstring(1, 2.5, "s", true, false, nil, { 1, 2, x = { y = "z" } })))
	check.eq(r.n, 7, "number of values")
	check.same_number(r[1], 1, "integer")
	check.same_number(r[2], 2.5, "float")
	check.eq(r[3], "s", "string")
	check.eq(r[4], true, "true")
	check.eq(r[5], false, "false")
	check.eq(r[6], nil, "nil hole")
	check.eq(r[7][1], 1, "table [1]")
	check.eq(r[7][2], 2, "table [2]")
	check.eq(r[7].x.y, "z", "nested table")
	check.values("integer limits", table.pack(math.maxinteger, -1, 2147483648, 3.0),
		skynet.unpack(skynet.packstring(math.maxinteger, -1, 2147483648, 3.0)))
end)

T:case("K4", function()
	check.eq(select("#", skynet.unpack(skynet.packstring())), 0, "unpack of nothing")
	check.eq(select("#", skynet.unpack(skynet.packstring(nil, nil))), 2, "unpack of two nils")
	check.eq(select("#", skynet.unpack(nil)), 0, "unpack(nil)")
	check.values("unpack of a Lua string", table.pack("str", 7), skynet.unpack(skynet.packstring("str", 7)))
end)

T:case("K5", function()
	local err = check.raises("Unsupport type function to serialize", skynet.pack, function() end)
	check.ends_with(err, "Unsupport type function to serialize")
end)

T:case("K6", function()
	local t = {}
	local cur = t
	for _ = 1, 40 do
		cur.next = {}
		cur = cur.next
	end
	local err = check.raises("serialize can't pack too depth table", skynet.pack, t)
	check.ends_with(err, "serialize can't pack too depth table")
end)

T:case("K7", function()
	local err = check.raises("Invalid serialize stream", skynet.unpack, "\255\255")
	check.matches(err, "Invalid serialize stream", "error text")
end)

T:case("K8", function()
	local proxy = setmetatable({}, {
		__pairs = function()
			return next, { a = 1, b = "two" }, nil
		end,
	})
	local copy = skynet.unpack(skynet.packstring(proxy))
	check.type(copy, "table", "unpacked proxy")
	check.eq(copy.a, 1, "field a")
	check.eq(copy.b, "two", "field b")
end)

T:case("K9", function()
	local msg, sz = skynet.pack(1)
	check.values("trash", table.pack(), skynet.trash(msg, sz))
end)

T:run()

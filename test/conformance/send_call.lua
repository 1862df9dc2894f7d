-- send_call.lua — conformance section B (send / call basics), run as the `start` service of its
-- own node. Covers B1–B16 against the `echo` helper service.
--
-- Stands for the reference's skynet.send / skynet.call / rawcall behaviour (lualib/skynet.lua);
-- no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("send_call")
local SELF = skynet.self()
local e -- the echo service shared by most cases

local function echo()
	if not e then
		e = skynet.newservice("echo")
	end
	return e
end

T:start_case("B4-start", function()
	-- skynet.context() inside a start function has no request.
	check.values("context() in the start function", table.pack(nil, nil), skynet.context())
end)

T:case("B1", function()
	local h = echo()
	check.mathtype(h, "integer", "newservice result")
	check.truthy(h > 0, "handle is positive")
end)

T:case("B2", function()
	check.values("echo of mixed values", table.pack(1, "x", true, nil, 3.5),
		skynet.call(echo(), "lua", "echo", 1, "x", true, nil, 3.5))
end)

T:case("B3", function()
	local r = table.pack(skynet.call(echo(), "lua", "echo", 1, "two", nil, { a = 1 }))
	check.eq(r.n, 4, "number of values")
	check.same_number(r[1], 1, "first value")
	check.eq(r[2], "two", "second value")
	check.eq(r[3], nil, "third value")
	check.type(r[4], "table", "fourth value")
	check.eq(r[4].a, 1, "fourth value .a")
end)

T:case("B4", function()
	local s1, src1 = skynet.call(echo(), "lua", "ctx")
	local s2, src2 = skynet.call(echo(), "lua", "ctx")
	check.mathtype(s1, "integer", "first session")
	check.truthy(s1 > 0, "session is positive")
	check.eq(s2, s1 + 1, "second session is the next one")
	check.eq(src1, SELF, "source seen by the callee")
	check.eq(src2, SELF, "source seen by the callee (second call)")
end)

T:case("B5", function()
	local h = echo()
	check.values("send result", table.pack(0), skynet.send(h, "lua", "record"))
	check.values("session and source of a send", table.pack(0, SELF), skynet.call(h, "lua", "last"))
	local addr = string.format(":%08x", h)
	check.values("send to an address string", table.pack(0), skynet.send(addr, "lua", "record"))
	check.values("session and source of a send by address string", table.pack(0, SELF),
		skynet.call(addr, "lua", "last"))
end)

T:case("B6", function()
	local h = skynet.newservice("echo")
	for i = 1, 100 do
		skynet.send(h, "lua", "push", i)
	end
	local got = skynet.call(h, "lua", "list")
	check.eq(#got, 100, "messages received")
	for i = 1, 100 do
		check.eq(got[i], i, "message #" .. i)
	end
	skynet.kill(h)
end)

T:case("B7", function()
	check.values("send to a missing handle", table.pack(), skynet.send(0x1234, "lua", "x"))
	check.values("send to an unknown local name", table.pack(), skynet.send(".nope", "lua", "x"))
end)

T:case("B8", function()
	local err = check.raises("call to invalid address", skynet.call, 0x1234, "lua", "x")
	check.ends_with(err, "call to invalid address :00001234")
	err = check.raises("call to invalid address", skynet.call, ".nope", "lua", "x")
	check.ends_with(err, "call to invalid address .nope")
end)

T:case("B9", function()
	local err = check.raises("call to invalid address", skynet.rawcall, 0x1234, "lua", skynet.pack("x"))
	check.ends_with(err, "call to invalid address")
end)

T:case("B10", function()
	local err = check.raises("Invalid service address 0", skynet.call, 0, "lua", "x")
	check.ends_with(err, "Invalid service address 0")
	err = check.raises("Invalid service address 0", skynet.send, 0, "lua", "x")
	check.ends_with(err, "Invalid service address 0")
	err = check.raises("dest address type (table) must be a string or number.", skynet.call, {}, "lua", "x")
	check.ends_with(err, "dest address type (table) must be a string or number.")
end)

T:case("B11", function()
	check.raises("attempt to index a nil value", skynet.call, echo(), "nosuchproto", "x")
end)

T:case("B12", function()
	local msg, sz = skynet.rawcall(echo(), "lua", skynet.pack("echo", "raw"))
	check.type(msg, "userdata", "rawcall message")
	check.mathtype(sz, "integer", "rawcall size")
	check.values("unpacked raw reply", table.pack("raw"), skynet.unpack(msg, sz))
	check.values("rawsend result", table.pack(0), skynet.rawsend(echo(), "lua", skynet.pack("noop")))
end)

T:case("B13", function()
	local h = echo()
	skynet.name(".myecho", h)
	check.values("call by local name", table.pack("byname"), skynet.call(".myecho", "lua", "echo", "byname"))
end)

T:case("B14", function()
	check.values("call to self", table.pack("self:hi"), skynet.call(skynet.self(), "lua", "hi"))
end)

T:case("B15", function()
	local h = skynet.newservice("mainchunk_call")
	local ok1, err1, ok2, err2 = skynet.call(h, "lua", "results")
	check.eq(ok1, false, "pcall(skynet.call) in the main chunk")
	check.contains(err1, "attempt to yield from outside a coroutine", "call error")
	check.eq(ok2, false, "pcall(skynet.sleep) in the main chunk")
	check.contains(err2, "attempt to yield from outside a coroutine", "sleep error")
	-- The request was sent anyway; its reply (session 1, from the launcher :3) is unknown.
	local p = check.prefix(h)
	check.expect_log(p .. "Response message : ")
	check.expect_log(string.format("%slua call [3 to :%x : 1 msgsz = *] error : \27[31m*Unknown session : 1 from 3",
		p, h))
end)

T:case("B16", function()
	local rec = check.spawn(skynet.newservice, "nostart")
	check.falsy(check.join(rec, 100), "newservice of a service without skynet.start returned")
	check.expect_log("] no start called\n")
end)

T:run(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "hi" then
			skynet.retpack("self:hi")
		end
	end)
end)

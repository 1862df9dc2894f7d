-- debug_protocol.lua — conformance section I (the `debug` protocol every Lua service serves),
-- run as the `start` service of its own node. Covers I1–I12 against `echo` helper services; the
-- lines the targets log are checked by the harness through EXPECT lines.
--
-- Stands for the reference's lualib/skynet/debug.lua and skynet.inject behaviour; no reference
-- test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("debug_protocol")
local SELF = skynet.self()
local e

local function echo()
	if not e then
		e = skynet.newservice("echo")
	end
	return e
end

T:case("I1", function()
	local r = table.pack(skynet.call(echo(), "debug", "MEM"))
	check.eq(r.n, 1, "number of values")
	check.mathtype(r[1], "float", "MEM reply")
	check.truthy(r[1] > 0, "MEM is positive")
end)

T:case("I2", function()
	local st = skynet.call(echo(), "debug", "STAT")
	check.type(st, "table", "STAT reply")
	check.mathtype(st.cpu, "float", "cpu")
	check.mathtype(st.message, "integer", "message")
	check.mathtype(st.mqlen, "integer", "mqlen")
	check.mathtype(st.task, "integer", "task")
end)

T:case("I3", function()
	local h = skynet.newservice("echo")
	check.values("INFO without info_func", table.pack(nil), skynet.call(h, "debug", "INFO"))
	skynet.call(h, "lua", "set_info")
	local info = skynet.call(h, "debug", "INFO", "a", "b")
	check.type(info, "table", "INFO reply")
	check.eq(info.info, "hello", "info")
	check.eq(info.args, "a,b", "args")
	skynet.kill(h)
end)

T:case("I4", function()
	check.values("PING", table.pack(), skynet.call(echo(), "debug", "PING"))
	check.values("SUPPORT lua", table.pack(true), skynet.call(echo(), "debug", "SUPPORT", "lua"))
	check.values("SUPPORT text", table.pack(false), skynet.call(echo(), "debug", "SUPPORT", "text"))
end)

T:case("I5", function()
	local h = skynet.newservice("echo")
	local task = skynet.call(h, "debug", "TASK")
	check.type(task, "table", "TASK reply")
	check.eq(next(task), nil, "TASK of an idle service")
	check.values("TASK 1", table.pack("No session"), skynet.call(h, "debug", "TASK", 1))
	local u = skynet.call(h, "debug", "UNIQTASK")
	check.type(u, "table", "UNIQTASK reply")
	check.eq(next(u), nil, "UNIQTASK of an idle service")
	skynet.kill(h)
end)

T:case("I6", function()
	check.values("KILLTASK of an unknown name", table.pack("Not found"),
		skynet.call(echo(), "debug", "KILLTASK", "x"))
	check.expect_log(check.prefix(echo()) .. "Kill x : Not found\n")
end)

T:case("I7", function()
	local h = skynet.newservice("echo")
	local rec = check.spawn(skynet.call, h, "debug", "GC")
	skynet.yield() -- the GC request is sent
	-- GC yields once; after two round trips it has certainly finished without replying.
	skynet.call(h, "debug", "PING")
	skynet.call(h, "debug", "PING")
	check.falsy(rec.done, "a call with GC returned")
	local p = check.prefix(h)
	check.expect_log(p .. "GC * Kb -> * Kb, cost * sec\n")
	check.expect_log(string.format("%sMaybe forgot response session * from :%08x : @*debug.lua:*\n", p, SELF))
end)

T:case("I8", function()
	local h = echo()
	check.values("RUN with print", table.pack(true, "a\t1\nb"),
		skynet.call(h, "debug", "RUN", "print('a', 1, nil) print('b') return 5", "chunk.lua"))
	check.values("RUN with arguments", table.pack(true, "x\t2"),
		skynet.call(h, "debug", "RUN", "print(...)", nil, "x", 2))
	check.values("RUN with a compile error", table.pack(false, "bad.lua:1: unexpected symbol near <eof>"),
		skynet.call(h, "debug", "RUN", "local x =", "bad.lua"))
	check.values("RUN with a compile error, no file name", table.pack(false, "(load):1: unexpected symbol near <eof>"),
		skynet.call(h, "debug", "RUN", "local x ="))
	check.values("RUN with a runtime error", table.pack(false, "rt.lua:1: rt"),
		skynet.call(h, "debug", "RUN", "error('rt')", "rt.lua"))
end)

T:case("I9", function()
	local h = skynet.newservice("echo")
	local keys = "local ks = {} for k in pairs(_P) do ks[#ks + 1] = k end table.sort(ks) print(table.concat(ks, ','))"
	check.values("_P keys", table.pack(true, "debug,error,lua"), skynet.call(h, "debug", "RUN", keys))
	check.values("upvalue table of the lua dispatch", table.pack(true, "table\t42"),
		skynet.call(h, "debug", "RUN", "print(type(_P.lua.secret), _P.lua.secret.hidden)"))
	check.values("_U.proto", table.pack(true, "table"), skynet.call(h, "debug", "RUN", "print(type(_U.proto))"))
	check.values("SERVICE_NAME inside RUN", table.pack(true, "echo"),
		skynet.call(h, "debug", "RUN", "print(SERVICE_NAME)"))
	skynet.call(h, "debug", "RUN", "_P.lua.secret.hidden = 99")
	check.values("patched upvalue", table.pack(99), skynet.call(h, "lua", "secret"))
	skynet.kill(h)
end)

T:case("I10", function()
	local h = skynet.newservice("echo")
	local rec = check.spawn(skynet.call, h, "debug", "LINK")
	skynet.yield()
	skynet.call(h, "debug", "PING") -- LINK has been handled
	check.falsy(rec.done, "LINK returned before the target exited")
	skynet.send(h, "debug", "EXIT")
	check.truthy(check.join(rec, 500), "LINK returned after the target exited")
	check.eq(rec.ok, false, "LINK succeeded")
	check.ends_with(rec.results[1], "call failed", "LINK error")
end)

T:case("I11", function()
	local h = echo()
	local session = skynet.genid() + 1
	check.raises("call failed", skynet.call, h, "debug", "NOPE")
	check.expect_log(string.format("%slua call [%x to :%x : %d msgsz = *] error : \27[31m*NOPE", check.prefix(h), SELF,
		h, session))
end)

T:case("I12", function()
	local h = skynet.newservice("echo")
	check.values("TRACELOG lua true", table.pack(), skynet.call(h, "debug", "TRACELOG", "lua", true))
	check.values("TRACELOG without arguments", table.pack(), skynet.call(h, "debug", "TRACELOG"))
	local p = check.prefix(h)
	check.expect_log(p .. "Turn trace log true for lua\n")
	check.expect_log(p .. "Turn trace log nil for lua\n")
	skynet.kill(h)
end)

T:run()

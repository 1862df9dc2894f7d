-- replies.lua — conformance section C (replies: ret / response), run as the `start` service of
-- its own node. Covers C1–C12 against the `echo` and `client` helper services.
--
-- Stands for the reference's skynet.ret / skynet.response behaviour (lualib/skynet.lua);
-- no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("replies")
local SELF = skynet.self()
local e

local function echo()
	if not e then
		e = skynet.newservice("echo")
	end
	return e
end

T:case("C1", function()
	check.values("reply of the first retpack", table.pack(1), skynet.call(echo(), "lua", "twice"))
	local r1, ok2, err2 = skynet.call(echo(), "lua", "get", "twice")
	check.eq(r1, true, "first retpack result")
	check.eq(ok2, false, "second retpack succeeded")
	check.ends_with(err2, "No session", "second retpack error")
end)

T:case("C2", function()
	skynet.send(echo(), "lua", "retsend")
	check.values("retpack in a send handler", table.pack(false), skynet.call(echo(), "lua", "get", "retsend"))
end)

T:case("C3", function()
	check.values("reply", table.pack("a"), skynet.call(echo(), "lua", "resp_test"))
	local t1, first, t2, ok3, err3 = skynet.call(echo(), "lua", "get", "resp_test")
	check.eq(t1, true, "r(\"TEST\") before replying")
	check.eq(first, true, "r(true, \"a\")")
	check.eq(t2, false, "r(\"TEST\") after replying")
	check.eq(ok3, false, "second real response succeeded")
	check.ends_with(err3, "Can't response more than once", "second response error")
end)

T:case("C4", function()
	check.values("reply of the first closure", table.pack("first"), skynet.call(echo(), "lua", "resp_double"))
	local ok2, err2, sent = skynet.call(echo(), "lua", "get", "resp_double")
	check.eq(ok2, false, "second skynet.response() succeeded")
	check.ends_with(err2, "no session", "second skynet.response() error")
	check.eq(sent, true, "first closure result")
end)

T:case("C5", function()
	skynet.send(echo(), "lua", "resp_send")
	local ty, n = skynet.call(echo(), "lua", "get", "resp_send")
	check.eq(ty, "function", "response() in a send handler")
	check.eq(n, 0, "number of values returned by the closure")
end)

T:case("C6", function()
	check.values("custom packed reply", table.pack("custom", 1, 2), skynet.call(echo(), "lua", "resp_custom"))
end)

T:case("C7", function()
	local t0 = skynet.now()
	check.values("deferred reply", table.pack("late"), skynet.call(echo(), "lua", "resp_later", 10))
	local elapsed = skynet.now() - t0
	check.truthy(elapsed >= 10, "reply came after the 10-tick timer (elapsed " .. elapsed .. ")")
end)

T:case("C8", function()
	local err = check.raises("call failed", skynet.call, echo(), "lua", "resp_false")
	check.ends_with(err, "call failed")
end)

-- Start a call in a fork and make sure the callee has handled it: the fork runs at the yield,
-- and the callee handles our later "echo" request after it.
local function pending_call(cmd)
	local h = echo()
	local info = {}
	local rec = check.spawn(function()
		info.session = skynet.genid() + 1
		return skynet.call(h, "lua", cmd)
	end)
	skynet.yield()
	skynet.call(h, "lua", "echo", "sync")
	check.falsy(rec.done, "the call returned")
	return info.session
end

T:case("C9", function()
	local session = pending_call("noret")
	check.expect_log(string.format("%sMaybe forgot response session %d from :%08x : @*/echo.lua:*\n",
		check.prefix(echo()), session, SELF))
end)

T:case("C10", function()
	local session = pending_call("ignore")
	check.expect_nolog(string.format("Maybe forgot response session %d from", session))
end)

T:case("C11", function()
	local callee = skynet.newservice("echo")
	skynet.newservice("client", "call_exit", skynet.address(callee), "resp_later", 30, 5)
	check.values("response to an exited caller", table.pack(false),
		skynet.call(callee, "lua", "waitfor", "resp_later"))
	check.expect_log(check.prefix(callee) .. "late response returns false\n")
	skynet.kill(callee)
end)

T:case("C12", function()
	local callee = skynet.newservice("echo")
	skynet.newservice("client", "call_exit", skynet.address(callee), "sleepret", 20, 5)
	check.values("ret to an exited caller", table.pack(false),
		skynet.call(callee, "lua", "waitfor", "sleepret"))
	skynet.kill(callee)
end)

T:run()

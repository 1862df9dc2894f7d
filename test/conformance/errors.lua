-- errors.lua — conformance section D (errors and dead services), run as the `start` service of
-- its own node. Covers D1–D15 with the `echo`, `tbc` and `exitcheck` helper services; the
-- error lines the callees log are checked by the harness through EXPECT lines.
--
-- Needs at least two worker threads: some cases kill a service while it busy-loops.
-- Stands for the reference's error/exit/kill behaviour (lualib/skynet.lua, skynet_server.c);
-- no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("errors")
local SELF = skynet.self()
local SELF_HEX = check.hex(SELF)

-- Header of the error line a callee `h` logs for a request from us with `session`.
local function error_header(h, session, size)
	return string.format("%slua call [%s to :%x : %s msgsz = %s] error : \27[31m", check.prefix(h), SELF_HEX,
		h, session, size)
end

T:case("D1", function()
	local h = skynet.newservice("echo")
	local session = skynet.genid() + 1
	local err = check.raises("call failed", skynet.call, h, "lua", "raise")
	check.ends_with(err, "call failed")
	check.expect_log(error_header(h, session, 6) .. "*/echo.lua:*: boom\nstack traceback:\n")
	check.values("callee keeps serving", table.pack("still"), skynet.call(h, "lua", "echo", "still"))
	skynet.kill(h)
end)

T:case("D2", function()
	local h = skynet.newservice("echo")
	local session = skynet.genid() + 1
	check.raises("call failed", skynet.call, h, "lua", "raisetable")
	check.expect_log(error_header(h, session, "*") .. "*table: 0x")
	skynet.kill(h)
end)

T:case("D3", function()
	local h = skynet.newservice("echo")
	check.raises("call failed", skynet.call, h, "lua", "sleepexit", 10)
	check.expect_log(string.format("\n%sKILL self\n", check.prefix(h)))
end)

T:case("D4", function()
	local h = skynet.newservice("echo")
	check.raises("call failed", skynet.call, h, "lua", "exitnow")
end)

T:case("D5", function()
	local h = skynet.newservice("echo")
	check.raises("call failed", skynet.call, h, "lua", "resp_hold_exit")
	check.truthy(check.wait_dead(h), "the callee exited")
	check.expect_nolog("resp_hold_exit timer ran")
end)

T:case("D6", function()
	local h = skynet.newservice("echo")
	local r1 = check.spawn(skynet.call, h, "lua", "sleep", 50)
	local r2 = check.spawn(skynet.call, h, "lua", "sleep", 50)
	skynet.yield()
	-- Handled after both sleep requests: they are now being handled, nothing of ours is queued.
	skynet.call(h, "lua", "echo", "sync")
	skynet.kill(h)
	-- Observe for more than the 50 ticks the handlers would have slept.
	check.falsy(check.join(r1, 150), "first call returned")
	check.falsy(r2.done, "second call returned")
end)

T:case("D7", function()
	local h = skynet.newservice("echo")
	-- The victim busy-loops until it is killed (its local name disappears) or 5 s passed.
	skynet.send(h, "lua", "spin_until_gone", ".d7victim", 500)
	local rec = check.spawn(skynet.call, h, "lua", "echo", "queued")
	skynet.yield()
	skynet.kill(h)
	check.truthy(check.join(rec, 1000), "the queued call finished")
	check.eq(rec.ok, false, "the queued call succeeded")
	check.ends_with(rec.results[1], "call failed", "error of the queued call")
end)

T:case("D7b", function()
	local h = skynet.newservice("echo")
	local rec = check.spawn(skynet.call, h, "lua", "sleep", 300)
	skynet.yield()
	skynet.call(h, "lua", "echo", "sync") -- the sleep request is being handled now
	skynet.send(h, "lua", "spin_until_gone", ".d7bvictim", 500)
	skynet.send(h, "lua", "noop") -- stays queued while the victim spins
	skynet.kill(h)
	check.expect_log(string.format("\n%sKILL :%x\n", check.prefix(SELF), h))
	check.truthy(check.join(rec, 1000), "the in-progress call finished")
	check.eq(rec.ok, false, "the in-progress call succeeded")
	check.ends_with(rec.results[1], "call failed", "error of the in-progress call")
end)

T:case("D8", function()
	local h = skynet.newservice("echo")
	skynet.kill(h)
	local err = check.raises("call to invalid address", skynet.call, h, "lua", "hi")
	check.ends_with(err, string.format("call to invalid address :%08x", h))
end)

T:case("D9", function()
	local rec = check.spawn(skynet.call, "UNEXIST", "lua", "x")
	skynet.yield()
	check.falsy(rec.done, "call to an unregistered global name returned at once")
	skynet.term("UNEXIST")
	check.truthy(check.join(rec, 500), "term unblocked the call")
	check.eq(rec.ok, false, "call succeeded")
	check.ends_with(rec.results[1], "call failed")

	-- The same through the debug protocol's TERM command, sent to ourselves.
	local rec2 = check.spawn(skynet.call, "UNEXIST2", "lua", "x")
	skynet.yield()
	check.falsy(rec2.done, "second call returned at once")
	skynet.send(SELF, "debug", "TERM", "UNEXIST2")
	check.truthy(check.join(rec2, 500), "debug TERM unblocked the call")
	check.eq(rec2.ok, false, "second call succeeded")
	check.ends_with(rec2.results[1], "call failed")
end)

T:case("D10", function()
	local h = skynet.newservice("echo")
	skynet.send(h, "text", "plain text msg")
	check.values("receiver keeps serving", table.pack("sync"), skynet.call(h, "lua", "echo", "sync"))
	check.expect_log(check.prefix(h) .. "Unknown request (0): plain text msg\n")
	check.expect_log(error_header(h, 0, 14) .. string.format("*Unknown session : 0 from %s", SELF_HEX))
	local err = check.raises("call failed", skynet.call, h, "text", "called text msg")
	check.ends_with(err, "call failed")
	check.expect_nolog("Unknown request (0): called text msg")
	skynet.kill(h)
end)

T:case("D11", function()
	local h = skynet.newservice("echo", "text-nodispatch")
	skynet.send(h, "text", "to registered-no-dispatch")
	check.values("receiver keeps serving", table.pack("sync"), skynet.call(h, "lua", "echo", "sync"))
	check.expect_log(check.prefix(h) .. "Unknown request (text): to registered-no-dispatch\n")
	check.expect_log(error_header(h, 0, "*") .. string.format("*Unknown session : 0 from %s", SELF_HEX))
	local err = check.raises("call failed", skynet.call, h, "text", "called")
	check.ends_with(err, "call failed")
	skynet.kill(h)
end)

T:case("D12", function()
	local h = skynet.newservice("echo")
	skynet.redirect(h, SELF, "response", 77777, "bogus")
	check.values("receiver keeps serving", table.pack("sync"), skynet.call(h, "lua", "echo", "sync"))
	check.expect_log(check.prefix(h) .. "Response message : bogus\n")
	check.expect_log(error_header(h, 77777, 5) .. string.format("*Unknown session : 77777 from %s", SELF_HEX))
	skynet.kill(h)
end)

T:case("D13", function()
	skynet.register_protocol {
		name = "client",
		id = skynet.PTYPE_CLIENT,
		pack = function(s) return s end,
		unpack = skynet.tostring,
	}
	local token = {}
	local got
	local prev = skynet.dispatch_unknown_request(function(session, source, msg, sz, prototype)
		got = table.pack(session, source, skynet.tostring(msg, sz), prototype)
		skynet.wakeup(token)
	end)
	check.type(prev, "function", "previous unknown-request handler")
	skynet.send(SELF, "client", "self client msg")
	skynet.wait(token)
	skynet.dispatch_unknown_request(prev)
	check.values("unknown request handler arguments", table.pack(0, SELF, "self client msg", "client"),
		table.unpack(got, 1, got.n))

	local h = skynet.newservice("echo")
	local resp
	local prev_resp = skynet.dispatch_unknown_response(function(session, source, msg, sz)
		resp = table.pack(session, source, skynet.tostring(msg, sz))
		skynet.wakeup(token)
	end)
	check.type(prev_resp, "function", "previous unknown-response handler")
	skynet.redirect(SELF, h, "response", 55555, "bogus2")
	skynet.wait(token)
	skynet.dispatch_unknown_response(prev_resp)
	check.values("unknown response handler arguments", table.pack(55555, h, "bogus2"),
		table.unpack(resp, 1, resp.n))
	skynet.kill(h)
end)

T:case("D14", function()
	local h = skynet.launch("snlua", "tbc")
	check.mathtype(h, "integer", "skynet.launch result")
	check.truthy(check.wait_dead(h), "tbc exited")
	local p = check.prefix(h)
	local kill = "\n" .. p .. "KILL self\n"
	check.expect_order(p .. "closing:fork_wait: ", kill)
	check.expect_order(p .. "closing:fork_call: ", kill)
	check.expect_order(p .. "closing:handler_wait: ", kill)
	check.expect_order(kill, p .. "closing:start: ")
	check.expect_nolog("closing:late_fork")
	check.expect_order(p .. "closing:handler_error: ", p .. "lua call [*] error : \27[31m*handler_error")
end)

T:case("D15", function()
	check.values("newservice of a service exiting in start", table.pack(true),
		pcall(skynet.newservice, "exitcheck"))
	check.expect_nolog("exitcheck fork ran")
	check.expect_nolog("exitcheck timeout ran")
	check.expect_nolog("exitcheck code after exit ran")
end)

T:run(function()
	skynet.register_protocol {
		name = "text",
		id = skynet.PTYPE_TEXT,
		pack = function(s) return s end,
		unpack = skynet.tostring,
	}
end)

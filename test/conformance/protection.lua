-- protection.lua — conformance section M (runtime protection: overload warning, endless-loop
-- monitor, memory limit, signals, skynet.stat), run as the `start` service of its own node.
-- Covers M1–M6 with the `echo` and `memlimit_svc` helper services; the warnings are checked by
-- the harness through EXPECT lines.
--
-- Needs at least two worker threads (a helper busy-loops while this service keeps working).
-- M2 keeps one worker busy for 12 s by design (the monitor checks every 5 s).
-- Stands for the reference's skynet_mq.c overload check, skynet_monitor.c, snlua's memlimit and
-- signal handling; no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local core = require "skynet.core"
local check = require "check"

local T = check.suite("protection")
local SELF = skynet.self()

-- Fired when an echo service tells us it started its busy loop (command spin_signal).
local on_spinning

T:case("M1", function()
	local h = skynet.newservice("echo")
	-- The victim is busy until 3000 messages are queued behind the current one. Send them only
	-- once it is busy, so that all of them queue up behind the busy message.
	local spinning = check.event()
	on_spinning = spinning
	local busy = check.spawn(skynet.call, h, "lua", "spin_until_mqlen", 3000, 3000)
	spinning.wait()
	for _ = 1, 3000 do
		skynet.send(h, "lua", "noop")
	end
	check.truthy(check.join(busy, 3500), "the busy request finished")
	check.truthy(busy.ok, "the busy request succeeded")
	check.eq(busy.results[1], 3000, "queue length seen by the busy service")
	check.values("the victim keeps serving", table.pack("after"), skynet.call(h, "lua", "echo", "after"))
	local p = check.prefix(h)
	check.expect_count(1, p .. "error: May overload, message queue length = ")
	check.expect_log(p .. "error: May overload, message queue length = 2999\n")
	skynet.kill(h)
end, 4000)

T:case("M2", function()
	local h = skynet.newservice("echo")
	check.values("skynet.stat(\"endless\") read twice after the loop", table.pack(1, 0),
		skynet.call(h, "lua", "endless", 1200))
	check.expect_log(string.format(
		"\n[:00000000] error: A message from [ :00000000 ] to [ :%08x ] maybe in an endless loop (version = *)\n", h))
	skynet.kill(h)
end, 3000)

T:case("M3", function()
	local h = skynet.newservice("memlimit_svc")
	check.values("skynet.memlimit removed itself", table.pack(true), skynet.call(h, "lua", "removed"))
	check.values("allocation beyond the limit", table.pack(false, "not enough memory"),
		skynet.call(h, "lua", "alloc"))
	check.values("the service keeps working", table.pack("pong"), skynet.call(h, "lua", "ping"))
	check.expect_log(check.prefix(h) .. "Set memory limit to 2.00 M\n")
	skynet.kill(h)
end)

T:case("M4", function()
	local h = skynet.newservice("echo")
	-- Several rounds on the same service: each signal must interrupt exactly the running request
	-- (a trap left armed by one round would break the next request or the dispatcher itself).
	local rounds = 8
	for round = 1, rounds do
		local spinning = check.event()
		on_spinning = spinning
		local rec = check.spawn(skynet.call, h, "lua", "spin_signal", 2000)
		spinning.wait()
		core.command("SIGNAL", skynet.address(h))
		check.truthy(check.join(rec, 2500), "the interrupted call returned (round " .. round .. ")")
		check.eq(rec.ok, false, "the interrupted call succeeded (round " .. round .. ")")
		check.ends_with(rec.results[1], "call failed", "error of the interrupted call")
		check.values("the service keeps serving", table.pack("alive"), skynet.call(h, "lua", "echo", "alive"))
	end
	local p = check.prefix(h)
	check.expect_count(rounds, p .. "recv a signal 0\n")
	check.expect_log(string.format("%slua call [%x to :%x : * msgsz = *] error : \27[31m*signal 0", p, SELF, h))
	check.expect_count(rounds, p .. "lua call [*")
	skynet.kill(h)
end, 3000)

T:case("M5", function()
	local h = skynet.newservice("echo")
	core.command("SIGNAL", skynet.address(h) .. " 1")
	check.values("the service keeps serving", table.pack("alive"), skynet.call(h, "lua", "echo", "alive"))
	local p = check.prefix(h)
	check.expect_log(p .. "recv a signal 1\n")
	check.expect_log(p .. "Current Memory *K\n")
	check.expect_order(p .. "recv a signal 1\n", p .. "Current Memory ")
	skynet.kill(h)
end)

T:case("M6", function()
	local h = skynet.newservice("echo")
	local mqlen, message, cpu, time, endless, unknown_ok, unknown = skynet.call(h, "lua", "stats")
	check.same_number(mqlen, 0, "stat mqlen")
	check.mathtype(message, "integer", "stat message")
	check.truthy(message > 0, "stat message counts handled messages")
	check.mathtype(cpu, "float", "stat cpu")
	check.mathtype(time, "float", "stat time")
	check.same_number(endless, 0, "stat endless")
	check.eq(unknown_ok, true, "skynet.stat of an unknown key succeeded (" .. tostring(unknown) .. ")")
	check.same_number(unknown, 0, "stat of an unknown key")
	skynet.kill(h)
end)

T:run(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "spinning" and on_spinning then
			on_spinning.fire()
		end
	end)
end)

-- boot_logging.lua — conformance section A (boot and logging), run as the `start` service of
-- its own node. Covers A1–A5; the boot-order prefix of A1 is checked by the Rust harness
-- (tests/conformance.rs), the other log lines through EXPECT lines (see check.lua).
-- A6 (abort may drop pending log lines) allows either outcome and is not asserted.
--
-- Stands for the reference's observed boot/logging behaviour (skynet_server.c, bootstrap.lua,
-- launcher.lua); no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("boot_logging")
local SELF_PREFIX = check.prefix(skynet.self())

T:start_case("A1", function()
	check.eq(skynet.self(), 8, "handle of the start service")
	check.eq(skynet.localname(".launcher"), 3, "handle of .launcher")
	-- The bootstrap retires itself only after this start function has returned.
	check.expect_order("\n" .. SELF_PREFIX .. "A1 start function returns\n", "\n[:00000002] KILL self\n")
	check.expect_count(1, "\n[:00000002] KILL self\n")
end)

T:case("A2", function()
	skynet.error("A2 begin")
	skynet.error(1, 2.5, true, nil)
	skynet.error()
	skynet.error(nil)
	skynet.error("a\nb")
	skynet.error("A2 end")
	local p = "\n" .. SELF_PREFIX
	check.expect_log(p .. "1 2.5 true nil\n")
	check.expect_count(2, p .. "nil\n")
	check.expect_log(p .. "a\nb\n")
	check.expect_order(p .. "A2 begin\n", p .. "1 2.5 true nil\n")
	check.expect_order(p .. "1 2.5 true nil\n", p .. "nil\n")
	check.expect_order(p .. "nil\n", p .. "a\nb\n")
	check.expect_order(p .. "a\nb\n", p .. "A2 end\n")
end)

-- The spec launches from the start function (the bootstrap is still alive then, which decides
-- which handle the allocator picks next).
T:start_case("A3", function()
	local e = skynet.newservice("echo", "a", 2, "c d")
	check.expect_log(string.format("\n[:%08x] LAUNCH snlua echo a 2 c d\n", e))
	check.expect_log(string.format("\n[:%08x] echo started n= 4 a 2 c d\n", e))
	check.values("start arguments", table.pack("a", "2", "c", "d"), skynet.call(e, "lua", "args"))

	local big = tostring(2 ^ 53)
	local e2 = skynet.newservice("echo", 1.5, 2 ^ 53)
	check.expect_log(string.format("\n[:%08x] LAUNCH snlua echo 1.5 %s\n", e2, check.lit(big)))
	check.values("number arguments", table.pack("1.5", big), skynet.call(e2, "lua", "args"))
	skynet.kill(e)
	skynet.kill(e2)
	check.eq(e, 9, "first service created by the start service")
end)

T:case("A4", function()
	-- skynet.exit() logs KILL self in the exiting service.
	local e = skynet.newservice("echo")
	check.raises("call failed", skynet.call, e, "lua", "exitnow")
	check.expect_log(string.format("\n[:%08x] KILL self\n", e))

	-- skynet.kill from this service logs KILL :<hex, no padding> in our context.
	local e2 = skynet.newservice("echo")
	skynet.kill(e2)
	check.expect_log(string.format("\n%sKILL :%x\n", SELF_PREFIX, e2))
	check.raises("call to invalid address", skynet.call, e2, "lua", "hi")

	-- The launcher's KILL command logs in the launcher's context.
	local e3 = skynet.newservice("echo")
	skynet.call(".launcher", "lua", "KILL", e3)
	check.expect_log(string.format("\n[:00000003] KILL :%x\n", e3))
	check.raises("call to invalid address", skynet.call, e3, "lua", "hi")
end)

T:case("A5", function()
	print("A5 print output")
	check.expect_log("\nA5 print output\n")
end)

T:run(nil, function()
	skynet.error("A1 start function returns")
end)

-- launcher_cmds.lua — conformance section H (launcher and service_mgr commands), run as the
-- `start` service of its own node (named launcher_cmds so that it does not shadow
-- service/launcher.lua). Covers H1–H6 with the `echo` helper service; H6 reads the per-service
-- message log written under the config's `logpath`.
--
-- Stands for the reference's launcher.lua / service_mgr.lua command behaviour; no reference test
-- file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("launcher_cmds")
local SELF = skynet.self()

T:case("H1", function()
	local list = skynet.call(".launcher", "lua", "LIST")
	check.eq(list[":00000004"], "snlua cdummy", "LIST entry :00000004")
	check.eq(list[":00000006"], "snlua datacenterd", "LIST entry :00000006")
	check.eq(list[":00000007"], "snlua service_mgr", "LIST entry :00000007")
	check.eq(list[skynet.address(SELF)], "snlua launcher_cmds", "LIST entry of the start service")
	check.eq(list[":00000003"], nil, "the launcher itself is not listed")
	local lower = skynet.call(".launcher", "lua", "list")
	check.eq(lower[":00000004"], "snlua cdummy", "lower-case command name")
end)

T:case("H2", function()
	local mem = skynet.call(".launcher", "lua", "MEM")
	local n = 0
	for addr, v in pairs(mem) do
		n = n + 1
		check.matches(v, "^%d+%.%d%d Kb %(snlua .+%)$", "MEM entry " .. addr)
	end
	check.truthy(n >= 4, "MEM lists the launched services")
	check.matches(mem[skynet.address(SELF)], "^%d+%.%d%d Kb %(snlua launcher_cmds%)$", "our MEM entry")

	local stat = skynet.call(".launcher", "lua", "STAT")
	for addr, v in pairs(stat) do
		check.type(v, "table", "STAT entry " .. addr)
		check.type(v.cpu, "number", "STAT cpu of " .. addr)
		check.mathtype(v.message, "integer", "STAT message of " .. addr)
		check.mathtype(v.mqlen, "integer", "STAT mqlen of " .. addr)
		check.mathtype(v.task, "integer", "STAT task of " .. addr)
	end
	check.type(stat[skynet.address(SELF)], "table", "our STAT entry")

	local gc = skynet.call(".launcher", "lua", "GC")
	for addr, v in pairs(gc) do
		check.matches(v, "^%d+%.%d%d Kb %(snlua .+%)$", "GC entry " .. addr)
	end
	check.expect_log(check.prefix(SELF) .. "GC * Kb -> * Kb, cost * sec\n")
	check.expect_log("[:00000007] GC * Kb -> * Kb, cost * sec\n")
end)

T:case("H3", function()
	local h = skynet.newservice("echo", "busy")
	skynet.send(h, "lua", "spin", 300)
	local addr = skynet.address(h)
	local stat = skynet.call(".launcher", "lua", "STAT", 20)
	check.eq(stat[addr], "TIMEOUT", "STAT entry of the busy service")
	local mem = skynet.call(".launcher", "lua", "MEM", 20)
	check.eq(mem[addr], "TIMEOUT (snlua echo busy)", "MEM entry of the busy service")
	skynet.kill(h)
end)

T:case("H4", function()
	local h = skynet.newservice("echo")
	local r = skynet.call(".launcher", "lua", "KILL", h)
	check.eq(r[skynet.address(h)], "snlua echo", "KILL reply")
	check.expect_log(string.format("\n[:00000003] KILL :%x\n", h))
	check.raises("call to invalid address", skynet.call, h, "lua", "hi")
	local r2 = skynet.call(".launcher", "lua", "KILL", 0x4321)
	check.eq(r2[":00004321"], "nil", "KILL reply for an unknown handle")
end)

T:case("H5", function()
	local r = skynet.call(".launcher", "lua", "NOPE")
	check.type(r, "table", "reply to an unknown launcher command")
	check.eq(r[1], "Unknown command", "reply to an unknown launcher command")
	check.values("unknown service_mgr command", table.pack(nil, "Invalid command NOPE"),
		skynet.call(".service", "lua", "NOPE"))
end)

T:case("H6", function()
	local logpath = check.truthy(skynet.getenv("logpath"), "logpath is configured")
	local h = skynet.call(".launcher", "lua", "LOGLAUNCH", "snlua", "echo", "logged")
	check.mathtype(h, "integer", "LOGLAUNCH reply")
	local file = string.format("%s/%08x.log", logpath, h)
	check.expect_log("[:00000003] Open log file " .. check.lit(file) .. "\n")
	check.values("logged service answers", table.pack("hello"), skynet.call(h, "lua", "echo", "hello"))

	local payload = skynet.packstring("echo", "hello"):gsub(".", function(c)
		return string.format("%02x", c:byte())
	end)
	local f = check.truthy(io.open(file, "r"), "log file " .. file .. " exists")
	local first = f:read("l")
	local found = false
	for line in f:lines() do
		local src, ptype, rest = line:match("^:(%x+) (%d+) (.*)$")
		if src and tonumber(src, 16) == SELF and ptype == "10" then
			check.matches(rest, "^%-?%d+ %d+ %x*$", "log line " .. line)
			if rest:match(" (%x*)$") == payload then
				found = true
			end
		end
	end
	f:close()
	check.matches(first, "^open time: %d+ ", "first line of the log file")
	check.truthy(found, "the echo request is in the log file as :<source> 10 <session> <ticks> " .. payload)
	skynet.kill(h)
end)

T:run()

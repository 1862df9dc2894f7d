-- lib_service.lua — conformance section L, skynet.service (L24–L25): services made from a Lua
-- function, backed by service_provider / service_cell. Run as the `start` service of its own
-- node.
--
-- Stands for the reference's lualib/skynet/service.lua with service/service_provider.lua and
-- service/service_cell.lua; no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local service = require "skynet.service"
local check = require "check"

local T = check.suite("lib_service")
local SELF = skynet.self()

-- The main function of svc1: only _ENV as upvalue.
local function svc1_main(...)
	local skynet = require "skynet"
	local args = table.pack(...)
	skynet.start(function()
		skynet.dispatch("lua", function(_, _, ...)
			skynet.retpack(string.format("svc1 got %d args %s", args.n, table.concat(args, ",", 1, args.n)), ...)
		end)
	end)
end

T:case("L24", function()
	local h = service.new("svc1", svc1_main, "p1", "p2")
	check.mathtype(h, "integer", "service.new result")
	check.values("call into the captured dispatch", table.pack("svc1 got 2 args p1,p2", "x"),
		skynet.call(h, "lua", "x"))
	check.eq(service.new("svc1", svc1_main, "other"), h, "second service.new of the same name")
	check.eq(service.query("svc1"), h, "service.query")
	check.expect_count(1, "] LAUNCH snlua service_provider\n")
	check.expect_log(string.format("\n[:%08x] LAUNCH snlua service_cell svc1\n", h))
end)

T:case("L25", function()
	local captured = {}
	check.raises("assertion failed!", service.new, "svcbad", function()
		return captured
	end)
	local h = service.query("svc1")
	check.values("close of a running service", table.pack(true), service.close("svc1"))
	check.expect_log(string.format("\n%sKILL :%x\n", check.prefix(SELF), h))
	check.values("close of an unknown name", table.pack(false), service.close("nosuch"))
	check.raises("call failed", service.new, "svcfail", function()
		error("svc main fails")
	end)
	check.raises("call failed", service.query, "svcfail")
	check.raises("call failed", service.new, "svcfail", function() end)
end)

T:run()

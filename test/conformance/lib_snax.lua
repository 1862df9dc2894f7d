-- lib_snax.lua — conformance section L, snax (L30–L32). Run as the `start` service of its own
-- node with the snax service `snaxping`.
--
-- Stands for the reference's lualib/skynet/snax.lua and service/snaxd.lua; L32 follows the
-- scenario of the reference's testping (written independently).

local skynet = require "skynet"
require "skynet.manager"
local snax = require "skynet.snax"
local check = require "check"

local T = check.suite("lib_snax")
local obj

T:case("L30", function()
	obj = snax.newservice("snaxping", "a1")
	local p = check.prefix(obj.handle)
	check.expect_log(string.format("\n%sLAUNCH snlua snaxd snaxping\n", p))
	check.expect_log(p .. "snaxping start: a1\n")
	check.eq(tostring(obj), string.format("[snaxping:%x]", obj.handle), "tostring of a snax object")
	check.eq(obj.type, "snaxping", "obj.type")
	check.raises("post snaxping:nosuch no exist", function() return obj.post.nosuch end)
	check.raises("request snaxping:nosuch no exist", function() return obj.req.nosuch end)
	check.values("req.ping", table.pack("x"), obj.req.ping("x"))
	check.values("post.hello", table.pack(), obj.post.hello())
	check.eq(obj.req.hellos(), 1, "hello was posted once")
end)

T:case("L31", function()
	local u = snax.uniqueservice("snaxping", "u")
	check.neq(u.handle, obj.handle, "the unique service is a new instance")
	check.truthy(rawequal(snax.queryservice("snaxping"), u), "queryservice returns the same object")
	check.truthy(rawequal(snax.bind(u.handle, "snaxping"), u), "bind returns the cached object")
	local victim = snax.newservice("snaxping", "victim")
	local handle = victim.handle
	pcall(snax.kill, victim, "bye")
	check.truthy(check.wait_dead(handle), "the killed snax service exited")
	check.expect_log(check.prefix(handle) .. "snaxping exit: bye\n")
	check.expect_log("\n" .. check.prefix(handle) .. "KILL self\n")
	local err = check.raises("call to invalid address", victim.req.ping, "x")
	check.ends_with(err, string.format("call to invalid address :%08x", handle))
end)

T:case("L32", function()
	check.raises("call failed", obj.req.error)
	local patch = [[
local hellos

function accept.hello()
	hellos = hellos + 100
end

function hotfix(...)
	local before = hellos
	hellos = 1000
	return before
end
]]
	check.values("hotfix result", table.pack(1), snax.hotfix(obj, patch))
	obj.post.hello()
	check.eq(obj.req.hellos(), 1100, "patched accept.hello")
	local info = skynet.call(obj.handle, "debug", "INFO")
	check.type(info, "table", "debug INFO")
	check.eq(info.hello and info.hello.count, 2, "hello count")
	check.eq(info.ping and info.ping.count, 1, "ping count")
	check.eq(info.error and info.error.count, 1, "error count")
	check.type(info.hello.time, "number", "hello time")
end)

T:run()

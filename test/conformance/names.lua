-- names.lua — conformance section G (names, identity, creating services), run as the `start`
-- service of its own node. Covers G1–G16 with the `echo`, `uniq`, `later`, `failstart`,
-- `exitstart`, `synerr` and `plain` helper services; loader and init-failure log blocks are
-- checked by the harness through EXPECT lines (stderr of G8 by a static expectation).
--
-- Stands for the reference's naming/launching behaviour (skynet.manager, launcher.lua,
-- service_mgr.lua, loader.lua); no reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local harbor = require "skynet.harbor"
local check = require "check"

local T = check.suite("names")
local SELF = skynet.self()
local MAIN_CHUNK_SELF = skynet.self()

-- The paths the loader tries for service `name`, from the `luaservice` templates.
local function service_paths(name)
	local paths = {}
	for template in skynet.getenv("luaservice"):gmatch("[^;]+") do
		paths[#paths + 1] = (template:gsub("%?", name))
	end
	return paths
end

local function file_exists(path)
	local f = io.open(path, "r")
	if f then
		f:close()
		return true
	end
	return false
end

T:case("G1", function()
	check.eq(skynet.address(".x"), ".x", "address of a local name")
	check.eq(skynet.address(14), ":0000000e", "address of 14")
	check.eq(skynet.address(0x12345678), ":12345678", "address of 0x12345678")
	check.eq(skynet.address(nil), "nil", "address of nil")
	check.eq(skynet.address(true), "true", "address of true")
end)

T:case("G2", function()
	local h = skynet.newservice("echo")
	check.values("skynet.harbor of a local handle", table.pack(0, false), skynet.harbor(h))
	check.eq(MAIN_CHUNK_SELF, SELF, "skynet.self() in the main chunk")
	check.eq(SELF, 8, "handle of the start service")
	skynet.kill(h)
end)

T:case("G3", function()
	check.values("skynet.register(\".me\")", table.pack(), skynet.register(".me"))
	check.eq(skynet.localname(".me"), SELF, "localname of our own name")
	check.values("localname of an unknown name", table.pack(), skynet.localname(".x"))
	local h = skynet.newservice("echo")
	skynet.name(".g3echo", h)
	check.eq(skynet.localname(".g3echo"), h, "localname of a named service")
	skynet.kill(h)
	check.eq(skynet.localname(".g3echo"), nil, "localname after the service was killed")
end)

T:case("G4", function()
	local first = skynet.newservice("echo")
	local second = skynet.newservice("echo")
	skynet.call(first, "lua", "register", ".lname")
	check.values("second registration of a taken name", table.pack(),
		skynet.call(second, "lua", "register", ".lname"))
	check.eq(skynet.localname(".lname"), first, "owner of the name")
	skynet.kill(second)
end)

T:case("G5", function()
	local long = ".abcdefghijklmnopqrstuvwxyz0123456789"
	skynet.register(long)
	check.eq(skynet.localname(long), SELF, "long local name")
	check.raises("assertion failed!", skynet.register, "ABCDEFGHIJKLMNOPQ")
	check.raises("assertion failed!", skynet.register, "123")
	check.raises("assertion failed!", skynet.register, ":abc")
end)

T:case("G6", function()
	local h = skynet.newservice("echo")
	skynet.call(h, "lua", "register", "GNAME")
	check.values("call by global name", table.pack("hi"), skynet.call("GNAME", "lua", "echo", "hi"))
	check.values("localname of a global name", table.pack(), skynet.localname("GNAME"))
	check.eq(harbor.queryname("GNAME"), h, "harbor.queryname of a global name")
	local l = skynet.localname(".lname")
	check.eq(harbor.queryname(".lname"), l, "harbor.queryname of a local name")
end)

T:case("G7", function()
	local h = skynet.newservice("echo")
	skynet.name(".alias", h)
	skynet.kill(".alias")
	check.expect_log(string.format("\n%sKILL :%x\n", check.prefix(SELF), h))
	check.raises("call to invalid address", skynet.call, h, "lua", "hi")
	check.values("kill of an unconvertible name", table.pack(), skynet.kill("zzz"))
	check.expect_log(check.prefix(SELF) .. "error: Can't convert zzz to handle\n")
end)

T:case("G8", function()
	local h = skynet.launch("snlua", "echo", "direct")
	check.mathtype(h, "integer", "skynet.launch result")
	local p = check.prefix(h)
	-- launch returns before the script ran: the LAUNCH line comes first.
	check.expect_order("\n" .. p .. "LAUNCH snlua echo direct\n", "\n" .. p .. "echo started n= 1 direct\n")
	-- Requests that arrive before its start function ran find no `lua` dispatch yet (call failed):
	-- poll until it answers, so that it is not killed before it started.
	check.truthy(check.wait_until(function()
		return pcall(skynet.call, h, "lua", "echo", "x")
	end), "the launched service answers")
	local list = skynet.call(".launcher", "lua", "LIST")
	check.eq(list[skynet.address(h)], nil, "launcher LIST entry of a directly launched service")
	check.values("launch of a missing module", table.pack(), skynet.launch("nosuchmod"))
	skynet.kill(h)
end)

T:case("G9", function()
	local h1 = skynet.uniqueservice("uniq", "x", "y")
	check.mathtype(h1, "integer", "uniqueservice result")
	check.eq(skynet.uniqueservice("uniq", "z"), h1, "second uniqueservice")
	check.eq(skynet.queryservice("uniq"), h1, "queryservice")
	check.values("arguments of the unique service", table.pack("x", "y"), skynet.call(h1, "lua"))
	check.expect_count(1, "] LAUNCH snlua uniq x y\n")
	check.expect_nolog("LAUNCH snlua uniq z")
	local g = skynet.uniqueservice(true, "uniq", "g")
	check.neq(g, h1, "global unique instance")
	check.expect_log(string.format("\n[:%08x] LAUNCH snlua uniq g\n", g))
	check.eq(skynet.queryservice(true, "uniq"), g, "queryservice(true, ...)")
end)

T:case("G10", function()
	local err1 = check.raises("call failed", skynet.uniqueservice, "failstart")
	check.contains(err1, "service_mgr", "first error")
	check.ends_with(err1, "call failed", "first error")
	local err2 = check.raises("call failed", skynet.uniqueservice, "failstart")
	check.contains(err2, "service_mgr", "second error")
	check.ends_with(err2, "call failed", "second error")
	check.raises("call failed", skynet.queryservice, "failstart")
	check.expect_count(1, "] LAUNCH snlua failstart\n")
end)

T:case("G11", function()
	local rec = check.spawn(skynet.queryservice, "later")
	skynet.yield()
	check.falsy(rec.done, "queryservice returned before the service was launched")
	local h = skynet.uniqueservice("later")
	check.truthy(check.join(rec, 500), "queryservice returned after the launch")
	check.truthy(rec.ok, "queryservice succeeded")
	check.eq(rec.results[1], h, "queryservice result")
end)

T:case("G12", function()
	check.raises("call failed", skynet.newservice, "failstart", "again")
	local launch = "\n[:{H}] LAUNCH snlua failstart again\n"
	local failed = "\n[:{H}] init service failed: */failstart.lua:*: fail in start again\nstack traceback:\n"
	check.expect_order(launch, failed)
	check.expect_order(failed, "\n[:{H}] KILL self\n")
end)

T:case("G13", function()
	check.values("newservice of a service exiting in start", table.pack(true),
		pcall(skynet.newservice, "exitstart"))
	check.expect_order("\n[:{H}] LAUNCH snlua exitstart\n", "\n[:{H}] KILL self\n")
end)

T:case("G14", function()
	local err = check.raises("call failed", skynet.newservice, "nosuchsvc")
	check.ends_with(err, "call failed")
	local lines = {}
	for _, path in ipairs(service_paths("nosuchsvc")) do
		lines[#lines + 1] = "cannot open " .. check.lit(path) .. ": No such file or directory"
	end
	local loader = "\n[:{H}] lua loader error : *" .. table.concat(lines, "\n") .. "\nstack traceback:\n"
	check.expect_order("\n[:{H}] LAUNCH snlua nosuchsvc\n", loader)
	check.expect_order(loader, "\n[:{H}] KILL self\n")
end)

T:case("G15", function()
	check.raises("call failed", skynet.newservice, "synerr")
	local lines = {}
	for _, path in ipairs(service_paths("synerr")) do
		if file_exists(path) then
			lines[#lines + 1] = check.lit(path) .. ":*: cannot use '...' outside a vararg function near '...'"
		else
			lines[#lines + 1] = "cannot open " .. check.lit(path) .. ": No such file or directory"
		end
	end
	check.expect_order("\n[:{H}] LAUNCH snlua synerr\n",
		"\n[:{H}] lua loader error : *" .. table.concat(lines, "\n") .. "\n")
end)

T:case("G16", function()
	check.raises("call failed", skynet.newservice, "echo", true)
end)

T:run()

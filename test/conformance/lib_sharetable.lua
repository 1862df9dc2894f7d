-- lib_sharetable.lua — conformance section L, skynet.sharetable (L21–L23). Run as the `start`
-- service of its own node; L22 loads test/conformance/sharetable_data.lua.
--
-- Stands for the reference's lualib/skynet/sharetable.lua; no reference test file corresponds
-- to it.

local skynet = require "skynet"
require "skynet.manager"
local sharetable = require "skynet.sharetable"
local check = require "check"

local T = check.suite("lib_sharetable")

local HERE = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

T:case("L21", function()
	sharetable.loadtable("t1", { x = 1, y = { "a", "b" }, [1] = "one" })
	local t = sharetable.query("t1")
	check.eq(t.x, 1, "t.x")
	check.eq(t.y[2], "b", "t.y[2]")
	check.eq(t[1], "one", "t[1]")
	check.eq(#t.y, 2, "#t.y")
	check.values("query of an unknown name", table.pack(), sharetable.query("nosuch"))
	check.raises("attempt to index a table value", function() t.x = 5 end)
	check.eq(t.x, 1, "t.x after the failed write")
	check.expect_log("] LAUNCH snlua service_provider\n")
	check.expect_log("] LAUNCH snlua service_cell sharetable\n")
end)

T:case("L22", function()
	sharetable.loadstring("t2", "return { v = ... }", 7)
	check.eq(sharetable.query("t2").v, 7, "loadstring with an argument")
	local file = HERE .. "sharetable_data.lua"
	sharetable.loadfile(file, 42)
	check.eq(sharetable.query(file).arg, 42, "loadfile with an argument")
	check.raises("call failed", sharetable.loadstring, "t3", "return { v = ... }", "a string")
	check.expect_log("bad argument #2 to 'matrix' (Type invalid)")
	check.raises("assertion failed!", sharetable.loadtable, "bad", "str")
	check.raises("call failed", sharetable.loadstring, "t4", "return {")
end)

T:case("L23", function()
	local all = sharetable.queryall()
	check.type(all.t1, "table", "queryall() t1")
	check.type(all.t2, "table", "queryall() t2")
	local some = sharetable.queryall { "t1", "nosuch" }
	check.eq(check.keys(some), "t1", "queryall of a list")
	local old = sharetable.query("t1")
	local holder = { ref = old }
	sharetable.loadtable("t1", { x = 2, y = { "c" } })
	check.eq(old.x, 1, "an old reference before update")
	sharetable.update("t1")
	check.eq(old.x, 2, "a local variable after update")
	check.eq(#old.y, 1, "#y after update")
	check.eq(holder.ref.x, 2, "a table field after update")
end)

T:run()

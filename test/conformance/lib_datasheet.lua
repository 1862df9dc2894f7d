-- lib_datasheet.lua — conformance section L, skynet.datasheet (L33–L34). Run as the `start`
-- service of its own node with the `dsreader` helper service.
--
-- Updates reach readers through a monitor coroutine; the cases poll (bounded) until the new
-- version is visible.
-- Stands for the reference's lualib/skynet/datasheet/*.lua; L33 follows the scenario of the
-- reference's testdatasheet (written independently).

local skynet = require "skynet"
require "skynet.manager"
local builder = require "skynet.datasheet.builder"
local datasheet = require "skynet.datasheet"
local check = require "check"

local T = check.suite("lib_datasheet")

T:case("L33", function()
	builder.new("foobar", { a = 1, b = 2, c = { 3 } })
	local reader = skynet.newservice("dsreader")
	check.values("the reader sees the data", table.pack(1, 2, 3), skynet.call(reader, "lua", "read"))
	local t = datasheet.query("foobar")
	local c = t.c
	builder.update("foobar", { b = 4, c = { 5 } })
	check.truthy(check.wait_until(function()
		return t.b == 4
	end), "the existing object sees the update")
	check.eq(t.a, nil, "removed key")
	check.eq(c[1], 5, "a previously fetched sub-table is updated too")
	builder.update("foobar", { a = 6, c = 7, d = 8 })
	check.truthy(check.wait_until(function()
		return t.d == 8
	end), "the second update arrives")
	check.eq(t.c, 7, "c after the second update")
	check.eq(t.a, 6, "a after the second update")
	skynet.kill(reader)
end)

T:case("L34", function()
	check.raises("call failed", datasheet.query, "nosuch")
	check.raises("call failed", datasheet.query, "nosuch")
	local t = datasheet.query("foobar")
	check.ok(function() t.extra = "shadow" end)
	check.eq(t.extra, "shadow", "assigned field reads back")
end)

T:run()

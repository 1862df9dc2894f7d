-- lib_sharedata.lua — conformance section L, skynet.sharedata (L17–L20). Run as the `start`
-- service of its own node with the `sdreader` helper service.
--
-- Updates reach other services' proxies after a monitor round trip; the cases poll (bounded)
-- until the new data is visible.
-- Stands for the reference's lualib/skynet/sharedata.lua and service/sharedatad.lua; no
-- reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local sharedata = require "skynet.sharedata"
local check = require "check"

local T = check.suite("lib_sharedata")

T:case("L17", function()
	sharedata.new("cfg", { x = 1, arr = { 10, 20, 30 }, n = { m = "deep" } })
	check.raises("call failed", sharedata.new, "cfg", { x = 9 })
	sharedata.new("fromstr", "return { a = 1, b = ... }", "argB")
	local fs = sharedata.query("fromstr")
	check.eq(fs.a, 1, "fromstr.a")
	check.eq(fs.b, "argB", "fromstr.b")
	local o1 = sharedata.query("cfg")
	local o2 = sharedata.query("cfg")
	check.truthy(rawequal(o1, o2), "query returns the same object twice")
	local keys = {}
	for k in pairs(o1) do keys[#keys + 1] = k end
	table.sort(keys)
	check.eq(table.concat(keys, " "), "arr n x", "keys seen by pairs")
	check.eq(#o1.arr, 3, "#arr")
	check.eq(o1.n.m, "deep", "nested value")
end)

T:case("L18", function()
	local o = sharedata.query("cfg")
	check.raises("Error newindex, the key []", function() o.x = 2 end)
	check.raises("Error newindex, the key [.n]", function() o.n.m = 2 end)
	check.raises("call failed", sharedata.query, "nosuch")
end)

T:case("L19", function()
	local reader = skynet.newservice("sdreader")
	local o = sharedata.query("cfg")
	sharedata.update("cfg", { x = 2, arr = { 1 } })
	check.truthy(check.wait_until(function()
		return o.x == 2
	end), "our proxy sees the update")
	check.truthy(check.wait_until(function()
		return skynet.call(reader, "lua", "read") == 2
	end), "the reader's proxy sees the update")
	local x, len, n, ok, err = skynet.call(reader, "lua", "read")
	check.eq(x, 2, "reader x")
	check.eq(len, 1, "reader #arr")
	check.eq(n, nil, "reader n")
	check.eq(ok, false, "old child proxy still readable")
	check.contains(err, "The key [.n] doesn't exist after update", "old child proxy error")
	local copy = sharedata.deepcopy("cfg")
	check.eq(getmetatable(copy), nil, "deepcopy has no metatable")
	check.eq(copy.x, 2, "deepcopy x")
	check.eq(sharedata.deepcopy("cfg", "arr")[1], 1, "deepcopy of a sub-path")
	skynet.kill(reader)
end)

T:case("L20", function()
	local o = sharedata.query("cfg")
	sharedata.delete("cfg")
	check.truthy(check.wait_until(function()
		return not pcall(sharedata.query, "cfg")
	end), "query fails after delete")
	check.eq(o.x, 2, "an existing proxy keeps the last data")
	sharedata.update("created", { v = 1 })
	check.eq(sharedata.query("created").v, 1, "update of an unknown name creates it")
end)

T:run()

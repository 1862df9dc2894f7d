-- select.lua — conformance section F (request objects: skynet.request / select), run as the
-- `start` service of its own node. Covers F1–F6 against the `echo` helper service.
--
-- Stands for the reference's request/select behaviour (lualib/skynet.lua); F4 has the shape of
-- the reference's testselect but is written independently.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("select")
local e

local function echo()
	if not e then
		e = skynet.newservice("echo")
	end
	return e
end

local function collect(iter, s, v)
	local got = {}
	for req, resp in iter, s, v do
		got[#got + 1] = { req = req, resp = resp }
	end
	return got
end

T:case("F1", function()
	local h = echo()
	local r = skynet.request()
	check.type(r, "table", "skynet.request()")
	check.type(getmetatable(r), "table", "metatable of a request object")
	r:add { h, "lua", "echo", "A", n = 4 }
	r:add { h, "lua", "sleep", 5 }
	r:add { 0x4321, "lua", "echo", "dead" }
	r:add { h, "lua", "raise" }
	local rb = { h, "lua", "echo", "B", nil, "C" }
	r:add(rb)
	local got = collect(r:select())
	check.eq(#got, 5, "number of results")
	check.eq(got[1].req[1], 0x4321, "first result is the invalid address")
	check.eq(got[1].resp, nil, "resp of the invalid address")
	check.eq(got[2].req[4], "A", "second result")
	check.eq(got[2].resp.n, 1, "resp.n of echo A")
	check.eq(got[2].resp[1], "A", "resp of echo A")
	check.eq(got[3].req[3], "raise", "third result")
	check.eq(got[3].resp, false, "resp of the failing request")
	check.eq(got[4].req, rb, "fourth result")
	check.eq(got[4].resp[1], "B", "resp of echo B")
	-- Arguments are req[3] .. req[#req]; #req of a table with a hole is any border.
	check.eq(got[4].resp.n, #rb - 3, "resp.n of echo B")
	check.eq(got[5].req[3], "sleep", "fifth result")
	check.eq(got[5].resp[1], "slept", "resp of sleep")
end)

T:case("F2", function()
	local r = skynet.request { echo(), "lua", "echo", 1 }
	local got = collect(r:select())
	check.eq(#got, 1, "number of results")
	check.raises("assertion failed!", r.add, r, { echo(), "lua", "echo", 2 })
	check.raises("assertion failed!", r.select, r)
end)

T:case("F3", function()
	local req = skynet.request { echo(), "lua", "sleep", 100 } { echo(), "lua", "echo", "fast" }
	local got = collect(req:select(20))
	check.eq(#got, 1, "number of results before the timeout")
	check.eq(got[1].resp[1], "fast", "the result that arrived")
	check.eq(req.timeout, true, "req.timeout")
end)

T:case("F4", function()
	local h = echo()
	-- Replies come back in arrival order.
	local r = skynet.request()
	for i = 6, 1, -1 do
		r:add { h, "lua", "sleep", i * 10 }
	end
	local order = {}
	for req, resp in r:select() do
		check.eq(resp[1], "slept", "reply")
		order[#order + 1] = "SLEEP " .. req[4] // 10
	end
	check.list(order, { "SLEEP 1", "SLEEP 2", "SLEEP 3", "SLEEP 4", "SLEEP 5", "SLEEP 6" })

	-- With a timeout only the replies that arrived in time are reported.
	local r2 = skynet.request()
	for i = 1, 10 do
		r2:add { h, "lua", "sleep", i * 10 }
	end
	local reported = {}
	for req in r2:select(50) do
		reported[#reported + 1] = req[4] // 10
	end
	check.truthy(#reported >= 1 and #reported <= 4, "replies reported before the 50-tick timeout: " .. #reported)
	for i, v in ipairs(reported) do
		check.eq(v, i, "reply #" .. i)
	end
	check.eq(r2.timeout, true, "timeout flag")

	-- A failing request yields false, the others still arrive, and the loop body may block.
	local r3 = skynet.request { h, "lua", "raise" } { h, "lua", "echo", "PING" }
	local failed, ping, inner = false, false, nil
	for req, resp in r3:select() do
		if req[3] == "raise" then
			failed = (resp == false)
		else
			ping = resp[1] == "PING"
		end
		inner = skynet.call(h, "lua", "echo", "inside")
	end
	check.truthy(failed, "the failing request yields false")
	check.truthy(ping, "the other request arrives")
	check.eq(inner, "inside", "skynet.call inside the loop body")
end, 1500)

T:case("F5", function()
	local h = echo()
	local base = skynet.genid()
	local first
	do
		local r <close> = skynet.request { h, "lua", "sleep", 30 } { h, "lua", "echo", "x" }
		for _, resp in r:select() do
			first = resp
			break
		end
	end
	check.eq(first[1], "x", "first result")
	-- The 30-tick sleep replies before this 31-tick one: its late reply has arrived by now.
	check.eq(skynet.call(h, "lua", "sleep", 31), "slept", "later call")
	check.expect_nolog(string.format("Unknown session : %d from %x", base + 1, h))
end)

T:case("F6", function()
	local n = 0
	for _ in skynet.request():select() do
		n = n + 1
	end
	check.eq(n, 0, "iterations of an empty request")
end)

T:run()

-- tracing.lua — conformance section N (skynet.trace / tracetag / tracelog and the automatic
-- trace events of calls and sleeps), run as the `start` service of its own node. Covers N1–N4
-- with the `echo` helper service; the trace lines are checked by the harness through EXPECT
-- lines.
--
-- Stands for the reference's trace support (lualib/skynet.lua, lua-skynet.c ltrace); no
-- reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local check = require "check"

local T = check.suite("tracing")
local SELF = skynet.self()
local P = check.prefix(SELF)
local e

local function echo()
	if not e then
		e = skynet.newservice("echo")
	end
	return e
end

T:case("N1", function()
	echo() -- created before tracing starts, so that the launch is not traced
	skynet.trace("caller")
	local tag = string.format(":%08x-1", SELF) -- the first tag this service hands out
	check.eq(skynet.tracetag(), tag, "skynet.tracetag()")
	check.expect_log("\n" .. P .. "TRACE nil\n")
	check.expect_log(P .. "<TRACE " .. tag .. "> * trace caller\n")
	check.expect_order("\n" .. P .. "TRACE nil\n", P .. "<TRACE " .. tag .. "> * trace caller\n")
end)

T:case("N2", function()
	skynet.trace()
	local tag = check.truthy(skynet.tracetag(), "trace tag")
	check.values("traced call", table.pack("traced"), skynet.call(echo(), "lua", "echo", "traced"))
	local c = check.prefix(echo())
	local call = P .. "<TRACE " .. tag .. "> * call : @*tracing.lua:*"
	local request = c .. "<TRACE " .. tag .. "> * request\n"
	local response = c .. "<TRACE " .. tag .. "> * response\n"
	local finish = c .. "<TRACE " .. tag .. "> * end\n"
	local resume = P .. "<TRACE " .. tag .. "> * resume\n"
	check.expect_order(call, request)
	check.expect_order(request, response)
	check.expect_order(response, finish)
	check.expect_order(response, resume)
end)

T:case("N3", function()
	skynet.trace()
	local tag = check.truthy(skynet.tracetag(), "trace tag")
	local callee_tag = skynet.call(echo(), "lua", "trace_self")
	check.eq(callee_tag, string.format(":%08x-1", echo()), "callee's own trace tag")
	local c = check.prefix(echo())
	check.expect_log("\n" .. c .. "TRACE " .. tag .. "\n")
	check.expect_log(c .. "<TRACE " .. callee_tag .. "> * trace mytag\n")
end)

T:case("N4", function()
	skynet.tracelog("mytag2", "user message")
	check.expect_log(P .. "<TRACE mytag2> * user message\n")
	skynet.trace()
	local tag = check.truthy(skynet.tracetag(), "trace tag")
	skynet.sleep(1)
	check.expect_log(P .. "<TRACE " .. tag .. "> * sleep : *tracing.lua:*")
end)

T:run()

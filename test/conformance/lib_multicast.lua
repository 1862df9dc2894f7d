-- lib_multicast.lua — conformance section L, skynet.multicast (L15–L16). Run as the `start`
-- service of its own node with two `mcsub` subscriber services.
--
-- Publishing is a call to multicastd, which forwards to the subscribers before it replies, so a
-- publication has reached every subscriber's queue (and ours) once `publish` returns.
-- Stands for the reference's lualib/skynet/multicast.lua and service/multicastd.lua; no
-- reference test file corresponds to it.

local skynet = require "skynet"
require "skynet.manager"
local mc = require "skynet.multicast"
local check = require "check"

local T = check.suite("lib_multicast")
local SELF = skynet.self()
local channel_id, subscriber

T:case("L15", function()
	local c = mc.new()
	check.eq(tostring(c), "[Multicast:0]", "tostring of the first channel")
	check.same_number(c.channel, 0, "first channel id")
	local c2 = mc.new()
	check.same_number(c2.channel, 256, "second channel id")
	channel_id = c.channel
	local s1 = skynet.newservice("mcsub", c.channel)
	local s2 = skynet.newservice("mcsub", c.channel)
	subscriber = s1
	check.values("publish", table.pack(), c:publish("hello", 1, nil, { x = 1 }))
	for _, s in ipairs { s1, s2 } do
		local got = skynet.call(s, "lua", "get")
		check.eq(#got, 1, "publications received by " .. skynet.address(s))
		local m = got[1]
		check.eq(m.chan, "[Multicast:0]", "channel object given to dispatch")
		check.eq(m.source, SELF, "source of the publication")
		check.eq(m.n, 4, "number of values (the nil is kept)")
		check.eq(m.v1, "hello", "first value")
		check.eq(m.v2, 1, "second value")
		check.eq(m.v3, nil, "third value")
		check.eq(m.v4x, 1, "fourth value .x")
	end
	check.expect_log("] LAUNCH snlua multicastd\n")
	c2:delete()
end)

T:case("L16", function()
	local own = {}
	local c = mc.new {
		dispatch = function(_, source, v)
			own[#own + 1] = { source = source, v = v }
		end,
	}
	c:subscribe()
	c:publish("to myself")
	check.eq(#own, 1, "own publications received while subscribed")
	check.eq(own[1].v, "to myself", "own publication")
	check.eq(own[1].source, SELF, "source of the own publication")
	c:unsubscribe()
	c:publish("after unsubscribe")
	check.eq(#own, 1, "own publications received after unsubscribe")

	local id = c.channel
	c:delete()
	check.eq(c.channel, nil, "channel after delete")
	check.raises("assertion failed!", c.publish, c, "x")
	local other = mc.new { channel = id }
	check.values("publish on a deleted channel", table.pack(), other:publish("nobody"))

	-- Deleting L15's channel drops its subscribers: a publication through another object
	-- reaches nobody.
	mc.new({ channel = channel_id }):delete()
	check.values("publish on the deleted channel", table.pack(), mc.new({ channel = channel_id }):publish("deleted"))
	check.eq(#skynet.call(subscriber, "lua", "get"), 1, "publications received after the channel was deleted")
end)

T:run()

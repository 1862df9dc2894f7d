-- mcsub.lua — helper service for cases L15–L16: subscribes (twice, which must be harmless) to
-- the multicast channel given as its argument and records every publication it receives.
--   get    reply with the list of received publications:
--          { chan = tostring(channel), source = ..., n = #values, v1, v2, v3, v4x = v4.x }
--
-- Stands for no reference file.

local skynet = require "skynet"
local mc = require "skynet.multicast"

local channel = math.tointeger(tonumber((...)))
local received = {}

skynet.start(function()
	local c = mc.new {
		channel = channel,
		dispatch = function(chan, source, ...)
			local v = table.pack(...)
			received[#received + 1] = {
				chan = tostring(chan),
				source = source,
				n = v.n,
				v1 = v[1],
				v2 = v[2],
				v3 = v[3],
				v4x = type(v[4]) == "table" and v[4].x or nil,
			}
		end,
	}
	c:subscribe()
	c:subscribe()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "get" then
			skynet.retpack(received)
		end
	end)
end)

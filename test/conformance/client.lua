-- client.lua — helper service that acts as a short-lived caller (cases C11, C12):
--   client call_exit <address> <cmd> <arg> <ticks>
-- issues skynet.call(<address>, "lua", <cmd>, <arg>) from a fork and exits <ticks> ticks after
-- its start, while the call is still pending.
--
-- Stands for the caller side of the reference's testdeadcall/testresponse scenarios
-- (not a reference file).

local skynet = require "skynet"

local mode, address, cmd, arg, ticks = ...

skynet.start(function()
	assert(mode == "call_exit", "unknown client mode " .. tostring(mode))
	skynet.fork(function()
		skynet.call(address, "lua", cmd, arg)
		skynet.error("client call returned")
	end)
	skynet.timeout(tonumber(ticks), skynet.exit)
end)

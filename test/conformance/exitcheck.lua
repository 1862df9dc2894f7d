-- exitcheck.lua — helper service for case D15: nothing after skynet.exit() runs — neither the
-- rest of the exiting coroutine nor a fork or a 0-tick timeout created just before it.
--
-- Stands for the reference's skynet.exit behaviour (not a reference file).

local skynet = require "skynet"

skynet.start(function()
	skynet.fork(function()
		skynet.error("exitcheck fork ran")
	end)
	skynet.timeout(0, function()
		skynet.error("exitcheck timeout ran")
	end)
	skynet.exit()
	skynet.error("exitcheck code after exit ran")
end)

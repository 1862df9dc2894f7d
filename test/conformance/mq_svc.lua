-- mq_svc.lua — helper service for case L29: serves skynet.mqueue requests one at a time.
--   add v   sleeps a tick, replies v + 1
--   fail    raises "mqerr"
--
-- Stands for no reference file.

local skynet = require "skynet"
local mqueue = require "skynet.mqueue"

skynet.start(function()
	mqueue.register(function(cmd, v)
		if cmd == "add" then
			skynet.sleep(1)
			return v + 1
		elseif cmd == "fail" then
			error("mqerr")
		end
	end)
end)

-- later.lua — helper service for case G11: a unique service that is queried before anyone
-- launches it.
--
-- Stands for no reference file.

local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function()
		skynet.retpack("later")
	end)
end)

-- exitstart.lua — helper service for case G13: its start function calls skynet.exit(), so its
-- creator's newservice returns no value.
--
-- Stands for no reference file.

local skynet = require "skynet"

skynet.start(function()
	skynet.exit()
end)

-- failstart.lua — helper service for cases G10 and G12: its start function raises, so the
-- service logs `init service failed: ...`, exits, and its creator's newservice fails.
--
-- Stands for no reference file.

local skynet = require "skynet"

skynet.start(function()
	error("fail in start")
end)

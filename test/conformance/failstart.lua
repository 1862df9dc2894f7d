-- failstart.lua — helper service for cases G10 and G12: its start function raises
-- "fail in start" followed by the service's arguments, so the service logs
-- `init service failed: ...`, exits, and its creator's newservice fails.
--
-- Stands for no reference file.

local skynet = require "skynet"

local args = table.concat({ ... }, " ")

skynet.start(function()
	error(args == "" and "fail in start" or ("fail in start " .. args))
end)

-- uniq.lua — helper service for case G9 (skynet.uniqueservice / queryservice): logs its
-- arguments and answers `lua` requests with them.
--
-- Stands for no reference file.

local skynet = require "skynet"

local args = table.pack(...)

skynet.start(function()
	skynet.dispatch("lua", function()
		skynet.retpack(table.unpack(args, 1, args.n))
	end)
end)

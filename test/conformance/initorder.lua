-- initorder.lua — helper service for case L26: records the order in which its main chunk, a
-- module required from the main chunk (mymod), the skynet.init functions and the start function
-- run; answers any `lua` request with that list.
--
-- Stands for no reference file.

local skynet = require "skynet"

INITORDER = {}

skynet.init(function()
	table.insert(INITORDER, "A")
end)

require "mymod"
table.insert(INITORDER, "main rest")

skynet.start(function()
	table.insert(INITORDER, "start")
	skynet.dispatch("lua", function()
		skynet.retpack(INITORDER)
	end)
end)

-- mymod.lua — module for case L26: appends to the requiring service's INITORDER list while its
-- chunk runs and registers a skynet.init function that appends "B".
--
-- Stands for no reference file.

local skynet = require "skynet"

table.insert(INITORDER, "mymod chunk")

skynet.init(function()
	table.insert(INITORDER, "B")
end)

return { name = "mymod" }

-- slowmod.lua — module for case L27: blocks (skynet.sleep) while loading and registers a
-- skynet.init function; counts how often its chunk ran in the global SLOWMOD_LOADS.
--
-- Stands for no reference file.

local skynet = require "skynet"

SLOWMOD_LOADS = (SLOWMOD_LOADS or 0) + 1

local m = { loads = SLOWMOD_LOADS, inits = 0 }

skynet.sleep(10)

skynet.init(function()
	m.inits = m.inits + 1
end)

return m

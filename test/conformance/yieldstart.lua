-- yieldstart.lua — helper service for case L9: calls skynet.coroutine.yield inside pcall in its
-- start function, outside any skynet.coroutine.resume. The pcall must not catch it: the start
-- coroutine is abandoned with `Call skynet.coroutine.yield out of skynet.coroutine.resume`.
--
-- Stands for no reference file.

local skynet = require "skynet"
local scoroutine = require "skynet.coroutine"

skynet.start(function()
	pcall(scoroutine.yield, 1)
	skynet.error("yieldstart: pcall returned")
end)

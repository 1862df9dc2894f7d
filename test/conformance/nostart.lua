-- nostart.lua — helper service for case B16: its script never calls skynet.start, so its
-- creator's newservice never returns.
--
-- Stands for the reference's snlua behaviour without a callback (not a reference file).

local skynet = require "skynet"

skynet.error("no start called")

-- plain.lua — minimal helper service: starts, answers nothing. Used as a probe for the next
-- service handle and as a trivially healthy service.
--
-- Stands for no reference file.

local skynet = require "skynet"

skynet.start(function() end)

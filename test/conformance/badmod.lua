-- badmod.lua — module for case L28: blocks while loading, then raises.
--
-- Stands for no reference file.

local skynet = require "skynet"

skynet.sleep(5)
error("badmod fails")

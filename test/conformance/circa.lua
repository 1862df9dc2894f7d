-- circa.lua — module for case L28: requires circb, which requires circa again.
--
-- Stands for no reference file.

local b = require "circb"

return { b = b }

-- circb.lua — module for case L28: requires circa, which is still loading.
--
-- Stands for no reference file.

local a = require "circa"

return { a = a }

-- sdreader.lua — helper service for case L19: holds a sharedata proxy of "cfg" (and of its
-- child `n`) taken before an update, and reports what it reads now.
--   read   reply x, #arr, n (from the root), and the pcall result of reading the old child n.m
--
-- Stands for no reference file.

local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

local root, child

skynet.start(function()
	root = sharedata.query("cfg")
	child = root.n
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "read" then
			local ok, err = pcall(function()
				return child.m
			end)
			skynet.retpack(root.x, #root.arr, root.n, ok, err)
		end
	end)
end)

-- dsreader.lua — helper service for case L33: reads the datasheet "foobar" in another service.
--   read   reply a, b, c[1]
--
-- Stands for the child mode of the reference's testdatasheet (written independently).

local skynet = require "skynet"
local datasheet = require "skynet.datasheet"

skynet.start(function()
	local t = datasheet.query("foobar")
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "read" then
			skynet.retpack(t.a, t.b, type(t.c) == "table" and t.c[1] or t.c)
		end
	end)
end)

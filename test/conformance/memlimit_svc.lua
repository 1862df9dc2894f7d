-- memlimit_svc.lua — helper service for case M3: sets a 2 MiB Lua heap limit from its main chunk
-- and answers `lua` requests:
--   removed   whether skynet.memlimit was removed after its first use
--   alloc     try to allocate far beyond the limit inside pcall; reply (ok, err)
--   ping      reply "pong" (the service keeps working after the failed allocation)
--
-- Stands for the behaviour shown by the reference's testmemlimit (not a copy of it).

local skynet = require "skynet"

skynet.memlimit(2 * 1024 * 1024)
local removed = skynet.memlimit == nil

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "removed" then
			skynet.retpack(removed)
		elseif cmd == "alloc" then
			local ok, err = pcall(function()
				local t = {}
				for i = 1, 10000000 do
					t[i] = {}
				end
				return #t
			end)
			collectgarbage("collect")
			skynet.retpack(ok, err)
		elseif cmd == "ping" then
			skynet.retpack("pong")
		end
	end)
end)

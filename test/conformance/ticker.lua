-- ticker.lua — helper service for case E17: keeps every request's skynet.response() closure
-- and, once per second, answers all of them with its current skynet.now().
--
-- Stands for the TICK mode of the reference's testresponse (not a copy of it).

local skynet = require "skynet"

local pending = {}

skynet.start(function()
	skynet.dispatch("lua", function()
		pending[#pending + 1] = skynet.response()
	end)
	skynet.fork(function()
		while true do
			skynet.sleep(100)
			local now = skynet.now()
			local answering = pending
			pending = {}
			for _, respond in ipairs(answering) do
				respond(true, now)
			end
		end
	end)
end)

-- mainchunk_call.lua — helper service for case B15: calls blocking APIs from the main chunk
-- (outside skynet.start), where they must fail with "attempt to yield from outside a coroutine",
-- and reports the pcall results to whoever asks (`lua` request "results").
--
-- Stands for the reference's behaviour of snlua's main chunk (not a reference file).

local skynet = require "skynet"

local call_result = table.pack(pcall(skynet.call, ".launcher", "lua", "LIST"))
local sleep_result = table.pack(pcall(skynet.sleep, 1))

skynet.start(function()
	skynet.dispatch("lua", function()
		skynet.retpack(call_result[1], call_result[2], sleep_result[1], sleep_result[2])
	end)
end)

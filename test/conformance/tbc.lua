-- tbc.lua — helper service for case D14: skynet.exit() must close every suspended coroutine
-- (running their `<close>` handlers) before the service is retired, close the exiting coroutine
-- after `KILL self`, and never start forks queued after the last yield. A `<close>` variable in
-- a failing request handler runs before the error is logged.
--
-- Every to-be-closed value logs `closing:<where>` (its __name) when closed.
-- Stands for the behaviour shown by the reference's testtobeclosed (not a copy of it).

local skynet = require "skynet"

local function closer(where)
	return setmetatable({}, {
		__name = "closing:" .. where,
		__close = function(obj, err)
			skynet.error(obj, err)
		end,
	})
end

local requests = 0
skynet.dispatch("lua", function()
	requests = requests + 1
	if requests == 2 then
		local c <close> = closer("handler_error")
		error("handler_error")
	else
		local c <close> = closer("handler_wait")
		skynet.wait()
	end
end)

skynet.start(function()
	local c <close> = closer("start")
	skynet.fork(function()
		local a <close> = closer("fork_error")
		error("fork raises")
	end)
	skynet.fork(function()
		local a <close> = closer("fork_wait")
		skynet.wait()
	end)
	skynet.fork(function()
		local a <close> = closer("fork_call")
		skynet.call(skynet.self(), "lua")
	end)
	skynet.fork(function()
		skynet.call(skynet.self(), "lua")
	end)
	-- Both self-calls were queued by the forks above before this timer can expire.
	skynet.sleep(10)
	skynet.fork(function()
		local a <close> = closer("late_fork")
		skynet.wait()
	end)
	skynet.exit()
end)

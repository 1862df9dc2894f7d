-- net_console_target — helper service of the debug console tests: a
-- service with an info function, a lua echo command, a request it never
-- answers and two coroutines parked forever (for task/uniqtask/killtask).
--
-- lua commands: echo(...) -> ...; block() -> never answered.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"

local never_answered = {}

skynet.info_func(function(...)
  return { a = 1, args = select("#", ...), b = "two" }
end)

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    if cmd == "echo" then
      skynet.retpack(...)
    elseif cmd == "block" then
      never_answered[#never_answered + 1] = skynet.response()
    else
      error("unknown command " .. tostring(cmd))
    end
  end)
  for _ = 1, 2 do
    skynet.fork(function()
      skynet.wait()
    end)
  end
end)

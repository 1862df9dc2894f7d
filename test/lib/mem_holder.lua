-- mem_holder — helper service for test_memory: holds Lua data on request.
--
-- Stands for no file of the reference (test service). lua commands:
-- fill bytes (keeps about that many bytes of strings), ping, gcmode (the collector's mode,
-- left as it was), exit.

local skynet = require "skynet"

local held = {}

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, n)
    if cmd == "fill" then
      for i = 1, n // 1024 do
        held[i] = string.rep(string.char(i % 256), 1000) .. i
      end
      skynet.retpack(#held)
    elseif cmd == "ping" then
      skynet.retpack(true)
    elseif cmd == "gcmode" then
      local mode = collectgarbage("incremental")
      collectgarbage(mode)
      skynet.retpack(mode)
    else
      skynet.exit()
    end
  end)
end)

-- pingpong — example service: two instances bounce a counter.
--
-- Started as `pingpong <label>`. lua protocol:
--   play peer n -> rounds played (calls `hit` on peer n times)
--   hit k       -> k + 1

local skynet = require "skynet"

local label = ...

local command = {}

function command.hit(k)
  return k + 1
end

function command.play(peer, n)
  local k = 0
  for _ = 1, n do
    k = skynet.call(peer, "lua", "hit", k)
    skynet.error(string.format("%s got %d", label, k))
  end
  return k
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = assert(command[cmd], cmd)
    skynet.retpack(f(...))
  end)
end)

-- The echo service of the cluster ping-pong benchmark: answers every call
-- with its arguments.
local skynet = require "skynet"

skynet.start(function()
  skynet.dispatch("lua", function(_, _, ...)
    skynet.ret(skynet.pack(...))
  end)
end)

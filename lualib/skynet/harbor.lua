-- skynet.harbor — the service-side API of the harbor slave.
--
-- Stands for the reference's lualib/skynet/harbor.lua. Every function is a
-- lua message to the node's slave, registered locally as `.cslave` (cdummy
-- on a single node, cslave in a master/slave cluster); the slave does the
-- work, this module only names the requests:
--   globalname(name [, handle])  REGISTER, a send (handle: the caller)
--   queryname(name) -> handle    QUERYNAME, blocks until the name is known
--   link(id)                     LINK, returns once harbor `id` is down
--   connect(id)                  CONNECT, returns once harbor `id` is up
--   linkmaster()                 LINKMASTER, returns once the master is gone

local skynet = require "skynet"

local SLAVE = ".cslave"

-- A request whose only answer is "it happened": the reply carries no value
-- worth giving back, the caller just blocks until it arrives.
local function block_until(request)
  return function(...)
    skynet.call(SLAVE, "lua", request, ...)
  end
end

return {
  globalname = function(name, handle)
    skynet.send(SLAVE, "lua", "REGISTER", name, handle or skynet.self())
  end,
  queryname = function(name)
    return skynet.call(SLAVE, "lua", "QUERYNAME", name)
  end,
  link = block_until "LINK",
  connect = block_until "CONNECT",
  linkmaster = block_until "LINKMASTER",
}

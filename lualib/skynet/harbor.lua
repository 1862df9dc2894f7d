-- skynet.harbor — talk to the node's harbor slave (`.cslave`).
--
-- Stands for the reference's lualib/skynet/harbor.lua (the local part: every
-- function is a message to `.cslave`, which is cdummy in a single node and
-- cslave in a harbor cluster).

local skynet = require "skynet"

local harbor = {}

-- bind a global name to `handle` (default: the calling service)
function harbor.globalname(name, handle)
  skynet.send(".cslave", "lua", "REGISTER", name, handle or skynet.self())
end

-- handle of a global (or ".local") name; blocks until the name exists
function harbor.queryname(name)
  return skynet.call(".cslave", "lua", "QUERYNAME", name)
end

-- returns when harbor `id` goes down
function harbor.link(id)
  skynet.call(".cslave", "lua", "LINK", id)
end

-- returns once harbor `id` is connected
function harbor.connect(id)
  skynet.call(".cslave", "lua", "CONNECT", id)
end

-- returns when the master goes down
function harbor.linkmaster()
  skynet.call(".cslave", "lua", "LINKMASTER")
end

return harbor

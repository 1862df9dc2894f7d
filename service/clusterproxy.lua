-- clusterproxy — a local stand-in for a service of another node.
--
-- Stands for the reference's service/clusterproxy.lua. Launched by clusterd
-- as `clusterproxy node address` (a handle number or a name). Lua and snax
-- messages sent to it are forwarded untouched to the node's clustersender:
-- a send as a push, a call as a request whose answer is passed back.

local skynet = require "skynet"
require "skynet.manager" -- skynet.forward_type

local node, address = ...

skynet.register_protocol {
  name = "system",
  id = skynet.PTYPE_SYSTEM,
  unpack = function(...) return ... end,
}

-- lua and snax messages arrive as "system" and keep their buffers (they
-- travel on); responses are left alone.
local forward = {
  [skynet.PTYPE_SNAX] = skynet.PTYPE_SYSTEM,
  [skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM,
  [skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE,
}

skynet.forward_type(forward, function()
  local clusterd = skynet.uniqueservice("clusterd")
  address = tonumber(address) or address
  local sender = skynet.call(clusterd, "lua", "sender", node)
  skynet.dispatch("system", function(session, _, msg, sz)
    if session == 0 then
      skynet.send(sender, "lua", "push", address, msg, sz)
    else
      skynet.ret(skynet.rawcall(sender, "lua", skynet.pack("req", address, msg, sz)))
    end
  end)
end)

-- clusterproxy — a local stand-in for a service of another node.
--
-- Stands for the reference's service/clusterproxy.lua. clusterd launches it
-- as `clusterproxy node address` (a handle number or a name). Lua and snax
-- messages sent to it travel on untouched to the node's clustersender: a
-- send as a push, a call as a request whose answer comes back here and is
-- passed on to the caller.

local skynet = require "skynet"
require "skynet.manager" -- skynet.forward_type

local node, remote = ...
remote = tonumber(remote) or remote

local sender -- the node's clustersender, asked of clusterd at start

-- Messages arrive as "system" with their buffers, which go on unchanged.
local function relay(session, _, msg, sz)
  if session ~= 0 then
    local answer, len = skynet.rawcall(sender, "lua", skynet.pack("req", remote, msg, sz))
    skynet.ret(answer, len)
  else
    skynet.send(sender, "lua", "push", remote, msg, sz)
  end
end

local function as_is(...)
  return ...
end

skynet.register_protocol {
  id = skynet.PTYPE_SYSTEM,
  name = "system",
  unpack = as_is,
}

-- lua and snax become "system" and keep their buffers (they travel on);
-- responses are left alone.
local retype = {
  [skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM,
  [skynet.PTYPE_SNAX] = skynet.PTYPE_SYSTEM,
  [skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE,
}

skynet.forward_type(retype, function()
  sender = skynet.call(skynet.uniqueservice("clusterd"), "lua", "sender", node)
  skynet.dispatch("system", relay)
end)

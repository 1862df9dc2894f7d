-- protoloader — puts the example's sproto schemas into the process-wide
-- sproto slots: 1 = client -> server, 2 = server -> client, where
-- examples/agent.lua loads them with sprotoloader.load.
--
-- Stands for the reference's examples/protoloader.lua. Started once with
-- skynet.uniqueservice by examples/main.lua. It stays alive: the slots
-- belong to the sproto.core module of the process, and the service keeps
-- its loader alive.

-- proto.lua sits next to the example services, not on lua_path
package.path = "./examples/?.lua;" .. package.path

local skynet = require "skynet"
local sprotoloader = require "sprotoloader"
local proto = require "proto"

skynet.start(function()
  sprotoloader.save(proto.c2s, 1)
  sprotoloader.save(proto.s2c, 2)
end)

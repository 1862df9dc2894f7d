-- protoloader — example: fills the process-wide sproto slots with the
-- example's schemas (slot 1: client -> server, slot 2: server -> client)
-- for examples/agent.lua to load with sprotoloader.load.
--
-- Stands for the reference's examples/protoloader.lua. examples/main.lua
-- starts it once (skynet.uniqueservice). It never exits: the slots live in
-- the process's sproto.core module, which this service keeps loaded.

local skynet = require "skynet"
local sprotoloader = require "sprotoloader"

-- examples/proto.lua is not on lua_path; look next to the services
package.path = "./examples/?.lua;" .. package.path
local proto = require "proto"

local slots = { proto.c2s, proto.s2c }

skynet.start(function()
  for slot, schema in ipairs(slots) do
    sprotoloader.save(schema, slot)
  end
end)

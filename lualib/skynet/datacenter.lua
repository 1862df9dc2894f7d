-- skynet.datacenter — client of the node-wide key tree kept by datacenterd.
--
-- Stands for the reference's lualib/skynet/datacenter.lua. The service is
-- reached by the global name DATACENTER (registered by bootstrap).
--   set(k1, ..., kn, value) -> previous value at that path
--   get(k1, ..., kn)        -> value (a copy for tables)
--   wait(k1, ..., kn)       -> value, blocking until the path has one

local skynet = require "skynet"

local datacenter = {}

function datacenter.get(...)
  return skynet.call("DATACENTER", "lua", "QUERY", ...)
end

function datacenter.set(...)
  return skynet.call("DATACENTER", "lua", "UPDATE", ...)
end

function datacenter.wait(...)
  return skynet.call("DATACENTER", "lua", "WAIT", ...)
end

return datacenter

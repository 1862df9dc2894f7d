-- skynet.datacenter — client of the node-wide key tree kept by datacenterd.
--
-- Stands for the reference's lualib/skynet/datacenter.lua. The service is
-- reached by the global name DATACENTER (registered by bootstrap), so every
-- node of a harbor cluster shares one tree. Each function is one call:
--   get(k1, ..., kn)        -> value at that path (tables come as copies);
--                              nothing at all when k1 itself is unset
--   set(k1, ..., kn, value) -> the previous value (nil deletes)
--   wait(k1, ..., kn)       -> the value, blocking until the path has one

local skynet = require "skynet"

-- API name -> the datacenterd command it stands for
local REQUESTS = { get = "QUERY", set = "UPDATE", wait = "WAIT" }

local datacenter = {}

for api, request in pairs(REQUESTS) do
  datacenter[api] = function(...)
    return skynet.call("DATACENTER", "lua", request, ...)
  end
end

return datacenter

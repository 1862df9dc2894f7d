-- simpledb — a tiny in-memory key/value service used by examples/main.lua.
--
-- lua protocol: GET key -> value; SET key value -> previous value.

local skynet = require "skynet"

local store = {}
local command = {}

function command.GET(key)
  return store[key]
end

function command.SET(key, value)
  local previous = store[key]
  store[key] = value
  return previous
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = command[string.upper(cmd)]
    if not f then
      error("simpledb: unknown command " .. tostring(cmd))
    end
    skynet.ret(skynet.pack(f(...)))
  end)
end)

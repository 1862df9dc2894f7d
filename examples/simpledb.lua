-- simpledb — example: a tiny in-memory key/value store, registered under
-- the global name SIMPLEDB (used by the agents of examples/watchdog.lua
-- and by the cluster examples).
--
-- Stands for the reference's examples/simpledb.lua. Lua protocol, command
-- names in any case:
--   GET key        -> the value
--   SET key value  -> the value it replaces
--   PING text      (sent, not called) logs ":<source> ping <text>", a text
--                  over 20 bytes cut to 20 and followed by "...(<length>)"

local skynet = require "skynet"
require "skynet.manager" -- skynet.register

local store = {}

local calls = {
  GET = function(key)
    return store[key]
  end,
  SET = function(key, value)
    local previous = store[key]
    store[key] = value
    return previous
  end,
}

local function ping(session, source, text)
  assert(session == 0)
  local shown = text
  if #text > 20 then
    shown = string.format("%s...(%d)", text:sub(1, 20), #text)
  end
  skynet.error(string.format("%s ping %s", skynet.address(source), shown))
end

skynet.start(function()
  skynet.dispatch("lua", function(session, source, cmd, ...)
    local name = cmd:upper()
    if name == "PING" then
      return ping(session, source, ...)
    end
    local call = calls[name]
    if call == nil then
      error(string.format("Unknown command %s", tostring(name)))
    end
    skynet.ret(skynet.pack(call(...)))
  end)
  skynet.register "SIMPLEDB"
end)

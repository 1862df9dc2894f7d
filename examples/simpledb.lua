-- simpledb — a tiny in-memory key/value service (examples/main.lua, the
-- agents of examples/watchdog.lua, and the cluster examples).
--
-- Stands for the reference's examples/simpledb.lua. lua protocol:
--   GET key -> value;  SET key value -> previous value (names are case
--   insensitive); PING text (a send) logs ":addr ping text".
-- Registers itself under the global name SIMPLEDB.

local skynet = require "skynet"
require "skynet.manager" -- skynet.register

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

-- long texts are shown cut, with their length
local function shorten(text)
  if #text > 20 then
    return text:sub(1, 20) .. "...(" .. #text .. ")"
  end
  return text
end

skynet.start(function()
  skynet.dispatch("lua", function(session, source, cmd, ...)
    cmd = cmd:upper()
    if cmd == "PING" then
      assert(session == 0)
      skynet.error(string.format("%s ping %s", skynet.address(source), shorten((...))))
      return
    end
    local f = command[cmd]
    if not f then
      error(string.format("Unknown command %s", tostring(cmd)))
    end
    skynet.ret(skynet.pack(f(...)))
  end)
  skynet.register "SIMPLEDB"
end)

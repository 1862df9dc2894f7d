-- net_gate_oversize — start service of tests/net.rs lua_gate_oversized_length:
-- the watchdog of one Lua `gate` (service/gate.lua on snax.gateserver),
-- whose clients are raw TCP connections of the Rust test.
--
-- It opens the gate on 127.0.0.1 (port chosen by the system) and logs
-- "OVERSIZE GATE <port>". For every client it logs "OVERSIZE OPEN <fd>
-- <addr>" and accepts it (its packages come here). A package is answered
-- on the same connection with the framed text "got <size> <sum>" (sum: the
-- byte sum mod 2^32, so the test can tell the whole package arrived) and
-- logged as "OVERSIZE DATA <fd> <size> <sum>", except the commands
-- "kick <fd>" (kicks that client; answer "kicked <fd>") and "quit" (ends
-- the node). A close is logged as "OVERSIZE CLOSE <fd>" and, as the
-- example watchdog does, the client is kicked (a half-closed connection is
-- then closed for good); errors and warnings are logged too.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort
local socket = require "skynet.socket"

local gate

local function log(...)
  local words = { "OVERSIZE" }
  for i = 1, select("#", ...) do
    words[#words + 1] = tostring((select(i, ...)))
  end
  skynet.error(table.concat(words, " "))
end

local function byte_sum(text)
  local sum = 0
  for i = 1, #text do
    sum = (sum + text:byte(i)) % 4294967296
  end
  return sum
end

local function answer(fd, text)
  socket.write(fd, string.pack(">s2", text))
end

local events = {}

function events.open(fd, addr)
  log("OPEN", fd, addr)
  skynet.call(gate, "lua", "accept", fd)
end

function events.data(fd, package)
  if package == "quit" then
    log "QUIT"
    skynet.abort()
    return
  end
  local target = package:match "^kick (%d+)$"
  if target then
    skynet.call(gate, "lua", "kick", tonumber(target))
    answer(fd, "kicked " .. target)
    return
  end
  local sum = byte_sum(package)
  log("DATA", fd, #package, sum)
  answer(fd, string.format("got %d %d", #package, sum))
end

-- the other events are logged as "OVERSIZE <EVENT> fd [arg]"; after a
-- close the client is kicked
for _, name in ipairs { "close", "error", "warning" } do
  events[name] = function(fd, ...)
    log(name:upper(), fd, ...)
    if name == "close" then
      skynet.call(gate, "lua", "kick", fd)
    end
  end
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, what, event, ...)
    assert(what == "socket", what)
    events[event](...)
  end)
  gate = skynet.newservice "gate"
  local _, port = skynet.call(gate, "lua", "open", {
    address = "127.0.0.1",
    port = 0,
    watchdog = skynet.self(),
  })
  log("GATE", port)
end)

-- gate_watchdog.lua — test service for tests/socket.rs: watchdog and agent
-- of two native `gate` services (service_gate.c), on the ports the test
-- passes as config keys `gate_port_s` (2-byte headers) and `gate_port_l`
-- (4-byte headers).
--
-- The first connection of the S gate is forwarded to this service as its
-- agent: each packet P comes as a PTYPE_CLIENT message and is answered
-- `echo:P` (one framed packet written through the gate). Other
-- connections stay with the watchdog: their packets come as `N data P`
-- text lines and are answered `data:P`. Packets `kick` and `abort` kick
-- the connection or end the node. Everything seen is logged as
-- `WATCHDOG ...` lines.

local skynet = require "skynet.manager"

local gates = {}   -- gate handle -> { header = "S" | "L", opened = count }
local owner = {}   -- fd -> gate handle

local function log(...)
  skynet.error(table.concat({ ... }, " "))
end

skynet.register_protocol {
  name = "text",
  id = skynet.PTYPE_TEXT,
  pack = function(...) return table.concat({ ... }, " ") end,
  unpack = skynet.tostring,
}

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  pack = function(s) return s end,
  unpack = skynet.tostring,
}

-- Writes `text` to connection fd as one framed packet.
local function reply(fd, text)
  local g = owner[fd]
  local framed
  if gates[g].header == "S" then
    framed = string.pack(">s2", text)
  else
    framed = string.pack(">s4", text)
  end
  skynet.send(g, "client", framed .. string.pack("<I4", fd))
end

local function on_packet(fd, packet, how)
  log("WATCHDOG", how, fd, packet)
  if packet == "abort" then
    skynet.abort()
  elseif packet == "kick" then
    skynet.send(owner[fd], "text", "kick", fd)
  else
    reply(fd, (how == "AGENT" and "echo:" or "data:") .. packet)
  end
end

skynet.dispatch("text", function(_, source, msg)
  -- the gate's messages carry the connection id as their session
  skynet.ignoreret()
  local fd, cmd, rest = msg:match("^(%d+) (%a+) ?(.*)$")
  fd = tonumber(fd)
  if cmd == "open" then
    owner[fd] = source
    local g = gates[source]
    g.opened = g.opened + 1
    log("WATCHDOG OPEN", g.header, fd, rest)
    if g.header == "S" and g.opened == 1 then
      local me = skynet.address(skynet.self())
      skynet.send(source, "text", "forward", fd, me, me)
    end
    skynet.send(source, "text", "start", fd)
  elseif cmd == "close" then
    log("WATCHDOG CLOSE", fd)
  elseif cmd == "data" then
    on_packet(fd, rest, "DATA")
  else
    log("WATCHDOG UNKNOWN", msg)
  end
end)

skynet.dispatch("client", function(session, source, msg)
  skynet.ignoreret()
  assert(source == skynet.self(), "the client address is ours")
  on_packet(session, msg, "AGENT")
end)

skynet.start(function()
  local me = skynet.address(skynet.self())
  for _, header in ipairs { "S", "L" } do
    local port = assert(skynet.getenv("gate_port_" .. header:lower()))
    local g = assert(skynet.launch("gate", header, me, "127.0.0.1:" .. port, 0, 8))
    gates[g] = { header = header, opened = 0 }
    log("WATCHDOG GATE", header, port)
  end
end)

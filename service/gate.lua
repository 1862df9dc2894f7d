-- gate — the Lua gate service: accepts TCP clients and passes their
-- packages on (2-byte big-endian length framing, see snax.gateserver).
--
-- Stands for the reference's service/gate.lua. The watchdog (conf.watchdog,
-- or whoever sent "open") gets lua messages
--   "socket", "open", fd, addr | "close", fd | "error", fd, msg |
--   "warning", fd, size | "data", fd, package (clients not forwarded)
-- Commands (lua protocol, besides open/close of gateserver):
--   forward(fd [, client [, agent]]) packages of fd go to agent (default:
--       the caller) as PTYPE_CLIENT messages from `client` (default 0) with
--       the fd as session; reading starts
--   accept(fd)  start reading, packages go to the watchdog
--   kick(fd)    close the client

local skynet = require "skynet"
local gateserver = require "snax.gateserver"

local watchdog
-- fd -> { fd, ip, agent, client }
local connection = {}

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
}

local handler = {}

function handler.open(source, conf)
  watchdog = conf.watchdog or source
  return conf.address, conf.port
end

function handler.message(fd, msg, sz)
  local c = connection[fd]
  local agent = c.agent
  if agent then
    -- the message buffer travels on: gateserver does not free it
    skynet.redirect(agent, c.client, "client", fd, msg, sz)
  else
    skynet.send(watchdog, "lua", "socket", "data", fd, skynet.tostring(msg, sz))
    -- tostring copied the bytes; the buffer is ours to free
    skynet.trash(msg, sz)
  end
end

function handler.connect(fd, addr)
  connection[fd] = { fd = fd, ip = addr }
  skynet.send(watchdog, "lua", "socket", "open", fd, addr)
end

local function unforward(c)
  if c.agent then
    c.agent = nil
    c.client = nil
  end
end

local function forget(fd)
  local c = connection[fd]
  if c then
    unforward(c)
    connection[fd] = nil
  end
end

function handler.disconnect(fd)
  forget(fd)
  skynet.send(watchdog, "lua", "socket", "close", fd)
end

function handler.error(fd, msg)
  forget(fd)
  skynet.send(watchdog, "lua", "socket", "error", fd, msg)
end

function handler.warning(fd, size)
  skynet.send(watchdog, "lua", "socket", "warning", fd, size)
end

local CMD = {}

function CMD.forward(source, fd, client, address)
  local c = assert(connection[fd])
  unforward(c)
  c.client = client or 0
  c.agent = address or source
  gateserver.openclient(fd)
end

function CMD.accept(_, fd)
  local c = assert(connection[fd])
  unforward(c)
  gateserver.openclient(fd)
end

function CMD.kick(_, fd)
  gateserver.closeclient(fd)
end

function handler.command(cmd, source, ...)
  local f = assert(CMD[cmd])
  return f(source, ...)
end

gateserver.start(handler)

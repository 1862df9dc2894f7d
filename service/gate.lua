-- gate — the Lua gate service, built on snax.gateserver: it accepts TCP
-- clients, cuts their streams into 2-byte-length packages and passes each
-- package either to an agent or to the watchdog.
--
-- Stands for the reference's service/gate.lua. The watchdog (conf.watchdog
-- of "open", else the service that sent "open") is told, as lua messages
-- "socket", <event>, fd, ...:
--   "open", fd, addr | "close", fd | "error", fd, msg | "warning", fd, size
--   | "data", fd, package   (only for clients that are not forwarded)
-- Lua commands besides gateserver's open/close:
--   forward(fd [, client [, agent]])  from now on the packages of fd go to
--       `agent` (default: the caller) as PTYPE_CLIENT messages whose source
--       is `client` (default 0) and whose session is the fd; starts reading
--   accept(fd)  start reading fd; its packages go to the watchdog
--   kick(fd)    close the client

local skynet = require "skynet"
local gateserver = require "snax.gateserver"

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
}

local watchdog
-- fd -> { fd = fd, ip = addr, agent = <service or nil>, client = <source> }
local clients = {}

local function tell_watchdog(event, fd, ...)
  skynet.send(watchdog, "lua", "socket", event, fd, ...)
end

-- A client leaves (closed or failed): forget it, then report `event`.
local function leaving(event)
  return function(fd, ...)
    clients[fd] = nil
    tell_watchdog(event, fd, ...)
  end
end

-- Where fd's packages go from now on (agent nil: the watchdog), and start
-- reading it.
local function route(fd, agent, client)
  local c = assert(clients[fd])
  c.agent, c.client = agent, client
  gateserver.openclient(fd)
end

local commands = {
  forward = function(source, fd, client, agent)
    route(fd, agent or source, client or 0)
  end,
  accept = function(_, fd)
    route(fd, nil, nil)
  end,
  kick = function(_, fd)
    gateserver.closeclient(fd)
  end,
}

gateserver.start {
  open = function(source, conf)
    watchdog = conf.watchdog or source
    return conf.address, conf.port
  end,

  connect = function(fd, addr)
    clients[fd] = { fd = fd, ip = addr }
    tell_watchdog("open", fd, addr)
  end,

  message = function(fd, msg, sz)
    local c = clients[fd]
    if c.agent == nil then
      -- the watchdog gets a copy, so the buffer is freed here
      tell_watchdog("data", fd, skynet.tostring(msg, sz))
      skynet.trash(msg, sz)
      return
    end
    -- the buffer itself travels on; gateserver never frees it
    skynet.redirect(c.agent, c.client, "client", fd, msg, sz)
  end,

  disconnect = leaving "close",
  error = leaving "error",

  warning = function(fd, size)
    tell_watchdog("warning", fd, size)
  end,

  command = function(cmd, source, ...)
    return assert(commands[cmd])(source, ...)
  end,
}

-- snax.gateserver — the skeleton of a gate service: it owns one listening
-- TCP socket and turns the byte stream of every client into packages
-- (2-byte big-endian length, then that many bytes), using skynet.netpack.
--
-- Stands for the reference's lualib/snax/gateserver.lua, with the same API:
--   gateserver.start(handler)   handler fields:
--     connect(fd, addr)         required; a client was accepted. Nothing is
--                               read from it before gateserver.openclient(fd)
--     message(fd, msg, sz)      required; one package, a C buffer the handler
--                               now owns (redirect it, trash it, or copy it)
--     disconnect(fd)            optional; the client closed
--     error(fd, msg)            optional; the client's socket failed
--     warning(fd, size)         optional; `size` KB wait to be sent to fd
--     open(source, conf)        optional; runs after the "open" command bound
--                               the port; its results answer the command
--     command(cmd, source, ...) the lua commands other than open and close
--     embed                     true when the caller is already inside
--                               skynet.start (the lua dispatch is set now)
--   gateserver.openclient(fd), gateserver.closeclient(fd)
-- Lua commands: "open", conf — conf.address ("0.0.0.0"), conf.port,
-- conf.maxclient (1024), conf.nodelay, conf.backlog; once bound, conf.address
-- and conf.port are replaced by the actual address and port. "close" stops
-- listening.

local skynet = require "skynet"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"

local gateserver = {}

-- All the state of the gate. `clients` maps an fd to true while it is open
-- and to false once its peer closed (reading is over, writing may still
-- go on); closed fds are absent. When the service's Lua state goes away the
-- packages still queued in `pending` are released.
local gate = setmetatable({
  listener = nil, -- id of the listening socket
  binding = nil, -- { fd, co, addr, port } while "open" waits for the bind
  pending = nil, -- netpack queue of complete packages not handed out yet
  limit = nil, -- conf.maxclient
  nodelay = false,
  online = 0, -- accepted clients whose close was not seen yet
  clients = {},
}, {
  __gc = function(self)
    netpack.clear(self.pending)
  end,
})

function gateserver.openclient(fd)
  if gate.clients[fd] then
    driver.start(fd)
  end
end

function gateserver.closeclient(fd)
  if gate.clients[fd] == nil then
    return
  end
  gate.clients[fd] = nil
  driver.close(fd)
end

-- The socket events of netpack.filter, given the user's handler.
local function socket_events(handler)
  local clients = gate.clients

  local function hand_out(fd, msg, sz)
    if not clients[fd] then
      local text = netpack.tostring(msg, sz)
      skynet.error(string.format("Drop message from fd (%d) : %s", fd, text))
      return
    end
    handler.message(fd, msg, sz)
  end

  -- Empties the queue. A delivery may block inside handler.message; the
  -- fork started first then goes on with what is left, so one slow client
  -- does not hold up the others. (When nothing blocks it finds the queue
  -- empty and ends at once.)
  local function empty_queue()
    local fd, msg, sz = netpack.pop(gate.pending)
    if fd == nil then
      return
    end
    skynet.fork(empty_queue)
    repeat
      hand_out(fd, msg, sz)
      fd, msg, sz = netpack.pop(gate.pending)
    until fd == nil
  end

  local function optional(name, ...)
    local f = handler[name]
    if f then
      f(...)
    end
  end

  return {
    data = hand_out,
    more = empty_queue,

    open = function(fd, addr)
      local count = gate.online + 1
      gate.online = count
      if count >= gate.limit then
        -- over the limit: refused before the handler hears of it
        driver.shutdown(fd)
        return
      end
      if gate.nodelay then
        driver.nodelay(fd)
      end
      clients[fd] = true
      handler.connect(fd, addr)
    end,

    close = function(fd)
      if fd == gate.listener then
        gate.listener = nil
        return
      end
      gate.online = gate.online - 1
      clients[fd] = clients[fd] and false
      optional("disconnect", fd)
    end,

    error = function(fd, msg)
      if fd == gate.listener then
        skynet.error("gateserver accept error:", msg)
        return
      end
      driver.shutdown(fd)
      optional("error", fd, msg)
    end,

    warning = function(fd, size)
      optional("warning", fd, size)
    end,

    -- a socket is bound; "open" waits for the one it listens on
    init = function(id, addr, port)
      local b = gate.binding
      if not b then
        return
      end
      assert(id == b.fd)
      gate.binding = nil
      b.addr, b.port = addr, port
      skynet.wakeup(b.co)
    end,
  }
end

-- The lua commands the gate itself answers.
local function gate_commands(handler)
  local commands = {}

  function commands.open(source, conf)
    assert(not gate.listener)
    local host = conf.address or "0.0.0.0"
    gate.limit = conf.maxclient or 1024
    gate.nodelay = conf.nodelay
    skynet.error("Listen on", host, conf.port)
    local id = driver.listen(host, conf.port, conf.backlog)
    gate.listener = id
    local b = { fd = id, co = coroutine.running() }
    gate.binding = b
    skynet.wait(b.co)
    conf.address, conf.port = b.addr, b.port
    driver.start(id)
    if handler.open then
      return handler.open(source, conf)
    end
  end

  function commands.close()
    assert(gate.listener)
    driver.close(gate.listener)
  end

  return commands
end

function gateserver.start(handler)
  assert(handler.message)
  assert(handler.connect)

  local events = socket_events(handler)
  local commands = gate_commands(handler)

  skynet.register_protocol {
    name = "socket",
    id = skynet.PTYPE_SOCKET,
    unpack = function(msg, sz)
      return netpack.filter(gate.pending, msg, sz)
    end,
    -- netpack.filter gives the queue first, then the event (none while a
    -- package is still incomplete) and its arguments
    dispatch = function(_, _, queue, event, ...)
      gate.pending = queue
      if event then
        events[event](...)
      end
    end,
  }

  local function answer(source, cmd, ...)
    local own = commands[cmd]
    if own then
      return own(source, ...)
    end
    return handler.command(cmd, source, ...)
  end

  local function serve()
    skynet.dispatch("lua", function(_, source, ...)
      skynet.ret(skynet.pack(answer(source, ...)))
    end)
  end

  if handler.embed then
    serve()
  else
    skynet.start(serve)
  end
end

return gateserver

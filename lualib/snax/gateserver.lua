-- snax.gateserver — a framework for gate services: listens on a TCP port
-- and cuts the byte streams of its clients into packages (2-byte big-endian
-- length, then the body) with skynet.netpack.
--
-- Stands for the reference's lualib/snax/gateserver.lua. A gate calls
-- gateserver.start(handler) with:
--   handler.connect(fd, addr)        (required) a client connected; it is
--                                    not read from until openclient(fd)
--   handler.message(fd, msg, sz)     (required) one package (msg is owned by
--                                    the handler: forward, trash or tostring it)
--   handler.disconnect(fd), handler.error(fd, msg), handler.warning(fd, size)
--   handler.open(source, conf)       after the lua command "open" listened
--   handler.command(cmd, source, ...) every other lua command
--   handler.embed                    true: the caller already runs inside
--                                    skynet.start (no skynet.start here)
-- Lua commands: open(conf) with conf.address (default "0.0.0.0"),
-- conf.port, conf.maxclient (1024), conf.nodelay, conf.backlog; afterwards
-- conf.address/port hold the bound address. close() stops listening.

local skynet = require "skynet"
local netpack = require "skynet.netpack"
local socketdriver = require "skynet.socketdriver"

local assert, setmetatable = assert, setmetatable
local sformat = string.format

local gateserver = {}

local listen_fd -- the listening socket
local queue -- netpack's queue of complete packages not dispatched yet
local maxclient
local clients = 0
local nodelay = false

-- fd -> true (open), false (its read side closed); nil once closed
local connection = {}

-- commands; when the service's state is released, free the queued packages
local CMD = setmetatable({}, {
  __gc = function()
    netpack.clear(queue)
  end,
})

-- Start reading from a client (after handler.connect decided to keep it).
function gateserver.openclient(fd)
  if connection[fd] then
    socketdriver.start(fd)
  end
end

function gateserver.closeclient(fd)
  if connection[fd] ~= nil then
    connection[fd] = nil
    socketdriver.close(fd)
  end
end

function gateserver.start(handler)
  assert(handler.message)
  assert(handler.connect)

  -- while CMD.open waits for the listen socket to be bound
  local listening = {}

  function CMD.open(source, conf)
    assert(not listen_fd)
    local address = conf.address or "0.0.0.0"
    local port = conf.port
    maxclient = conf.maxclient or 1024
    nodelay = conf.nodelay
    skynet.error("Listen on", address, port)
    listen_fd = socketdriver.listen(address, port, conf.backlog)
    local me = coroutine.running()
    listening.co = me
    listening.fd = listen_fd
    skynet.wait(me)
    conf.address = listening.addr
    conf.port = listening.port
    listening = nil
    socketdriver.start(listen_fd)
    if handler.open then
      return handler.open(source, conf)
    end
  end

  function CMD.close()
    assert(listen_fd)
    socketdriver.close(listen_fd)
  end

  local MSG = {}

  local function deliver(fd, msg, sz)
    if connection[fd] then
      handler.message(fd, msg, sz)
    else
      skynet.error(sformat("Drop message from fd (%d) : %s", fd, netpack.tostring(msg, sz)))
    end
  end

  MSG.data = deliver

  -- Several packages arrived at once. handler.message may block, so a fork
  -- goes on with the rest of the queue meanwhile (it finds nothing when the
  -- handler does not block).
  local function drain_queue()
    local fd, msg, sz = netpack.pop(queue)
    if not fd then
      return
    end
    skynet.fork(drain_queue)
    deliver(fd, msg, sz)
    for nfd, nmsg, nsz in netpack.pop, queue do
      deliver(nfd, nmsg, nsz)
    end
  end

  MSG.more = drain_queue

  function MSG.open(fd, addr)
    clients = clients + 1
    if clients >= maxclient then
      socketdriver.shutdown(fd)
      return
    end
    if nodelay then
      socketdriver.nodelay(fd)
    end
    connection[fd] = true
    handler.connect(fd, addr)
  end

  function MSG.close(fd)
    if fd == listen_fd then
      listen_fd = nil
      return
    end
    clients = clients - 1
    if connection[fd] then
      connection[fd] = false
    end
    if handler.disconnect then
      handler.disconnect(fd)
    end
  end

  function MSG.error(fd, msg)
    if fd == listen_fd then
      skynet.error("gateserver accept error:", msg)
      return
    end
    socketdriver.shutdown(fd)
    if handler.error then
      handler.error(fd, msg)
    end
  end

  function MSG.warning(fd, size)
    if handler.warning then
      handler.warning(fd, size)
    end
  end

  -- the listen socket is bound: where
  function MSG.init(id, addr, port)
    if listening and listening.co then
      assert(id == listening.fd)
      listening.addr = addr
      listening.port = port
      skynet.wakeup(listening.co)
      listening.co = nil
    end
  end

  skynet.register_protocol {
    name = "socket",
    id = skynet.PTYPE_SOCKET,
    unpack = function(msg, sz)
      return netpack.filter(queue, msg, sz)
    end,
    dispatch = function(_, _, q, kind, ...)
      queue = q
      if kind then
        MSG[kind](...)
      end
    end,
  }

  local function init()
    skynet.dispatch("lua", function(_, source, cmd, ...)
      local f = CMD[cmd]
      if f then
        skynet.ret(skynet.pack(f(source, ...)))
      else
        skynet.ret(skynet.pack(handler.command(cmd, source, ...)))
      end
    end)
  end

  if handler.embed then
    init()
  else
    skynet.start(init)
  end
end

return gateserver

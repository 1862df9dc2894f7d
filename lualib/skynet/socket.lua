-- skynet.socket — blocking-style TCP/UDP sockets for Lua services.
--
-- Stands for the reference's lualib/skynet/socket.lua. The runtime's socket
-- thread reports everything that happens on a socket as a PTYPE_SOCKET
-- message to the owning service; this module turns those messages into a
-- coroutine API: a coroutine that reads (or connects, or listens) parks with
-- skynet.wait until the message it needs arrived, every other coroutine of
-- the service keeps running meanwhile. The native side is
-- `skynet.socketdriver` (read buffers, sending, socket commands).
--
-- One table per socket id (`sockets[id]`) holds its state:
--   buffer, pool   the driver's read buffer and its node pool (TCP readers)
--   connected      true once the runtime confirmed the socket is usable
--   connecting     true while open/start waits; an error text after a
--                  failed connect
--   want           what the parked reader waits for: a byte count, a line
--                  separator (string), true (everything up to the close) or
--                  false (nothing)
--   waiter         the token of the coroutine parked on this socket
--   callback       accept callback (listening sockets) or UDP receiver
--   paused         nil normally, true after reading was paused because the
--                  buffer grew large, false once close() forbids resuming
--   closing        token of a coroutine inside socket.close waiting for the
--                  parked reader to finish
--
-- Socket message kinds (skynet_socket.h): 1 DATA, 2 CONNECT, 3 CLOSE,
-- 4 ACCEPT, 5 ERROR, 6 UDP, 7 WARNING.

local driver = require "skynet.socketdriver"
local skynet = require "skynet"
local core = require "skynet.core"

local assert, error, pairs, setmetatable, type = assert, error, pairs, setmetatable, type
local sformat = string.format
local corunning = coroutine.running

-- A socket whose unread data grows past this is paused until it is read.
local BUFFER_LIMIT = 128 * 1024

local socket = {}

-- id -> socket state; every socket still known when the service's Lua state
-- goes away is closed.
local sockets = setmetatable({}, {
  __gc = function(all)
    for id in pairs(all) do
      driver.close(id)
      all[id] = nil
    end
  end,
})

-- id -> function(id) to call once the socket reports its close
local close_hooks = {}

---------------------------------------------------------------------------
-- Parking and waking

local function wake_reader(s)
  local token = s.waiter
  if token then
    s.waiter = nil
    skynet.wakeup(token)
  end
end

-- Stop the runtime reading from a socket whose buffer is too big.
local function pause_reading(s, size)
  if s.paused ~= nil then
    return
  end
  if size then
    skynet.error(sformat("Pause socket (%d) size : %d", s.id, size))
  else
    skynet.error(sformat("Pause socket (%d)", s.id))
  end
  driver.pause(s.id)
  s.paused = true
  -- more messages of this socket may already be queued: let them land
  skynet.yield()
end

-- Park the running coroutine until a socket message wakes it. A paused
-- socket is resumed first: somebody wants its data now.
local function park(s)
  assert(not s.waiter)
  local token = corunning()
  s.waiter = token
  if s.paused then
    skynet.error(sformat("Resume socket (%d)", s.id))
    driver.start(s.id)
    skynet.wait(token)
    s.paused = nil
  else
    skynet.wait(token)
  end
  -- socket.close may be waiting for this reader to be done with the buffer
  if s.closing then
    skynet.wakeup(s.closing)
  end
end

---------------------------------------------------------------------------
-- Socket messages

local on_message = {}

-- 1: bytes arrived (`data` is a buffer of `size` bytes owned by us now)
on_message[1] = function(id, size, data)
  local s = sockets[id]
  if s == nil then
    skynet.error("socket: drop package from " .. id)
    driver.drop(data, size)
    return
  end
  local held = driver.push(s.buffer, s.pool, data, size)
  local want = s.want
  if type(want) == "number" then
    if held >= want then
      s.want = nil
      if held > BUFFER_LIMIT then
        pause_reading(s, held)
      end
      wake_reader(s)
    end
    return
  end
  if s.limit and held > s.limit then
    skynet.error(sformat("socket buffer overflow: fd=%d size=%d", id, held))
    driver.close(id)
    return
  end
  if type(want) == "string" then
    -- a line reader: wake it once the separator is in the buffer
    if driver.readline(s.buffer, nil, want) then
      s.want = nil
      if held > BUFFER_LIMIT then
        pause_reading(s, held)
      end
      wake_reader(s)
    end
  elseif held > BUFFER_LIMIT and not s.paused then
    pause_reading(s, held)
  end
end

-- 2: the socket is usable (connect finished, start confirmed, or a listen
-- socket bound: then `port` and `addr` are where it listens)
on_message[2] = function(id, port, addr)
  local s = sockets[id]
  if s == nil or s.connected then
    -- a resumed socket reports CONNECT again: nothing to do
    return
  end
  if s.listen then
    s.addr = addr
    s.port = port
  end
  s.connected = true
  wake_reader(s)
end

-- 3: closed
on_message[3] = function(id)
  local s = sockets[id]
  if s then
    s.connected = false
    wake_reader(s)
  else
    driver.close(id)
  end
  local hook = close_hooks[id]
  if hook then
    hook(id)
    close_hooks[id] = nil
  end
end

-- 4: a listening socket accepted connection `newid` from `addr`
on_message[4] = function(id, newid, addr)
  local s = sockets[id]
  if s == nil then
    driver.close(newid)
    return
  end
  s.callback(newid, addr)
end

-- 5: an error; the socket is unusable from now on
on_message[5] = function(id, _, err)
  local s = sockets[id]
  if s == nil then
    driver.shutdown(id)
    skynet.error("socket: error on unknown", id, err)
    return
  end
  if s.callback then
    -- a listening socket keeps listening
    skynet.error("socket: accept error:", err)
    return
  end
  if s.connected then
    skynet.error("socket: error on", id, err)
  elseif s.connecting then
    s.connecting = err
  end
  s.connected = false
  driver.shutdown(id)
  wake_reader(s)
end

-- 6: a UDP datagram from `address`
on_message[6] = function(id, size, data, address)
  local s = sockets[id]
  if s == nil or s.callback == nil then
    skynet.error("socket: drop udp package from " .. id)
    driver.drop(data, size)
    return
  end
  local text = skynet.tostring(data, size)
  core.trash(data, size)
  s.callback(text, address)
end

local function default_warning(id, size)
  if sockets[id] then
    skynet.error(sformat("WARNING: %d K bytes need to send out (fd = %d)", size, id))
  end
end

-- 7: `size` K bytes are waiting to be sent (0: the backlog is gone)
on_message[7] = function(id, size)
  local s = sockets[id]
  if s then
    local warn = s.on_warning or default_warning
    warn(id, size)
  end
end

skynet.register_protocol {
  name = "socket",
  id = skynet.PTYPE_SOCKET,
  unpack = driver.unpack,
  dispatch = function(_, _, kind, ...)
    on_message[kind](...)
  end,
}

---------------------------------------------------------------------------
-- Opening TCP sockets

-- Track a socket the runtime is bringing up and wait until it is usable.
-- With `accept` the socket is a listening one whose connections go to that
-- function; otherwise it gets a read buffer.
local function await_open(id, accept)
  local buffer = nil
  if accept == nil then
    buffer = driver.buffer()
  end
  local s = {
    id = id,
    buffer = buffer,
    pool = buffer and {},
    connected = false,
    connecting = true,
    want = false,
    waiter = false,
    callback = accept,
    protocol = "TCP",
  }
  assert(not close_hooks[id], "socket has onclose callback")
  local old = sockets[id]
  if old and not old.listen then
    error "socket is not closed"
  end
  sockets[id] = s
  park(s)
  local err = s.connecting
  s.connecting = nil
  if s.connected then
    return id
  end
  sockets[id] = nil
  return nil, err
end

function socket.open(addr, port)
  return await_open(driver.connect(addr, port))
end

function socket.bind(os_fd)
  return await_open(driver.bind(os_fd))
end

function socket.stdin()
  return socket.bind(0)
end

-- Take over a socket (an accepted connection, or a listening socket with
-- its accept callback) and wait until the runtime reports it started.
function socket.start(id, accept)
  driver.start(id)
  return await_open(id, accept)
end

function socket.listen(host, port, backlog)
  local id = driver.listen(host, port, backlog)
  local s = {
    id = id,
    connected = false,
    listen = true,
  }
  assert(sockets[id] == nil)
  sockets[id] = s
  park(s)
  return id, s.addr, s.port
end

---------------------------------------------------------------------------
-- Closing

function socket.pause(id)
  local s = sockets[id]
  if s then
    pause_reading(s)
  end
end

-- Half-close: the runtime will report CLOSE; socket.close is still needed.
function socket.shutdown(id)
  if sockets[id] then
    driver.shutdown(id)
  end
end

-- Close an id this service never took over (e.g. an accepted connection it
-- does not want).
function socket.close_fd(id)
  assert(sockets[id] == nil, "Use socket.close instead")
  driver.close(id)
end

function socket.close(id)
  local s = sockets[id]
  if s == nil then
    return
  end
  driver.close(id)
  if s.connected then
    s.paused = false -- never resume reading now
    if s.waiter then
      -- another coroutine reads: let it take the buffer before it goes
      assert(not s.closing)
      local token = corunning()
      s.closing = token
      skynet.wait(token)
    else
      park(s)
    end
    s.connected = false
  end
  sockets[id] = nil
end

-- Forget a socket without closing it, so that another service can
-- socket.start it.
function socket.abandon(id)
  local s = sockets[id]
  if s then
    s.connected = false
    wake_reader(s)
    close_hooks[id] = nil
    sockets[id] = nil
  end
end

---------------------------------------------------------------------------
-- Reading

local function readall_now(s)
  return driver.readall(s.buffer, s.pool)
end

-- read(id) -> some bytes; read(id, n) -> exactly n bytes. On close:
-- false and whatever was left unread.
function socket.read(id, n)
  local s = sockets[id]
  assert(s)
  if n == nil then
    local got = readall_now(s)
    if got ~= "" then
      return got
    end
    if not s.connected then
      return false, got
    end
    assert(not s.want)
    s.want = 0
    park(s)
    got = readall_now(s)
    if got ~= "" then
      return got
    end
    return false, got
  end

  local got = driver.pop(s.buffer, s.pool, n)
  if got then
    return got
  end
  if s.closing or not s.connected then
    return false, readall_now(s)
  end
  assert(not s.want)
  s.want = n
  park(s)
  got = driver.pop(s.buffer, s.pool, n)
  if got then
    return got
  end
  return false, readall_now(s)
end

-- Everything up to the close.
function socket.readall(id)
  local s = sockets[id]
  assert(s)
  if not s.connected then
    local rest = readall_now(s)
    return rest ~= "" and rest
  end
  assert(not s.want)
  s.want = true
  park(s)
  assert(s.connected == false)
  return readall_now(s)
end

-- One line without its separator (default "\n"). On close: false and what
-- was left unread.
function socket.readline(id, sep)
  sep = sep or "\n"
  local s = sockets[id]
  assert(s)
  local line = driver.readline(s.buffer, s.pool, sep)
  if line then
    return line
  end
  if not s.connected then
    return false, readall_now(s)
  end
  assert(not s.want)
  s.want = sep
  park(s)
  if s.connected then
    return driver.readline(s.buffer, s.pool, sep)
  end
  return false, readall_now(s)
end

-- Wait until some data arrives or the socket closes; true while connected.
function socket.block(id)
  local s = sockets[id]
  if not s or not s.connected then
    return false
  end
  assert(not s.want)
  s.want = 0
  park(s)
  return s.connected
end

---------------------------------------------------------------------------
-- Writing and state

socket.write = assert(driver.send)
socket.lwrite = assert(driver.lsend)
socket.header = assert(driver.header)

function socket.invalid(id)
  return sockets[id] == nil
end

-- true once neither connected nor connecting; nil for an unknown id
function socket.disconnected(id)
  local s = sockets[id]
  if s then
    return not (s.connected or s.connecting)
  end
end

-- Close the socket when more than `limit` unread bytes pile up (line and
-- readall readers only; sized reads already bound the buffer).
function socket.limit(id, limit)
  local s = assert(sockets[id])
  s.limit = limit
end

---------------------------------------------------------------------------
-- UDP

local function track_udp(id, receiver)
  assert(not sockets[id], "socket is not closed")
  sockets[id] = {
    id = id,
    connected = true,
    protocol = "UDP",
    callback = receiver,
  }
end

function socket.udp(receiver, host, port)
  local id = driver.udp(host, port)
  track_udp(id, receiver)
  return id
end

function socket.udp_connect(id, addr, port, receiver)
  local s = sockets[id]
  if s then
    assert(s.protocol == "UDP")
    if receiver then
      s.callback = receiver
    end
  else
    track_udp(id, receiver)
  end
  driver.udp_connect(id, addr, port)
end

function socket.udp_listen(addr, port, receiver)
  local id = driver.udp_listen(addr, port)
  track_udp(id, receiver)
  return id
end

function socket.udp_dial(addr, port, receiver)
  local id = driver.udp_dial(addr, port)
  track_udp(id, receiver)
  return id
end

socket.sendto = assert(driver.udp_send)
socket.udp_address = assert(driver.udp_address)
socket.netstat = assert(driver.info)
socket.resolve = assert(driver.resolve)

---------------------------------------------------------------------------
-- Callbacks

-- `warn(id, size)` replaces the default "K bytes need to send out" log.
function socket.warning(id, warn)
  local s = sockets[id]
  assert(s)
  s.on_warning = warn
end

function socket.onclose(id, hook)
  close_hooks[id] = hook
end

return socket

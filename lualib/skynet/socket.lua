-- skynet.socket — TCP and UDP sockets for Lua services, in blocking style.
--
-- Our counterpart of the reference's lualib/skynet/socket.lua (same public
-- functions, same blocking rules, same log and error texts). The runtime's
-- socket thread turns everything that happens on a socket into a
-- PTYPE_SOCKET message for the owning service. This module keeps one state
-- object per socket id and lets a coroutine sleep on a socket (open, listen,
-- read, close) until the message it needs has arrived; the service's other
-- coroutines keep running meanwhile. Buffers and socket commands live in the
-- native `skynet.socketdriver`.
--
-- A socket object (class `Sock` below) carries:
--   id            the socket id
--   buf, pool     read buffer and its node pool (TCP data sockets only)
--   up            true while the runtime says the socket is usable
--   opening       true while socket.open/start/bind waits; the error text
--                 when that wait ended in an error
--   want          what the sleeping reader needs before it is woken:
--                 n (bytes, 0 = anything), a separator string (a line),
--                 true (the close), false/nil (nothing)
--   sleeper       the coroutine sleeping on the socket
--   handler       accept callback (listening) or datagram receiver (UDP)
--   listening     socket.listen object (keeps addr/port once bound)
--   udp           true for UDP sockets
--   paused        true after reading was paused, false once closing forbids
--                 resuming, nil otherwise
--   closer        coroutine in socket.close that waits for the sleeper
--   cap           socket.limit: most bytes to keep unread
--   on_warning    socket.warning callback

local driver = require "skynet.socketdriver"
local skynet = require "skynet"
local core = require "skynet.core"

local assert, error, next, setmetatable, type = assert, error, next, setmetatable, type
local sformat = string.format
local running = coroutine.running

local socket = {}

-- Calls that need no state of ours go straight to the driver.
socket.write = assert(driver.send)
socket.lwrite = assert(driver.lsend)
socket.header = assert(driver.header)
socket.sendto = assert(driver.udp_send)
socket.udp_address = assert(driver.udp_address)
socket.netstat = assert(driver.info)
socket.resolve = assert(driver.resolve)

-- Unread data beyond this pauses the socket until somebody reads.
local BUFFER_LIMIT = 128 * 1024

-- Socket message kinds, as numbered by skynet_socket.h.
local DATA, CONNECT, CLOSE, ACCEPT, ERROR, UDP, WARNING = 1, 2, 3, 4, 5, 6, 7

-- Sockets of this service by id. Whatever is left when the Lua state goes
-- away gets closed.
local registry = setmetatable({}, {
  __gc = function(all)
    local id = next(all)
    while id ~= nil do
      all[id] = nil
      driver.close(id)
      id = next(all)
    end
  end,
})

-- id -> function(id), run once when that socket reports its close.
local close_hooks = {}

---------------------------------------------------------------------------
-- Socket objects

local Sock = {}
Sock.__index = Sock

local function new_sock(fields)
  return setmetatable(fields, Sock)
end

function Sock:wake()
  local co = self.sleeper
  self.sleeper = nil
  if co then
    skynet.wakeup(co)
  end
end

-- Ask the runtime to stop reading this socket. Does nothing while already
-- paused or once closing has begun.
function Sock:stop_reading(backlog)
  if self.paused ~= nil then
    return
  end
  self.paused = true
  driver.pause(self.id)
  if backlog then
    skynet.error(sformat("Pause socket (%d) size : %d", self.id, backlog))
  else
    skynet.error(sformat("Pause socket (%d)", self.id))
  end
  -- messages of this socket may be queued behind this one: let them in
  skynet.yield()
end

-- Sleep until a socket message wakes the running coroutine. With `want`
-- the coroutine sleeps as a reader needing that much (see the header). A
-- paused socket is resumed first, since now somebody wants its data.
function Sock:sleep(want)
  if want ~= nil then
    assert(not self.want)
    self.want = want
  end
  assert(not self.sleeper)
  local me = running()
  self.sleeper = me
  local resuming = self.paused
  if resuming then
    skynet.error(sformat("Resume socket (%d)", self.id))
    driver.start(self.id)
  end
  skynet.wait(me)
  if resuming then
    self.paused = nil
  end
  -- a socket.close in another coroutine waits until we are done here
  local closer = self.closer
  if closer then
    skynet.wakeup(closer)
  end
end

-- Wait for the runtime's word that a closing socket is gone: as the
-- sleeper, or (when a reader sleeps on it already) until that reader had
-- its turn at the buffer.
function Sock:await_close()
  self.paused = false -- never resume from here on
  if not self.sleeper then
    self:sleep()
  else
    assert(not self.closer)
    local me = running()
    self.closer = me
    skynet.wait(me)
  end
  self.up = false
end

-- Everything buffered, as one string ("" when empty).
function Sock:rest()
  return driver.readall(self.buf, self.pool)
end

-- Where the buffered total stands for the sleeping reader: "met" (wake
-- it), "short" (it needs more) or "idle" (nobody waits for a size or line).
function Sock:verdict(total)
  local want = self.want
  local kind = type(want)
  if kind == "number" then
    return total >= want and "met" or "short"
  elseif kind == "string" then
    return driver.readline(self.buf, nil, want) and "met" or "short"
  end
  return "idle"
end

---------------------------------------------------------------------------
-- Socket messages. `on_known` handles a message for a socket in the
-- registry, `on_unknown` one for an id we do not (or no longer) hold.

local on_known, on_unknown = {}, {}

local function ignore() end

local function drop_datagram(id, size, data)
  skynet.error("socket: drop udp package from " .. id)
  driver.drop(data, size)
end

on_unknown[DATA] = function(id, size, data)
  skynet.error("socket: drop package from " .. id)
  driver.drop(data, size)
end

on_known[DATA] = function(s, size, data)
  local total = driver.push(s.buf, s.pool, data, size)
  -- sized reads bound the buffer themselves; socket.limit guards the rest
  if s.cap and total > s.cap and type(s.want) ~= "number" then
    skynet.error(sformat("socket buffer overflow: fd=%d size=%d", s.id, total))
    driver.close(s.id)
    return
  end
  local verdict = s:verdict(total)
  if verdict == "met" then
    s.want = nil
  end
  if verdict ~= "short" and total > BUFFER_LIMIT then
    s:stop_reading(total)
  end
  if verdict == "met" then
    s:wake()
  end
end

-- usable now: connect finished, start confirmed, or (listening) bound to
-- addr:port
on_unknown[CONNECT] = ignore
on_known[CONNECT] = function(s, port, addr)
  if s.up then
    return -- resuming a paused socket reports CONNECT once more
  end
  if s.listening then
    s.port, s.addr = port, addr
  end
  s.up = true
  s:wake()
end

on_unknown[CLOSE] = function(id)
  driver.close(id)
end
on_known[CLOSE] = function(s)
  s.up = false
  s:wake()
end

on_unknown[ACCEPT] = function(_, newid)
  driver.close(newid)
end
on_known[ACCEPT] = function(s, newid, addr)
  s.handler(newid, addr)
end

on_unknown[ERROR] = function(id, _, err)
  driver.shutdown(id)
  skynet.error("socket: error on unknown", id, err)
end
on_known[ERROR] = function(s, _, err)
  if s.handler then
    -- listening sockets (and UDP ones) carry on
    skynet.error("socket: accept error:", err)
    return
  end
  local was_up = s.up
  s.up = false
  if was_up then
    skynet.error("socket: error on", s.id, err)
  elseif s.opening then
    s.opening = err -- socket.open & co. return it
  end
  driver.shutdown(s.id)
  s:wake()
end

on_unknown[UDP] = drop_datagram
on_known[UDP] = function(s, size, data, from)
  local receive = s.handler
  if receive == nil then
    return drop_datagram(s.id, size, data)
  end
  local text = skynet.tostring(data, size)
  core.trash(data, size)
  receive(text, from)
end

local function log_backlog(id, kbytes)
  if registry[id] then
    skynet.error(sformat("WARNING: %d K bytes need to send out (fd = %d)", kbytes, id))
  end
end

-- `kbytes` K bytes wait to be sent (0: the backlog is gone)
on_unknown[WARNING] = ignore
on_known[WARNING] = function(s, kbytes)
  local report = s.on_warning or log_backlog
  report(s.id, kbytes)
end

skynet.register_protocol {
  name = "socket",
  id = skynet.PTYPE_SOCKET,
  unpack = driver.unpack,
  dispatch = function(_, _, kind, id, ...)
    local s = registry[id]
    if s then
      on_known[kind](s, ...)
    else
      on_unknown[kind](id, ...)
    end
    if kind == CLOSE and close_hooks[id] then
      close_hooks[id](id)
      close_hooks[id] = nil
    end
  end,
}

---------------------------------------------------------------------------
-- Bringing sockets up

-- Hold a TCP socket the runtime is bringing up and sleep until it is
-- usable: the id, or nil and the error. With `accept` it is a listening
-- socket whose connections go to that function; otherwise it reads.
local function bring_up(id, accept)
  assert(not close_hooks[id], "socket has onclose callback")
  local old = registry[id]
  if old and not old.listening then
    error "socket is not closed"
  end
  local s = new_sock { id = id, up = false, opening = true, handler = accept }
  if accept == nil then
    s.buf, s.pool = driver.buffer(), {}
  end
  registry[id] = s
  s:sleep()
  local failure = s.opening
  s.opening = nil
  if not s.up then
    registry[id] = nil
    return nil, failure
  end
  return id
end

function socket.open(addr, port)
  return bring_up((driver.connect(addr, port)))
end

-- an OS descriptor (socket.stdin: descriptor 0)
function socket.bind(os_fd)
  return bring_up((driver.bind(os_fd)))
end

function socket.stdin()
  return bring_up((driver.bind(0)))
end

-- Bind and listen; sleeps until bound. Returns id, address, port.
function socket.listen(host, port, backlog)
  local id = driver.listen(host, port, backlog)
  assert(registry[id] == nil)
  local s = new_sock { id = id, up = false, listening = true }
  registry[id] = s
  s:sleep()
  return id, s.addr, s.port
end

-- Take over an accepted connection (or, with `accept`, a listening socket)
-- and sleep until the runtime confirms.
function socket.start(id, accept)
  driver.start(id)
  return bring_up(id, accept)
end

---------------------------------------------------------------------------
-- State queries and settings

-- Close the socket once more than `limit` bytes wait unread (readers of
-- lines or of everything; sized reads bound the buffer already).
function socket.limit(id, limit)
  assert(registry[id]).cap = limit
end

-- `report(id, kbytes)` replaces the "K bytes need to send out" log line.
function socket.warning(id, report)
  assert(registry[id]).on_warning = report
end

function socket.onclose(id, hook)
  close_hooks[id] = hook
end

function socket.pause(id)
  local s = registry[id]
  if s then
    s:stop_reading()
  end
end

-- true when neither up nor coming up; nil for an id we do not hold
function socket.disconnected(id)
  local s = registry[id]
  if s then
    local alive = s.up or s.opening
    return not alive
  end
end

---------------------------------------------------------------------------
-- Reading. Each read first looks at the buffer, and sleeps only while the
-- socket is up. On a closed socket it gives false and the unread rest.

-- read(id): whatever is buffered (sleeps for at least one byte);
-- read(id, n): exactly n bytes.
function socket.read(id, n)
  local s = assert(registry[id])
  local got
  if n == nil then
    got = s:rest()
    if got ~= "" then
      return got
    end
    if s.up then
      s:sleep(0)
      got = s:rest()
      if got ~= "" then
        return got
      end
    end
    return false, got
  end
  got = driver.pop(s.buf, s.pool, n)
  if got == nil and s.up and not s.closer then
    s:sleep(n)
    got = driver.pop(s.buf, s.pool, n)
  end
  if got then
    return got
  end
  return false, s:rest()
end

-- One line without its separator (default "\n").
function socket.readline(id, sep)
  local s = assert(registry[id])
  sep = sep or "\n"
  local line = driver.readline(s.buf, s.pool, sep)
  if line then
    return line
  end
  if s.up then
    s:sleep(sep)
    if s.up then
      return driver.readline(s.buf, s.pool, sep)
    end
  end
  return false, s:rest()
end

-- Everything until the peer closes; on a closed socket the rest, or false
-- when nothing is left.
function socket.readall(id)
  local s = assert(registry[id])
  if s.up then
    s:sleep(true)
    assert(s.up == false)
    return s:rest()
  end
  local rest = s:rest()
  return rest ~= "" and rest
end

-- Sleep until data arrives or the socket goes down; true while still up.
function socket.block(id)
  local s = registry[id]
  if s == nil or not s.up then
    return false
  end
  s:sleep(0)
  return s.up
end

---------------------------------------------------------------------------
-- Letting go

-- Close and sleep until the runtime confirmed it (see Sock:await_close).
function socket.close(id)
  local s = registry[id]
  if s then
    driver.close(id)
    if s.up then
      s:await_close()
    end
    registry[id] = nil
  end
end

-- Forget a socket without closing it, so that another service can
-- socket.start it.
function socket.abandon(id)
  local s = registry[id]
  if not s then
    return
  end
  registry[id] = nil
  close_hooks[id] = nil
  s.up = false
  s:wake()
end

-- Close an id this service never took over.
function socket.close_fd(id)
  assert(registry[id] == nil, "Use socket.close instead")
  driver.close(id)
end

-- Half-close; the runtime reports the close later, socket.close is still
-- needed.
function socket.shutdown(id)
  if registry[id] then
    driver.shutdown(id)
  end
end

-- true for an id this service does not hold (never did, or closed it)
function socket.invalid(id)
  return registry[id] == nil
end

---------------------------------------------------------------------------
-- UDP: datagrams go to the receiver `fn(data, from_address)`.

local function hold_udp(id, receiver)
  assert(not registry[id], "socket is not closed")
  registry[id] = new_sock { id = id, up = true, udp = true, handler = receiver }
  return id
end

function socket.udp(receiver, host, port)
  return hold_udp((driver.udp(host, port)), receiver)
end

function socket.udp_listen(addr, port, receiver)
  return hold_udp((driver.udp_listen(addr, port)), receiver)
end

function socket.udp_dial(addr, port, receiver)
  return hold_udp((driver.udp_dial(addr, port)), receiver)
end

-- Set the default peer of a UDP socket (held already or not).
function socket.udp_connect(id, addr, port, receiver)
  local s = registry[id]
  if s == nil then
    hold_udp(id, receiver)
  else
    assert(s.udp)
    s.handler = receiver or s.handler
  end
  driver.udp_connect(id, addr, port)
end

return socket

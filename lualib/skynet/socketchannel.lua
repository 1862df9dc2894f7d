-- skynet.socketchannel — request/response over one TCP connection that
-- reconnects by itself.
--
-- Our counterpart of the reference's lualib/skynet/socketchannel.lua (same
-- API, blocking rules, log texts and error values). A channel comes from a
-- description:
--   { host =, port =, backup = { "host" | { host =, port = }, ... },
--     auth = function(channel)          run after every connect
--     response = function(sock) -> session, ok, data [, more]
--                                       session mode (absent: order mode)
--     nodelay = bool, overload = function(is_overloaded),
--     socket_read =, socket_readline =  replace sock:read / sock:readline }
--
-- Two modes, each a strategy table below (`ORDER`, `SESSION`):
--   order mode    every request brings the function that reads its answer;
--                 answers are read one by one in request order;
--   session mode  one `response` function reads whichever answer comes next
--                 and names its session.
-- Either way one dispatcher coroutine per connection reads the answers and
-- hands each to the waiting request's ticket ({ co, ok, data, ... }).
--
-- Readers get a sock object, { fd } (fd at [1]), with sock:read(n) and
-- sock:readline(sep); both raise socketchannel.error once the connection is
-- gone. A reader may return ok, data, more: while `more` is true the parts
-- are collected and the request gets them as a table. A reader that raises
-- drops the connection and fails every waiting request; the next request
-- connects again, trying the backup hosts in order.

local skynet = require "skynet"
local socket = require "skynet.socket"
local socketdriver = require "skynet.socketdriver"

local assert, error, ipairs, pairs, pcall = assert, error, ipairs, pairs, pcall
local setmetatable, type = setmetatable, type
local sformat = string.format
local tremove = table.remove
local running = coroutine.running

local socketchannel = {}

-- Raised (and carried in tickets) when the connection is gone.
local SOCK_ERROR = setmetatable({}, {
  __tostring = function()
    return "[Error: socket]"
  end,
})
socketchannel.error = SOCK_ERROR

-- What a failed reader leaves its waiters: its error, unless it only lost
-- the connection.
local function reason(err)
  if err ~= SOCK_ERROR then
    return err
  end
end

---------------------------------------------------------------------------
-- sock objects handed to readers

local function forget_sock(sock)
  local fd = sock[1]
  if fd then
    sock[1] = false
    socket.shutdown(fd)
  end
end

-- A socket.read-like function that raises SOCK_ERROR instead of returning
-- a false value.
local function strict(read)
  return function(sock, ...)
    local got = read(sock[1], ...)
    if got then
      return got
    end
    error(SOCK_ERROR)
  end
end

local plain_read, plain_readline = strict(socket.read), strict(socket.readline)

local function sock_meta(read, readline)
  return {
    __index = { read = read or plain_read, readline = readline or plain_readline },
    __gc = forget_sock,
  }
end

local DEFAULT_SOCK_META = sock_meta()

---------------------------------------------------------------------------
-- Tickets: one per request waiting for its answer

local function settle(ticket, ok, data)
  local parts = ticket.parts
  if ok and parts then
    parts[#parts + 1] = data
    data = parts
  end
  ticket.ok, ticket.data = ok, data
  skynet.wakeup(ticket.co)
end

local function fail(ticket, why)
  ticket.ok, ticket.data = SOCK_ERROR, why
  skynet.wakeup(ticket.co)
end

---------------------------------------------------------------------------
-- The connection

-- Wake the order mode dispatcher if it sleeps for want of requests.
local function wake_idle(self)
  local idle = self.idle
  self.idle = nil
  if idle then
    skynet.wakeup(idle)
  end
end

-- Drop the current connection, never raising. An idle dispatcher is woken
-- so that it notices.
local function drop(self)
  local sock = self.sock
  if sock then
    self.sock = false
    wake_idle(self)
    pcall(socket.close, sock[1])
  end
end

---------------------------------------------------------------------------
-- Session mode: tickets by session, one reader for every answer

local SESSION = {}

function SESSION.enqueue(self, ticket, session)
  self.waiting[session] = ticket
end

function SESSION.stop() end

function SESSION.fail_all(self, why)
  local waiting = self.waiting
  self.waiting = {}
  for _, ticket in pairs(waiting) do
    fail(ticket, why)
  end
end

function SESSION.run(self)
  local read_answer = self.session_reader
  while self.sock do
    local ran, session, ok, data, more = pcall(read_answer, self.sock)
    if not (ran and session) then
      drop(self)
      SESSION.fail_all(self, reason(session))
    else
      local ticket = self.waiting[session]
      if ticket == nil then
        skynet.error("socket: unknown session :", session)
      else
        if ok and more then
          -- one part of a longer answer; the rest follows
          local parts = ticket.parts or {}
          ticket.parts = parts
          parts[#parts + 1] = data
        else
          self.waiting[session] = nil
          settle(ticket, ok, data)
        end
        if not self.sock then
          return SESSION.fail_all(self, "channel_closed")
        end
      end
    end
  end
end

---------------------------------------------------------------------------
-- Order mode: a queue of tickets, each with the reader of its answer

local ORDER = {}

-- Queued by ORDER.stop: the dispatcher of the old connection ends there.
local STOP = {}

function ORDER.enqueue(self, ticket, reader)
  ticket.reader = reader
  local queue = self.queue
  queue[#queue + 1] = ticket
  wake_idle(self)
end

function ORDER.stop(self)
  if self.dispatcher then
    local queue = self.queue
    queue[#queue + 1] = STOP
    wake_idle(self)
  end
end

function ORDER.fail_all(self, why)
  local queue = self.queue
  self.queue = {}
  for _, ticket in ipairs(queue) do
    if ticket ~= STOP then
      fail(ticket, why)
    end
  end
end

-- The next ticket, sleeping while there is none; nil once the connection
-- is gone.
local function next_ticket(self)
  while self.sock do
    local ticket = tremove(self.queue, 1)
    if ticket then
      return ticket
    end
    local me = running()
    self.idle = me
    skynet.wait(me)
  end
end

-- Run a reader; with `more` it goes on reading parts into a table.
local function collect(reader, sock)
  local ok, data, more = reader(sock)
  if not (ok and more) then
    return ok, data
  end
  local parts = { data }
  while more do
    ok, data, more = reader(sock)
    if not ok then
      return ok, data
    end
    parts[#parts + 1] = data
  end
  return true, parts
end

function ORDER.run(self)
  -- a peer close while nothing is asked would go unnoticed otherwise
  local fd = self.sock[1]
  socket.onclose(fd, function(id)
    local sock = self.sock
    if self.idle and sock and sock[1] == id then
      skynet.error("socket closed by peer : ", self.__host, self.__port)
      drop(self)
    end
  end)
  while self.sock do
    local ticket = next_ticket(self)
    if ticket == nil or ticket == STOP then
      return ORDER.fail_all(self, "channel_closed")
    end
    local ran, ok, data = pcall(collect, ticket.reader, self.sock)
    if ran then
      settle(ticket, ok, data)
      if not self.sock then
        return ORDER.fail_all(self, "channel_closed")
      end
    else
      drop(self)
      local why = reason(ok)
      fail(ticket, why)
      ORDER.fail_all(self, why)
    end
  end
end

---------------------------------------------------------------------------
-- Connecting

-- A socket.warning callback that tells `notify(true|false)` when the send
-- backlog of the channel's connection appears or goes away.
local function overload_watcher(self, notify)
  return function(id, kbytes)
    local sock = self.sock
    if not sock or sock[1] ~= id then
      return
    end
    if kbytes == 0 then
      if self.overloaded then
        self.overloaded = false
        notify(false)
      end
    elseif self.overloaded then
      skynet.error(sformat("WARNING: %d K bytes need to send out (fd = %d)", kbytes, id),
        self.__host, self.__port)
    else
      self.overloaded = true
      notify(true)
    end
  end
end

-- Run the auth function (if any) on the fresh connection: "ok", "again"
-- (it succeeded but the connection went away, e.g. changehost) or "failed".
local function authenticate(self)
  local auth = self.auth
  if not auth then
    return "ok"
  end
  self.auth_co = running()
  local ok, err = pcall(auth, self)
  self.auth_co = false
  if ok then
    return self.sock and "ok" or "again"
  end
  drop(self)
  if err ~= SOCK_ERROR then
    skynet.error("socket: auth failed", err)
  end
  return "failed"
end

-- Make `fd` (connected to host:port) the channel's connection: retire the
-- old dispatcher, start one for `fd`, authenticate.
local function attach(self, fd, host, port)
  self.__host, self.__port = host, port
  assert(not self.sock and not self.auth_co)
  self.mode.stop(self)
  while self.dispatcher do
    skynet.yield() -- the old dispatcher is finishing
  end
  if self.nodelay then
    socketdriver.nodelay(fd)
  end
  local notify = self.on_overload
  if notify then
    local watcher = overload_watcher(self, notify)
    socket.warning(fd, watcher)
    skynet.fork(watcher, fd, 0) -- starts from "no backlog"
  end
  self.sock = setmetatable({ fd }, self.sock_meta)
  self.dispatcher = skynet.fork(function()
    -- auth may have failed (and dropped the socket) before this runs
    if self.sock then
      pcall(self.mode.run, self)
    end
    self.dispatcher = nil
  end)
  return authenticate(self)
end

-- The backup hosts of one connect round, each host:port once.
local function add_backups(self, round)
  local backup = self.backup
  if not backup then
    return
  end
  for _, entry in ipairs(backup) do
    local host, port = entry, self.__port
    if type(entry) == "table" then
      host, port = entry.host, entry.port
    end
    local key = host .. ":" .. port
    if not round.seen[key] then
      round.seen[key] = true
      round.left[#round.left + 1] = { host, port }
    end
  end
end

local function next_backup(round)
  local addr = tremove(round.left, 1)
  if addr then
    skynet.error("socket: connect to backup host", addr[1], addr[2])
    return addr[1], addr[2]
  end
end

-- One round: the current host, then the backups. true, or false and why.
local function connect_round(self)
  if self.closed then
    return false
  end
  local round = { seen = {}, left = {} }
  add_backups(self, round)
  local host, port = self.__host, self.__port
  while true do
    local fd, why = socket.open(host, port)
    if fd then
      local outcome = attach(self, fd, host, port)
      if outcome == "ok" then
        return true
      elseif outcome == "again" then
        return connect_round(self)
      end
      add_backups(self, round) -- auth may have changed the backups
      why = "no more backup host"
    end
    host, port = next_backup(round)
    if host == nil then
      return false, why
    end
  end
end

-- Connect rounds until connected or closed; `once` stops after one round
-- and returns its error. Between rounds the pause grows by a second.
local function keep_trying(self, once)
  local pause = 0
  while not self.closed do
    local ok, why = connect_round(self)
    if once then
      if not ok then
        return why
      end
      return
    end
    if ok then
      skynet.error("socket: connect to", self.__host, self.__port)
      return
    end
    skynet.error("socket: connect", why)
    local long = pause > 1000
    if long then
      skynet.error("socket: try to reconnect", self.__host, self.__port)
    end
    skynet.sleep(pause)
    pause = long and 100 or pause + 100
  end
end

-- true: usable by the running coroutine; false: closed, or the connection
-- was lost during the running coroutine's own auth; nil: connect first.
local function usability(self)
  local sock = self.sock
  if sock then
    local authing = self.auth_co
    local mine = authing == running()
    if socket.disconnected(sock[1]) then
      skynet.error("socket: disconnect detected ", self.__host, self.__port)
      drop(self)
      if authing and mine then
        return false
      end
      return nil
    end
    if mine or not authing then
      return true
    end
    -- somebody else authenticates: wait for that like for a connect
  end
  if self.closed then
    return false
  end
end

-- Connect (the running coroutine does it) or wait for the coroutine that
-- connects already. Returns the error of a failed `once` round.
local function connect_or_join(self, once)
  local joiners = self.joiners
  if joiners then
    local me = running()
    joiners[#joiners + 1] = me
    skynet.wait(me)
    return
  end
  joiners = {}
  self.joiners = joiners
  local why = keep_trying(self, once)
  self.joiners = nil
  for _, co in ipairs(joiners) do
    skynet.wakeup(co)
  end
  return why
end

-- Make sure the channel is usable (see usability), connecting when needed.
-- Raises SOCK_ERROR when that fails.
local function ensure(self, once)
  local usable = usability(self)
  if usable == nil then
    local why = connect_or_join(self, once)
    usable = usability(self)
    if usable == nil then
      skynet.error("Connect failed", why, self.__host, self.__port)
      error(SOCK_ERROR)
    end
  end
  return usable
end

---------------------------------------------------------------------------
-- Channel objects

local Channel = {}
Channel.__index = Channel

function socketchannel.channel(desc)
  local session_reader = desc.response
  local custom = desc.socket_read or desc.socket_readline
  return setmetatable({
    __host = assert(desc.host),
    __port = desc.port,
    backup = desc.backup,
    auth = desc.auth,
    nodelay = desc.nodelay,
    on_overload = desc.overload,
    overloaded = false,
    session_reader = session_reader,
    mode = session_reader and SESSION or ORDER,
    queue = {}, -- order mode tickets
    waiting = {}, -- session mode: session -> ticket
    sock = false,
    sock_meta = custom and sock_meta(desc.socket_read, desc.socket_readline) or DEFAULT_SOCK_META,
    closed = false,
    auth_co = false,
  }, Channel)
end

-- Wait for the answer read by `reader` (order mode) or to `session`.
local function await(self, reader_or_session)
  local ticket = { co = running() }
  self.mode.enqueue(self, ticket, reader_or_session)
  skynet.wait(ticket.co)
  local ok, data = ticket.ok, ticket.data
  if ok == SOCK_ERROR then
    error(data or SOCK_ERROR)
  end
  assert(ok, data)
  return data
end

-- Write `req`, or with `parts` the request and its further parts (at low
-- priority). false when a write failed.
local function transmit(fd, req, parts)
  if parts == nil then
    return socket.write(fd, req)
  end
  if not socket.lwrite(fd, req) then
    return false
  end
  for _, part in ipairs(parts) do
    if not socket.lwrite(fd, part) then
      return false
    end
  end
  return true
end

function Channel:connect(once)
  self.closed = false
  return ensure(self, once)
end

-- Send `req` and wait for its answer (`response`: the reader in order
-- mode, the session in session mode; nil: no answer awaited).
function Channel:request(req, response, padding)
  assert(ensure(self, true))
  if not transmit(self.sock[1], req, padding) then
    drop(self)
    self.mode.fail_all(self)
    error(SOCK_ERROR)
  end
  if response ~= nil then
    return await(self, response)
  end
end

-- Wait for an answer nobody asked for (a message the server pushes).
function Channel:response(response)
  assert(ensure(self))
  return await(self, response)
end

function Channel:changebackup(backup)
  self.backup = backup
end

function Channel:changehost(host, port)
  self.__host = host
  if port then
    self.__port = port
  end
  if not self.closed then
    drop(self)
  end
end

function Channel:close()
  if self.closed then
    return
  end
  self.mode.stop(self)
  self.closed = true
  drop(self)
end

Channel.__gc = Channel.close

return socketchannel

-- skynet.socketchannel — a request/response channel over one TCP connection
-- that reconnects by itself.
--
-- Stands for the reference's lualib/skynet/socketchannel.lua. A channel is
-- made from a description:
--   { host =, port =, backup = { "host" | {host=,port=}, ... },
--     auth = function(channel) (runs after every connect),
--     response = function(sock) -> session, ok, data [, padding]
--                (session mode; without it the channel is in order mode),
--     nodelay = bool, overload = function(is_overloaded),
--     socket_read =, socket_readline = (replace the sock methods) }
--
-- Order mode: every request names the function that reads its answer;
-- answers are read one after another in request order by the channel's
-- dispatch coroutine. Session mode: one `response` function reads whatever
-- answer comes next and says which session it belongs to.
--
-- Readers get a `sock` object with sock:read(n) and sock:readline(sep); both
-- raise `socketchannel.error` when the connection is gone. A reader may
-- return `ok, data, padding`: with padding true, more parts follow and the
-- caller gets them all in a table. An error in a reader closes the
-- connection and fails every waiting request; the next request connects
-- again (trying the backup hosts in order).

local skynet = require "skynet"
local socket = require "skynet.socket"
local socketdriver = require "skynet.socketdriver"

local assert, error, ipairs, pairs, pcall = assert, error, ipairs, pairs, pcall
local setmetatable, type = setmetatable, type
local sformat = string.format
local tinsert, tremove = table.insert, table.remove
local corunning = coroutine.running

local socketchannel = {}

-- The error value raised when the connection is gone.
local socket_error = setmetatable({}, {
  __tostring = function()
    return "[Error: socket]"
  end,
})
socketchannel.error = socket_error

---------------------------------------------------------------------------
-- The sock object handed to readers: { fd }

local sock_methods = {}

local function shutdown_lost_sock(sock)
  local fd = sock[1]
  sock[1] = false
  if fd then
    socket.shutdown(fd)
  end
end

local default_sock_meta = { __index = sock_methods, __gc = shutdown_lost_sock }

local function raising(reader)
  return function(sock, ...)
    local got = reader(sock[1], ...)
    if not got then
      error(socket_error)
    end
    return got
  end
end

sock_methods.read = raising(socket.read)
sock_methods.readline = raising(socket.readline)

---------------------------------------------------------------------------
-- Channel

local channel = {}
local channel_meta = { __index = channel }

function socketchannel.channel(desc)
  local c = {
    __host = assert(desc.host),
    __port = desc.port,
    __backup = desc.backup,
    __auth = desc.auth,
    __response = desc.response, -- session mode reader
    __request = {}, -- order mode: reader functions, in request order
    __thread = {}, -- order mode: coroutines in request order; session mode: session -> coroutine
    __result = {}, -- coroutine -> ok flag (or socket_error)
    __result_data = {}, -- coroutine -> answer (or error text)
    __connecting = {}, -- [1] = true while connecting, then coroutines waiting for it
    __sock = false,
    __closed = false,
    __authcoroutine = false,
    __nodelay = desc.nodelay,
    __overload_notify = desc.overload,
    __overload = false,
    __socket_meta = default_sock_meta,
  }
  if desc.socket_read or desc.socket_readline then
    c.__socket_meta = {
      __index = {
        read = desc.socket_read or sock_methods.read,
        readline = desc.socket_readline or sock_methods.readline,
      },
      __gc = shutdown_lost_sock,
    }
  end
  return setmetatable(c, channel_meta)
end

-- Drop the connection (never raises).
local function drop_sock(self)
  local sock = self.__sock
  if sock then
    self.__sock = false
    local idle_dispatcher = self.__wait_response
    if idle_dispatcher then
      self.__wait_response = nil
      skynet.wakeup(idle_dispatcher)
    end
    pcall(socket.close, sock[1])
  end
end

local function fail_waiter(self, co, errmsg)
  self.__result[co] = socket_error
  self.__result_data[co] = errmsg
  skynet.wakeup(co)
end

-- Fail every request still waiting for its answer.
local function fail_all(self, errmsg)
  local threads = self.__thread
  if self.__response then
    for session, co in pairs(threads) do
      threads[session] = nil
      fail_waiter(self, co, errmsg)
    end
    return
  end
  local requests = self.__request
  for i = #requests, 1, -1 do
    requests[i] = nil
  end
  for i = 1, #threads do
    local co = threads[i]
    threads[i] = nil
    if co then -- false is the dispatcher's stop signal
      fail_waiter(self, co, errmsg)
    end
  end
end

-- Store an answer for `co`. Parts of a padded answer are appended to the
-- table collected so far.
local function deliver(self, co, ok, data)
  self.__result[co] = ok
  local parts = self.__result_data[co]
  if ok and parts then
    tinsert(parts, data)
  else
    self.__result_data[co] = data
  end
  skynet.wakeup(co)
end

-- a reader error other than socket_error is reported as the error text
local function error_text(err)
  if err ~= socket_error then
    return err
  end
end

---------------------------------------------------------------------------
-- Dispatch coroutines (one per connection)

local function dispatch_by_session(self)
  local reader = self.__response
  while self.__sock do
    local ok, session, result_ok, result_data, padding = pcall(reader, self.__sock)
    if ok and session then
      local threads = self.__thread
      local co = threads[session]
      if co then
        if padding and result_ok then
          -- one part of a multi-part answer: collect it, keep waiting
          local parts = self.__result_data[co] or {}
          self.__result_data[co] = parts
          tinsert(parts, result_data)
        else
          threads[session] = nil
          deliver(self, co, result_ok, result_data)
        end
        if not self.__sock then
          fail_all(self, "channel_closed")
          break
        end
      else
        threads[session] = nil
        skynet.error("socket: unknown session :", session)
      end
    else
      drop_sock(self)
      fail_all(self, error_text(session))
    end
  end
end

-- Next reader and its coroutine; waits for a request while there is none.
-- Nothing when the connection is gone.
local function next_request(self)
  while self.__sock do
    local reader, co = tremove(self.__request, 1), tremove(self.__thread, 1)
    if reader then
      return reader, co
    end
    local me = corunning()
    self.__wait_response = me
    skynet.wait(me)
  end
end

-- Run one reader; a padded answer keeps reading parts into a table.
local function read_answer(reader, sock)
  local ok, data, padding = reader(sock)
  if not (ok and padding) then
    return ok, data
  end
  local parts = { data }
  repeat
    ok, data, padding = reader(sock)
    if not ok then
      return ok, data
    end
    parts[#parts + 1] = data
  until not padding
  return true, parts
end

local function dispatch_by_order(self)
  while self.__sock do
    local reader, co = next_request(self)
    if not co then
      -- stop signal (or the connection went away while idle)
      fail_all(self, "channel_closed")
      break
    end
    local sock = self.__sock
    if not sock then
      -- closed by the peer while this request was queued
      self.__result[co] = socket_error
      skynet.wakeup(co)
      fail_all(self)
      break
    end
    local ran, ok, data = pcall(read_answer, reader, sock)
    if ran then
      deliver(self, co, ok, data)
      if not self.__sock then
        fail_all(self, "channel_closed")
        break
      end
    else
      drop_sock(self)
      local errmsg = error_text(ok)
      fail_waiter(self, co, errmsg)
      fail_all(self, errmsg)
    end
  end
end

-- In order mode the dispatcher may be idle (waiting for a request) when the
-- peer closes; the close hook wakes it.
local function peer_closed(self, fd)
  local sock = self.__sock
  if self.__wait_response and sock and sock[1] == fd then
    skynet.error("socket closed by peer : ", self.__host, self.__port)
    drop_sock(self)
  end
end

local function dispatcher_of(self)
  if self.__response then
    return dispatch_by_session
  end
  socket.onclose(self.__sock[1], function(fd)
    peer_closed(self, fd)
  end)
  return dispatch_by_order
end

local function queue_request(self, reader, co)
  if self.__response then
    self.__thread[reader] = co -- reader is the session
    return
  end
  tinsert(self.__request, reader)
  tinsert(self.__thread, co)
  local idle_dispatcher = self.__wait_response
  if idle_dispatcher then
    self.__wait_response = nil
    skynet.wakeup(idle_dispatcher)
  end
end

-- Ask the order mode dispatcher of the old connection to finish.
local function stop_dispatcher(self)
  if not self.__response and self.__dispatch_thread then
    queue_request(self, true, false)
  end
end

---------------------------------------------------------------------------
-- Connecting

local function watch_overload(self, fd)
  local notify = self.__overload_notify
  if not notify then
    return
  end
  local function on_warning(id, size)
    if id ~= self.__sock[1] then
      return
    end
    if size == 0 then
      if self.__overload then
        self.__overload = false
        notify(false)
      end
    elseif not self.__overload then
      self.__overload = true
      notify(true)
    else
      skynet.error(sformat("WARNING: %d K bytes need to send out (fd = %d)", size, id),
        self.__host, self.__port)
    end
  end
  skynet.fork(on_warning, fd, 0)
  socket.warning(fd, on_warning)
end

local connect_once

-- One pass over the main host and the backups: true once connected (and
-- authenticated), or false and an error.
function connect_once(self)
  if self.__closed then
    return false
  end

  local candidates, seen = {}, {}

  local function add_backups()
    local backup = self.__backup
    if not backup then
      return
    end
    for _, entry in ipairs(backup) do
      local host, port
      if type(entry) == "table" then
        host, port = entry.host, entry.port
      else
        host, port = entry, self.__port
      end
      local key = host .. ":" .. port
      if not seen[key] then
        seen[key] = true
        tinsert(candidates, { host = host, port = port })
      end
    end
  end

  local function next_candidate()
    local addr = tremove(candidates, 1)
    if addr then
      skynet.error("socket: connect to backup host", addr.host, addr.port)
    end
    return addr
  end

  local function try(addr)
    local fd, err = socket.open(addr.host, addr.port)
    if not fd then
      addr = next_candidate()
      if addr == nil then
        return false, err
      end
      return try(addr)
    end

    self.__host = addr.host
    self.__port = addr.port
    assert(not self.__sock and not self.__authcoroutine)
    stop_dispatcher(self)
    if self.__nodelay then
      socketdriver.nodelay(fd)
    end
    watch_overload(self, fd)

    while self.__dispatch_thread do
      -- the previous connection's dispatcher has not finished yet
      skynet.yield()
    end

    self.__sock = setmetatable({ fd }, self.__socket_meta)
    self.__dispatch_thread = skynet.fork(function()
      -- the socket may already be gone if auth failed meanwhile
      if self.__sock then
        pcall(dispatcher_of(self), self)
      end
      self.__dispatch_thread = nil
    end)

    local auth = self.__auth
    if not auth then
      return true
    end
    self.__authcoroutine = corunning()
    local ok, message = pcall(auth, self)
    if not ok then
      drop_sock(self)
      if message ~= socket_error then
        self.__authcoroutine = false
        skynet.error("socket: auth failed", message)
      end
    end
    self.__authcoroutine = false
    if ok then
      if not self.__sock then
        -- auth dropped the connection (e.g. changed the host): again
        return connect_once(self)
      end
      return true
    end
    add_backups() -- auth may have changed the backup list
    addr = next_candidate()
    if addr == nil then
      return false, "no more backup host"
    end
    return try(addr)
  end

  add_backups()
  return try { host = self.__host, port = self.__port }
end

-- Connect; `once` gives up after one pass and returns its error, otherwise
-- retry with a growing pause until connected or closed.
local function keep_connecting(self, once)
  local pause = 0
  while not self.__closed do
    local ok, err = connect_once(self)
    if ok then
      if not once then
        skynet.error("socket: connect to", self.__host, self.__port)
      end
      return
    end
    if once then
      return err
    end
    skynet.error("socket: connect", err)
    if pause > 1000 then
      skynet.error("socket: try to reconnect", self.__host, self.__port)
      skynet.sleep(pause)
      pause = 0
    else
      skynet.sleep(pause)
    end
    pause = pause + 100
  end
end

-- true: usable; false: closed (or lost during its own auth); nil: must
-- connect first.
local function usable(self)
  if self.__sock then
    local authco = self.__authcoroutine
    if socket.disconnected(self.__sock[1]) then
      skynet.error("socket: disconnect detected ", self.__host, self.__port)
      drop_sock(self)
      if authco and authco == corunning() then
        return false
      end
      return
    end
    if not authco or authco == corunning() then
      return true
    end
    -- another coroutine is authenticating: wait for it like a connect
  end
  if self.__closed then
    return false
  end
end

local function ensure_connected(self, once)
  local state = usable(self)
  if state ~= nil then
    return state
  end
  local err
  local queue = self.__connecting
  if #queue > 0 then
    -- someone else connects: wait for the outcome
    local me = corunning()
    tinsert(queue, me)
    skynet.wait(me)
  else
    queue[1] = true
    err = keep_connecting(self, once)
    for i = 2, #queue do
      local co = queue[i]
      queue[i] = nil
      skynet.wakeup(co)
    end
    queue[1] = nil
  end
  state = usable(self)
  if state == nil then
    skynet.error("Connect failed", err, self.__host, self.__port)
    error(socket_error)
  end
  return state
end

function channel:connect(once)
  self.__closed = false
  return ensure_connected(self, once)
end

---------------------------------------------------------------------------
-- Requests

local function await_answer(self, reader)
  local co = corunning()
  queue_request(self, reader, co)
  skynet.wait(co)
  local ok = self.__result[co]
  local data = self.__result_data[co]
  self.__result[co] = nil
  self.__result_data[co] = nil
  if ok == socket_error then
    if data then
      error(data)
    end
    error(socket_error)
  end
  assert(ok, data)
  return data
end

local function write_failed(self)
  drop_sock(self)
  fail_all(self)
  error(socket_error)
end

-- Send `req` (a string, or with `padding` a list of more parts) and wait for
-- the answer read by `response` (order mode: a reader function; session
-- mode: the session number). Without `response` nothing is awaited.
function channel:request(req, response, padding)
  assert(ensure_connected(self, true))
  local fd = self.__sock[1]
  if padding then
    -- multi-part requests go out with low priority
    if not socket.lwrite(fd, req) then
      write_failed(self)
    end
    for _, part in ipairs(padding) do
      if not socket.lwrite(fd, part) then
        write_failed(self)
      end
    end
  elseif not socket.write(fd, req) then
    write_failed(self)
  end
  if response == nil then
    return
  end
  return await_answer(self, response)
end

-- Wait for an answer nobody asked for (e.g. a pushed message).
function channel:response(response)
  assert(ensure_connected(self))
  return await_answer(self, response)
end

function channel:close()
  if not self.__closed then
    stop_dispatcher(self)
    self.__closed = true
    drop_sock(self)
  end
end

function channel:changehost(host, port)
  self.__host = host
  if port then
    self.__port = port
  end
  if not self.__closed then
    drop_sock(self)
  end
end

function channel:changebackup(backup)
  self.__backup = backup
end

channel_meta.__gc = channel.close

return socketchannel

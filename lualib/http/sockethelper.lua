-- http.sockethelper — skynet sockets seen as the plain read/write
-- functions the http modules work with; any failure raises the single
-- `socket_error` value.
--
-- Our version of the reference's lualib/http/sockethelper.lua, same API:
--   readfunc(fd [, pending]) -> read([n]): n bytes, or without n whatever
--       the socket has; `pending` (bytes read earlier by someone else) is
--       handed out before the socket is read
--   writefunc(fd) -> write(data)
--   readall(fd), close(fd), shutdown(fd): the skynet.socket calls
--   connect(host, port [, timeout]) -> fd; timeout in ticks (1/100 s)
--   socket_error: the error value raised. Calling it with a text stores
--       "[Socket Error] : <text>" in it and returns it; tostring() on it
--       gives that text once, "[Socket Error]" otherwise.

local skynet = require "skynet"
local socket = require "skynet.socket"

local error, setmetatable, tostring = error, setmetatable, tostring

local helper = {}

local failure_mt = {}

function failure_mt.__call(err, detail)
  err.err_info = "[Socket Error] : " .. tostring(detail)
  return err
end

function failure_mt.__tostring(err)
  local detail = err.err_info
  err.err_info = nil
  return detail or "[Socket Error]"
end

local socket_error = setmetatable({}, failure_mt)
helper.socket_error = socket_error

local function broken(action, fd)
  error(socket_error(action .. " failed fd = " .. fd))
end

-- read(fd, n) that raises instead of returning false
local function must_read(fd, n)
  return socket.read(fd, n) or broken("read", fd)
end

function helper.readfunc(fd, pending)
  local function direct(n)
    return must_read(fd, n)
  end
  if pending == nil then
    return direct
  end
  return function(n)
    local held = pending
    if held == nil then
      return direct(n)
    end
    local have = #held
    if n ~= nil and n < have then
      pending = held:sub(n + 1)
      return held:sub(1, n)
    end
    pending = nil
    if n == nil or n == have then
      return held
    end
    return held .. direct(n - have)
  end
end

helper.readall = socket.readall

function helper.writefunc(fd)
  return function(data)
    local _ = socket.write(fd, data) or broken("write", fd)
  end
end

-- Opens the connection in a separate coroutine and waits at most `ticks`
-- for it. Returns fd (or nil), the open error, and whether time ran out.
-- A connection that completes after the caller gave up is closed.
local function open_within(host, port, ticks)
  local caller = coroutine.running()
  local attempt = { waiting = true }
  skynet.fork(function()
    local fd, err = socket.open(host, port)
    if attempt.waiting then
      attempt.done, attempt.fd, attempt.err = true, fd, err
      skynet.wakeup(caller)
    elseif fd then
      socket.close(fd)
    end
  end)
  skynet.sleep(ticks)
  attempt.waiting = false
  return attempt.fd, attempt.err, not attempt.done
end

function helper.connect(host, port, timeout)
  local fd, err, late
  if timeout then
    fd, err, late = open_within(host, port, timeout)
  else
    fd, err = socket.open(host, port)
    late = false
  end
  return fd or error(socket_error(string.format(
    "connect failed host = %s port = %s timeout = %s err = %s is_time_out = %s",
    host, port, timeout, err, late)))
end

function helper.close(fd)
  socket.close(fd)
end

function helper.shutdown(fd)
  socket.shutdown(fd)
end

return helper

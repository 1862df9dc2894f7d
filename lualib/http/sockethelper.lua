-- http.sockethelper — skynet sockets as the read/write functions the http
-- modules use, raising `sockethelper.socket_error` on a broken connection.
--
-- Stands for the reference's lualib/http/sockethelper.lua. API:
--   readfunc(fd [, pending]) -> read(n): n bytes, or without n what is
--       available; `pending` bytes (already read elsewhere) come first
--   writefunc(fd) -> write(s)
--   readall(fd), close(fd), shutdown(fd)
--   connect(host, port [, timeout]) -> fd (timeout in ticks)
--   socket_error: the error value; called as socket_error(text) it
--       remembers a text that its tostring shows once.

local socket = require "skynet.socket"
local skynet = require "skynet"

local error, setmetatable, tostring = error, setmetatable, tostring

local sockethelper = {}

local socket_error = setmetatable({}, {
  __tostring = function(self)
    local text = self.err_info
    self.err_info = nil
    return text or "[Socket Error]"
  end,
  __call = function(self, info)
    self.err_info = "[Socket Error] : " .. tostring(info)
    return self
  end,
})
sockethelper.socket_error = socket_error

local function read_or_raise(fd, n)
  local got = socket.read(fd, n)
  if not got then
    error(socket_error("read failed fd = " .. fd))
  end
  return got
end

function sockethelper.readfunc(fd, pending)
  if not pending then
    return function(n)
      return read_or_raise(fd, n)
    end
  end
  return function(n)
    if not pending then
      return read_or_raise(fd, n)
    end
    local have = #pending
    if n == nil or n == have then
      local all = pending
      pending = nil
      return all
    end
    if n < have then
      local head = pending:sub(1, n)
      pending = pending:sub(n + 1)
      return head
    end
    local head = pending
    pending = nil
    return head .. read_or_raise(fd, n - have)
  end
end

sockethelper.readall = socket.readall

function sockethelper.writefunc(fd)
  return function(content)
    if not socket.write(fd, content) then
      error(socket_error("write failed fd = " .. fd))
    end
  end
end

function sockethelper.connect(host, port, timeout)
  local fd, err
  local timed_out = false
  if timeout then
    -- connect in a fork; whichever comes first, the connection or the
    -- timeout, decides. A connection made after the timeout is closed.
    timed_out = true
    local gave_up = false
    local me = coroutine.running()
    skynet.fork(function()
      fd, err = socket.open(host, port)
      if gave_up then
        if fd then
          socket.close(fd)
        end
      else
        timed_out = false
        skynet.wakeup(me)
      end
    end)
    skynet.sleep(timeout)
    if not fd then
      gave_up = true
    end
  else
    fd, err = socket.open(host, port)
  end
  if fd then
    return fd
  end
  error(socket_error("connect failed host = " .. host .. " port = " .. port
    .. " timeout = " .. tostring(timeout) .. " err = " .. tostring(err)
    .. " is_time_out = " .. tostring(timed_out)))
end

function sockethelper.close(fd)
  socket.close(fd)
end

function sockethelper.shutdown(fd)
  socket.shutdown(fd)
end

return sockethelper

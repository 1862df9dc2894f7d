-- http.tlshelper — TLS over skynet sockets for httpc, websocket and https
-- servers, through the native `ltls.c` module (an OpenSSL binding built
-- separately; without it only this module fails to load).
--
-- Stands for the reference's lualib/http/tlshelper.lua. The TLS object
-- turns plain bytes into records and back: handshake(data) -> bytes to send,
-- finished(), read(records) -> plain bytes, write(plain) -> records,
-- set_ext_host_name(name), close().
--   newctx(), newtls(method, ctx [, hostname])
--   init_requestfunc(fd, tls) -> function([hostname]) client handshake
--   init_responsefunc(fd, tls) -> function() server handshake
--   readfunc(fd, tls) -> read([n]), writefunc(fd, tls) -> write(s),
--   readallfunc(fd, tls) -> readall(), closefunc(tls) -> close()

local sockethelper = require "http.sockethelper"
local ltls = require "ltls.c"

local tlshelper = {}

function tlshelper.init_requestfunc(fd, tls)
  local read = sockethelper.readfunc(fd)
  local write = sockethelper.writefunc(fd)
  return function(hostname)
    if hostname then
      tls:set_ext_host_name(hostname)
    end
    write(tls:handshake())
    while not tls:finished() do
      local answer = tls:handshake(read())
      if answer then
        write(answer)
      end
    end
  end
end

function tlshelper.init_responsefunc(fd, tls)
  local read = sockethelper.readfunc(fd)
  local write = sockethelper.writefunc(fd)
  return function()
    while not tls:finished() do
      local answer = tls:handshake(read())
      if answer then
        write(answer)
      end
    end
    write(tls:write())
  end
end

function tlshelper.closefunc(tls)
  return function()
    tls:close()
  end
end

function tlshelper.readfunc(fd, tls)
  -- the first read only flushes what the TLS object already decrypted
  -- during the handshake; later reads take records from the socket
  local socket_read
  local function next_records()
    if socket_read then
      return socket_read()
    end
    socket_read = sockethelper.readfunc(fd)
    return ""
  end
  local plain = ""
  return function(n)
    if not n then
      local more = ""
      if #plain == 0 then
        more = tls:read(next_records())
      end
      local out = plain .. more
      plain = ""
      return out
    end
    while #plain < n do
      plain = plain .. tls:read(next_records())
    end
    local out = plain:sub(1, n)
    plain = plain:sub(n + 1)
    return out
  end
end

function tlshelper.writefunc(fd, tls)
  local write = sockethelper.writefunc(fd)
  return function(s)
    return write(tls:write(s))
  end
end

function tlshelper.readallfunc(fd, tls)
  return function()
    return tls:read(sockethelper.readall(fd))
  end
end

function tlshelper.newctx()
  return ltls.newctx()
end

function tlshelper.newtls(method, ctx, hostname)
  return ltls.newtls(method, ctx, hostname)
end

return tlshelper

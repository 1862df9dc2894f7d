-- http.tlshelper — TLS over skynet sockets for httpc, the websocket module
-- and https servers, through the native `ltls.c` module.
--
-- Our version of the reference's lualib/http/tlshelper.lua, same API. The
-- ltls session object converts between socket bytes and plain bytes:
-- handshake([records]) -> records to send, finished(), read(records) ->
-- plain bytes, write([plain]) -> records, set_ext_host_name(name), close().
--   newctx(), newtls(method, ctx [, hostname]): the ltls constructors
--   init_requestfunc(fd, tls) -> function([hostname]): client handshake
--   init_responsefunc(fd, tls) -> function(): server handshake
--   readfunc(fd, tls) -> read([n]); writefunc(fd, tls) -> write(data)
--   readallfunc(fd, tls) -> readall(); closefunc(tls) -> close()
-- Socket failures raise http.sockethelper's socket_error.

local sockethelper = require "http.sockethelper"
local ltls = require "ltls.c"

local tlshelper = {}

-- Feeds socket bytes to the session until the handshake is finished,
-- sending every answer it produces.
local function drive_handshake(fd, tls)
  local from_peer = sockethelper.readfunc(fd)
  local to_peer = sockethelper.writefunc(fd)
  return function(opening)
    if opening then
      to_peer(opening)
    end
    while not tls:finished() do
      local answer = tls:handshake(from_peer())
      if answer then
        to_peer(answer)
      end
    end
    return to_peer
  end
end

function tlshelper.init_requestfunc(fd, tls)
  local run = drive_handshake(fd, tls)
  return function(hostname)
    if hostname then
      tls:set_ext_host_name(hostname)
    end
    -- the client speaks first (ClientHello)
    run(tls:handshake())
  end
end

function tlshelper.init_responsefunc(fd, tls)
  local run = drive_handshake(fd, tls)
  return function()
    local to_peer = run(nil)
    -- whatever the session still holds for the peer goes out now
    to_peer(tls:write())
  end
end

function tlshelper.closefunc(tls)
  return function()
    tls:close()
  end
end

function tlshelper.readfunc(fd, tls)
  local from_socket = sockethelper.readfunc(fd)
  -- Plain bytes decrypted but not handed out yet. The very first refill
  -- asks the session with no new records: it may already hold application
  -- data that came in with the end of the handshake.
  local plain = ""
  local primed = false
  local function refill()
    local records = ""
    if primed then
      records = from_socket()
    else
      primed = true
    end
    plain = plain .. tls:read(records)
  end
  return function(n)
    if n == nil then
      if plain == "" then
        refill()
      end
      local out = plain
      plain = ""
      return out
    end
    while #plain < n do
      refill()
    end
    local out = plain:sub(1, n)
    plain = plain:sub(n + 1)
    return out
  end
end

function tlshelper.writefunc(fd, tls)
  local to_peer = sockethelper.writefunc(fd)
  return function(data)
    return to_peer(tls:write(data))
  end
end

function tlshelper.readallfunc(fd, tls)
  return function()
    return tls:read(sockethelper.readall(fd))
  end
end

tlshelper.newctx = function()
  return ltls.newctx()
end

tlshelper.newtls = function(method, ctx, hostname)
  return ltls.newtls(method, ctx, hostname)
end

return tlshelper

-- http.httpc — an HTTP/1.1 client, one fresh connection per request.
--
-- Our version of the reference's lualib/http/httpc.lua, same API:
--   httpc.request(method, host, url [, recvheader [, header [, content]]])
--       -> status, body; raises on failure. `host` is "name[:port]",
--       "[ipv6][:port]", optionally behind "http://" or "https://".
--       `recvheader`, when given, is filled with the response's fields.
--   httpc.get(host, url, ...) = httpc.request("GET", host, url, ...)
--   httpc.head(host, url, ...) -> status
--   httpc.post(host, url, form [, recvheader]): form-urlencoded table
--   httpc.request_stream(...) -> stream of http.internal (no timeout)
--   httpc.dns([server [, port]]): resolve names with skynet.dns
--   httpc.timeout (ticks, unset by default): bounds connecting and the
--       whole exchange; when it passes, the socket is shut down.
-- https goes through http.tlshelper (the native `ltls.c` module).

local skynet = require "skynet"
local dns = require "skynet.dns"
local internal = require "http.internal"
local sockethelper = require "http.sockethelper"

local error, pairs, pcall, tonumber = error, pairs, pcall, tonumber
local concat, sformat = table.concat, string.format

local httpc = {}

-- whether host names go through skynet.dns (else the socket layer
-- resolves them)
local resolve_names = false

function httpc.dns(server, port)
  resolve_names = true
  dns.server(server, port)
end

---------------------------------------------------------------------------
-- Where to connect

local DEFAULT_PORT = { http = 80, https = 443 }

local function dotted_quad(text)
  return text:match "^%d+%.%d+%.%d+%.%d+$" ~= nil
end

-- "name", "name:port", "a.b.c.d[:port]", "[v6][:port]"
-- -> address, port (nil when not given), is the address a host name
local function split_authority(authority)
  local colons = select(2, authority:gsub(":", ":"))
  if colons == 0 then
    return authority, nil, not dotted_quad(authority)
  end
  if colons == 1 then
    local name, port = authority:match "^(.-):(%d+)$"
    if name == nil then
      return authority, nil, true
    end
    return name, tonumber(port), not dotted_quad(name)
  end
  local v6, port = authority:match "^%[(.-)%]:?(%d*)$"
  if v6 == nil then
    error(sformat("Invalid host: bare IPv6 address '%s', use '[%s]' instead", authority, authority))
  end
  return v6, tonumber(port), false
end

-- The target of a request: { scheme, address, port, name (for TLS SNI and
-- dns, nil for literal addresses), authority (for the Host field) }.
local function target_of(host)
  local scheme, authority = host:match "^(%a+)://(.*)"
  scheme = scheme and scheme:lower() or "http"
  authority = authority or host
  local address, port, is_name = split_authority(authority)
  port = port or DEFAULT_PORT[scheme]
  if port == nil then
    error("Invalid protocol: " .. scheme)
  end
  return {
    scheme = scheme,
    address = address,
    port = port,
    name = is_name and address or nil,
    authority = authority,
  }
end

---------------------------------------------------------------------------
-- Connections

-- Builds the read/write/readall functions (and init/close for TLS) over a
-- connected socket, per scheme.
local transports = {}

function transports.http(fd)
  local function readall()
    return sockethelper.readall(fd)
  end
  return { readall = readall, read = sockethelper.readfunc(fd), write = sockethelper.writefunc(fd) }
end

local tls_client_ctx

function transports.https(fd, name)
  local tls = require "http.tlshelper"
  if tls_client_ctx == nil then
    tls_client_ctx = tls.newctx()
  end
  local session = tls.newtls("client", tls_client_ctx, name)
  local io = {
    read = tls.readfunc(fd, session),
    readall = tls.readallfunc(fd, session),
    write = tls.writefunc(fd, session),
  }
  -- the handshake (init) runs once the timeout is armed
  io.init, io.close = tls.init_requestfunc(fd, session), tls.closefunc(session)
  return io
end

-- An open connection: { fd, io, authority, released }.
local Conn = {}
Conn.__index = Conn

-- Stops the timeout from touching the socket any more.
function Conn:detach()
  self.released = true
end

function Conn:release()
  self:detach()
  sockethelper.close(self.fd)
  local close = self.io.close
  if close then
    self.io.close = nil
    close()
  end
end

local function connect(host, timeout)
  local target = target_of(host)
  local make = transports[target.scheme]
  if make == nil then
    error(sformat("Invalid protocol: %s", target.scheme))
  end
  local address = target.address
  if target.name and resolve_names then
    local ip, why = dns.resolve(address)
    if ip == nil then
      error(sformat("%s dns resolve failed msg:%s", address, why))
    end
    address = ip
  end
  local fd = sockethelper.connect(address, target.port, timeout)
  if not fd then
    error(sformat("%s connect error host:%s, port:%s, timeout:%s",
      target.scheme, target.address, target.port, timeout))
  end
  local conn = setmetatable({
    fd = fd,
    io = make(fd, target.name),
    authority = target.authority,
    released = false,
  }, Conn)
  if timeout then
    skynet.timeout(timeout, function()
      if not conn.released then
        -- wakes whoever waits on the socket; release() closes it later
        sockethelper.shutdown(fd)
      end
    end)
  end
  if conn.io.init then
    conn.io.init(target.name)
  end
  return conn
end

-- Sends the request; -> true, status, pending bytes, response header or
-- false, error.
local function send(conn, method, url, recvheader, header, content)
  return pcall(internal.request, conn.io, method, conn.authority, url, recvheader, header, content)
end

---------------------------------------------------------------------------
-- API

function httpc.request(method, host, url, recvheader, header, content)
  local conn = connect(host, httpc.timeout)
  local ok, status, body, fields = send(conn, method, url, recvheader, header, content)
  if ok then
    ok, body = pcall(internal.response, conn.io, status, body, fields)
  end
  conn:release()
  if not ok then
    error(body or status)
  end
  return status, body
end

function httpc.head(host, url, recvheader, header, content)
  local conn = connect(host, httpc.timeout)
  local ok, status = send(conn, "HEAD", url, recvheader, header, content)
  conn:release()
  if not ok then
    error(status)
  end
  return status
end

function httpc.request_stream(method, host, url, recvheader, header, content)
  local conn = connect(host, httpc.timeout)
  local ok, status, pending, fields = send(conn, method, url, recvheader, header, content)
  -- from here on the body is read at the caller's pace: no timeout
  conn:detach()
  if not ok then
    conn:release()
    error(status)
  end
  local stream = internal.response_stream(conn.io, status, pending, fields)
  stream._onclose = function()
    conn:release()
  end
  return stream
end

function httpc.get(host, url, ...)
  return httpc.request("GET", host, url, ...)
end

-- every byte but letters, digits and '_' becomes %XX
local function form_escape(value)
  return (string.gsub(value, "[^A-Za-z0-9_]", function(c)
    return sformat("%%%02X", c:byte())
  end))
end

function httpc.post(host, url, form, recvheader)
  local fields = {}
  for name, value in pairs(form) do
    fields[#fields + 1] = form_escape(name) .. "=" .. form_escape(value)
  end
  local header = { ["content-type"] = "application/x-www-form-urlencoded" }
  return httpc.request("POST", host, url, recvheader, header, concat(fields, "&"))
end

return httpc

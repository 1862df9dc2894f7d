-- http.httpc — an HTTP/1.1 client (one connection per request).
--
-- Stands for the reference's lualib/http/httpc.lua. API:
--   httpc.request(method, host, url [, recvheader [, header [, content]]])
--       -> status, body (raises on failure). `host` is "name[:port]",
--       "[ipv6][:port]" or with a scheme "http://..." / "https://...".
--       `recvheader`, if given, receives the response header fields.
--   httpc.get(host, url, ...), httpc.head(host, url, ...) -> status
--   httpc.post(host, url, form [, recvheader]) (form-urlencoded table)
--   httpc.request_stream(...) -> stream (see http.internal)
--   httpc.dns([server [, port]]) resolve host names with skynet.dns
--   httpc.timeout = ticks: bound for connecting and for the whole request
-- https needs the `ltls.c` native module (through http.tlshelper).

local skynet = require "skynet"
local sockethelper = require "http.sockethelper"
local internal = require "http.internal"
local dns = require "skynet.dns"

local error, pairs, pcall, tonumber = error, pairs, pcall, tonumber
local sformat = string.format

local httpc = {}

local use_dns = false

function httpc.dns(server, port)
  use_dns = true
  dns.server(server, port)
end

local default_port = { http = 80, https = 443 }

local function is_ipv4(text)
  return text:find "^%d+%.%d+%.%d+%.%d+$" ~= nil
end

-- host part of a URL -> address, port or nil, "ipv4" | "ipv6" | "hostname"
local function split_host(host)
  local first = host:find(":", 1, true)
  if not first then
    return host, nil, is_ipv4(host) and "ipv4" or "hostname"
  end
  if host:find(":", first + 1, true) then
    local ipv6, port = host:match "^%[(.-)%]:?(%d*)$"
    if ipv6 then
      return ipv6, port ~= "" and tonumber(port) or nil, "ipv6"
    end
    error(sformat("Invalid host: bare IPv6 address '%s', use '[%s]' instead", host, host))
  end
  local name, port = host:match "^(.-):(%d+)$"
  if name then
    return name, tonumber(port), is_ipv4(name) and "ipv4" or "hostname"
  end
  return host, nil, "hostname"
end

local function split_url(target)
  local scheme, rest = target:match "^(%a+)://(.*)"
  if scheme then
    scheme = scheme:lower()
  else
    scheme, rest = "http", target
  end
  local host_field = rest
  local address, port, kind = split_host(rest)
  port = port or default_port[scheme]
  if not port then
    error("Invalid protocol: " .. scheme)
  end
  return scheme, address, port, kind, host_field
end

local client_tls_ctx

local function make_interface(scheme, fd, server_name)
  if scheme == "http" then
    return {
      read = sockethelper.readfunc(fd),
      write = sockethelper.writefunc(fd),
      readall = function()
        return sockethelper.readall(fd)
      end,
    }
  end
  if scheme == "https" then
    local tls = require "http.tlshelper"
    client_tls_ctx = client_tls_ctx or tls.newctx()
    local ctx = tls.newtls("client", client_tls_ctx, server_name)
    return {
      init = tls.init_requestfunc(fd, ctx),
      close = tls.closefunc(ctx),
      read = tls.readfunc(fd, ctx),
      write = tls.writefunc(fd, ctx),
      readall = tls.readallfunc(fd, ctx),
    }
  end
  error(sformat("Invalid protocol: %s", scheme))
end

local function open(target, timeout)
  local scheme, address, port, kind, host_field = split_url(target)
  local connect_to = address
  if kind == "hostname" and use_dns then
    local why
    connect_to, why = dns.resolve(address)
    if not connect_to then
      error(sformat("%s dns resolve failed msg:%s", address, why))
    end
  end
  local fd = sockethelper.connect(connect_to, port, timeout)
  if not fd then
    error(sformat("%s connect error host:%s, port:%s, timeout:%s", scheme, address, port, timeout))
  end
  local server_name = kind == "hostname" and address or nil
  local interface = make_interface(scheme, fd, server_name)
  if timeout then
    skynet.timeout(timeout, function()
      if not interface.finish then
        -- wakes the blocked reader; the fd is closed by the request
        sockethelper.shutdown(fd)
      end
    end)
  end
  if interface.init then
    interface.init(server_name)
  end
  return fd, interface, host_field
end

local function finish(interface, fd)
  interface.finish = true
  sockethelper.close(fd)
  local close = interface.close
  if close then
    interface.close = nil
    close()
  end
end

function httpc.request(method, host, url, recvheader, header, content)
  local fd, interface, host_field = open(host, httpc.timeout)
  local ok, status, body, got_header =
    pcall(internal.request, interface, method, host_field, url, recvheader, header, content)
  if ok then
    ok, body = pcall(internal.response, interface, status, body, got_header)
  end
  finish(interface, fd)
  if ok then
    return status, body
  end
  error(body or status)
end

function httpc.head(host, url, recvheader, header, content)
  local fd, interface, host_field = open(host, httpc.timeout)
  local ok, status =
    pcall(internal.request, interface, "HEAD", host_field, url, recvheader, header, content)
  finish(interface, fd)
  if ok then
    return status
  end
  error(status)
end

function httpc.request_stream(method, host, url, recvheader, header, content)
  local fd, interface, host_field = open(host, httpc.timeout)
  local ok, status, body, got_header =
    pcall(internal.request, interface, method, host_field, url, recvheader, header, content)
  -- the stream is not bounded by the timeout
  interface.finish = true
  local function close_fd()
    finish(interface, fd)
  end
  if not ok then
    close_fd()
    error(status)
  end
  local stream = internal.response_stream(interface, status, body, got_header)
  stream._onclose = close_fd
  return stream
end

function httpc.get(...)
  return httpc.request("GET", ...)
end

local function escape(text)
  -- string.gsub, not text:gsub: form values may be numbers
  return (string.gsub(text, "([^A-Za-z0-9_])", function(c)
    return sformat("%%%02X", c:byte())
  end))
end

function httpc.post(host, url, form, recvheader)
  local header = { ["content-type"] = "application/x-www-form-urlencoded" }
  local fields = {}
  for k, v in pairs(form) do
    fields[#fields + 1] = sformat("%s=%s", escape(k), escape(v))
  end
  return httpc.request("POST", host, url, recvheader, header, table.concat(fields, "&"))
end

return httpc

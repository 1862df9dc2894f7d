-- http.websocket — WebSocket (RFC 6455) server and client over skynet
-- sockets.
--
-- Stands for the reference's lualib/http/websocket.lua. API:
--   websocket.accept(id, handle [, protocol [, addr [, options]]]) -> ok, err
--       Serves one accepted connection ("ws", or "wss" with ltls) until it
--       closes, calling handle.connect(id), handle.handshake(id, header,
--       url), handle.message(id, data, "text"|"binary"), handle.ping(id),
--       handle.pong(id), handle.close(id, code, reason), handle.error(id),
--       handle.warning(ws, size) when present. options.upgrade =
--       { header =, method =, url = } skips reading the HTTP request (it was
--       already read by an httpd handler).
--   websocket.connect(url [, header [, timeout]]) -> id   ("ws://host:port/path")
--   websocket.read(id) -> message | false, close payload
--   websocket.write(id, data [, "text"|"binary" [, masking_key]])
--   websocket.ping(id), websocket.close(id [, code [, reason]])
--   websocket.addrinfo(id), websocket.real_ip(id), websocket.is_close(id)
-- A server refuses frames (and fragmented messages) over 256 KB.

local internal = require "http.internal"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local httpd = require "http.httpd"
local skynet = require "skynet"
local sockethelper = require "http.sockethelper"

local socket_error = sockethelper.socket_error

local assert, error, pairs, pcall, tonumber, tostring, xpcall =
  assert, error, pairs, pcall, tonumber, tostring, xpcall
local spack, sunpack, sformat = string.pack, string.unpack, string.format
local traceback = debug.traceback

local GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
local MAX_FRAME = 256 * 1024

local M = {}

-- socket id -> connection object { id, mode, read, write, close, handle, ... }
local connections = {}

local function forget(ws)
  local id = ws.id
  assert(connections[id] == ws)
  connections[id] = nil
  ws.close()
end

local function is_closed(id)
  return not connections[id]
end

-- Make ws.read serve `extra` (bytes read past the HTTP header) first.
local function prepend(ws, extra)
  local left = #extra
  if left == 0 then
    return
  end
  local read_socket = ws.read
  ws.read = function(n)
    if n == nil or n == left then
      ws.read = read_socket
      return extra
    end
    if n < left then
      local head = extra:sub(1, n)
      extra = extra:sub(n + 1)
      left = #extra
      return head
    end
    ws.read = read_socket
    return extra .. read_socket(n - left)
  end
end

local function call_handler(ws, event, ...)
  local handle = ws.handle
  local f = handle and handle[event]
  if f then
    f(ws.id, ...)
  end
end

---------------------------------------------------------------------------
-- Frames

local opcodes = {
  frame = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA,
  [0x0] = "frame", [0x1] = "text", [0x2] = "binary", [0x8] = "close",
  [0x9] = "ping", [0xA] = "pong",
}

local function send_frame(ws, op, payload, masking_key)
  payload = payload or ""
  local len = #payload
  local first = 0x80 | assert(opcodes[op]) -- FIN set: no fragmenting
  local mask_bit = masking_key and 0x80 or 0
  local head
  if len < 126 then
    head = spack("I1I1", first, mask_bit | len)
  elseif len <= 0xffff then
    head = spack("I1I1>I2", first, mask_bit | 126, len)
  else
    head = spack("I1I1>I8", first, mask_bit | 127, len)
  end
  ws.write(head)
  if masking_key then
    local key = spack(">I4", masking_key)
    ws.write(key)
    payload = crypt.xor_str(payload, key)
  end
  if len > 0 then
    ws.write(payload)
  end
end

-- -> fin, op name, payload (unmasked)
local function recv_frame(ws)
  local b1, b2 = sunpack("I1I1", ws.read(2))
  local fin = b1 & 0x80 ~= 0
  local op = b1 & 0x0f
  local masked = b2 & 0x80 ~= 0
  local len = b2 & 0x7f
  if len == 126 then
    len = sunpack(">I2", ws.read(2))
  elseif len == 127 then
    len = sunpack(">I8", ws.read(8))
  end
  if ws.mode == "server" and len > MAX_FRAME then
    error "payload_len is too large"
  end
  local key = masked and ws.read(4)
  local payload = len > 0 and ws.read(len) or ""
  if key then
    payload = crypt.xor_str(payload, key)
  end
  return fin, assert(opcodes[op]), payload
end

-- close payload -> code, reason (both nil when absent)
local function close_reason(payload)
  local len = #payload
  if len > 2 then
    return sunpack(sformat(">I2c%d", len - 2), payload)
  end
end

---------------------------------------------------------------------------
-- Handshakes

local function client_handshake(ws, host, url, extra_header)
  local key = crypt.base64encode(crypt.randomkey() .. crypt.randomkey())
  local header = {
    ["Upgrade"] = "websocket",
    ["Connection"] = "Upgrade",
    ["Sec-WebSocket-Version"] = "13",
    ["Sec-WebSocket-Key"] = key,
  }
  if extra_header then
    for k, v in pairs(extra_header) do
      assert(header[k] == nil, k)
      header[k] = v
    end
  end
  local got = {}
  local code, extra = internal.request(ws, "GET", host, url, got, header)
  if code ~= 101 then
    error(sformat("websocket handshake error: code[%s] info:%s", code, extra))
  end
  prepend(ws, extra)
  if not got["upgrade"] or got["upgrade"]:lower() ~= "websocket" then
    error "websocket handshake upgrade must websocket"
  end
  if not got["connection"] or got["connection"]:lower() ~= "upgrade" then
    error "websocket handshake connection must upgrade"
  end
  local accept = got["sec-websocket-accept"]
  if not accept then
    error "websocket handshake need Sec-WebSocket-Accept"
  end
  if crypt.base64decode(accept) ~= crypt.sha1(key .. ws.guid) then
    error "websocket handshake invalid Sec-WebSocket-Accept"
  end
end

-- nil, header, url when accepted (the 101 answer is written); otherwise an
-- HTTP status and an optional reason to answer with.
local function server_handshake(ws, upgrade)
  local header, url
  if upgrade then
    header, url = upgrade.header, upgrade.url
  else
    local lines = {}
    local extra = internal.recvheader(ws.read, lines, "")
    if not extra then
      return 413
    end
    prepend(ws, extra)
    local method, target, version = assert(lines[1]):match "^(%a+)%s+(.-)%s+HTTP/([%d%.]+)$"
    assert(method and target and version)
    if method ~= "GET" then
      return 400, "need GET method"
    end
    if assert(tonumber(version)) < 1.1 then
      return 505
    end
    url = target
    header = internal.parseheader(lines, 2, {})
  end
  if not header then
    return 400
  end
  local upgrade_field = header["upgrade"]
  if not upgrade_field or upgrade_field:lower() ~= "websocket" then
    return 426, "Upgrade Required"
  end
  if not header["host"] then
    return 400, "host Required"
  end
  local connection = header["connection"]
  if not connection or not connection:lower():find("upgrade", 1, true) then
    return 400, "Connection must Upgrade"
  end
  local key = header["sec-websocket-key"]
  if not key then
    return 400, "Sec-WebSocket-Key Required"
  end
  if #crypt.base64decode(key) ~= 16 then
    return 400, "Sec-WebSocket-Key invalid"
  end
  if header["sec-websocket-version"] ~= "13" then
    return 400, "Sec-WebSocket-Version must 13"
  end
  local protocol_line = ""
  local offered = header["sec-websocket-protocol"]
  if offered then
    for name in offered:gmatch "[^%s,]+" do
      if name == "chat" then
        protocol_line = "Sec-WebSocket-Protocol: chat\r\n"
        break
      end
    end
    if protocol_line == "" then
      return 400, "Sec-WebSocket-Protocol need include chat"
    end
  end
  -- set by a proxy such as nginx
  ws.real_ip = header["x-real-ip"]
  local accept = crypt.base64encode(crypt.sha1(key .. ws.guid))
  ws.write("HTTP/1.1 101 Switching Protocols\r\n"
    .. "Upgrade: websocket\r\n"
    .. "Connection: Upgrade\r\n"
    .. sformat("Sec-WebSocket-Accept: %s\r\n", accept)
    .. protocol_line
    .. "\r\n")
  return nil, header, url
end

---------------------------------------------------------------------------
-- Server

-- Handshake, then read frames and call the handlers until the close.
local function serve(ws, options)
  call_handler(ws, "connect")
  local status, reason_or_header, url = server_handshake(ws, options and options.upgrade)
  if status then
    local ok, err = httpd.write_response(ws.write, status, reason_or_header)
    if not ok then
      error(err)
    end
    call_handler(ws, "close")
    return
  end
  call_handler(ws, "handshake", reason_or_header, url)

  local parts, size, first_op = {}, 0, nil
  while true do
    if is_closed(ws.id) then
      call_handler(ws, "close")
      return
    end
    local fin, op, payload = recv_frame(ws)
    if op == "close" then
      local code, reason = close_reason(payload)
      send_frame(ws, "close")
      call_handler(ws, "close", code, reason)
      return
    elseif op == "ping" then
      send_frame(ws, "pong", payload)
      call_handler(ws, "ping")
    elseif op == "pong" then
      call_handler(ws, "pong")
    elseif fin and #parts == 0 then
      call_handler(ws, "message", payload, op)
    else
      parts[#parts + 1] = payload
      size = size + #payload
      if size > MAX_FRAME then
        error "payload_len is too large"
      end
      first_op = first_op or op
      if fin then
        local whole = table.concat(parts)
        local kind = first_op
        parts, size, first_op = {}, 0, nil
        call_handler(ws, "message", whole, kind)
      end
    end
  end
end

local server_tls_ctx

local function new_server(id, handle, protocol)
  local ws
  if protocol == "ws" then
    ws = {
      close = function()
        socket.close(id)
      end,
      read = sockethelper.readfunc(id),
      write = sockethelper.writefunc(id),
    }
  elseif protocol == "wss" then
    local tls = require "http.tlshelper"
    if not server_tls_ctx then
      server_tls_ctx = tls.newctx()
      local certfile = skynet.getenv "certfile" or "./server-cert.pem"
      local keyfile = skynet.getenv "keyfile" or "./server-key.pem"
      server_tls_ctx:set_cert(certfile, keyfile)
    end
    local ctx = tls.newtls("server", server_tls_ctx)
    tls.init_responsefunc(id, ctx)()
    ws = {
      close = function()
        socket.close(id)
        tls.closefunc(ctx)()
      end,
      read = tls.readfunc(id, ctx),
      write = tls.writefunc(id, ctx),
    }
  else
    error(sformat("invalid websocket protocol:%s", tostring(protocol)))
  end
  ws.mode = "server"
  ws.id = assert(id)
  ws.handle = handle
  ws.guid = GUID
  connections[id] = ws
  return ws
end

function M.accept(id, handle, protocol, addr, options)
  if not (options and options.upgrade) then
    local ok, err = socket.start(id)
    if not ok then
      return false, err
    end
  end
  local ws = new_server(id, handle, protocol or "ws")
  ws.addr = addr
  local on_warning = handle and handle.warning
  if on_warning then
    local ok = pcall(socket.warning, id, function(_, size)
      on_warning(ws, size)
    end)
    if not ok then
      if not is_closed(id) then
        forget(ws)
      end
      return false, "connect is closed " .. id
    end
  end

  local ok, err = xpcall(serve, traceback, ws, options)
  local closed = is_closed(id)
  if not closed then
    forget(ws)
  end
  if not ok then
    if err ~= socket_error then
      return false, err
    end
    if closed then
      call_handler(ws, "close")
    else
      call_handler(ws, "error", err)
    end
  end
  return true
end

---------------------------------------------------------------------------
-- Client

local client_tls_ctx

local function new_client(id, protocol, server_name)
  local ws
  if protocol == "ws" then
    ws = {
      close = function()
        socket.close(id)
      end,
      read = sockethelper.readfunc(id),
      write = sockethelper.writefunc(id),
      readall = function()
        return socket.readall(id)
      end,
    }
  elseif protocol == "wss" then
    local tls = require "http.tlshelper"
    client_tls_ctx = client_tls_ctx or tls.newctx()
    local ctx = tls.newtls("client", client_tls_ctx, server_name)
    tls.init_requestfunc(id, ctx)()
    ws = {
      close = function()
        socket.close(id)
        tls.closefunc(ctx)()
      end,
      read = tls.readfunc(id, ctx),
      write = tls.writefunc(id, ctx),
      readall = tls.readallfunc(id, ctx),
    }
  else
    error(sformat("invalid websocket protocol:%s", tostring(protocol)))
  end
  ws.mode = "client"
  ws.id = assert(id)
  ws.guid = GUID
  connections[id] = ws
  return ws
end

function M.connect(url, header, timeout)
  local protocol, host, path = url:match "^(wss?)://([^/]+)(.*)$"
  if protocol ~= "wss" and protocol ~= "ws" then
    error(sformat("invalid protocol: %s", protocol))
  end
  assert(host)
  local address, port = host:match "^([^:]+):?(%d*)$"
  assert(address and port)
  if port == "" then
    port = protocol == "ws" and 80 or 443
  end
  -- a name (not an address ending in digits) is sent as the TLS server name
  local server_name
  if not address:match ".*%d+$" then
    server_name = address
  end
  if path == "" then
    path = "/"
  end
  local id = sockethelper.connect(address, port, timeout)
  local ws = new_client(id, protocol, server_name)
  ws.addr = host
  local ok, err = pcall(client_handshake, ws, address, path, header)
  if not ok then
    forget(ws)
    error(err)
  end
  return id
end

---------------------------------------------------------------------------
-- Both sides

-- The next message (fragments joined; pings answered, pongs skipped).
-- false and the close payload once the peer closed.
function M.read(id)
  local ws = assert(connections[id])
  local parts
  while true do
    local fin, op, payload = recv_frame(ws)
    if op == "close" then
      forget(ws)
      return false, payload
    elseif op == "ping" then
      send_frame(ws, "pong", payload)
    elseif op ~= "pong" then
      if fin and not parts then
        return payload
      end
      parts = parts or {}
      parts[#parts + 1] = payload
      if fin then
        return table.concat(parts)
      end
    end
  end
end

function M.write(id, data, fmt, masking_key)
  local ws = assert(connections[id])
  fmt = fmt or "text"
  assert(fmt == "text" or fmt == "binary")
  send_frame(ws, fmt, data, masking_key)
end

function M.ping(id)
  send_frame(assert(connections[id]), "ping")
end

function M.addrinfo(id)
  return assert(connections[id]).addr
end

function M.real_ip(id)
  return assert(connections[id]).real_ip
end

function M.close(id, code, reason)
  local ws = connections[id]
  if not ws then
    return
  end
  local ok, err = xpcall(function()
    local payload
    if code then
      reason = reason or ""
      payload = spack(sformat(">I2c%d", #reason), code, reason)
    end
    send_frame(ws, "close", payload)
  end, traceback)
  forget(ws)
  if not ok then
    skynet.error(err)
  end
end

M.is_close = is_closed

return M

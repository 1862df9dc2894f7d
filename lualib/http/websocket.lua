-- http.websocket — WebSocket (RFC 6455) connections over skynet sockets,
-- as a server (accept) and as a client (connect), plain or over TLS.
--
-- Our version of the reference's lualib/http/websocket.lua, same API:
--   websocket.accept(id, handle [, "ws"|"wss" [, addr [, options]]])
--       -> true | false, err. Runs the connection until it ends, calling
--       the optional handlers handle.connect(id), handshake(id, header,
--       url), message(id, data, "text"|"binary"), ping(id), pong(id),
--       close(id [, code, reason]), error(id, err) and warning(ws, size).
--       options.upgrade = { header =, method =, url = } means the HTTP
--       request was read already (by an httpd handler): no socket.start,
--       no request reading.
--   websocket.connect("ws[s]://host[:port][/path]" [, header [, timeout]]) -> id
--   websocket.read(id) -> message | false, close payload
--   websocket.write(id, data [, "text"|"binary" [, masking_key]])
--   websocket.ping(id), websocket.close(id [, code [, reason]])
--   websocket.addrinfo(id), websocket.real_ip(id), websocket.is_close(id)
-- A server refuses a frame, or a fragmented message, over 256 KB.

local crypt = require "skynet.crypt"
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local internal = require "http.internal"
local sockethelper = require "http.sockethelper"

local assert, error, ipairs, pairs, pcall, tonumber, tostring, xpcall =
  assert, error, ipairs, pairs, pcall, tonumber, tostring, xpcall
local concat = table.concat
local spack, sunpack, sformat = string.pack, string.unpack, string.format
local traceback = debug.traceback
local socket_error = sockethelper.socket_error

-- RFC 6455 section 1.3
local ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
local SERVER_MESSAGE_LIMIT = 256 * 1024

local websocket = {}

-- socket id -> connection: the transport functions (read, write, readall,
-- close) plus id, mode ("server"|"client"), handle, addr, real_ip
local live = {}

local function is_close(id)
  return live[id] == nil
end

local function conn_of(id)
  return assert(live[id])
end

-- Unregisters the connection and closes its socket.
local function drop(conn)
  assert(live[conn.id] == conn)
  live[conn.id] = nil
  conn.close()
end

local function notify(conn, event, ...)
  local handler = conn.handle and conn.handle[event]
  if handler then
    handler(conn.id, ...)
  end
end

-- `read` with `pending` (bytes read along with the HTTP header) served
-- before anything else.
local function prefixed(read, pending)
  if pending == "" then
    return read
  end
  return function(n)
    local held = pending
    if held == nil then
      return read(n)
    end
    if n ~= nil and n < #held then
      pending = held:sub(n + 1)
      return held:sub(1, n)
    end
    pending = nil
    if n == nil or n == #held then
      return held
    end
    return held .. read(n - #held)
  end
end

---------------------------------------------------------------------------
-- Transports

local tls_contexts = {} -- mode -> ltls context, made on first use

local function tls_context(tls, mode)
  local ctx = tls_contexts[mode]
  if ctx == nil then
    ctx = tls.newctx()
    if mode == "server" then
      -- make a pair with e.g.: openssl req -x509 -newkey rsa:2048 -days 3650
      --   -nodes -keyout server-key.pem -out server-cert.pem
      ctx:set_cert(skynet.getenv "certfile" or "./server-cert.pem",
        skynet.getenv "keyfile" or "./server-key.pem")
    end
    tls_contexts[mode] = ctx
  end
  return ctx
end

local transports = {}

function transports.ws(id)
  local plain = {
    close = function()
      socket.close(id)
    end,
    readall = function()
      return socket.readall(id)
    end,
  }
  plain.read, plain.write = sockethelper.readfunc(id), sockethelper.writefunc(id)
  return plain
end

-- the TLS handshake is done before this returns
function transports.wss(id, mode, server_name)
  local tls = require "http.tlshelper"
  local session = tls.newtls(mode, tls_context(tls, mode), server_name)
  if mode == "server" then
    tls.init_responsefunc(id, session)()
  else
    tls.init_requestfunc(id, session)()
  end
  local end_session = tls.closefunc(session)
  return {
    read = tls.readfunc(id, session),
    write = tls.writefunc(id, session),
    readall = tls.readallfunc(id, session),
    close = function()
      socket.close(id)
      end_session()
    end,
  }
end

-- Makes and registers the connection object, with the fields of `extra`
-- (server_name is for the transport only). On failure the socket is closed
-- and the error raised again.
local function open(id, mode, protocol, extra)
  local make = transports[protocol]
  if make == nil then
    socket.close(id)
    error(sformat("invalid websocket protocol:%s", tostring(protocol)))
  end
  local ok, conn = pcall(make, id, mode, extra.server_name)
  if not ok then
    socket.close(id)
    error(conn, 0)
  end
  for name, value in pairs(extra) do
    if name ~= "server_name" then
      conn[name] = value
    end
  end
  conn.id, conn.mode = assert(id), mode
  live[id] = conn
  return conn
end

---------------------------------------------------------------------------
-- Frames

local OPCODE = { frame = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA }
local OPNAME = {}
for name, code in pairs(OPCODE) do
  OPNAME[code] = name
end

-- Writes one final (unfragmented) frame.
local function send_frame(conn, opname, payload, masking_key)
  payload = payload or ""
  local first = 0x80 | assert(OPCODE[opname])
  local mask_bit = masking_key and 0x80 or 0
  local size = #payload
  local out
  if size >= 0x10000 then
    out = { spack(">BBI8", first, mask_bit | 127, size) }
  elseif size >= 126 then
    out = { spack(">BBI2", first, mask_bit | 126, size) }
  else
    out = { spack("BB", first, mask_bit | size) }
  end
  if masking_key then
    local key = spack(">I4", masking_key)
    out[2] = key
    payload = crypt.xor_str(payload, key)
  end
  out[#out + 1] = payload
  conn.write(concat(out))
end

-- -> fin, opcode name, payload (unmasked)
local function recv_frame(conn)
  local first, second = sunpack("BB", conn.read(2))
  local size = second & 0x7f
  if size == 127 then
    size = sunpack(">I8", conn.read(8))
  elseif size == 126 then
    size = sunpack(">I2", conn.read(2))
  end
  if size > SERVER_MESSAGE_LIMIT and conn.mode == "server" then
    error "payload_len is too large"
  end
  local key = second & 0x80 ~= 0 and conn.read(4)
  local payload = size == 0 and "" or conn.read(size)
  if key then
    payload = crypt.xor_str(payload, key)
  end
  local opname = OPNAME[first & 0x0f]
  if opname == nil then
    error(sformat("websocket: unknown opcode 0x%x", first & 0x0f))
  end
  return first & 0x80 ~= 0, opname, payload
end

-- A close frame's payload -> code, reason (nothing unless both are there)
local function close_status(payload)
  if #payload > 2 then
    return (sunpack(">I2", payload)), payload:sub(3)
  end
end

-- Joins fragments. The returned function takes each data frame and gives
-- back the message (and the opcode name of its first frame) once the final
-- frame is in. `limit` bounds a fragmented message.
local function assembler(limit)
  local parts, size, kind
  return function(fin, opname, payload)
    if fin and parts == nil then
      return payload, opname
    end
    parts = parts or {}
    parts[#parts + 1] = payload
    size = (size or 0) + #payload
    if limit and size > limit then
      error "payload_len is too large"
    end
    kind = kind or opname
    if fin then
      local message, first_kind = concat(parts), kind
      parts, size, kind = nil, nil, nil
      return message, first_kind
    end
  end
end

---------------------------------------------------------------------------
-- Server side

local function offers_chat(offered)
  for name in offered:gmatch "[^%s,]+" do
    if name == "chat" then
      return true
    end
  end
  return false
end

local function lowered(header, name)
  local value = header[name]
  return value and value:lower()
end

-- What an upgrade request must satisfy, checked in this order; the first
-- rule that fails answers with its status and reason.
local upgrade_rules = {
  { 426, "Upgrade Required", function(h)
    return lowered(h, "upgrade") == "websocket"
  end },
  { 400, "host Required", function(h)
    return h["host"] ~= nil
  end },
  { 400, "Connection must Upgrade", function(h)
    local connection = lowered(h, "connection")
    return connection ~= nil and connection:find("upgrade", 1, true) ~= nil
  end },
  { 400, "Sec-WebSocket-Key Required", function(h)
    return h["sec-websocket-key"] ~= nil
  end },
  { 400, "Sec-WebSocket-Key invalid", function(h)
    return #crypt.base64decode(h["sec-websocket-key"]) == 16
  end },
  { 400, "Sec-WebSocket-Version must 13", function(h)
    return h["sec-websocket-version"] == "13"
  end },
  { 400, "Sec-WebSocket-Protocol need include chat", function(h)
    local offered = h["sec-websocket-protocol"]
    return offered == nil or offers_chat(offered)
  end },
}

-- The upgrade request: { header, url }, or nil, status [, reason].
local function upgrade_request(conn, options)
  local given = options and options.upgrade
  if given then
    if given.header == nil then
      return nil, 400
    end
    return { header = given.header, url = given.url }
  end
  local lines = {}
  local extra = internal.recvheader(conn.read, lines, "")
  if extra == nil then
    return nil, 413
  end
  conn.read = prefixed(conn.read, extra)
  local method, url, version = assert(lines[1]):match "^(%a+)%s+(.-)%s+HTTP/([%d%.]+)$"
  assert(method and url and version)
  if method ~= "GET" then
    return nil, 400, "need GET method"
  end
  if assert(tonumber(version)) < 1.1 then
    return nil, 505
  end
  local header = internal.parseheader(lines, 2, {})
  if header == nil then
    return nil, 400
  end
  return { header = header, url = url }
end

local function accept_key(key)
  return crypt.base64encode(crypt.sha1(key .. ACCEPT_GUID))
end

-- Reads and checks the upgrade request and answers it: the request when
-- it was accepted (101 sent), else nil, status, reason (nothing sent).
local function server_handshake(conn, options)
  local request, status, reason = upgrade_request(conn, options)
  if request == nil then
    return nil, status, reason
  end
  local header = request.header
  for _, rule in ipairs(upgrade_rules) do
    if not rule[3](header) then
      return nil, rule[1], rule[2]
    end
  end
  -- set by a proxy in front of us (nginx)
  conn.real_ip = header["x-real-ip"]
  conn.write(concat {
    "HTTP/1.1 101 Switching Protocols\r\n",
    "Upgrade: websocket\r\n",
    "Connection: Upgrade\r\n",
    "Sec-WebSocket-Accept: ", accept_key(header["sec-websocket-key"]), "\r\n",
    header["sec-websocket-protocol"] and "Sec-WebSocket-Protocol: chat\r\n" or "",
    "\r\n",
  })
  return request
end

-- What the server loop does with control frames; true ends the loop.
local server_control = {}

function server_control.close(conn, payload)
  local code, reason = close_status(payload)
  send_frame(conn, "close")
  notify(conn, "close", code, reason)
  return true
end

function server_control.ping(conn, payload)
  send_frame(conn, "pong", payload)
  notify(conn, "ping")
end

function server_control.pong(conn)
  notify(conn, "pong")
end

local function serve(conn, options)
  notify(conn, "connect")
  local request, status, reason = server_handshake(conn, options)
  if request == nil then
    local written, err = httpd.write_response(conn.write, status, reason)
    if not written then
      error(err)
    end
    notify(conn, "close")
    return
  end
  notify(conn, "handshake", request.header, request.url)

  local collect = assembler(SERVER_MESSAGE_LIMIT)
  -- a handler may close the connection (websocket.close) at any time
  while not is_close(conn.id) do
    local fin, opname, payload = recv_frame(conn)
    local control = server_control[opname]
    if control then
      if control(conn, payload) then
        return
      end
    else
      local message, kind = collect(fin, opname, payload)
      if message then
        notify(conn, "message", message, kind)
      end
    end
  end
  notify(conn, "close")
end

-- Hands the socket's send-buffer warnings to the handler (with the
-- connection object, not the id); false when the socket is already gone.
local function watch_send_buffer(conn, on_warning)
  return pcall(socket.warning, conn.id, function(_, size)
    on_warning(conn, size)
  end)
end

function websocket.accept(id, handle, protocol, addr, options)
  local upgraded = options and options.upgrade
  if not upgraded then
    local started, err = socket.start(id)
    if not started then
      return false, err
    end
  end
  local conn = open(id, "server", protocol or "ws", { handle = handle, addr = addr })
  if handle and handle.warning and not watch_send_buffer(conn, handle.warning) then
    if not is_close(id) then
      drop(conn)
    end
    return false, "connect is closed " .. id
  end

  local ok, err = xpcall(serve, traceback, conn, options)
  local closed_by_us = is_close(id)
  if not closed_by_us then
    drop(conn)
  end
  if ok then
    return true
  end
  if err ~= socket_error then
    return false, err
  end
  -- the connection broke: a close when we had closed it ourselves
  if closed_by_us then
    notify(conn, "close")
  else
    notify(conn, "error", err)
  end
  return true
end

---------------------------------------------------------------------------
-- Client side

-- the fields of an upgrade request besides the key; the caller's extra
-- fields may not replace any of them
local UPGRADE_FIELDS = {
  { "Upgrade", "websocket" },
  { "Connection", "Upgrade" },
  { "Sec-WebSocket-Version", "13" },
}

local function client_handshake(conn, target, extra_header)
  local fields = {}
  for name, value in pairs(extra_header or {}) do
    fields[name] = value
  end
  local function put(name, value)
    assert(fields[name] == nil, name)
    fields[name] = value
  end
  for _, field in ipairs(UPGRADE_FIELDS) do
    put(field[1], field[2])
  end
  -- 16 random bytes, base64
  local key = crypt.base64encode(crypt.randomkey() .. crypt.randomkey())
  put("Sec-WebSocket-Key", key)
  local answer = {}
  local status, rest = internal.request(conn, "GET", target.address, target.path, answer, fields)
  if status ~= 101 then
    error(sformat("websocket handshake error: code[%s] info:%s", status, rest))
  end
  conn.read = prefixed(conn.read, rest)

  if lowered(answer, "upgrade") ~= "websocket" then
    error "websocket handshake upgrade must websocket"
  end
  if lowered(answer, "connection") ~= "upgrade" then
    error "websocket handshake connection must upgrade"
  end
  local accept = answer["sec-websocket-accept"]
  if accept == nil then
    error "websocket handshake need Sec-WebSocket-Accept"
  end
  if crypt.base64decode(accept) ~= crypt.sha1(key .. ACCEPT_GUID) then
    error "websocket handshake invalid Sec-WebSocket-Accept"
  end
end

-- "ws[s]://host[:port][/path]" -> the connection's target
local function ws_target(url)
  local scheme, authority, path = url:match "^(wss?)://([^/]+)(.*)$"
  if scheme == nil then
    error(sformat("invalid protocol: %s", scheme))
  end
  local address, port = authority:match "^([^:]+):?(%d*)$"
  assert(address and port)
  return {
    scheme = scheme,
    authority = authority,
    address = address,
    port = port ~= "" and port or (scheme == "wss" and 443 or 80),
    path = path ~= "" and path or "/",
    -- a name (an address ends in a digit) goes to TLS as the server name
    server_name = not address:find "%d$" and address or nil,
  }
end

function websocket.connect(url, header, timeout)
  local target = ws_target(url)
  local fd = sockethelper.connect(target.address, target.port, timeout)
  local conn = open(fd, "client", target.scheme, {
    server_name = target.server_name,
    addr = target.authority,
  })
  local shook, err = pcall(client_handshake, conn, target, header)
  if shook then
    return fd
  end
  drop(conn)
  error(err)
end

---------------------------------------------------------------------------
-- Both sides

-- Control frames met by websocket.read (a close ends the read instead).
local reader_control = {
  ping = function(conn, payload)
    send_frame(conn, "pong", payload)
  end,
  pong = function() end,
}

function websocket.read(id)
  local conn = conn_of(id)
  local collect = assembler(nil)
  local fin, opname, payload = recv_frame(conn)
  while opname ~= "close" do
    local control = reader_control[opname]
    if control then
      control(conn, payload)
    else
      local message = collect(fin, opname, payload)
      if message then
        return message
      end
    end
    fin, opname, payload = recv_frame(conn)
  end
  -- the peer closed: no close frame is sent back
  drop(conn)
  return false, payload
end

local DATA_KINDS = { text = true, binary = true }

function websocket.write(id, data, fmt, masking_key)
  local conn = conn_of(id)
  local kind = fmt or "text"
  assert(DATA_KINDS[kind])
  send_frame(conn, kind, data, masking_key)
end

function websocket.ping(id)
  send_frame(conn_of(id), "ping")
end

-- the peer's address as given to accept, or host[:port] of connect
function websocket.addrinfo(id)
  return conn_of(id).addr
end

-- the client's address as told by a proxy (X-Real-IP), if any
function websocket.real_ip(id)
  return conn_of(id).real_ip
end

function websocket.close(id, code, reason)
  local conn = live[id]
  if conn == nil then
    return
  end
  local sent, err = xpcall(function()
    local payload
    if code then
      payload = spack(">I2", code) .. (reason or "")
    end
    send_frame(conn, "close", payload)
  end, traceback)
  drop(conn)
  if not sent then
    skynet.error(err)
  end
end

websocket.is_close = is_close

return websocket

-- ws — test service: http.websocket client against the net_ws server on
-- 127.0.0.1, messages both ways, ping/pong, closes from either side, a
-- refused handshake and a hand-made fragmented message.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local websocket = require "http.websocket"
local t = require "netcheck"

local server -- the net_ws service
local port

local function events()
  return table.concat(skynet.call(server, "lua", "events"), "|")
end

local function wait_event(prefix)
  return table.concat(skynet.call(server, "lua", "wait", prefix), "|")
end

local function open(path, header)
  return websocket.connect(string.format("ws://127.0.0.1:%d%s", port, path or "/"), header)
end

-- a round trip; everything the server got before it has been handled
local function sync(id)
  websocket.write(id, "sync")
  t.eq(websocket.read(id), "sync", "sync echo")
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("echo_and_handshake", function()
  local id = open("/chat?x=1", { ["X-Test"] = "yes" })
  websocket.write(id, "hello")
  t.eq(websocket.read(id), "hello", "text echo")
  t.eq(websocket.addrinfo(id), "127.0.0.1:" .. port, "addrinfo")
  t.eq(websocket.is_close(id), false, "open")
  t.eq(events(), "connect|handshake /chat?x=1 yes 127.0.0.1|message text 5", "server events")
  websocket.close(id)
  t.eq(websocket.is_close(id), true, "closed")
  wait_event "close"
end)

case("binary_masked_large", function()
  local id = open()
  websocket.write(id, "\0\1\2\255", "binary")
  t.eq(websocket.read(id), "\0\1\2\255", "binary echo")
  websocket.write(id, "masked", "text", 0x12345678)
  t.eq(websocket.read(id), "masked", "masked frame echo")
  local medium = string.rep("m", 300)
  websocket.write(id, medium)
  t.eq(websocket.read(id), medium, "16-bit length")
  local large = string.rep("0123456789abcdef", 6 * 1024) -- 96 KB, 64-bit length
  websocket.write(id, large, "binary")
  t.truthy(websocket.read(id) == large, "large echo")
  t.contains(events(), "message binary 4|message text 6|message text 300|message binary 98304", "types")
  t.raises(websocket.write, id, "x", "json")
  websocket.close(id)
  wait_event "close"
end)

case("ping_pong_both_ways", function()
  local id = open()
  websocket.ping(id)
  sync(id)
  t.contains(events(), "ping", "server saw the client's ping")
  websocket.write(id, "ping-me")
  websocket.write(id, "after")
  -- read answers the server's ping by itself and returns the next message
  t.eq(websocket.read(id), "after", "message after the ping")
  sync(id)
  t.contains(events(), "pong", "server saw the client's pong")
  websocket.write(id, "push")
  t.eq(websocket.read(id), "pushed", "server-initiated message")
  websocket.close(id)
  wait_event "close"
end)

case("server_closes", function()
  local id = open()
  websocket.write(id, "close-me")
  local ok, payload = websocket.read(id)
  t.eq(ok, false, "read sees the close")
  local code, reason = string.unpack(">I2", payload), payload:sub(3)
  t.eq(code, 1000, "close code")
  t.eq(reason, "bye", "close reason")
  t.eq(websocket.is_close(id), true, "forgotten")
  t.contains(wait_event "close", "close nil nil", "server's close handler")
end)

case("client_closes_with_code", function()
  local id = open()
  sync(id)
  websocket.close(id, 1001, "going")
  t.eq(websocket.is_close(id), true, "closed")
  t.contains(wait_event "close", "close 1001 going", "server got code and reason")
  websocket.close(id) -- closing twice is harmless
end)

case("refused_handshake", function()
  local fd = t.truthy(socket.open("127.0.0.1", port), "open")
  socket.write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
  local reply = socket.readall(fd)
  socket.close(fd)
  t.truthy(reply:find("^HTTP/1.1 426 \r\n"), "status line: " .. reply)
  t.contains(reply, "\r\n\r\nUpgrade Required", "reason as body")
  t.contains(wait_event "close", "connect|close nil nil", "server events")
end)

case("fragmented_message_by_hand", function()
  local fd = t.truthy(socket.open("127.0.0.1", port), "open")
  -- the sample key of RFC 6455 section 1.3
  socket.write(fd, "GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    .. "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    .. "Sec-WebSocket-Version: 13\r\n\r\n")
  local status = socket.readline(fd, "\r\n")
  t.eq(status, "HTTP/1.1 101 Switching Protocols", "status")
  local fields = {}
  while true do
    local line = t.truthy(socket.readline(fd, "\r\n"), "header line")
    if line == "" then
      break
    end
    fields[#fields + 1] = line
    t.truthy(#fields < 20, "bounded header")
  end
  t.contains(table.concat(fields, "|"), "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept key")
  -- "hel" (text, not final, masked) + "lo" (continuation, final, masked)
  local function masked(first, payload)
    local key = "\1\2\3\4"
    local out = {}
    for i = 1, #payload do
      out[i] = string.char(payload:byte(i) ~ key:byte((i - 1) % 4 + 1))
    end
    return string.char(first, 0x80 | #payload) .. key .. table.concat(out)
  end
  socket.write(fd, masked(0x01, "hel") .. masked(0x80, "lo"))
  t.eq(socket.read(fd, 7), "\x81\x05hello", "one echoed frame")
  -- close frame: code 1000, reason "ok"
  socket.write(fd, masked(0x88, "\3\232ok"))
  t.eq(socket.read(fd, 2), "\x88\x00", "close answered")
  socket.close(fd)
  t.contains(wait_event "close", "message text 5|close 1000 ok", "server events")
end)

skynet.start(function()
  server = skynet.newservice "net_ws"
  port = skynet.call(server, "lua", "listen")
  t.run("ws", cases)
end)

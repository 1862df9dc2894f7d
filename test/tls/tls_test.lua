-- tls_test — start service of tests/tls.rs: the `ltls.c` module on its own
-- (argument errors, a client and a server talking through memory only,
-- cipher restriction, a server without certificate) and over real sockets
-- on 127.0.0.1: http.httpc "https://" against tls_httpd, and
-- http.websocket "wss://" against tls_wss. Reports through netcheck
-- (`CASE <id> PASS|FAIL`, `NET tls: ...`).
--
-- Stands for the reference's test/testhttp.lua https part (which talks to a
-- public host); test infrastructure.

local skynet = require "skynet"
local httpc = require "http.httpc"
local websocket = require "http.websocket"
local t = require "netcheck"

local certfile = assert(skynet.getenv "certfile")
local keyfile = assert(skynet.getenv "keyfile")
local otherkey = assert(skynet.getenv "tls_otherkey")
local missing = skynet.getenv "tls_missing"

local ltls = require "ltls.c"

local function server_ctx()
  local ctx = ltls.newctx()
  ctx:set_cert(certfile, keyfile)
  return ctx
end

-- Shuttles handshake records between two TLS objects in memory until both
-- are done; returns the number of flights.
local function pair_handshake(client, server)
  local flights = 0
  local to_server = client:handshake()
  while not (client:finished() and server:finished()) do
    flights = flights + 1
    if flights > 10 then
      t.fail "handshake did not finish in 10 flights"
    end
    local to_client = server:handshake(to_server or "")
    to_server = nil
    if not client:finished() then
      to_server = client:handshake(to_client or "")
    elseif to_client then
      -- records after the client finished (session tickets)
      t.eq(client:read(to_client), "", "no plain bytes in tickets")
    end
    if to_server and server:finished() then
      t.eq(server:read(to_server), "", "no plain bytes after the handshake")
      to_server = nil
    end
  end
  if to_server then
    server:read(to_server)
  end
  return flights
end

local function pattern(n)
  local unit = "0123456789abcdefghijklmnopqrstuvwxyz"
  return string.rep(unit, n // #unit + 1):sub(1, n)
end

local function checksum(s)
  local sum = 0
  for i = 1, #s do
    sum = (sum + s:byte(i)) % 4294967296
  end
  return sum
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("argument_errors", function()
  local ctx = ltls.newctx()
  t.contains(t.raises(ltls.newtls, "bogus", ctx), "invalid method:bogus e.g[server, client]", "method")
  t.contains(t.raises(ltls.newtls, "client", {}), "need sslctx", "ctx")
  t.contains(t.raises(ctx.set_cert, ctx), "need certfile", "no certfile")
  t.contains(t.raises(ctx.set_cert, ctx, certfile), "need private key", "no key")
  t.contains(t.raises(ctx.set_cert, ctx, missing, keyfile),
    "SSL_CTX_use_certificate_chain_file error:0", "missing cert file")
  t.contains(t.raises(ctx.set_cert, ctx, certfile, missing),
    "SSL_CTX_use_PrivateKey_file error:0", "missing key file")
  t.contains(t.raises(ctx.set_cert, ctx, certfile, otherkey),
    "SSL_CTX_check_private_key error:0", "key of another certificate")
  t.contains(t.raises(ctx.set_ciphers, ctx), "need cipher list", "no list")
  t.contains(t.raises(ctx.set_ciphers, ctx, "RC4-MD5"), "SSL_CTX_set_tlsext_use_srtp error:1", "unknown")
  ctx:set_ciphers "SRTP_AES128_CM_SHA1_80"
  local err = t.raises(ltls.newtls("client", ctx).handshake, {})
  t.contains(err, "need tls context", "method on a non-TLS value")
end)

case("memory_pair", function()
  local client = ltls.newtls("client", ltls.newctx(), "localhost")
  local server = ltls.newtls("server", server_ctx())
  t.eq(client:finished(), false, "client not started")
  t.eq(server:finished(), false, "server not started")
  pair_handshake(client, server)
  t.contains(t.raises(client.handshake, client), "handshake is finished", "client handshake again")
  t.contains(t.raises(server.handshake, server, ""), "handshake is finished", "server handshake again")
  -- plain bytes both ways, one large message over many records
  local big = pattern(200 * 1024)
  local records = client:write(big)
  t.truthy(#records > #big, "records carry the message")
  t.eq(server:read(records), big, "server reads what the client wrote")
  t.eq(server:read(), "", "nothing more")
  t.eq(client:read(server:write "pong"), "pong", "client reads the answer")
  t.eq(client:write(), "", "nothing queued")
  -- records split at arbitrary points still decrypt
  local split = client:write "split message"
  local got = server:read(split:sub(1, 3)) .. server:read(split:sub(4, 10)) .. server:read(split:sub(11))
  t.eq(got, "split message", "records fed in pieces")
  client:close()
  client:close()
  t.contains(t.raises(client.finished, client), "context is closed", "closed")
  t.contains(t.raises(client.write, client, "x"), "context is closed", "write after close")
end)

case("garbage_is_refused", function()
  local server = ltls.newtls("server", server_ctx())
  t.contains(t.raises(server.handshake, server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "SSL_do_handshake error", "plain HTTP instead of TLS")
end)

case("server_without_certificate", function()
  local client = ltls.newtls("client", ltls.newctx())
  local server = ltls.newtls("server", ltls.newctx())
  t.contains(t.raises(server.handshake, server, client:handshake()), "SSL_do_handshake error", "no certificate")
end)

case("cipher_restriction", function()
  local ok_client = ltls.newctx()
  ok_client:set_ciphers "ECDHE-ECDSA-AES128-GCM-SHA256"
  local client = ltls.newtls("client", ok_client)
  local server = ltls.newtls("server", server_ctx())
  pair_handshake(client, server)
  t.eq(server:read(client:write "over tls 1.2"), "over tls 1.2", "restricted suite works")

  local c13 = ltls.newctx()
  c13:set_ciphers "TLS_AES_128_GCM_SHA256"
  local s13 = server_ctx()
  s13:set_ciphers "TLS_AES_256_GCM_SHA384"
  s13:set_cert(certfile, keyfile)
  local c = ltls.newtls("client", c13)
  local s = ltls.newtls("server", s13)
  t.contains(t.raises(s.handshake, s, c:handshake()), "SSL_do_handshake error", "no common suite")
end)

case("host_name", function()
  local ctx = ltls.newctx()
  local client = ltls.newtls("client", ctx)
  t.eq(client:set_ext_host_name "example.test", 1, "dns name")
  t.eq(client:set_ext_host_name "127.0.0.1", 0, "address is not sent")
  t.eq(client:set_ext_host_name "localhost", 1, "dns name again")
  local server = ltls.newtls("server", server_ctx())
  pair_handshake(client, server)
  t.eq(client:set_ext_host_name "late.test", 0, "after the handshake")
  t.eq(server:set_ext_host_name "x.test", 0, "server")
end)

local https_port, wss_port

case("https_get", function()
  local host = "https://127.0.0.1:" .. https_port
  local recv = {}
  local status, body = httpc.get(host, "/echo?a=1", recv)
  t.eq(status, 200, "status")
  t.eq(body, "method=GET;path=/echo;query=a=1;body=0:0", "body")
  t.eq(recv["x-server"], "tls_httpd", "response header")
  local status2, big = httpc.get(host, "/big/300000")
  t.eq(status2, 200, "big status")
  t.eq(big, pattern(300000), "300 KB answer")
  local status3 = httpc.get(host, "/nothing")
  t.eq(status3, 404, "not found")
end)

case("https_post_large_body", function()
  local body = pattern(150 * 1024)
  local status, answer = httpc.request("POST", "https://127.0.0.1:" .. https_port, "/echo", nil,
    { ["content-type"] = "application/octet-stream" }, body)
  t.eq(status, 200, "status")
  t.eq(answer, string.format("method=POST;path=/echo;query=;body=%d:%d", #body, checksum(body)), "echo")
end)

case("wss_round_trip", function()
  local id = websocket.connect("wss://127.0.0.1:" .. wss_port .. "/chat")
  websocket.write(id, "hello over wss")
  t.eq(websocket.read(id), "hello over wss", "text echo")
  local blob = pattern(100 * 1024)
  websocket.write(id, blob, "binary")
  t.eq(websocket.read(id), blob, "100 KB binary echo")
  websocket.write(id, "close-me")
  local msg, payload = websocket.read(id)
  t.eq(msg, false, "closed by the server")
  t.contains(payload, "bye", "close reason")
end)

skynet.start(function()
  https_port = skynet.call(skynet.newservice "tls_httpd", "lua", "listen")
  wss_port = skynet.call(skynet.newservice "tls_wss", "lua", "listen")
  t.run("tls", cases)
end)

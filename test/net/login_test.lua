-- login_test — test service: snax.loginserver (net_logind) and
-- snax.msgserver (net_gated) driven by a client written here with
-- skynet.socket and skynet.crypt, as examples/login/client.lua of the
-- reference does it: the DH/HMAC/DES login handshake, then the message
-- server's handshake, requests, a reconnect that gets a cached answer, and
-- the refusals of both servers.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local t = require "netcheck"

local b64, unb64 = crypt.base64encode, crypt.base64decode

local login_port, gate_port
local SERVER = "sample"

-- the login handshake; -> result line, shared secret
local function login(user, password, server)
  local fd = t.truthy(socket.open("127.0.0.1", login_port), "connect to login")
  local challenge = unb64(t.truthy(socket.readline(fd), "challenge"))
  local clientkey = crypt.randomkey()
  socket.write(fd, b64(crypt.dhexchange(clientkey)) .. "\n")
  local serverkey = unb64(t.truthy(socket.readline(fd), "server key"))
  local secret = crypt.dhsecret(serverkey, clientkey)
  socket.write(fd, b64(crypt.hmac64(challenge, secret)) .. "\n")
  local token = string.format("%s@%s:%s", b64(user), b64(server or SERVER), b64(password))
  socket.write(fd, b64(crypt.desencode(secret, token)) .. "\n")
  local result = socket.readline(fd)
  socket.close(fd)
  return result, secret
end

local function package(text)
  return string.pack(">s2", text)
end

local function read_package(fd)
  local head = socket.read(fd, 2)
  if not head then
    return nil
  end
  return socket.read(fd, string.unpack(">I2", head))
end

local function username(uid, subid)
  return string.format("%s@%s#%s", b64(uid), b64(SERVER), b64(subid))
end

-- the message server handshake; -> fd, answer
local function connect_gate(name, secret, index, hmac)
  local fd = t.truthy(socket.open("127.0.0.1", gate_port), "connect to the gate")
  local handshake = string.format("%s:%s", name, index)
  hmac = hmac or crypt.hmac_hash(secret, handshake)
  socket.write(fd, package(handshake .. ":" .. b64(hmac)))
  return fd, read_package(fd)
end

local function request(fd, text, session)
  socket.write(fd, package(text .. string.pack(">I4", session)))
  local answer = t.truthy(read_package(fd), "answer package")
  local content, ok, got_session = answer:sub(1, -6), string.unpack(">BI4", answer, -5)
  return content, ok, got_session
end

local alice = {} -- uid, subid, secret once logged in

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("login", function()
  local result, secret = login("alice", "password")
  local subid = t.truthy(result and result:match "^200 (.+)$", "200 answer: " .. tostring(result))
  alice.uid, alice.subid, alice.secret = "alice", unb64(subid), secret
  t.eq(alice.subid, "1", "first subid")
end)

case("login_refusals", function()
  t.eq(login("bob", "wrong"), "401 Unauthorized", "bad password")
  t.eq(login("bob", "password", "nosuchserver"), "403 Forbidden", "login handler failed")
  -- the gate refuses a second login of the same user
  t.eq(login("alice", "password"), "403 Forbidden", "already logged in")
end)

case("gate_handshake_and_requests", function()
  local name = username(alice.uid, alice.subid)
  local fd, answer = connect_gate(name, alice.secret, 1)
  t.eq(answer, "200 OK", "handshake")
  local content, ok, session = request(fd, "hello", 1)
  t.eq(content, "echo:hello", "answer")
  t.eq(ok, 1, "ok byte")
  t.eq(session, 1, "session")
  content, ok, session = request(fd, "fail", 2)
  t.eq(content, "", "failed request has no content")
  t.eq(ok, 0, "error byte")
  t.eq(session, 2, "session of the failure")
  socket.close(fd)
end)

case("reconnect_gets_cached_answer", function()
  local name = username(alice.uid, alice.subid)
  local fd, answer = connect_gate(name, alice.secret, 1)
  t.eq(answer, "403 Index Expired", "an old index")
  t.eq(read_package(fd), nil, "closed after the refusal")
  socket.close(fd)
  fd, answer = connect_gate(name, alice.secret, 2)
  t.eq(answer, "200 OK", "a new index")
  -- session 1 was answered on the old connection: the answer is re-sent
  local content, ok, session = request(fd, "something else", 1)
  t.eq(content, "echo:hello", "cached answer")
  t.eq(ok, 1, "ok byte")
  t.eq(session, 1, "session")
  content = request(fd, "fresh", 3)
  t.eq(content, "echo:fresh", "new request")
  socket.close(fd)
end)

case("gate_refusals", function()
  local name = username(alice.uid, alice.subid)
  local fd, answer = connect_gate(name, alice.secret, 10, "not the hmac")
  t.eq(answer, "401 Unauthorized", "bad hmac")
  socket.close(fd)
  fd, answer = connect_gate(username("nobody", "9"), alice.secret, 1)
  t.eq(answer, "404 User Not Found", "unknown user")
  socket.close(fd)
  fd, answer = connect_gate(name, alice.secret, "x")
  t.eq(answer, "400 Bad Request", "index not a number")
  socket.close(fd)
end)

skynet.start(function()
  login_port = assert(tonumber(skynet.getenv "net_tcp_port"), "net_tcp_port")
  gate_port = assert(tonumber(skynet.getenv "net_tcp_port2"), "net_tcp_port2")
  local master = skynet.newservice "net_logind"
  local gate = skynet.newservice("net_gated", master)
  skynet.call(gate, "lua", "open", {
    address = "127.0.0.1",
    port = gate_port,
    servername = SERVER,
  })
  t.run("login", cases)
end)

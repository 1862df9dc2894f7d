-- example_test — test service: the watchdog / gate / agent example
-- (examples/watchdog.lua, examples/agent.lua, service/gate.lua,
-- examples/simpledb.lua) with a sproto client written here, as
-- examples/client.lua talks to it: handshake, set, get, heartbeats, quit.
--
-- The schemas carry the messages of examples/proto.lua (written out here on
-- their own), saved in sproto slots 1 (client -> server) and 2 (server ->
-- client) as its protoloader service does.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local sproto = require "sproto"
local sprotoparser = require "sprotoparser"
local sprotoloader = require "sprotoloader"
local t = require "netcheck"

-- header type first, then one message per line
local HEADER = ".package { type 0 : integer  session 1 : integer }"
local c2s = sprotoparser.parse(table.concat({
  HEADER,
  "quit 4 {}",
  "set 3 { request { what 0 : string  value 1 : string } }",
  "get 2 { request { what 0 : string }  response { result 0 : string } }",
  "handshake 1 { response { msg 0 : string } }",
}, "\n"))
local s2c = sprotoparser.parse(HEADER .. "\nheartbeat 1 {}")

local port
local host = sproto.new(s2c):host "package"
local make_request = host:attach(sproto.new(c2s))

local function read_package(fd)
  local head = socket.read(fd, 2)
  if not head then
    return nil
  end
  return socket.read(fd, string.unpack(">I2", head))
end

-- the response of `session`, counting the heartbeats that come first
local function response(fd, session)
  local heartbeats = 0
  for _ = 1, 100 do
    local pack = t.truthy(read_package(fd), "a package")
    local kind, a, b = host:dispatch(pack)
    if kind == "REQUEST" then
      t.eq(a, "heartbeat", "server request")
      heartbeats = heartbeats + 1
    else
      t.eq(kind, "RESPONSE", "package type")
      t.eq(a, session, "response session")
      return b, heartbeats
    end
  end
  t.fail "no response among 100 packages"
end

local function send(fd, name, args, session)
  socket.write(fd, string.pack(">s2", make_request(name, args, session)))
end

local cases = {}

local function case(id, fn)
  cases[#cases + 1] = { id, fn }
end

case("client_session", function()
  local fd = t.truthy(socket.open("127.0.0.1", port), "connect")
  send(fd, "handshake", nil, 1)
  local answer = response(fd, 1)
  t.eq(answer.msg, "Welcome to skynet, I will send heartbeat every 5 sec.", "handshake")
  send(fd, "set", { what = "hello", value = "world" }, 2)
  send(fd, "get", { what = "hello" }, 3)
  -- set declares no response: its answer carries only the session
  t.eq(response(fd, 2), nil, "empty answer of set")
  answer = response(fd, 3)
  t.eq(answer.result, "world", "get after set")
  send(fd, "quit", nil, 4)
  -- the watchdog kicks the client: skip heartbeats until the close
  local closed = false
  for _ = 1, 100 do
    local pack = read_package(fd)
    if not pack then
      closed = true
      break
    end
    t.eq((host:dispatch(pack)), "REQUEST", "only heartbeats before the close")
  end
  t.truthy(closed, "closed after quit")
  socket.close(fd)
end)

case("two_clients", function()
  local a = t.truthy(socket.open("127.0.0.1", port), "connect a")
  local b = t.truthy(socket.open("127.0.0.1", port), "connect b")
  send(a, "set", { what = "k", value = "from a" }, 1)
  send(a, "get", { what = "k" }, 2)
  t.eq(response(a, 1), nil, "set answered")
  t.eq(response(a, 2).result, "from a", "a reads its value")
  send(b, "get", { what = "k" }, 7)
  t.eq(response(b, 7).result, "from a", "b sees the same database")
  socket.close(a)
  socket.close(b)
end)

skynet.start(function()
  sprotoloader.save(c2s, 1)
  sprotoloader.save(s2c, 2)
  skynet.newservice "simpledb"
  local watchdog = skynet.newservice "watchdog"
  local addr
  addr, port = skynet.call(watchdog, "lua", "start", {
    address = "127.0.0.1",
    port = 0,
    maxclient = 8,
    nodelay = true,
  })
  skynet.error("Watchdog listen on " .. addr .. ":" .. port)
  t.run("example", cases)
end)

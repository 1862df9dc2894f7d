-- simplewebsocket — example WebSocket echo server on port 9948, with 20
-- agent services and a client service that talks to it.
--
-- Our version of the reference's examples/simplewebsocket.lua, same
-- behaviour. Run as the start service (no arguments) it listens, hands
-- every accepted socket to an agent in turn and starts the echo client
-- (a skynet.service) that sends "hello world!" once a second and prints
-- both directions. The config value `simplewebsocket_port` changes the
-- port (default 9948, as in the reference). `simplewebsocket agent` is one
-- agent: it echoes every message and prints the other events.

local skynet = require "skynet"
local socket = require "skynet.socket"
local service = require "skynet.service"
local websocket = require "http.websocket"

local role = ...

local AGENTS = 20
local DEFAULT_PORT = 9948

---------------------------------------------------------------------------
-- Agent

-- A handler that prints "ws <event> from: <id>" (then `suffix`) and its
-- first `shown` other arguments, nil ones included.
local function announcer(event, shown, suffix)
  return function(id, ...)
    local head = "ws " .. event .. " from: " .. tostring(id) .. (suffix or "")
    print(head, table.unpack({ ... }, 1, shown))
  end
end

local events = {
  connect = announcer("connect", 0),
  ping = announcer("ping", 0, "\n"),
  pong = announcer("pong", 0),
  close = announcer("close", 2), -- code, reason
  error = announcer("error", 0),
}

function events.handshake(id, header, url)
  print("ws handshake from: " .. tostring(id), "url", url, "addr:", websocket.addrinfo(id))
  print "----header-----"
  for name, value in pairs(header) do
    print(name, value)
  end
  print "--------------"
end

-- the echo: sent back as text, whatever it came as
function events.message(id, data, kind)
  assert(kind == "text" or kind == "binary")
  websocket.write(id, data)
end

-- A lua message is an accepted socket to serve until it closes; a failed
-- accept is printed.
local function serve_socket(_, _, fd, protocol, addr)
  local served, why = websocket.accept(fd, events, protocol, addr)
  if not served then
    print(why)
  end
end

local function agent()
  skynet.dispatch("lua", serve_socket)
end

---------------------------------------------------------------------------
-- Echo client: runs in a service of its own through skynet.service, so it
-- may use nothing but globals and its arguments.

local function echo_client(protocol, port)
  local skynet = require "skynet"
  local websocket = require "http.websocket"
  local ws = websocket.connect(string.format("%s://127.0.0.1:%s/test_websocket", protocol, port))
  local greeting = "hello world!"
  repeat
    websocket.write(ws, greeting)
    print(">: " .. greeting)
    local echoed, close_payload = websocket.read(ws)
    if echoed then
      print("<: " .. echoed)
      websocket.ping(ws)
      skynet.sleep(100)
    else
      print("<: [Close] " .. close_payload)
      print "echo server close."
    end
  until not echoed
end

---------------------------------------------------------------------------
-- Listener

local function listener()
  local agents = {}
  for i = 1, AGENTS do
    agents[i] = skynet.newservice(SERVICE_NAME, "agent")
  end
  local protocol = "ws"
  local port = tonumber(skynet.getenv "simplewebsocket_port") or DEFAULT_PORT
  local next_agent = 0
  local id = socket.listen("0.0.0.0", port)
  skynet.error(string.format("Listen websocket port %d protocol:%s", port, protocol))
  socket.start(id, function(fd, addr)
    print(string.format("accept client socket_id: %s addr:%s", fd, addr))
    next_agent = next_agent % AGENTS + 1
    skynet.send(agents[next_agent], "lua", fd, protocol, addr)
  end)
  service.new("websocket_echo_client", echo_client, protocol, port)
end

skynet.start(role == "agent" and agent or listener)

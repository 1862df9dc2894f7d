-- net_ws — helper service of the WebSocket tests: an http.websocket server
-- on 127.0.0.1 (port chosen by the OS) that echoes messages and records
-- what its handlers saw.
--
-- Messages with a meaning: "close-me" (server closes with 1000 "bye"),
-- "ping-me" (server pings), "push" (server sends "pushed"); others are
-- echoed with their type.
-- lua commands: listen() -> port; events() -> list of event texts (and
-- forget them); wait(prefix) -> the same once an event starting with
-- `prefix` was recorded.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local websocket = require "http.websocket"

local events = {}
local waiters = {} -- response closure -> prefix it waits for

local function has(prefix)
  for _, text in ipairs(events) do
    if text:sub(1, #prefix) == prefix then
      return true
    end
  end
end

local function take()
  local list = events
  events = {}
  return list
end

local function note(text)
  events[#events + 1] = text
  for respond, prefix in pairs(waiters) do
    if has(prefix) then
      waiters[respond] = nil
      respond(true, take())
      return
    end
  end
end

local handle = {}

function handle.connect()
  note "connect"
end

function handle.handshake(id, header, url)
  local addr = websocket.addrinfo(id) or ""
  note(string.format("handshake %s %s %s", url, tostring(header["x-test"]), addr:match "^[^:]*"))
end

function handle.message(id, msg, op)
  note(string.format("message %s %d", op, #msg))
  if msg == "close-me" then
    websocket.close(id, 1000, "bye")
  elseif msg == "ping-me" then
    websocket.ping(id)
  elseif msg == "push" then
    websocket.write(id, "pushed")
  else
    websocket.write(id, msg, op)
  end
end

function handle.ping()
  note "ping"
end

function handle.pong()
  note "pong"
end

function handle.close(_, code, reason)
  note(string.format("close %s %s", tostring(code), tostring(reason)))
end

function handle.error()
  note "error"
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, prefix)
    if cmd == "events" then
      skynet.retpack(take())
      return
    end
    if cmd == "wait" then
      if has(prefix) then
        skynet.retpack(take())
      else
        waiters[skynet.response()] = prefix
      end
      return
    end
    local id, _, port = socket.listen("127.0.0.1", 0)
    socket.start(id, function(fd, addr)
      skynet.fork(function()
        local ok, err = websocket.accept(fd, handle, "ws", addr)
        if not ok then
          note("accept failed " .. tostring(err))
        end
      end)
    end)
    skynet.retpack(port)
  end)
end)

-- tls_wss — helper service of the TLS tests: an http.websocket server in
-- "wss" mode on 127.0.0.1 (port chosen by the OS; certificate and key from
-- the config's `certfile` / `keyfile`, as websocket.lua reads them). It
-- echoes every message with its type; "close-me" makes it close with 1000
-- "bye". lua command `listen()` -> port.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"
local websocket = require "http.websocket"

local handle = {}

function handle.message(id, msg, op)
  if msg == "close-me" then
    websocket.close(id, 1000, "bye")
  else
    websocket.write(id, msg, op)
  end
end

skynet.start(function()
  skynet.dispatch("lua", function()
    local id, _, port = socket.listen("127.0.0.1", 0)
    socket.start(id, function(fd, addr)
      skynet.fork(function()
        local ok, err = websocket.accept(fd, handle, "wss", addr)
        if not ok then
          skynet.error("tls_wss: accept failed " .. tostring(err))
        end
      end)
    end)
    skynet.retpack(port)
  end)
end)

-- churn_server.lua — test service for tests/socket_churn.rs: a TCP echo
-- server on skynet.socket (one coroutine per connection, as applications
-- write them). Listens on 127.0.0.1 port 0 and logs `CHURN PORT <port>`;
-- echoes whatever it reads until the peer goes away.
local skynet = require "skynet"
local socket = require "skynet.socket"

local function serve(id)
  socket.start(id)
  while true do
    local data = socket.read(id)
    if not data then
      break
    end
    socket.write(id, data)
  end
  socket.close(id)
end

skynet.start(function()
  -- A backlog well above the default 32: the test connects 25 at a time as fast as it can, and
  -- with 32 the kernel's accept queue overflows now and then before the socket thread gets the
  -- CPU; the SYN is then dropped and that connect waits a second for its retry (the reference
  -- behaves the same). 10,000 connections took over 3 minutes that way.
  local listen, _, port = socket.listen("127.0.0.1", 0, 1024)
  socket.start(listen, function(id)
    skynet.fork(serve, id)
  end)
  skynet.error("CHURN PORT " .. tostring(port))
end)

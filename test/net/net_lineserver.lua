-- net_lineserver — helper service of the socketchannel tests: a line
-- protocol server on 127.0.0.1 (port chosen by the OS).
--
-- Lines from a client:
--   echo <text>        -> "<text>"
--   drop               -> the connection is closed, no answer
--   multi <n>          -> n lines "part 1" .. "part n"
--   hold <session> <t> -> kept; answered by `release`
--   release            -> "<session> <t>" for every held request, newest first
--   conns              -> number of connections accepted so far
-- lua command `listen()` -> port.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"

local accepted = 0

local function serve(fd)
  local held = {}
  while true do
    local line = socket.readline(fd)
    if not line then
      break
    end
    local cmd, rest = line:match "^(%S+)%s?(.*)$"
    if cmd == "echo" then
      socket.write(fd, rest .. "\n")
    elseif cmd == "drop" then
      break
    elseif cmd == "multi" then
      for i = 1, tonumber(rest) do
        socket.write(fd, "part " .. i .. "\n")
      end
    elseif cmd == "hold" then
      held[#held + 1] = rest
    elseif cmd == "release" then
      for i = #held, 1, -1 do
        socket.write(fd, held[i] .. "\n")
      end
      held = {}
    elseif cmd == "conns" then
      socket.write(fd, accepted .. "\n")
    else
      socket.write(fd, "unknown " .. line .. "\n")
    end
  end
  socket.close(fd)
end

skynet.start(function()
  skynet.dispatch("lua", function()
    local id, _, port = socket.listen("127.0.0.1", 0)
    socket.start(id, function(fd)
      accepted = accepted + 1
      socket.start(fd)
      skynet.fork(serve, fd)
    end)
    skynet.retpack(port)
  end)
end)

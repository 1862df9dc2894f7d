-- net_tcpserver — helper service of the TCP tests: a listener on
-- 127.0.0.1 (port chosen by the OS) whose connections behave as `mode` says.
--
-- lua command `listen(mode, arg)` -> port. Modes:
--   echo        every chunk read is written back, until the peer closes
--   greet_close writes `arg`, then closes at once
--   flood       writes `arg` bytes (no newline), then waits for the close
--   silent      accepts and never reads (the peer's writes back up)
--   adopt       the connection is abandoned and handed to the service
--               `arg`, which echoes it (lua command `adopt(fd)`)
-- lua command `adopt(fd)`: socket.start(fd), write "adopted\n", echo it.
-- lua command `stats()` -> { accepted = n }.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
local socket = require "skynet.socket"

local accepted = 0

local function echo(fd)
  while true do
    local chunk = socket.read(fd)
    if not chunk then
      break
    end
    socket.write(fd, chunk)
  end
  socket.close(fd)
end

local serve = {}

function serve.echo(fd)
  socket.start(fd)
  skynet.fork(echo, fd)
end

function serve.greet_close(fd, text)
  socket.start(fd)
  socket.write(fd, text)
  socket.close(fd)
end

function serve.flood(fd, size)
  socket.start(fd)
  socket.write(fd, string.rep("x", size))
  skynet.fork(function()
    socket.readall(fd)
    socket.close(fd)
  end)
end

function serve.silent(_)
  -- never started: nothing is read from it
end

function serve.adopt(fd, target)
  socket.start(fd)
  socket.abandon(fd)
  skynet.send(target, "lua", "adopt", fd)
end

local command = {}

function command.listen(mode, arg)
  local id, _, port = socket.listen("127.0.0.1", 0)
  socket.start(id, function(fd)
    accepted = accepted + 1
    serve[mode](fd, arg)
  end)
  return port
end

function command.adopt(fd)
  socket.start(fd)
  socket.write(fd, "adopted\n")
  skynet.fork(echo, fd)
end

function command.stats()
  return { accepted = accepted }
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(command[cmd](...))
  end)
end)

-- console — launches the services named on the node's standard input.
--
-- Stands for the reference's service/console.lua. Every line read from
-- stdin names a service to start: "name args..." goes to skynet.newservice
-- as it is, "snax name args..." starts a snax service. A launch that fails
-- is only logged (by the launcher); an empty line is skipped. Reading stops
-- when stdin is closed (or cannot be read at all).

local skynet = require "skynet"
local socket = require "skynet.socket"

local function start_snax(...)
  local snax = require "skynet.snax"
  return snax.newservice(...)
end

local function launch(line)
  if line:match "^%s*(%S*)" == "snax" then
    local words = {}
    for word in line:gmatch "%S+" do
      words[#words + 1] = word
    end
    pcall(start_snax, table.unpack(words, 2))
  elseif line ~= "" then
    pcall(skynet.newservice, line)
  end
end

local function read_stdin()
  local stdin, why = socket.stdin()
  if not stdin then
    -- e.g. stdin is /dev/null, which cannot be polled
    skynet.error("console: can't read stdin", why)
    return
  end
  -- readline gives false once stdin is closed
  local function next_line()
    return socket.readline(stdin, "\n") or nil
  end
  for line in next_line do
    launch(line)
  end
  socket.close(stdin)
end

skynet.start(function()
  skynet.fork(read_stdin)
end)

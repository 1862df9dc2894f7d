-- console — starts services named on the node's standard input.
--
-- Stands for the reference's service/console.lua. Each line of stdin is a
-- service to launch: "name args..." runs skynet.newservice with that line,
-- "snax name args..." starts a snax service. Failures are logged by the
-- launcher and otherwise ignored. The console stops reading when stdin
-- closes.

local skynet = require "skynet"
local socket = require "skynet.socket"

local function words_of(line)
  local words = {}
  for w in line:gmatch "%S+" do
    words[#words + 1] = w
  end
  return words
end

local function read_commands()
  local stdin, err = socket.stdin()
  if not stdin then
    -- e.g. stdin is /dev/null, which cannot be polled
    skynet.error("console: can't read stdin", err)
    return
  end
  while true do
    local line = socket.readline(stdin, "\n")
    if not line then
      break
    end
    local words = words_of(line)
    if words[1] == "snax" then
      pcall(function()
        local snax = require "skynet.snax"
        snax.newservice(table.unpack(words, 2))
      end)
    elseif line ~= "" then
      pcall(skynet.newservice, line)
    end
  end
  socket.close(stdin)
end

skynet.start(function()
  skynet.fork(read_commands)
end)

-- debug_agent — the console side of one interactive debugging session.
--
-- Stands for the reference's service/debug_agent.lua. debug_console
-- launches one per `debug address` command and talks to it over "lua":
--   start(address, fd)  logs "Attach to :<address>", makes a debug channel
--                       and sends debug REMOTEDEBUG(fd, channel handle) to
--                       the target. Answered when the target leaves debug
--                       mode: true, or false, "Debugger attach failed" when
--                       that request failed. The agent exits afterwards.
--   cmd(line)           queues one console line for the target (no answer)
--   ping()              empty answer; the console uses it to notice that
--                       the agent is gone.

local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"

-- the writing side of the channel (made by start)
local channel

-- Makes the channel and returns the handle the target connects with.
local function open_channel()
  local writer, handle = debugchannel.create()
  channel = writer
  return handle
end

local requests = {}

function requests.start(address, fd)
  assert(channel == nil, "start more than once")
  skynet.error(string.format("Attach to :%08x", address))
  local attached = pcall(skynet.call, address, "debug", "REMOTEDEBUG", fd, open_channel())
  if attached then
    skynet.retpack(true)
  else
    skynet.retpack(false, "Debugger attach failed")
  end
  skynet.exit()
end

function requests.cmd(line)
  channel:write(line)
end

function requests.ping()
  skynet.ret()
end

skynet.dispatch("lua", function(_, _, request, ...)
  local handler = requests[request]
  handler(...)
end)

skynet.start(function() end)

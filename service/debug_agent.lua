-- debug_agent — one interactive debugging session (console `debug address`).
--
-- Stands for the reference's service/debug_agent.lua. debug_console launches
-- it per `debug` command and talks to it with the "lua" protocol:
--   start(address, fd)  attach to `address` (debug REMOTEDEBUG with the
--                       console connection and the channel's handle); answers
--                       true once the target leaves debug mode, or
--                       false, "Debugger attach failed"; then the agent exits.
--   cmd(line)           hand one console line to the target (no answer).
--   ping()              answers nothing: tells the console the agent is alive.

local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"

local channel -- the writing side, made by start

local handlers = {}

function handlers.start(address, fd)
  assert(channel == nil, "start more than once")
  skynet.error(string.format("Attach to :%08x", address))
  local handle
  channel, handle = debugchannel.create()
  -- returns when the target leaves debug mode ("cont" or the console closed)
  if pcall(skynet.call, address, "debug", "REMOTEDEBUG", fd, handle) then
    skynet.ret(skynet.pack(true))
  else
    skynet.ret(skynet.pack(false, "Debugger attach failed"))
  end
  skynet.exit()
end

function handlers.cmd(line)
  channel:write(line)
end

function handlers.ping()
  skynet.ret()
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, name, ...)
    handlers[name](...)
  end)
end)

-- mc_sub — helper service for test_multicast: one multicast subscriber.
--
-- Stands for no file of the reference (test service). lua commands:
--   sub id        subscribe (twice: the second is a no-op)
--   got           -> what was received so far: a list of
--                    { channel = tostring(ch), source, n, args... }
--   unsub         unsubscribe
--   drop          forget the object and run the collector
--   fail on       make the dispatch function raise "dispatch failed"

local skynet = require "skynet"
local multicast = require "skynet.multicast"

local ch
local got = {}
local failing = false

local function dispatch(channel, source, ...)
  if failing then
    error "dispatch failed"
  end
  got[#got + 1] = { channel = tostring(channel), source = source, n = select("#", ...), ... }
end

local commands = {}

function commands.sub(id)
  ch = multicast.new { channel = id, dispatch = dispatch }
  ch:subscribe()
  ch:subscribe()
end

function commands.got()
  return got
end

function commands.unsub()
  ch:unsubscribe()
end

function commands.drop()
  ch = nil
  collectgarbage()
  collectgarbage()
end

function commands.fail(on)
  failing = on
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

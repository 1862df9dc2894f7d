-- sm_reader — helper service for test_sharemap: a sharemap reader.
--
-- Stands for the "slave" half of the reference's test/testsm.lua in
-- purpose. lua commands:
--   init typename copy   make the reader
--   read                 update, then x, y, s, #list and update's result
--   peek                 x, y, s without updating
--   write                try to assign a field (returns pcall's result)

local skynet = require "skynet"
local sharemap = require "skynet.sharemap"

local reader

local commands = {}

function commands.init(typename, copy)
  reader = sharemap.reader(typename, copy)
  return reader.x, reader.s
end

function commands.read()
  local changed = reader:update()
  return reader.x, reader.y, reader.s, reader.list and #reader.list or 0, changed
end

function commands.peek()
  return reader.x, reader.y, reader.s
end

function commands.write()
  return pcall(function()
    reader.x = 100
  end)
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

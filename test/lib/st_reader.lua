-- st_reader — helper service for test_sharetable: a sharetable reader.
--
-- Stands for no file of the reference (test service). lua commands:
--   query name          query and keep the table (and its field y)
--   get k1 k2 ...       the value at that path of the kept table
--   gety i              the kept y[i]
--   update name         sharetable.update(name)
--   measure name        Lua heap growth (bytes) from querying `name` and
--                       reading a few fields, after full collections; the
--                       sum it read; the whole Lua heap after it

local skynet = require "skynet"
local sharetable = require "skynet.sharetable"

local kept, kept_y

local commands = {}

function commands.query(name)
  kept = sharetable.query(name)
  kept_y = kept.y
  return kept ~= nil
end

function commands.get(...)
  local t = kept
  for i = 1, select("#", ...) do
    t = t[(select(i, ...))]
  end
  return t
end

function commands.gety(i)
  return kept_y[i]
end

function commands.update(name)
  sharetable.update(name)
  return true
end

local held = {}

function commands.measure(name)
  collectgarbage()
  collectgarbage()
  local before = collectgarbage("count")
  local data = sharetable.query(name)
  local sum = 0
  for i = 1, 10 do
    local item = data.items[i]
    sum = sum + item.id + #item.tags
  end
  sum = sum + #data.title
  held[#held + 1] = data
  collectgarbage()
  collectgarbage()
  local heap = collectgarbage("count") * 1024
  return heap - before * 1024, sum, heap
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

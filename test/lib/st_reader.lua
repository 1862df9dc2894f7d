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
local T = require "libtest" -- measure_view

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
  return T.measure_view(function()
    return sharetable.query(name)
  end, held)
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

-- sd_reader — helper service for test_sharedata: a sharedata reader.
--
-- Stands for no file of the reference (test service). lua commands:
--   query name          query and keep the proxy
--   get k1 k2 ...       the value at that path of the kept proxy ("table"
--                       for a table), or false, error
--   hold k              keep the child proxy at key k
--   held k2 ...         the value below the kept child, or false, error
--   len k               #proxy[k]
--   deepcopy name ...   sharedata.deepcopy(name, ...)
--   measure name        Lua heap growth (bytes) from querying `name` and
--                       reading a few fields, after full collections; the
--                       sum it read; the whole Lua heap after it

local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
local T = require "libtest" -- measure_view

local proxy, child

local function walk(t, ...)
  for i = 1, select("#", ...) do
    t = t[(select(i, ...))]
  end
  if type(t) == "table" then
    return "table"
  end
  return t
end

local commands = {}

function commands.query(name)
  proxy = sharedata.query(name)
  return true
end

function commands.get(...)
  return pcall(walk, proxy, ...)
end

function commands.hold(k)
  child = proxy[k]
  return type(child)
end

function commands.held(...)
  return pcall(walk, child, ...)
end

function commands.len(k)
  return #proxy[k]
end

function commands.deepcopy(...)
  return sharedata.deepcopy(...)
end

local kept = {}

function commands.measure(name)
  return T.measure_view(function()
    return sharedata.query(name)
  end, kept)
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

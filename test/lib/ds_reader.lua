-- ds_reader — helper service for test_datasheet: a datasheet reader.
--
-- Stands for no file of the reference (test service). lua commands:
--   query name      query and keep the sheet (and its field c)
--   get k1 k2 ...   the value at that path of the kept sheet ("table" for a
--                   table)
--   getc i          the kept c[i], or false, error
--   twice name      two coroutines query `name` at once: true if both got
--                   the same object
--   fail name       the errors of two queries of an unknown name

local skynet = require "skynet"
local datasheet = require "skynet.datasheet"

local sheet, c

local commands = {}

function commands.query(name)
  sheet = datasheet.query(name)
  c = sheet.c
  return true
end

function commands.get(...)
  local t = sheet
  for i = 1, select("#", ...) do
    t = t[(select(i, ...))]
  end
  if type(t) == "table" then
    return "table"
  end
  return t
end

function commands.getc(i)
  return pcall(function()
    return c[i]
  end)
end

function commands.twice(name)
  local got = {}
  local done = 0
  local me = coroutine.running()
  for i = 1, 2 do
    skynet.fork(function()
      got[i] = datasheet.query(name)
      done = done + 1
      if done == 2 then
        skynet.wakeup(me)
      end
    end)
  end
  skynet.wait(me)
  return got[1] == got[2] and got[1] ~= nil
end

function commands.fail(name)
  local _, e1 = pcall(datasheet.query, name)
  local _, e2 = pcall(datasheet.query, name)
  return e1, e2
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.retpack(commands[cmd](...))
  end)
end)

-- sharedatad — builds and keeps the objects of skynet.sharedata.
--
-- Stands for the reference's service/sharedatad.lua (unique). Each name
-- maps to a native object (skynet.sharedata.core) referenced by a ticket.
-- Readers count as references from `query`/`monitor` until their `confirm`
-- and while their box lives. A replaced or deleted object is kept in
-- `retired` and deleted by the collector (every minute; ten minutes after
-- the last update at the latest) once nobody references it. Readers own
-- the data they hold, so deleting early would not break them; the counts
-- only decide when this service lets go.
-- Commands (lua protocol):
--   new name value ...    (asserts the name is new)
--   update name value ... (replaces, or creates)
--   delete name
--   query name -> ticket  monitor name ticket -> newer ticket | nil (deleted)
--   confirm ticket        (no answer)

local skynet = require "skynet"
local corelib = require "skynet.sharedata.corelib"
local host = corelib.host

-- `new` may load a data file: keep it out of the code cache
require("skynet.codecache").mode "OFF"

local NORET = {}

local objects = {} -- name -> { obj = ticket, watch = { response closures } }
local watchers = {} -- name -> { n = monitors since the last sweep, threshold }
local known = {} -- ticket -> its entry while current, true once retired
local collect_countdown = 10 -- minutes until the next collection

local function add(name, tbl)
  assert(objects[name] == nil)
  local ticket = host.new(tbl)
  host.incref(ticket)
  local entry = { obj = ticket, watch = {} }
  known[ticket] = entry
  objects[name] = entry
  watchers[name] = { n = 0, threshold = 16 }
end

local function collect_soon()
  if collect_countdown > 1 then
    collect_countdown = 1
  end
end

local function collector()
  while true do
    skynet.sleep(60 * 100)
    if collect_countdown <= 0 then
      collect_countdown = 10
      collectgarbage()
      for ticket, state in pairs(known) do
        if state == true and host.getref(ticket) <= 0 then
          known[ticket] = nil
          host.delete(ticket)
        end
      end
    else
      collect_countdown = collect_countdown - 1
    end
  end
end

local env_meta = { __index = _ENV }

-- The table a `new`/`update` value stands for.
local function evaluate(name, value, ...)
  local kind = type(value)
  if kind == "table" then
    return value
  elseif kind == "nil" then
    return {}
  elseif kind ~= "string" then
    error("Unknown data type " .. kind)
  end
  local env = setmetatable({}, env_meta)
  local chunk
  if value:sub(1, 1) == "@" then
    chunk = assert(loadfile(value:sub(2), "bt", env))
  else
    chunk = assert(load(value, "=" .. name, "bt", env))
  end
  local _, result = assert(skynet.pcall(chunk, ...))
  setmetatable(env, nil)
  if type(result) == "table" then
    return result
  end
  return env
end

local CMD = {}

function CMD.new(name, value, ...)
  add(name, evaluate(name, value, ...))
end

function CMD.delete(name)
  local entry = assert(objects[name])
  objects[name] = nil
  watchers[name] = nil
  assert(known[entry.obj])
  known[entry.obj] = true
  host.decref(entry.obj)
  for _, response in pairs(entry.watch) do
    response(true)
  end
end

function CMD.query(name)
  local entry = assert(objects[name], name)
  host.incref(entry.obj)
  return entry.obj
end

function CMD.confirm(ticket)
  if known[ticket] then
    host.decref(ticket)
  end
  return NORET
end

function CMD.update(name, value, ...)
  local old = objects[name]
  if old then
    known[old.obj] = true
    host.decref(old.obj)
    objects[name] = nil
    watchers[name] = nil
  end
  CMD.new(name, value, ...)
  if old then
    local ticket = objects[name].obj
    host.markdirty(old.obj)
    for _, response in pairs(old.watch) do
      host.incref(ticket)
      response(true, ticket)
    end
  end
  collect_soon()
end

-- Drops the watchers whose caller is gone; returns how many.
local function sweep(watch)
  local dropped = 0
  for k, response in pairs(watch) do
    if not response "TEST" then
      watch[k] = nil
      dropped = dropped + 1
    end
  end
  return dropped
end

function CMD.monitor(name, ticket)
  local entry = assert(objects[name])
  if ticket ~= entry.obj then
    host.incref(entry.obj)
    return entry.obj
  end
  local w = watchers[name]
  local n = w.n + 1
  if n > w.threshold then
    n = n - sweep(entry.watch)
    w.threshold = n * 2
  end
  w.n = n
  entry.watch[#entry.watch + 1] = skynet.response()
  return NORET
end

skynet.start(function()
  skynet.fork(collector)
  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = assert(CMD[cmd])
    local result = f(...)
    if result ~= NORET then
      skynet.ret(skynet.pack(result))
    end
  end)
end)

-- sharedatad — builds and keeps the data sets of skynet.sharedata.
--
-- Stands for the reference's service/sharedatad.lua (a unique service).
-- Each name has one current object in the native store
-- (skynet.sharedata.core, through corelib.host), known to everyone by its
-- ticket. An object's reference count is this service's own reference
-- while it is current, plus one per ticket handed to a reader until the
-- reader confirms it, plus the readers' boxes. A replaced or deleted object
-- is retired; the collector deletes retired objects nobody references.
-- It runs once a minute and collects every tenth time, or at the next
-- round after an update. (Readers own what they hold, so the counts only
-- decide when this service lets go.)
-- Requests (lua protocol):
--   new name value ...     value: table, Lua source (or "@file") run with
--                          ..., or nil; the name must be new
--   update name value ...  replaces the current object, or creates it
--   delete name
--   query name -> ticket
--   monitor name ticket -> the ticket that replaced it; nothing on delete
--   confirm ticket         (a send: no answer)

local skynet = require "skynet"
local host = require("skynet.sharedata.corelib").host

-- `new` may load a data file, which must not be cached
require("skynet.codecache").mode "OFF"

local MINUTE = 60 * 100
local ROUNDS = 10 -- collection rounds when nothing hurries them

-- name -> { ticket, waiting = { monitor responses }, monitors = count since
--          the last sweep, limit = count that triggers a sweep }
local sets = {}
-- ticket -> "current" | "retired", for every object not yet deleted
local objects = {}
local rounds_left = ROUNDS

local function retire(ticket)
  objects[ticket] = "retired"
  host.decref(ticket)
end

local function collector()
  while true do
    skynet.sleep(MINUTE)
    if rounds_left > 0 then
      rounds_left = rounds_left - 1
    else
      rounds_left = ROUNDS
      collectgarbage()
      for ticket, state in pairs(objects) do
        if state == "retired" and host.getref(ticket) <= 0 then
          objects[ticket] = nil
          host.delete(ticket)
        end
      end
    end
  end
end

local sandbox_meta = { __index = _ENV }

-- Runs Lua source (or the file after "@") in a fresh environment that
-- sees the globals; the table it returns, or else the globals it set.
local function run_source(name, src, ...)
  local env = setmetatable({}, sandbox_meta)
  local chunk
  if src:sub(1, 1) ~= "@" then
    chunk = assert(load(src, "=" .. name, "bt", env))
  else
    chunk = assert(loadfile(src:sub(2), "bt", env))
  end
  local _, made = assert(skynet.pcall(chunk, ...))
  setmetatable(env, nil)
  return type(made) == "table" and made or env
end

local makers = {
  table = function(_, t)
    return t
  end,
  string = run_source,
  ["nil"] = function()
    return {}
  end,
}

-- The value is made (its source run) before the name is checked.
local function create(name, value, ...)
  local kind = type(value)
  local maker = makers[kind]
  if maker == nil then
    error("Unknown data type " .. kind)
  end
  local data = maker(name, value, ...)
  assert(sets[name] == nil)
  local ticket = host.new(data)
  host.incref(ticket)
  objects[ticket] = "current"
  sets[name] = { ticket = ticket, waiting = {}, monitors = 0, limit = 16 }
end

-- Keeps only the monitors of `set` whose caller is still there; returns
-- how many were dropped.
local function sweep(set)
  local kept, seen = {}, 0
  for _, respond in pairs(set.waiting) do
    seen = seen + 1
    if respond "TEST" then
      kept[#kept + 1] = respond
    end
  end
  set.waiting = kept
  return seen - #kept
end

-- Handlers answer for themselves: `answer` for an immediate reply, or a
-- response kept for later.
local function answer(...)
  skynet.ret(skynet.pack(...))
end

local request = {}

function request.new(name, value, ...)
  create(name, value, ...)
  answer(nil)
end

function request.update(name, value, ...)
  -- the old object is retired before the new one is made: if making it
  -- fails, the name is gone
  local old = sets[name]
  if old then
    sets[name] = nil
    retire(old.ticket)
  end
  create(name, value, ...)
  if old then
    local fresh = sets[name].ticket
    host.markdirty(old.ticket)
    for _, respond in pairs(old.waiting) do
      host.incref(fresh)
      respond(true, fresh)
    end
  end
  rounds_left = math.min(rounds_left, 1)
  answer(nil)
end

function request.delete(name)
  local set = assert(sets[name])
  sets[name] = nil
  assert(objects[set.ticket])
  retire(set.ticket)
  for _, respond in pairs(set.waiting) do
    respond(true)
  end
  answer(nil)
end

function request.query(name)
  local set = assert(sets[name], name)
  host.incref(set.ticket)
  answer(set.ticket)
end

function request.monitor(name, ticket)
  local set = assert(sets[name])
  if set.ticket ~= ticket then
    host.incref(set.ticket)
    return answer(set.ticket)
  end
  set.monitors = set.monitors + 1
  if set.monitors > set.limit then
    set.monitors = set.monitors - sweep(set)
    set.limit = set.monitors * 2
  end
  set.waiting[#set.waiting + 1] = skynet.response()
end

function request.confirm(ticket)
  if objects[ticket] then
    host.decref(ticket)
  end
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, what, ...)
    local handler = assert(request[what])
    handler(...)
  end)
  skynet.fork(collector)
end)

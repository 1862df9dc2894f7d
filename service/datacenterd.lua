-- datacenterd — the node-wide key tree behind skynet.datacenter.
--
-- Stands for the reference's service/datacenterd.lua; registered as the
-- global name DATACENTER by bootstrap. Commands (lua protocol):
--   QUERY k1 .. kn          value at the path (nil if missing)
--   UPDATE k1 .. kn value   store (nil deletes), answer the previous value;
--                           a new value wakes the WAITers of that path
--   WAIT k1 .. kn           answer when the path has a value
-- Waiters live in a second tree whose nodes are either a "leaf" (a list of
-- response closures for that exact path) or a "branch" (deeper paths). Asking
-- for a branch where a leaf waits (or the reverse) fails; setting a value
-- below a leaf that is waited on fails that leaf's waiters.

local skynet = require "skynet"

local data = {}
local waiters = {}
local KIND = {} -- key of a waiter node's kind: "leaf" or "branch"

-- value at path ... below db (indexing through a non-table raises)
local function lookup(db, key, ...)
  if key == nil then
    return db
  end
  local child = db[key]
  if child == nil or select("#", ...) == 0 then
    return child
  end
  return lookup(child, ...)
end

local function query(key, ...)
  local db = data[key]
  if db == nil or select("#", ...) == 0 then
    return db
  end
  return lookup(db, ...)
end

-- store the last argument at the path given by the others; returns the
-- previous value and the new one
local function store(db, key, value, ...)
  if select("#", ...) == 0 then
    local previous = db[key]
    db[key] = value
    return previous, value
  end
  local child = db[key]
  if child == nil then
    child = {}
    db[key] = child
  end
  return store(child, value, ...)
end

-- detach the leaf waiting on path (key, ...) (the last argument is the new
-- value). Returns its waiters to be answered; fails waiters of a leaf that
-- sits above the path.
local function take_waiters(node, key, ...)
  if key == nil then
    return
  end
  local q = node[key]
  if q == nil then
    return
  end
  if q[KIND] == "branch" then
    return take_waiters(q, ...)
  end
  node[key] = nil
  if select("#", ...) == 1 then
    return q
  end
  -- a value appeared below a waited leaf: that wait can never be satisfied
  for _, respond in ipairs(q) do
    respond(false)
  end
end

local function add_waiter(node, key, ...)
  local q = node[key]
  if select("#", ...) == 0 then
    if q == nil then
      q = { [KIND] = "leaf" }
      node[key] = q
    else
      assert(q[KIND] == "leaf")
    end
    q[#q + 1] = skynet.response()
    return
  end
  if q == nil then
    q = { [KIND] = "branch" }
    node[key] = q
  else
    assert(q[KIND] == "branch")
  end
  return add_waiter(q, ...)
end

local command = {}

-- a missing first key answers with no value at all (not even nil)
function command.QUERY(key, ...)
  if data[key] ~= nil then
    return query(key, ...)
  end
end

function command.UPDATE(...)
  local previous, value = store(data, ...)
  if previous ~= nil or value == nil then
    return previous
  end
  local q = take_waiters(waiters, ...)
  if q then
    for _, respond in ipairs(q) do
      respond(true, value)
    end
  end
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    if cmd == "WAIT" then
      local value = query(...)
      if value ~= nil then
        skynet.ret(skynet.pack(value))
      else
        add_waiter(waiters, ...)
      end
      return
    end
    local f = assert(command[cmd])
    skynet.ret(skynet.pack(f(...)))
  end)
end)

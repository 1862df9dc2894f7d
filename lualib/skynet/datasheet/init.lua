-- skynet.datasheet — the reading side of skynet.datasheet.
--
-- Stands for the reference's lualib/skynet/datasheet/init.lua.
--   query(name) -> sheet
-- The sheet is made of proxies (skynet.datasheet.core): each table is
-- copied into this service the first time it is read. For every sheet a
-- forked coroutine keeps asking the `datasheet` service for the next
-- version and moves the proxies to it, so tables already held show the new
-- values and lose the keys that are gone. Asking for an unknown name fails
-- with `call failed` (the service asserts `create data first`); the failure
-- is remembered and the same error is raised by every later query of that
-- name. Initialisation looks the service up with skynet.service.query, so
-- it waits until some service has required skynet.datasheet.builder.

local skynet = require "skynet"
local core = require "skynet.datasheet.core"

local server -- the datasheet service

-- name -> { object = root proxy, handle = version it shows,
--           failure = error of the query, waiting = coroutines parked while
--           the first query of the name is under way }
-- When this service's Lua state goes away the service learns it, so that
-- the versions it held can be freed.
local entries = setmetatable({}, {
  __gc = function()
    skynet.send(server, "lua", "close")
  end,
})

-- Moves the entry's proxies to each new version as it is published.
local function follow(entry)
  while true do
    local shown = entry.handle
    local newer = skynet.call(server, "lua", "monitor", shown)
    core.update(entry.object, newer)
    entry.handle = newer
    skynet.send(server, "lua", "release", shown)
  end
end

-- The first query of a name: asks the service, then wakes whoever asked
-- for the same name meanwhile.
local function load(name, entry)
  local parked = {}
  entry.waiting = parked
  local ok, result = pcall(skynet.call, server, "lua", "query", name)
  entry.waiting = nil
  if not ok then
    entry.failure = result
  else
    entry.object, entry.handle = core.new(result), result
    skynet.fork(follow, entry)
  end
  for i = 1, #parked do
    skynet.wakeup(parked[i])
  end
end

-- Raised from this one place, so every query of a failed name raises the
-- very same text.
local function raise(entry)
  error(entry.failure)
end

skynet.init(function()
  server = require("skynet.service").query "datasheet"
end)

local datasheet = {}

function datasheet.query(name)
  local entry = entries[name]
  if entry == nil then
    entry = {}
    entries[name] = entry
  end
  if not (entry.object or entry.failure) then
    if entry.waiting then
      local me = coroutine.running()
      entry.waiting[#entry.waiting + 1] = me
      skynet.wait(me)
    else
      load(name, entry)
    end
  end
  if entry.failure then
    raise(entry)
  end
  return entry.object
end

return datasheet

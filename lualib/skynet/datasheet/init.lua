-- skynet.datasheet — the reader side of skynet.datasheet.
--
-- Stands for the reference's lualib/skynet/datasheet/init.lua. `query(name)`
-- returns the sheet as a table made of proxies (skynet.datasheet.core): a
-- table is copied into this service when it is first read. A monitor
-- coroutine per sheet waits for newer versions and moves the proxies to
-- them, so tables already held show the new values (and keys that are gone
-- disappear). An unknown name fails with `call failed` (the service asserts
-- `create data first`); the failure is kept and raised again by every later
-- query of that name. The `datasheet` service must exist (some service
-- required skynet.datasheet.builder): initialisation waits for it.

local skynet = require "skynet"
local service = require "skynet.service"
local core = require "skynet.datasheet.core"

local datasheet_svr

skynet.init(function()
  datasheet_svr = service.query "datasheet"
end)

local datasheet = {}

-- name -> { handle, object, error, queue (coroutines waiting meanwhile) }
local sheets = setmetatable({}, {
  __gc = function()
    skynet.send(datasheet_svr, "lua", "close")
  end,
})

local function follow(sheet)
  local handle = sheet.handle
  while true do
    local newer = skynet.call(datasheet_svr, "lua", "monitor", handle)
    core.update(sheet.object, newer)
    sheet.handle = newer
    skynet.send(datasheet_svr, "lua", "release", handle)
    handle = newer
  end
end

-- One place raises a kept failure, so every query of the name raises the
-- same text.
local function fail(sheet)
  error(sheet.error)
end

function datasheet.query(name)
  local sheet = sheets[name]
  if not sheet then
    sheet = {}
    sheets[name] = sheet
  end
  if sheet.error then
    fail(sheet)
  end
  if sheet.object then
    return sheet.object
  end
  if sheet.queue then
    -- another coroutine is asking already
    local co = coroutine.running()
    table.insert(sheet.queue, co)
    skynet.wait(co)
  else
    sheet.queue = {}
    local ok, handle = pcall(skynet.call, datasheet_svr, "lua", "query", name)
    if ok then
      sheet.handle = handle
      sheet.object = core.new(handle)
      skynet.fork(follow, sheet)
    else
      sheet.error = handle
    end
    local waiting = sheet.queue
    sheet.queue = nil
    for _, co in ipairs(waiting) do
      skynet.wakeup(co)
    end
  end
  if sheet.error then
    fail(sheet)
  end
  return sheet.object
end

return datasheet

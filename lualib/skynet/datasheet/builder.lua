-- skynet.datasheet.builder — the writer side of skynet.datasheet.
--
-- Stands for the reference's lualib/skynet/datasheet/builder.lua. The
-- builder dumps a table into a document (skynet.datasheet.dump), publishes
-- it (skynet.datasheet.core.stringpointer) and tells the `datasheet`
-- service (made here with skynet.service) its handle. An update publishes a
-- diff against the previous version, so readers keep their tables and see
-- the new values in them. A version is released once every reader moved on
-- (the service answers the builder's `collect` call).
--   new(name, tbl | document)     update(name, tbl | document)
--   compile(tbl) -> document      (a document can be passed instead of tbl)

local skynet = require "skynet"
local dump = require "skynet.datasheet.dump"
local core = require "skynet.datasheet.core"
local service = require "skynet.service"

local builder = {}

local datasheet -- the service
local current = {} -- name -> { doc = document, handle = handle }

local function document(v)
  if type(v) == "string" then
    return v
  end
  return dump.dump(v)
end

-- Lets go of a version once nobody reads it.
local function release_when_unused(handle)
  skynet.fork(function()
    skynet.call(datasheet, "lua", "collect", handle)
    core.release(handle)
  end)
end

local function publish(name, doc)
  local handle = core.stringpointer(doc)
  skynet.call(datasheet, "lua", "update", name, handle)
  release_when_unused(handle)
  return handle
end

function builder.new(name, v)
  assert(current[name] == nil)
  local doc = document(v)
  current[name] = { doc = doc, handle = publish(name, doc) }
end

function builder.update(name, v)
  local last = assert(current[name])
  local doc = dump.diff(last.doc, document(v))
  local handle = publish(name, doc)
  skynet.send(datasheet, "lua", "release", last.handle)
  current[name] = { doc = doc, handle = handle }
end

function builder.compile(v)
  return dump.dump(v)
end

-- The datasheet service, run by service_cell (no upvalue but _ENV).
local function datasheet_service()
  local skynet = require "skynet"

  local handles = {} -- handle -> { ref = readers (+1 for the builder), name, collect }
  local sheets = {} -- name -> { handle = current handle, monitor = { [reader] = f } }
  local readers = setmetatable({}, { -- reader -> { [handle] = true }
    __index = function(t, reader)
      local v = {}
      t[reader] = v
      return v
    end,
  })

  local command = {}

  -- A reader (or the builder) lets go of `handle`. Letting go of the
  -- current version also ends that reader's wait for a newer one (the
  -- reference ends it for any handle, which loses the wait of a service
  -- that is both builder and reader when the builder releases the old
  -- version).
  local function drop_reference(reader, handle)
    local h = handles[handle]
    h.ref = h.ref - 1
    if h.ref == 0 and h.collect then
      h.collect(true)
      h.collect = nil
      handles[handle] = nil
    end
    local sheet = sheets[h.name]
    if sheet.handle == handle then
      sheet.monitor[reader] = nil
    end
  end

  -- from the builder: a new sheet, or a new version of one
  function command.update(_, name, handle)
    local sheet = sheets[name]
    if not sheet then
      sheets[name] = { handle = handle, monitor = {} }
      handles[handle] = { ref = 1, name = name }
    else
      handles[handle] = { ref = handles[sheet.handle].ref, name = name }
      sheet.handle = handle
      for reader, notify in pairs(sheet.monitor) do
        notify(true, handle)
        sheet.monitor[reader] = nil
      end
    end
    skynet.ret()
  end

  -- from a reader
  function command.query(reader, name)
    local sheet = assert(sheets[name], "create data first")
    local h = handles[sheet.handle]
    h.ref = h.ref + 1
    readers[reader][sheet.handle] = true
    skynet.ret(skynet.pack(sheet.handle))
  end

  -- from a reader: answer when `handle` is replaced by a newer version
  function command.monitor(reader, handle)
    local h = assert(handles[handle], "Invalid data handle")
    local sheet = sheets[h.name]
    if sheet.handle ~= handle then
      readers[reader][sheet.handle] = true
      skynet.ret(skynet.pack(sheet.handle))
      return
    end
    assert(not sheet.monitor[reader])
    local respond = skynet.response()
    sheet.monitor[reader] = function(ok, newer)
      if ok then
        readers[reader][newer] = true
      end
      respond(ok, newer)
    end
  end

  -- from a reader (or the builder): it no longer uses `handle` (no answer)
  function command.release(reader, handle)
    readers[reader][handle] = nil
    drop_reference(reader, handle)
  end

  -- a reader is gone: drop everything it held (no answer)
  function command.close(reader)
    for handle in pairs(readers[reader]) do
      drop_reference(reader, handle)
    end
    readers[reader] = nil
  end

  -- from the builder: answer once nobody uses `handle`
  function command.collect(_, handle)
    local h = assert(handles[handle], "Invalid data handle")
    if h.ref == 0 then
      handles[handle] = nil
      skynet.ret()
    else
      assert(h.collect == nil, "Only one collect allows")
      h.collect = skynet.response()
    end
  end

  skynet.dispatch("lua", function(_, source, cmd, ...)
    command[cmd](source, ...)
  end)

  skynet.info_func(function()
    local info = {}
    local others = {}
    for handle, h in pairs(handles) do
      others[handle] = h
    end
    for name, sheet in pairs(sheets) do
      others[sheet.handle] = nil
      info[name] = { handle = sheet.handle, monitors = handles[sheet.handle].ref }
    end
    for handle, h in pairs(others) do
      info[handle] = h.ref
    end
    return info
  end)
end

skynet.init(function()
  datasheet = service.new("datasheet", datasheet_service)
end)

return builder

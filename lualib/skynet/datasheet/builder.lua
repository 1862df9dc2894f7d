-- skynet.datasheet.builder — the publishing side of skynet.datasheet, and
-- the `datasheet` service that tracks who reads which version.
--
-- Stands for the reference's lualib/skynet/datasheet/builder.lua.
--   new(name, tbl | doc)      publish the first version of a sheet
--   update(name, tbl | doc)   publish a new version, as a diff against the
--                             last one (skynet.datasheet.dump.diff), so that
--                             readers keep their tables and see new values
--   compile(tbl) -> doc       the document of a table (a doc may be passed
--                             to new/update instead of a table)
-- A version is handed to the service as a handle of
-- skynet.datasheet.core.stringpointer; the builder asks the service to tell
-- it when nobody uses the version any more (`collect`) and then frees it.
-- The service is created here (skynet.service, run by service_cell) when
-- this module is initialised.

local skynet = require "skynet"
local dump = require "skynet.datasheet.dump"
local core = require "skynet.datasheet.core"
local service = require "skynet.service"

local server -- the datasheet service
local published = {} -- name -> { doc = last document, handle = its handle }

local function as_document(v)
  if type(v) == "string" then
    return v
  end
  return dump.dump(v)
end

-- Makes `doc` the newest version of `name`; its copy is freed once the
-- service reports that no reader (and not the builder) holds it.
local function publish(name, doc)
  local handle = core.stringpointer(doc)
  skynet.call(server, "lua", "update", name, handle)
  published[name] = { doc = doc, handle = handle }
  skynet.fork(function()
    skynet.call(server, "lua", "collect", handle)
    core.release(handle)
  end)
end

-- Body of the `datasheet` service (service_cell runs it; it may use
-- nothing of this file but _ENV).
--
-- Every version has a use count: the builder plus each reader holding it.
-- A new version starts with the count of the one it replaces, since the
-- holders of that one move to it by themselves (a reader's monitor call is
-- answered with the new handle, then the reader releases the old one).
local function keeper_main()
  local skynet = require "skynet"

  local versions = {} -- handle -> { sheet = name, users = n, on_free = response }
  local sheets = {} -- name -> { latest = handle, watchers = { [reader] = response } }
  local holdings = {} -- reader -> { [handle] = true }

  local function held_by(reader)
    local set = holdings[reader]
    if set == nil then
      set = {}
      holdings[reader] = set
    end
    return set
  end

  -- One use of `handle` by `reader` ends. Giving up the latest version also
  -- cancels that reader's wait for a newer one (the reference cancels it on
  -- any release, which loses the wait of a service that both builds and
  -- reads when the builder gives up the previous version).
  local function drop(reader, handle)
    local v = versions[handle]
    v.users = v.users - 1
    if v.users == 0 and v.on_free then
      local tell_builder = v.on_free
      v.on_free = nil
      versions[handle] = nil
      tell_builder(true)
    end
    local sheet = sheets[v.sheet]
    if sheet.latest == handle then
      sheet.watchers[reader] = nil
    end
  end

  local on = {}

  -- builder: a new sheet, or a new version of one; the readers waiting for
  -- a newer version are answered before the builder is
  function on.update(_, name, handle)
    local sheet = sheets[name]
    if sheet == nil then
      versions[handle] = { sheet = name, users = 1 }
      sheets[name] = { latest = handle, watchers = {} }
    else
      versions[handle] = { sheet = name, users = versions[sheet.latest].users }
      sheet.latest = handle
      local waiting = sheet.watchers
      sheet.watchers = {}
      for reader, answer in pairs(waiting) do
        held_by(reader)[handle] = true
        answer(true, handle)
      end
    end
    skynet.ret()
  end

  -- answers a reader's request with `handle`, which it holds from now on
  local function hand_over(reader, handle)
    held_by(reader)[handle] = true
    skynet.retpack(handle)
  end

  -- reader: the latest version of a sheet
  function on.query(reader, name)
    local latest = assert(sheets[name], "create data first").latest
    versions[latest].users = versions[latest].users + 1
    hand_over(reader, latest)
  end

  -- reader: answered with the version that replaces `handle` (at once if
  -- there is one already)
  function on.monitor(reader, handle)
    local sheet = sheets[assert(versions[handle], "Invalid data handle").sheet]
    if sheet.latest == handle then
      assert(not sheet.watchers[reader])
      sheet.watchers[reader] = skynet.response()
      return
    end
    hand_over(reader, sheet.latest)
  end

  -- reader or builder: `handle` is no longer used (a send, no answer)
  function on.release(reader, handle)
    held_by(reader)[handle] = nil
    drop(reader, handle)
  end

  -- a reader's Lua state is closing: everything it held is dropped (a
  -- send, no answer)
  function on.close(reader)
    for handle in pairs(holdings[reader] or {}) do
      drop(reader, handle)
    end
    holdings[reader] = nil
  end

  -- builder: answered once nobody uses `handle`
  function on.collect(_, handle)
    local v = assert(versions[handle], "Invalid data handle")
    if v.users == 0 then
      versions[handle] = nil
      return skynet.ret()
    end
    assert(v.on_free == nil, "Only one collect allows")
    v.on_free = skynet.response()
  end

  -- debug INFO: name -> { handle, monitors = users } for the latest
  -- versions, handle -> users for older ones still in use
  skynet.info_func(function()
    local report = {}
    for handle, v in pairs(versions) do
      if sheets[v.sheet].latest == handle then
        report[v.sheet] = { handle = handle, monitors = v.users }
      else
        report[handle] = v.users
      end
    end
    return report
  end)

  skynet.dispatch("lua", function(_, source, what, ...)
    local handler = on[what]
    handler(source, ...)
  end)
end

local builder = {}

function builder.compile(v)
  return dump.dump(v)
end

function builder.new(name, v)
  assert(published[name] == nil)
  publish(name, as_document(v))
end

function builder.update(name, v)
  local previous = assert(published[name])
  publish(name, dump.diff(previous.doc, as_document(v)))
  -- the builder's own hold on the previous version ends here
  skynet.send(server, "lua", "release", previous.handle)
end

skynet.init(function()
  server = service.new("datasheet", keeper_main)
end)

return builder

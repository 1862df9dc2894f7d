-- skynet.sharemap — objects of a sproto type that one service writes and
-- other services read, published through skynet.stm.
--
-- Stands for the reference's lualib/skynet/sharemap.lua.
--   register(protofile)              the types, once per node (sprotoloader
--                                    slot 0)
--   writer(typename [, tbl]) -> w    fields are set on w (they land in tbl);
--                                    w:commit() publishes them as the newest
--                                    version, w:copy() gives a one-use stm
--                                    copy to send to a reader
--   reader(typename, copy) -> r      read-only view of the newest version it
--                                    picked up; r:update() picks up a newer
--                                    one (true) or finds none (false)
-- Both objects keep their state in raw fields (__typename, __data = the
-- plain table the fields live in, __obj = the stm writer or reader) next to
-- their methods, as the reference's do.

local stm = require "skynet.stm"
local sprotoloader = require "sprotoloader"

local TYPES_SLOT = 0

local schema -- the registered types, loaded on first use

local function types()
  if not schema then
    schema = sprotoloader.load(TYPES_SLOT)
  end
  return schema
end

local sharemap = {}

function sharemap.register(protofile)
  sprotoloader.register(protofile, TYPES_SLOT)
end

-- Writer methods.

function sharemap.commit(w)
  w.__obj(schema:encode(w.__typename, w.__data))
end

function sharemap.copy(w)
  return stm.copy(w.__obj)
end

function sharemap.writer(typename, tbl)
  local data = tbl or {}
  local first = types():encode(typename, data)
  return setmetatable({
    commit = sharemap.commit,
    copy = sharemap.copy,
    __typename = typename,
    __data = data,
    __obj = stm.new(first),
  }, { __index = data, __newindex = data })
end

-- Reader side. A newer version is decoded on its own, then copied into the
-- reader's table (keys it no longer has are removed), so the table the
-- reader reads through stays the same one.
local function refill(msg, sz, r)
  local fresh, used = schema:decode(r.__typename, msg, sz)
  local data = r.__data
  for k in pairs(data) do
    if fresh[k] == nil then
      data[k] = nil
    end
  end
  for k, v in pairs(fresh) do
    data[k] = v
  end
  return data, used
end

function sharemap.update(r)
  return r.__obj(refill, r)
end

function sharemap.reader(typename, stmcpy)
  types()
  local data = {}
  local r = setmetatable({
    update = sharemap.update,
    __typename = typename,
    __data = data,
    __obj = stm.newcopy(stmcpy),
  }, { __index = data, __newindex = error })
  sharemap.update(r) -- the version current when the copy was made
  return r
end

return sharemap

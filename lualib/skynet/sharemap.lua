-- skynet.sharemap — objects of a sproto type written by one service and
-- read by others, over skynet.stm.
--
-- Stands for the reference's lualib/skynet/sharemap.lua. The schema is
-- registered once per node (sprotoloader slot 0). A writer keeps a plain
-- table; `commit()` encodes it with sproto and publishes it as the newest
-- stm version. A reader made from the writer's `copy()` (sent in a message)
-- decodes the newest version on `update()`.
--   register(protofile)
--   writer(typename [, tbl]) -> w    w.field = v, w:commit(), w:copy()
--   reader(typename, copy) -> r      r.field, r:update()  (r is read-only)

local stm = require "skynet.stm"
local sprotoloader = require "sprotoloader"

local setmetatable = setmetatable

local sharemap = {}

local SLOT = 0

function sharemap.register(protofile)
  sprotoloader.register(protofile, SLOT)
end

local schema
local function loaded()
  if schema == nil then
    schema = sprotoloader.load(SLOT)
  end
  return schema
end

function sharemap:commit()
  self.__obj(schema:encode(self.__typename, self.__data))
end

function sharemap:copy()
  return stm.copy(self.__obj)
end

function sharemap.writer(typename, obj)
  local sp = loaded()
  obj = obj or {}
  local w = {
    __typename = typename,
    __obj = stm.new(sp:encode(typename, obj)),
    __data = obj,
    commit = sharemap.commit,
    copy = sharemap.copy,
  }
  return setmetatable(w, { __index = obj, __newindex = obj })
end

-- Decodes the newest version into the reader's table, emptied first.
local function refresh(msg, sz, self)
  local data = self.__data
  for k in pairs(data) do
    data[k] = nil
  end
  return schema:decode(self.__typename, msg, sz, data)
end

function sharemap:update()
  return self.__obj(refresh, self)
end

function sharemap.reader(typename, stmcpy)
  local sp = loaded()
  local stmobj = stm.newcopy(stmcpy)
  local _, data = stmobj(function(msg, sz)
    return sp:decode(typename, msg, sz)
  end)
  local r = {
    __typename = typename,
    __obj = stmobj,
    __data = data,
    update = sharemap.update,
  }
  return setmetatable(r, { __index = data, __newindex = error })
end

return sharemap

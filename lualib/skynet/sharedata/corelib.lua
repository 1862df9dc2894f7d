-- skynet.sharedata.corelib — read-only proxies over skynet.sharedata.core.
--
-- Stands for the reference's lualib/skynet/sharedata/corelib.lua. A proxy
-- is a Lua table with these raw fields and a shared metatable:
--   __obj    node (userdata) of the table it shows
--   __gcobj  box of the root object (keeps the data alive for this service)
--   __parent the parent proxy (false for the root), __key its key there
--   __cache  child proxies by key (made on first access)
-- Reads go to the native store; a table value is shown as a child proxy,
-- cached. Writes raise `Error newindex, the key [<path>]`.
-- When the object is replaced (sharedata.update), the monitor coroutine of
-- sharedata.lua stores the new object in the box (conf.update); the next
-- access through any proxy of that object notices the dirty flag and moves
-- the whole proxy tree to the new object. A child whose key is no longer a
-- table then raises `The key [<path>] doesn't exist after update`.
-- Exported: host (the native host functions), box, update, flush, copy,
-- copy_ticket, ticket, next.

local core = require "skynet.sharedata.core"

local type, rawget, rawset, setmetatable = type, rawget, rawset, setmetatable
local index, nextkey, len = core.index, core.nextkey, core.len
local isdirty, needupdate = core.isdirty, core.needupdate

local conf = {}

conf.host = {
  new = core.new,
  delete = core.delete,
  getref = core.getref,
  markdirty = core.markdirty,
  incref = core.incref,
  decref = core.decref,
}

local meta = {}

local function root_of(proxy)
  while proxy.__parent do
    proxy = proxy.__parent
  end
  return proxy
end

-- "" for the root, ".a.b" for root.a.b
local function path_of(proxy)
  local path = tostring(proxy.__key)
  while proxy.__parent do
    proxy = proxy.__parent
    path = proxy.__key .. "." .. path
  end
  return path
end

-- Points `proxy` and its cached children at `node` (of the object boxed
-- in `box`); children whose key is not a table any more are dropped.
local function repoint(proxy, node, box)
  proxy.__obj = node
  proxy.__gcobj = box
  local children = rawget(proxy, "__cache")
  if children then
    for k, child in pairs(children) do
      local v = index(node, k)
      if type(v) == "userdata" then
        repoint(child, v, box)
      else
        children[k] = nil
      end
    end
  end
end

-- The node to read for `proxy`, after moving to a newer object if there is
-- one.
local function current(proxy)
  local node = proxy.__obj
  if isdirty(node) then
    local newroot, holder = needupdate(proxy.__gcobj)
    if newroot then
      repoint(root_of(proxy), newroot, holder.__gcobj)
      if node == proxy.__obj then
        error("The key [" .. path_of(proxy) .. "] doesn't exist after update")
      end
      node = proxy.__obj
    end
  end
  return node
end

function meta:__newindex()
  error("Error newindex, the key [" .. path_of(self) .. "]")
end

function meta:__index(key)
  local node = current(self)
  local children = rawget(self, "__cache")
  local child = children and children[key]
  if child then
    return child
  end
  local v = index(node, key)
  if type(v) ~= "userdata" then
    return v
  end
  if children == nil then
    children = {}
    rawset(self, "__cache", children)
  end
  child = setmetatable({
    __obj = v,
    __gcobj = self.__gcobj,
    __parent = self,
    __key = key,
  }, meta)
  children[key] = child
  return child
end

function meta:__len()
  return len(current(self))
end

function conf.next(proxy, key)
  local k = nextkey(current(proxy), key)
  if k ~= nil then
    return k, proxy[k]
  end
end

function meta:__pairs()
  return conf.next, self, nil
end

-- A root proxy for the object named by `ticket`.
function conf.box(ticket)
  local box = core.box(ticket)
  return setmetatable({
    __parent = false,
    __obj = core.root(box),
    __gcobj = box,
    __key = "",
  }, meta)
end

-- Records the newer object `ticket` for the (dirty) object of `proxy`.
function conf.update(proxy, ticket)
  assert(isdirty(proxy.__obj), "Only dirty object can be update")
  core.update(proxy.__gcobj, ticket, { __gcobj = core.box(ticket) })
end

-- Applies a pending update now.
function conf.flush(proxy)
  current(proxy)
end

-- Plain table copy of a node; a table reached twice is copied once.
local function clone(node, done)
  local id = core.nodeid(node)
  local copy = done[id]
  if copy then
    return copy
  end
  copy = {}
  done[id] = copy
  local k = nextkey(node)
  while k ~= nil do
    local v = index(node, k)
    if type(v) == "userdata" then
      v = clone(v, done)
    end
    copy[k] = v
    k = nextkey(node, k)
  end
  return copy
end

-- The value at path ... below `node` (a plain copy for tables).
function conf.copy(node, ...)
  for i = 1, select("#", ...) do
    if type(node) ~= "userdata" then
      return node
    end
    node = index(node, (select(i, ...)))
    if node == nil then
      return nil
    end
  end
  if type(node) == "userdata" then
    return clone(node, {})
  end
  return node
end

-- Like conf.copy, from the root of the object named by `ticket`.
function conf.copy_ticket(ticket, ...)
  local box = core.box(ticket)
  return conf.copy(core.root(box), ...)
end

-- The ticket of the object a root proxy currently shows.
function conf.ticket(proxy)
  return core.ticket(proxy.__obj)
end

return conf

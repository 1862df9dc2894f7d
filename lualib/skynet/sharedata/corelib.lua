-- skynet.sharedata.corelib — read-only proxy tables over the native store
-- of skynet.sharedata.core.
--
-- Stands for the reference's lualib/skynet/sharedata/corelib.lua.
-- A proxy is a table whose only raw field is `__obj`, the node (userdata)
-- of the stored table it shows; everything else about it lives in `links`
-- (weak keys): the box that keeps its object alive for this service, its
-- parent proxy and key there (none for a root) and its child proxies, made
-- on first access and kept.
-- Reading a key reads the store; a table value is shown as a child proxy.
-- Writing raises `Error newindex, the key [<path>]` (path "" for the root,
-- ".a.b" below it).
-- When the object is replaced, sharedata.lua's monitor coroutine records
-- the newer object in the box (`update`); the next access through any proxy
-- of the old object finds its node dirty and moves the whole tree of
-- proxies, from the root down, to the new object. Children whose key no
-- longer holds a table are cut off and keep the old node; reading one
-- raises `The key [<path>] doesn't exist after update`.
-- Exported: host (the functions sharedatad uses), box(ticket) -> root
-- proxy, update(proxy, ticket), flush(proxy), next(proxy, key),
-- copy(node, k1, ...), copy_ticket(ticket, k1, ...), ticket(proxy).

local core = require "skynet.sharedata.core"

local type, rawget, rawset, select = type, rawget, rawset, select
local node_get, node_next, node_len = core.index, core.nextkey, core.len
local is_dirty, newer_of = core.isdirty, core.needupdate

local M = {}

M.host = {}
for _, fname in ipairs { "new", "delete", "getref", "markdirty", "incref", "decref" } do
  M.host[fname] = core[fname]
end

-- proxy -> { box = box, parent = proxy | nil, key = key, kids = { [key] = proxy } | nil }
local links = setmetatable({}, { __mode = "k" })

local proxy_meta = {}

local function make_proxy(node, box, parent, key)
  local p = setmetatable({ __obj = node }, proxy_meta)
  links[p] = { box = box, parent = parent, key = key }
  return p
end

local function describe(p)
  local parts = {}
  local link = links[p]
  while link.parent do
    table.insert(parts, 1, "." .. tostring(link.key))
    link = links[link.parent]
  end
  return table.concat(parts)
end

-- Shows `node` (of the object held by `box`) in proxy `top` and, level by
-- level below it, in the cached children whose key still holds a table;
-- the others are cut off (they keep their old node).
local function retarget(top, node, box)
  local level = { top, node }
  while level[1] do
    local below = {}
    for i = 1, #level, 2 do
      local p, n = level[i], level[i + 1]
      rawset(p, "__obj", n)
      local link = links[p]
      link.box = box
      for key, kid in pairs(link.kids or {}) do
        local sub = node_get(n, key)
        if type(sub) ~= "userdata" then
          link.kids[key] = nil
        else
          below[#below + 1] = kid
          below[#below + 1] = sub
        end
      end
    end
    level = below
  end
end

-- The node `p` should be read from: moves the tree to a newer object first
-- if one was recorded.
local function node_of(p)
  local before = rawget(p, "__obj")
  if not is_dirty(before) then
    return before
  end
  local link = links[p]
  local new_root, holder = newer_of(link.box)
  if not new_root then
    return before
  end
  local top = p
  while links[top].parent do
    top = links[top].parent
  end
  retarget(top, new_root, holder.box)
  local after = rawget(p, "__obj")
  if after == before then
    error("The key [" .. describe(p) .. "] doesn't exist after update")
  end
  return after
end

proxy_meta.__index = function(p, key)
  local node = node_of(p)
  local link = links[p]
  local kid = link.kids and link.kids[key]
  if kid then
    return kid
  end
  local v = node_get(node, key)
  if type(v) ~= "userdata" then
    return v
  end
  kid = make_proxy(v, link.box, p, key)
  link.kids = link.kids or {}
  link.kids[key] = kid
  return kid
end

proxy_meta.__newindex = function(p)
  error("Error newindex, the key [" .. describe(p) .. "]")
end

proxy_meta.__len = function(p)
  return node_len(node_of(p))
end

function M.next(p, key)
  local k = node_next(node_of(p), key)
  if k ~= nil then
    return k, p[k]
  end
end

proxy_meta.__pairs = function(p)
  return M.next, p, nil
end

function M.box(ticket)
  local box = core.box(ticket)
  return make_proxy(core.root(box), box, nil, "")
end

-- Records `ticket` as the object that replaces the (dirty) one of `p`.
function M.update(p, ticket)
  assert(is_dirty(rawget(p, "__obj")), "Only dirty object can be update")
  core.update(links[p].box, ticket, { box = core.box(ticket) })
end

function M.flush(p)
  node_of(p)
end

-- A plain table with the content of `node`; a stored table reached twice
-- (shared, or a cycle) becomes one copied table.
local function plain(node, copies)
  local id = core.nodeid(node)
  if copies[id] then
    return copies[id]
  end
  local out = {}
  copies[id] = out
  local k = node_next(node, nil)
  while k ~= nil do
    local v = node_get(node, k)
    out[k] = type(v) == "userdata" and plain(v, copies) or v
    k = node_next(node, k)
  end
  return out
end

-- The value at path ... below `node`, tables copied. The walk stops at a
-- value that is not a table (and gives it) or at a missing key (nil).
function M.copy(node, ...)
  local at = node
  local depth, n = 0, select("#", ...)
  while depth < n and type(at) == "userdata" do
    depth = depth + 1
    at = node_get(at, (select(depth, ...)))
  end
  if type(at) == "userdata" then
    return plain(at, {})
  end
  return at
end

function M.copy_ticket(ticket, ...)
  return M.copy(core.root(core.box(ticket)), ...)
end

-- The ticket of the object a proxy shows now.
function M.ticket(p)
  return core.ticket(rawget(p, "__obj"))
end

return M

-- datacenterd — the node-wide key tree behind skynet.datacenter.
--
-- Stands for the reference's service/datacenterd.lua; registered as the
-- global name DATACENTER by bootstrap. Requests (lua protocol), each with a
-- path of keys that ends at its first nil:
--   QUERY k1 .. kn          the value there (no value at all if k1 is unset)
--   UPDATE k1 .. kn value   store it (nil deletes) and answer the previous
--                           value; a value appearing where there was none
--                           answers the WAITs on that path
--   WAIT k1 .. kn           answered once the path holds a value
-- Pending WAITs hang in a second tree. Its nodes are marked with the kind
-- they have: a "leaf" holds the response functions of the WAITs on exactly
-- that path, a "branch" holds deeper nodes. A WAIT that would need a leaf
-- where a branch is (or the reverse) fails. When a value is stored under a
-- path where a leaf waits, those WAITs can never be answered with a value
-- of their own: they fail.

local skynet = require "skynet"

local store = {} -- the values
local pending = {} -- the tree of waits
local KIND = {} -- key under which a node of `pending` keeps its kind

-- walk `keys[first..last]` down from `node`; stops early at a missing node
-- (indexing a non-table raises, which fails the request)
local function descend(node, keys, first, last)
  for i = first, last do
    if node == nil then
      break
    end
    node = node[keys[i]]
  end
  return node
end

-- number of leading non-nil keys in `args[1..n]`
local function path_length(args)
  local n = 0
  while n < args.n and args[n + 1] ~= nil do
    n = n + 1
  end
  return n
end

-- the value at a path; nothing when even its first key is unset
local function lookup(...)
  local args = table.pack(...)
  local top = store[args[1]]
  if top == nil then
    return
  end
  return descend(top, args, 2, path_length(args))
end

-- The WAITs parked at exactly the path `args[1..args.n-1]` (args.n is the
-- new value). The walk follows the arguments as they come, value included,
-- so a branch at the end of the path is looked into with the value as key.
-- A leaf met before the end of the arguments is one whose path lies above
-- the stored value: its waiters are failed and nothing is returned.
local function collect_waits(args)
  -- follow the branches the arguments name, down to a leaf or a gap
  local parent, node, depth = nil, pending, 0
  repeat
    depth = depth + 1
    local key = args[depth]
    if key == nil then
      return
    end
    parent, node = node, node[key]
  until node == nil or node[KIND] == "leaf"
  if node == nil then
    return
  end
  parent[args[depth]] = nil
  if depth + 1 == args.n then
    return node
  end
  for _, respond in ipairs(node) do
    respond(false)
  end
end

-- Store the last argument at the path given by the others (with a single
-- argument, that is the path and the value is nil). Missing tables on the
-- way are made. Returns the previous value and the stored one.
local function assign(args)
  local last = math.max(args.n - 1, 1)
  local value = args[last + 1]
  local node = store
  for i = 1, last - 1 do
    local key = args[i]
    local child = node[key]
    if child == nil then
      child = {}
      node[key] = child
    end
    node = child
  end
  local key = args[last]
  local previous = node[key]
  node[key] = value
  return previous, value
end

-- The node of `kind` under `key`, made if missing; a node of the other
-- kind there fails the request.
local function wait_node(parent, key, kind)
  local node = parent[key]
  if node == nil then
    node = { [KIND] = kind }
    parent[key] = node
  end
  assert(node[KIND] == kind)
  return node
end

-- Park the caller's response at the path of the arguments (up to the first
-- nil after the first key), making branches on the way.
local function park(...)
  local args = table.pack(...)
  local node, i = pending, 1
  while args[i + 1] ~= nil do
    node = wait_node(node, args[i], "branch")
    i = i + 1
  end
  local leaf = wait_node(node, args[i], "leaf")
  leaf[#leaf + 1] = skynet.response()
end

-- Each handler answers its request itself (a WAIT may answer later).
local handlers = {}

function handlers.QUERY(...)
  skynet.ret(skynet.pack(lookup(...)))
end

function handlers.UPDATE(...)
  local args = table.pack(...)
  local previous, value = assign(args)
  if previous == nil and value ~= nil then
    -- a fresh value: whoever waits for exactly this path gets it
    local waits = collect_waits(args)
    for _, respond in ipairs(waits or {}) do
      respond(true, value)
    end
    skynet.ret(skynet.pack())
  else
    skynet.ret(skynet.pack(previous))
  end
end

function handlers.WAIT(...)
  local value = lookup(...)
  if value == nil then
    park(...)
  else
    skynet.ret(skynet.pack(value))
  end
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, request, ...)
    local handler = assert(handlers[request])
    handler(...)
  end)
end)

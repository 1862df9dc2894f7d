-- multicastd — keeps the multicast channels of this node.
--
-- Stands for the reference's service/multicastd.lua (unique, started by
-- skynet.multicast). A channel id's low byte is the harbor id of the node
-- that made it (its owner). Local subscribers of a channel get each
-- publication as one shared package (skynet.multicast.core): multicastd
-- binds the package to the number of subscribers and sends each one the
-- 8-byte package name, with the channel id as session. Nodes that have
-- subscribers of a channel owned elsewhere subscribe to the owner (SUBR),
-- which forwards publications to their multicastd as plain copies; every
-- multicastd is found through datacenter key ("multicast", harbor id).
-- Commands (lua protocol):
--   NEW -> id               DEL id (forwarded to the owner; owner tells DELR)
--   PUB id box size         SUB id / USUB id (a local service)
--   SUBR id -> true if there is no such channel / USUBR id (another node)

local skynet = require "skynet"
local mc = require "skynet.multicast.core"
local datacenter = require "skynet.datacenter"

local harbor_id = skynet.harbor(skynet.self())

local members = {} -- channel id -> { [service] = true }
local member_count = {} -- channel id -> number of members
local remote_nodes = {} -- channel id (owned here) -> { [harbor id] = true }
local next_id = harbor_id

local NORET = {}

-- multicastd of another node, looked up once
local peers = setmetatable({}, {
  __index = function(t, node)
    local addr = assert(datacenter.get("multicast", node))
    t[node] = addr
    return addr
  end,
})

local function owner(id)
  return id % 256
end

local function drop_channel(id)
  members[id] = nil
  member_count[id] = nil
end

local command = {}

function command.NEW()
  while members[next_id] do
    next_id = mc.nextid(next_id)
  end
  local id = next_id
  members[id] = {}
  member_count[id] = 0
  next_id = mc.nextid(next_id)
  return id
end

-- the owner deleted a channel this node mirrors
function command.DELR(_, id)
  drop_channel(id)
  return NORET
end

function command.DEL(_, id)
  local node = owner(id)
  if node ~= harbor_id then
    skynet.send(peers[node], "lua", "DEL", id)
    return NORET
  end
  local nodes = remote_nodes[id]
  drop_channel(id)
  remote_nodes[id] = nil
  if nodes then
    for n in pairs(nodes) do
      skynet.send(peers[n], "lua", "DELR", id)
    end
  end
  return NORET
end

-- another node's multicastd gets a plain copy; the channel id rides as the
-- session of a multicast message
local function forward(node, id, source, ...)
  skynet.redirect(peers[node], source, "multicast", id, ...)
end

-- sends the package in `box` to the subscribers of channel `id`
local function publish(id, source, box, size)
  local nodes = remote_nodes[id]
  if nodes then
    local _, msg, sz = mc.unpack(box, size)
    local copy = skynet.tostring(msg, sz)
    for node in pairs(nodes) do
      forward(node, id, source, copy)
    end
  end
  local group = members[id]
  if group == nil or next(group) == nil then
    -- nobody listens (or the channel is gone): free the package now
    mc.close(mc.bind(box, 1))
    return
  end
  local name = skynet.tostring(box, size) -- the 8 bytes naming the package
  local pack = mc.bind(box, member_count[id])
  for service in pairs(group) do
    if not skynet.redirect(service, source, "multicast", id, name) then
      -- a subscriber that is gone will never release its reference
      mc.close(pack)
    end
  end
end

skynet.register_protocol {
  name = "multicast",
  id = skynet.PTYPE_MULTICAST,
  unpack = mc.packremote,
  dispatch = function(id, source, box, size)
    skynet.ignoreret()
    publish(id, source, box, size)
  end,
}

function command.PUB(source, id, box, size)
  assert(skynet.harbor(source) == harbor_id)
  local node = owner(id)
  if node ~= harbor_id then
    forward(node, id, source, mc.remote(box))
  else
    publish(id, source, box, size)
  end
end

-- a node subscribes to a channel owned here
function command.SUBR(source, id)
  if not members[id] then
    return true
  end
  local node = skynet.harbor(source)
  assert(node ~= harbor_id and owner(id) == harbor_id)
  local nodes = remote_nodes[id]
  if nodes == nil then
    nodes = {}
    remote_nodes[id] = nodes
  end
  nodes[node] = true
end

function command.SUB(source, id)
  local node = owner(id)
  if node ~= harbor_id and members[id] == nil then
    if skynet.call(peers[node], "lua", "SUBR", id) then
      return -- no such channel
    end
    -- the call yielded: another SUB may have made the mirror meanwhile
    if members[id] == nil then
      members[id] = {}
      member_count[id] = 0
    end
  end
  local group = members[id]
  if group and not group[source] then
    group[source] = true
    member_count[id] = member_count[id] + 1
  end
end

function command.USUBR(source, id)
  local node = skynet.harbor(source)
  assert(node ~= harbor_id)
  local nodes = assert(remote_nodes[id])
  nodes[node] = nil
  return NORET
end

function command.USUB(source, id)
  local group = assert(members[id])
  if group[source] then
    group[source] = nil
    local n = member_count[id] - 1
    member_count[id] = n
    local node = owner(id)
    if n == 0 and node ~= harbor_id then
      drop_channel(id)
      skynet.send(peers[node], "lua", "USUBR", id)
    end
  end
  return NORET
end

skynet.start(function()
  skynet.dispatch("lua", function(_, source, cmd, ...)
    local f = assert(command[cmd])
    local result = f(source, ...)
    if result ~= NORET then
      skynet.ret(skynet.pack(result))
    end
  end)
  assert(datacenter.set("multicast", harbor_id, skynet.self()) == nil)
end)

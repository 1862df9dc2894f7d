-- multicastd — keeps the multicast channels of this node.
--
-- Stands for the reference's service/multicastd.lua (unique, started by
-- skynet.multicast). A channel id's low byte is the harbor id of the node
-- that made it, its owner. Local subscribers get each publication as one
-- shared package (skynet.multicast.core): the package is bound to the
-- number of subscribers and each one is sent its 8-byte name, with the
-- channel id as session. A node with subscribers of a channel owned
-- elsewhere keeps a mirror of it and is listed at the owner (SUBR); the
-- owner forwards publications to the multicastd of every listed node as
-- plain copies. Every multicastd is found through the datacenter key
-- ("multicast", harbor id).
-- Requests (lua protocol; the source is the requesting service):
--   NEW -> id                  DEL id (the owner tells the mirrors: DELR id)
--   PUB id box size            SUB id / USUB id (a local subscriber)
--   SUBR id -> true if no such channel, USUBR id (a node, at the owner)

local skynet = require "skynet"
local datacenter = require "skynet.datacenter"
local mc = require "skynet.multicast.core"

local here -- this node's harbor id (known from the start on)

-- channel id -> { subscribers = { [service] = true }, count = n,
--                 mirrors = { [harbor id] = true } (owner only, once a node
--                 subscribed) }
local channels = {}
local last_id -- the id NEW gave out last

-- request name -> function(source, ...); what it returns is the answer,
-- except SILENT: the request was a send and gets none
local requests = {}
local SILENT = {}

-- the multicastd of another node, asked for once
local peer_cache = {}
local function peer(node)
  local addr = peer_cache[node]
  if addr == nil then
    addr = assert(datacenter.get("multicast", node))
    peer_cache[node] = addr
  end
  return addr
end

local function owned_elsewhere(id)
  local node = id % 256
  return node ~= here, node
end

local function open_channel(id)
  local ch = { subscribers = {}, count = 0 }
  channels[id] = ch
  return ch
end

-- Sends a publication of channel `id` (its package in `box`) on: a plain
-- copy to each mirroring node, the package to each local subscriber.
local function deliver(id, source, box, size)
  local ch = channels[id]
  if ch and ch.mirrors then
    -- another node cannot read our package: give it the bytes
    local _, data, len = mc.unpack(box, size)
    local copy = skynet.tostring(data, len)
    for node in pairs(ch.mirrors) do
      skynet.redirect(peer(node), source, "multicast", id, copy)
    end
  end
  if ch == nil or ch.count == 0 then
    -- nobody here reads it (or the channel is gone): free it now
    mc.close(mc.bind(box, 1))
    return
  end
  local name = skynet.tostring(box, size) -- the package's 8-byte name
  local package = mc.bind(box, ch.count)
  for subscriber in pairs(ch.subscribers) do
    if not skynet.redirect(subscriber, source, "multicast", id, name) then
      -- a subscriber that is gone would never drop its reference
      mc.close(package)
    end
  end
end

function requests.NEW()
  local id = last_id and mc.nextid(last_id) or here
  while channels[id] do
    id = mc.nextid(id)
  end
  open_channel(id)
  last_id = id
  return id
end

function requests.PUB(source, id, box, size)
  assert(skynet.harbor(source) == here)
  local elsewhere, node = owned_elsewhere(id)
  if elsewhere then
    -- the owner publishes it (to us too, if we mirror the channel)
    skynet.redirect(peer(node), source, "multicast", id, mc.remote(box))
  else
    deliver(id, source, box, size)
  end
end

function requests.SUB(source, id)
  local ch = channels[id]
  local elsewhere, node = owned_elsewhere(id)
  if ch == nil and elsewhere then
    if skynet.call(peer(node), "lua", "SUBR", id) then
      return -- the owner has no such channel
    end
    -- another SUB may have made the mirror while the call was out
    ch = channels[id] or open_channel(id)
  end
  if ch and not ch.subscribers[source] then
    ch.subscribers[source] = true
    ch.count = ch.count + 1
  end
end

function requests.USUB(source, id)
  local ch = assert(channels[id])
  if not ch.subscribers[source] then
    return SILENT
  end
  ch.subscribers[source] = nil
  ch.count = ch.count - 1
  local elsewhere, node = owned_elsewhere(id)
  if elsewhere and ch.count == 0 then
    -- the last local subscriber of a mirror left: stop mirroring
    channels[id] = nil
    skynet.send(peer(node), "lua", "USUBR", id)
  end
  return SILENT
end

function requests.DEL(_, id)
  local elsewhere, node = owned_elsewhere(id)
  if elsewhere then
    skynet.send(peer(node), "lua", "DEL", id)
    return SILENT
  end
  local ch = channels[id]
  channels[id] = nil
  for mirror in pairs(ch and ch.mirrors or {}) do
    skynet.send(peer(mirror), "lua", "DELR", id)
  end
  return SILENT
end

-- harbor id of the node that sent a SUBR / USUBR: never this one
local function sender_node(source)
  local node = skynet.harbor(source)
  assert(node ~= here)
  return node
end

-- from another node: it mirrors channel `id`, owned here
function requests.SUBR(source, id)
  local ch = channels[id]
  if ch == nil then
    return true
  end
  local node = sender_node(source)
  assert(not owned_elsewhere(id))
  ch.mirrors = ch.mirrors or {}
  ch.mirrors[node] = true
end

-- from another node: it stopped mirroring channel `id`
function requests.USUBR(source, id)
  local node = sender_node(source)
  local ch = channels[id]
  assert(ch and ch.mirrors)[node] = nil
  return SILENT
end

-- from the owner: channel `id`, mirrored here, was deleted
function requests.DELR(_, id)
  channels[id] = nil
  return SILENT
end

-- A publication forwarded by another node: it came as a plain copy, which
-- the protocol's unpack (mc.packremote) made a package of this node.
local function on_forwarded(id, source, box, size)
  skynet.ignoreret()
  deliver(id, source, box, size)
end

local PROTOCOL = { name = "multicast", id = skynet.PTYPE_MULTICAST }
PROTOCOL.unpack, PROTOCOL.dispatch = mc.packremote, on_forwarded
skynet.register_protocol(PROTOCOL)

skynet.start(function()
  local me = skynet.self()
  here = skynet.harbor(me)
  skynet.dispatch("lua", function(_, source, request, ...)
    local answer = assert(requests[request])(source, ...)
    if answer ~= SILENT then
      skynet.retpack(answer)
    end
  end)
  assert(datacenter.set("multicast", here, me) == nil)
end)

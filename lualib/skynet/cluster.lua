-- skynet.cluster — talk to services of other skynet nodes over TCP.
--
-- Stands for the reference's lualib/skynet/cluster.lua. Node names map to
-- addresses in clusterd (the `cluster` config file, or cluster.reload); each
-- node gets one clustersender service, asked of clusterd the first time the
-- node is used. Calls and sends made while that question is under way wait
-- in a per-node queue and go out in the order they were made.
--
--   cluster.call(node, address, ...)   a request; returns the answer
--   cluster.send(node, address, ...)   a push, no answer
--   cluster.open(name_or_port [, maxclient])  listen for other nodes
--   cluster.reload([config])           re-read / replace node addresses
--   cluster.proxy(node, name)          a local service standing for a remote one
--   cluster.snax(node, name [, address])  a snax object of a remote service
--   cluster.register(name [, addr]) / cluster.unregister(name)
--   cluster.query(node, name)          the address registered under `name`
-- An address is a handle number, a ".local" name or an "@registered" name.

local skynet = require "skynet"

local clusterd -- the clusterd service (set at init)
local cluster = {}
local senders = {} -- node -> clustersender handle, once known
local waiting = {} -- node -> queue of calls / sends while asking for its sender

-- `addr, msg, sz` from an address and the values to pack
local function with_message(addr, ...)
  return addr, skynet.pack(...)
end

-- Asks clusterd for the sender of `node`, then lets the queued work run, in
-- order: a string is a packed send, a coroutine a waiting call (which wakes
-- this one again once it has its sender).
local function resolve(node, queue)
  local ok, sender = pcall(skynet.call, clusterd, "lua", "sender", node)
  if not ok then
    skynet.error(sender)
    sender = nil
  end
  local me = coroutine.running()
  queue.resolver = me
  queue.sender = sender
  local i = 1
  while queue[i] do
    local task = queue[i]
    if type(task) == "string" then
      if sender then
        skynet.send(sender, "lua", "push", with_message(skynet.unpack(task)))
      end
    else
      skynet.wakeup(task)
      skynet.wait(me)
    end
    i = i + 1
  end
  waiting[node] = nil
  senders[node] = sender
end

local function queue_of(node)
  local queue = waiting[node]
  if not queue then
    queue = {}
    waiting[node] = queue
    skynet.fork(resolve, node, queue)
  end
  return queue
end

-- The sender of `node` (nil when clusterd could not give one).
local function get_sender(node)
  local sender = senders[node]
  if sender then
    return sender
  end
  local queue = queue_of(node)
  local co = coroutine.running()
  queue[#queue + 1] = co
  skynet.wait(co)
  -- our turn: let the resolver go on with the queue
  skynet.wakeup(queue.resolver)
  return queue.sender
end

cluster.get_sender = get_sender

function cluster.call(node, address, ...)
  local sender = senders[node]
  if sender then
    return skynet.call(sender, "lua", "req", address, skynet.pack(...))
  end
  -- keep a copy of the arguments while waiting for the sender
  local task = skynet.packstring(address, ...)
  return skynet.call(get_sender(node), "lua", "req", with_message(skynet.unpack(task)))
end

function cluster.send(node, address, ...)
  local sender = senders[node]
  if sender then
    skynet.send(sender, "lua", "push", address, skynet.pack(...))
  else
    local queue = queue_of(node)
    queue[#queue + 1] = skynet.packstring(address, ...)
  end
end

function cluster.open(port, maxclient)
  if type(port) == "string" then
    -- a node name of the cluster config
    return skynet.call(clusterd, "lua", "listen", port, nil, maxclient)
  end
  return skynet.call(clusterd, "lua", "listen", "0.0.0.0", port, maxclient)
end

function cluster.reload(config)
  skynet.call(clusterd, "lua", "reload", config)
end

function cluster.proxy(node, name)
  return skynet.call(clusterd, "lua", "proxy", node, name)
end

function cluster.snax(node, name, address)
  local snax = require "skynet.snax"
  if not address then
    address = cluster.call(node, ".service", "QUERY", "snaxd", name)
  end
  local handle = skynet.call(clusterd, "lua", "proxy", node, address)
  return snax.bind(handle, name)
end

function cluster.register(name, addr)
  assert(type(name) == "string")
  assert(addr == nil or type(addr) == "number")
  return skynet.call(clusterd, "lua", "register", name, addr)
end

function cluster.unregister(name)
  assert(type(name) == "string")
  return skynet.call(clusterd, "lua", "unregister", name)
end

function cluster.query(node, name)
  -- address 0 asks the peer's registered names
  return skynet.call(get_sender(node), "lua", "req", 0, skynet.pack(name))
end

skynet.init(function()
  clusterd = skynet.uniqueservice("clusterd")
end)

return cluster

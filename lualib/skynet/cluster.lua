-- skynet.cluster — talk to services of other skynet nodes over TCP.
--
-- Stands for the reference's lualib/skynet/cluster.lua. Node names map to
-- addresses in clusterd (the `cluster` config file, or cluster.reload); each
-- node has one clustersender service, which this module asks clusterd for
-- the first time the node is used and then remembers. Work on a node whose
-- sender is still being asked for waits in a line and goes out in the order
-- it was made once the answer is there.
--
--   cluster.call(node, address, ...)   a request; returns the answer
--   cluster.send(node, address, ...)   a push, no answer
--   cluster.open(name_or_port [, maxclient])  listen for other nodes
--   cluster.reload([config])           re-read / replace node addresses
--   cluster.proxy(node, name)          a local service standing for a remote one
--   cluster.snax(node, name [, address])  a snax object of a remote service
--   cluster.register(name [, addr]) / cluster.unregister(name)
--   cluster.query(node, name)          the address registered under `name`
--   cluster.get_sender(node)           the clustersender of `node` (or nil)
-- An address is a handle number, a ".local" name or an "@registered" name.

local skynet = require "skynet"

local M = {}

local manager -- clusterd, found at init
local known = {} -- node -> its clustersender
-- node -> the line of work waiting for its sender: an array of jobs (each
-- job a function of the sender, run by the coroutine that asked clusterd),
-- with `.handle` (the answer) and `.runner` (that coroutine) once known.
local lines = {}

local function manage(cmd, ...)
  return skynet.call(manager, "lua", cmd, ...)
end

-- A copy of the arguments of a call or send that has to wait: kept as a
-- string, so that nothing is held in C memory meanwhile.
local function keep(address, ...)
  return skynet.packstring(address, ...)
end

-- `address, msg, sz` again from what `keep` made.
local function release(kept)
  local function split(address, ...)
    return address, skynet.pack(...)
  end
  return split(skynet.unpack(kept))
end

-- Runs in its own coroutine: asks clusterd, then works through the line
-- (which may grow meanwhile), and last makes the answer the known one.
local function serve_line(node, line)
  local ok, handle = pcall(manage, "sender", node)
  if not ok then
    skynet.error(handle)
    handle = nil
  end
  line.handle = handle
  line.runner = coroutine.running()
  local i = 1
  while line[i] do
    line[i](handle)
    i = i + 1
  end
  lines[node] = nil
  known[node] = handle
end

local function enqueue(node, job)
  local line = lines[node]
  if line == nil then
    line = {}
    lines[node] = line
    skynet.fork(serve_line, node, line)
  end
  line[#line + 1] = job
  return line
end

-- The sender of `node`; may wait for clusterd. nil when clusterd said no.
function M.get_sender(node)
  local handle = known[node]
  if handle then
    return handle
  end
  local me = coroutine.running()
  local line
  -- the job hands the line over to this coroutine and waits until the
  -- work this coroutine does with the sender has gone out
  line = enqueue(node, function()
    skynet.wakeup(me)
    skynet.wait(line.runner)
  end)
  skynet.wait(me)
  skynet.wakeup(line.runner)
  return line.handle
end

function M.call(node, address, ...)
  local handle = known[node]
  if handle == nil then
    local kept = keep(address, ...)
    return skynet.call(M.get_sender(node), "lua", "req", release(kept))
  end
  return skynet.call(handle, "lua", "req", address, skynet.pack(...))
end

function M.send(node, address, ...)
  local handle = known[node]
  if handle then
    skynet.send(handle, "lua", "push", address, skynet.pack(...))
    return
  end
  local kept = keep(address, ...)
  enqueue(node, function(sender)
    -- with no sender the push is dropped, as a send has nobody to tell
    if sender then
      skynet.send(sender, "lua", "push", release(kept))
    end
  end)
end

function M.query(node, name)
  -- address 0 asks the peer node for one of its registered names
  return skynet.call(M.get_sender(node), "lua", "req", 0, skynet.pack(name))
end

function M.open(port, maxclient)
  if type(port) ~= "string" then
    return manage("listen", "0.0.0.0", port, maxclient)
  end
  -- a node name: listen on its address in the node table
  return manage("listen", port, nil, maxclient)
end

function M.reload(config)
  manage("reload", config)
end

function M.proxy(node, name)
  return manage("proxy", node, name)
end

function M.snax(node, name, address)
  local snax = require "skynet.snax"
  address = address or M.call(node, ".service", "QUERY", "snaxd", name)
  return snax.bind(manage("proxy", node, address), name)
end

function M.register(name, addr)
  assert(type(name) == "string")
  assert(addr == nil or type(addr) == "number")
  return manage("register", name, addr)
end

function M.unregister(name)
  assert(type(name) == "string")
  return manage("unregister", name)
end

skynet.init(function()
  manager = skynet.uniqueservice("clusterd")
end)

return M

-- clusterd — the node's cluster manager (one per node, a uniqueservice).
--
-- Stands for the reference's service/clusterd.lua. It owns
--   * one record per known node name: its address ("host:port", or false
--     while the node is down), its clustersender, and the link state. The
--     table comes from the file named by the `cluster` config key and is
--     changed by `reload`; keys starting with "__" are options
--     (`__nowaiting`: do not wait for names the table lacks);
--   * the listening gates (`listen`) and one clusteragent per accepted
--     connection;
--   * the names other nodes may use as "@name" (`register`);
--   * the clusterproxy services (`proxy`).
-- Commands (lua protocol): reload, listen, sender, senders, proxy, register,
-- unregister, queryname, and the gate's "socket" reports.

local skynet = require "skynet"
require "skynet.manager"
local core = require "skynet.cluster.core"

local self_name = core.nodename()
local table_file = skynet.getenv "cluster"

local options = {} -- the "__xxx" entries of the node table, keyed "xxx"

-- name -> {
--   address = "host:port" | false | nil (not in the table),
--   sender  = the clustersender, once started,
--   off     = true once the sender was told to close (node down),
--   link    = the sender, while it is pointed at `address`,
--   attempt = the connection attempt under way: an array of coroutines
--             waiting for it, `.link` (its result), `.namequery` (the
--             coroutine waiting for the name to appear in the table)
-- }
local nodes = {}

local function node_record(name)
  local rec = nodes[name]
  if rec == nil then
    rec = {}
    nodes[name] = rec
  end
  return rec
end

-- Starts a service for `owner[field]` unless it has one. Another coroutine
-- may have filled the field while the launch was under way: then that one
-- is kept and the new service stopped.
local function launch_once(owner, field, ...)
  local existing = owner[field]
  if existing then
    return existing
  end
  local fresh = skynet.newservice(...)
  if owner[field] then
    skynet.kill(fresh)
    return owner[field]
  end
  owner[field] = fresh
  return fresh
end

------------------------------------------------------------------------
-- links to other nodes

-- Points the node's sender at `address` (starting the sender first).
local function link_up(name, rec, address)
  local sender = launch_once(rec, "sender", "clustersender", name, self_name, address)
  if not pcall(skynet.call, sender, "lua", "changenode", address) then
    return false, string.format("changenode [%s] (%s) failed", name, address)
  end
  rec.off = nil
  return true, sender
end

-- The node is down: closes its sender, if it has an open one.
local function link_down(rec)
  local sender = rec.sender
  if sender and not rec.off then
    local ok, err = pcall(skynet.call, sender, "lua", "changenode", false)
    if not ok then
      return false, err
    end
    rec.off = true
  end
  return true, sender
end

local function try_link(name, rec, address)
  if address then
    return link_up(name, rec, address)
  elseif address == false then
    return link_down(rec)
  end
  return false, string.format("cluster node [%s] is absent.", name)
end

-- Waits for the attempt under way, and for every attempt a reload starts
-- after it; gives the sender the last one produced.
local function follow_attempts(rec)
  local me = coroutine.running()
  local produced
  repeat
    local attempt = rec.attempt
    attempt[#attempt + 1] = me
    skynet.wait(me)
    produced = attempt.link
  until rec.attempt == nil
  return assert(rec.address and produced)
end

-- The sender of node `name`, connected to the node's address; raises an
-- error when the node is unknown, down, or cannot be reached.
local function open_link(name)
  local rec = node_record(name)
  if rec.attempt then
    return follow_attempts(rec)
  end
  local attempt = {}
  rec.attempt = attempt
  if rec.address == nil and not options.nowaiting then
    -- not in the table (yet): a reload may name it
    attempt.namequery = coroutine.running()
    skynet.error("Waiting for cluster node [" .. name .. "]")
    skynet.wait(attempt.namequery)
  end
  local address = rec.address
  local ok, result = try_link(name, rec, address)
  if ok and address then
    rec.link = result
    attempt.link = result
  end
  rec.attempt = nil
  for _, co in ipairs(attempt) do
    skynet.wakeup(co)
  end
  if rec.address ~= address then
    -- the table changed while this attempt ran: try again
    return open_link(name)
  end
  assert(ok, result)
  return result
end

------------------------------------------------------------------------
-- the node table

-- The node table file runs as a chunk whose globals are the entries.
local function read_table_file()
  local entries = {}
  if not table_file then
    return entries
  end
  -- io.open first: a missing file fails with the usual "name: reason"
  assert(io.open(table_file)):close()
  assert(loadfile(table_file, "t", entries))()
  return entries
end

-- Applies one entry; returns true when the node's sender must reconnect.
local function apply_entry(name, value)
  if name:sub(1, 2) == "__" then
    local key = name:sub(3)
    options[key] = value
    skynet.error(string.format("Config %s = %s", key, value))
    return false
  end
  assert(value == false or type(value) == "string")
  local rec = node_record(name)
  local relink = false
  if rec.address ~= value then
    rec.address = value
    if rec.sender then
      rec.link = nil
      relink = true
    end
  end
  local attempt = rec.attempt
  if attempt and attempt.namequery and not options.nowaiting then
    skynet.error(string.format("Cluster node [%s] resolved : %s", name, value))
    skynet.wakeup(attempt.namequery)
  end
  return relink
end

local function apply_table(entries)
  local relink = {}
  for name, value in pairs(entries or read_table_file()) do
    if apply_entry(name, value) then
      relink[#relink + 1] = name
    end
  end
  if options.nowaiting then
    -- nobody waits for a name any more
    for _, rec in pairs(nodes) do
      if rec.attempt and rec.attempt.namequery then
        skynet.wakeup(rec.attempt.namequery)
      end
    end
  end
  for _, name in ipairs(relink) do
    -- open_link blocks: each in a coroutine of its own
    skynet.fork(open_link, name)
  end
end

------------------------------------------------------------------------
-- connections from other nodes, and the names they may ask for

local agents = {} -- fd -> its clusteragent, once started
-- fd -> "starting" while its agent starts, "closed" when the connection
-- went away during that start
local launching = {}
local handle_of = {} -- registered name -> handle
local name_of = {} -- handle -> registered name

-- the agents cache "@name" lookups
local function names_changed()
  for _, agent in pairs(agents) do
    skynet.send(agent, "lua", "namechange")
  end
end

local function forget_name(name)
  local handle = handle_of[name]
  handle_of[name] = nil
  name_of[handle] = nil
  names_changed()
  return handle
end

local socket_event = {}

function socket_event.open(gate, fd, peer)
  skynet.error(string.format("socket accept from %s", peer))
  launching[fd] = "starting"
  local agent = skynet.newservice("clusteragent", skynet.self(), gate, fd)
  local state = launching[fd]
  launching[fd] = nil
  if state == "closed" then
    skynet.send(agent, "lua", "exit")
  else
    agents[fd] = agent
  end
end

function socket_event.close(_, fd)
  local agent = agents[fd]
  if agent then
    agents[fd] = nil
    skynet.send(agent, "lua", "exit")
  elseif launching[fd] then
    launching[fd] = "closed"
  end
end

socket_event.error = socket_event.close

------------------------------------------------------------------------
-- commands

local proxies = {} -- "node.name" -> clusterproxy
local handlers = {}

function handlers.reload(_, entries)
  apply_table(entries)
  skynet.retpack(nil)
end

function handlers.sender(_, name)
  local rec = nodes[name]
  skynet.retpack(rec and rec.link or open_link(name))
end

function handlers.senders()
  local list = {}
  for name, rec in pairs(nodes) do
    list[name] = rec.sender
  end
  skynet.retpack(list)
end

function handlers.listen(_, host, port, maxclient)
  local by_name = port == nil -- `host` names a node of the table
  local conf = { address = host, port = port, maxclient = maxclient }
  local gate = skynet.newservice("gate")
  if by_name then
    local rec = nodes[host]
    conf.address = assert(rec and rec.address, host .. " is down")
  end
  local bound_host, bound_port = skynet.call(gate, "lua", "open", conf)
  if by_name then
    bound_host, bound_port = host, nil
  end
  skynet.retpack(bound_host, bound_port)
end

function handlers.proxy(_, node, name)
  if name == nil then
    -- one string: "node@name" or "node.name"
    local head, tail = node:match "^([^@.]+)([@.].+)"
    if tail == nil then
      error("Invalid name " .. tostring(head))
    end
    node, name = head, tail
  end
  skynet.retpack(launch_once(proxies, node .. "." .. name, "clusterproxy", node, name))
end

-- A service has one name: taking a new one drops its old one.
local function bind(name, addr)
  local previous = name_of[addr]
  if previous then
    forget_name(previous)
  end
  handle_of[name] = addr
  name_of[addr] = name
end

function handlers.register(source, name, addr)
  assert(handle_of[name] == nil)
  local who = addr or source
  bind(name, who)
  skynet.ret(nil)
  skynet.error(string.format("Register [%s] :%08x", name, who))
end

function handlers.unregister(_, name)
  if handle_of[name] == nil then
    return skynet.ret(nil)
  end
  local addr = forget_name(name)
  skynet.ret(nil)
  skynet.error(string.format("Unregister [%s] :%08x", name, addr))
end

function handlers.queryname(_, name)
  skynet.retpack(handle_of[name])
end

-- reports of the gates started by `listen`
function handlers.socket(gate, event, fd, msg)
  local on = socket_event[event]
  if on then
    on(gate, fd, msg)
  else
    skynet.error(string.format("socket %s %d %s", event, fd, msg or ""))
  end
end

skynet.start(function()
  apply_table()
  skynet.dispatch("lua", function(_, source, cmd, ...)
    assert(handlers[cmd])(source, ...)
  end)
end)

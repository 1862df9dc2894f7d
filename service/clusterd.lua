-- clusterd — the node's cluster manager (one per node, a uniqueservice).
--
-- Stands for the reference's service/clusterd.lua. It keeps
--   * the node table: name -> "host:port" (false: the node is down), read
--     from the file named by the `cluster` config key and changed by
--     `reload`; keys starting with "__" are options (`__nowaiting`);
--   * one clustersender per remote node, (re)pointed at the node's address;
--   * the listening gates (`listen`) and one clusteragent per accepted
--     connection;
--   * the names other nodes may use as "@name" (`register`).
-- Commands (lua protocol): reload, listen, sender, senders, proxy, register,
-- unregister, queryname, and the gate's "socket" reports.

local skynet = require "skynet"
require "skynet.manager"
local core = require "skynet.cluster.core"

local config_file = skynet.getenv "cluster"
local nodename = core.nodename()
local node_address = {} -- name -> address string, or false
local node_sender = {} -- name -> clustersender
local sender_closed = {} -- name -> true once its sender was turned off
local options = {} -- "__xxx" keys of the config, without the "__"
local connecting = {} -- name -> { waiting coroutines..., namequery = co, channel = sender }
local command = {}

local node_channel -- name -> a connected sender (filled on demand)

-- Waits for the connection attempt of another coroutine (and for any
-- attempt a reload started meanwhile); returns the sender it gave.
local function wait_connecting(name, attempt)
  local co = coroutine.running()
  local channel
  while attempt do
    attempt[#attempt + 1] = co
    skynet.wait(co)
    channel = attempt.channel
    attempt = connecting[name]
  end
  return assert(node_address[name] and channel)
end

-- Points the sender of `name` at `address`; returns ok, sender or error.
local function connect_sender(name, address)
  local sender = node_sender[name]
  if sender == nil then
    sender = skynet.newservice("clustersender", name, nodename, address)
    if node_sender[name] then
      -- another coroutine made one while this one was launched
      skynet.kill(sender)
      sender = node_sender[name]
    else
      node_sender[name] = sender
    end
  end
  if pcall(skynet.call, sender, "lua", "changenode", address) then
    sender_closed[name] = nil
    return true, sender
  end
  return false, string.format("changenode [%s] (%s) failed", name, address)
end

-- Turns the sender of a node marked down off; returns ok, sender or error.
local function close_sender(name)
  local sender = node_sender[name]
  if sender == nil or sender_closed[name] then
    return true, sender
  end
  local ok, err = pcall(skynet.call, sender, "lua", "changenode", false)
  if ok then
    sender_closed[name] = true
  end
  return ok, ok and sender or err
end

local function open_channel(t, name)
  local attempt = connecting[name]
  if attempt then
    return wait_connecting(name, attempt)
  end
  attempt = {}
  connecting[name] = attempt
  local address = node_address[name]
  if address == nil and not options.nowaiting then
    -- unknown yet: wait for a reload that names it
    attempt.namequery = coroutine.running()
    skynet.error("Waiting for cluster node [" .. name .. "]")
    skynet.wait(attempt.namequery)
    address = node_address[name]
  end
  local ok, result
  if address then
    ok, result = connect_sender(name, address)
    if ok then
      t[name] = result
      attempt.channel = result
    end
  elseif address == false then
    ok, result = close_sender(name)
  else
    ok, result = false, string.format("cluster node [%s] is absent.", name)
  end
  connecting[name] = nil
  for _, co in ipairs(attempt) do
    skynet.wakeup(co)
  end
  if node_address[name] ~= address then
    -- reloaded while connecting: try the new address
    return open_channel(t, name)
  end
  assert(ok, result)
  return result
end

node_channel = setmetatable({}, { __index = open_channel })

local function load_file()
  local t = {}
  if config_file then
    local f = assert(io.open(config_file))
    local source = f:read "*a"
    f:close()
    assert(load(source, "@" .. config_file, "t", t))()
  end
  return t
end

local function loadconfig(new)
  new = new or load_file()
  local changed = {}
  for name, address in pairs(new) do
    if name:sub(1, 2) == "__" then
      local opt = name:sub(3)
      options[opt] = address
      skynet.error(string.format("Config %s = %s", opt, address))
    else
      assert(address == false or type(address) == "string")
      if node_address[name] ~= address then
        if node_sender[name] then
          -- a sender exists: reconnect it to the new address
          node_channel[name] = nil
          changed[#changed + 1] = name
        end
        node_address[name] = address
      end
      local attempt = connecting[name]
      if attempt and attempt.namequery and not options.nowaiting then
        skynet.error(string.format("Cluster node [%s] resolved : %s", name, address))
        skynet.wakeup(attempt.namequery)
      end
    end
  end
  if options.nowaiting then
    -- nobody waits for names any more
    for _, attempt in pairs(connecting) do
      if attempt.namequery then
        skynet.wakeup(attempt.namequery)
      end
    end
  end
  for _, name in ipairs(changed) do
    skynet.fork(open_channel, node_channel, name)
  end
end

function command.reload(source, config)
  loadconfig(config)
  skynet.ret(skynet.pack(nil))
end

function command.listen(source, addr, port, maxclient)
  local gate = skynet.newservice("gate")
  if port == nil then
    -- `addr` is a node name: listen on its configured address
    local address = assert(node_address[addr], addr .. " is down")
    skynet.call(gate, "lua", "open", { address = address, port = port, maxclient = maxclient })
    skynet.ret(skynet.pack(addr, port))
  else
    local realaddr, realport = skynet.call(gate, "lua", "open",
      { address = addr, port = port, maxclient = maxclient })
    skynet.ret(skynet.pack(realaddr, realport))
  end
end

function command.sender(source, node)
  skynet.ret(skynet.pack(node_channel[node]))
end

function command.senders(source)
  skynet.retpack(node_sender)
end

local proxies = {} -- "node.name" -> clusterproxy

function command.proxy(source, node, name)
  if name == nil then
    -- "node@name" or "node.name"
    node, name = node:match "^([^@.]+)([@.].+)"
    if name == nil then
      error("Invalid name " .. tostring(node))
    end
  end
  local key = node .. "." .. name
  local p = proxies[key]
  if p == nil then
    p = skynet.newservice("clusterproxy", node, name)
    if proxies[key] then
      skynet.kill(p)
      p = proxies[key]
    else
      proxies[key] = p
    end
  end
  skynet.ret(skynet.pack(p))
end

local agents = {} -- fd -> clusteragent (false while launching, true: closed meanwhile)
local registered = {} -- name -> address and address -> name

-- Agents cache name lookups: tell them the names changed.
local function names_changed()
  for _, agent in pairs(agents) do
    if type(agent) == "number" then
      skynet.send(agent, "lua", "namechange")
    end
  end
end

function command.register(source, name, addr)
  assert(registered[name] == nil)
  addr = addr or source
  local old = registered[addr]
  if old then
    registered[old] = nil
    names_changed()
  end
  registered[addr] = name
  registered[name] = addr
  skynet.ret(nil)
  skynet.error(string.format("Register [%s] :%08x", name, addr))
end

function command.unregister(_, name)
  local addr = registered[name]
  if not addr then
    return skynet.ret(nil)
  end
  registered[addr] = nil
  registered[name] = nil
  names_changed()
  skynet.ret(nil)
  skynet.error(string.format("Unregister [%s] :%08x", name, addr))
end

function command.queryname(source, name)
  skynet.ret(skynet.pack(registered[name]))
end

function command.socket(source, subcmd, fd, msg)
  if subcmd == "open" then
    skynet.error(string.format("socket accept from %s", msg))
    agents[fd] = false
    local agent = skynet.newservice("clusteragent", skynet.self(), source, fd)
    local closed = agents[fd]
    agents[fd] = agent
    if closed then
      -- the connection went away while the agent started
      skynet.send(agent, "lua", "exit")
      agents[fd] = nil
    end
  elseif subcmd == "close" or subcmd == "error" then
    local agent = agents[fd]
    if type(agent) == "boolean" then
      agents[fd] = true
    elseif agent then
      skynet.send(agent, "lua", "exit")
      agents[fd] = nil
    end
  else
    skynet.error(string.format("socket %s %d %s", subcmd, fd, msg or ""))
  end
end

skynet.start(function()
  loadconfig()
  skynet.dispatch("lua", function(_, source, cmd, ...)
    local f = assert(command[cmd])
    f(source, ...)
  end)
end)

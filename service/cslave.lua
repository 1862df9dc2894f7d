-- cslave — the harbor slave of a node in a master/slave cluster (`harbor`
-- 1..255; bootstrap names it `.cslave`).
--
-- Stands for the reference's service/cslave.lua. At start it listens on
-- `address`, connects to the `master`, launches the native `harbor`
-- service, says hello (H id address) and waits until the n older slaves
-- the master announces (W n) have connected to it. Afterwards it connects to
-- each newer slave the master announces (C id address) and hands every
-- connection to the harbor service (S fd id for ours, A fd id for accepted
-- ones). It keeps the global names (REGISTER goes to the master, N answers
-- come back) and answers the skynet.harbor calls:
--   REGISTER name handle, QUERYNAME name, LINK id (returns when harbor id
--   goes down), CONNECT id (returns once harbor id is connected),
--   LINKMASTER (returns when the master goes away).
-- From the harbor service (text): Q name (a message waits for a name),
-- D id (the connection to harbor id closed).
-- Master packages are one length byte and a skynet.packstring of the fields
-- (see cmaster.lua).

local skynet = require "skynet"
local socket = require "skynet.socket"
local socketdriver = require "skynet.socketdriver"
require "skynet.manager" -- skynet.launch

-- Everything this slave knows, in one place.
local node = {
  harbor = nil, -- the native harbor service
  master = nil, -- connection to the master
  -- harbor id -> the connection handed to the harbor service, or false
  -- once that harbor went down (an id that was never seen is absent)
  peers = {},
  -- while the handshake runs: harbor id -> address of the newer slaves
  -- announced meanwhile (connected to once it is over); nil afterwards
  deferred = {},
  names = {}, -- global name -> handle
  -- pending calls: by harbor id (LINK, CONNECT), by name (QUERYNAME),
  -- and those waiting for the master to go (LINKMASTER)
  harbor_waits = {},
  name_waits = {},
  master_waits = {},
}

---------------------------------------------------------------------------
-- waiting calls

local function hold(list_of, key)
  local list = list_of[key]
  if list == nil then
    list = {}
    list_of[key] = list
  end
  list[#list + 1] = skynet.response()
  return #list
end

-- Answers (and forgets) every call held under `key`.
local function release(list_of, key, ...)
  local list = list_of[key] or {}
  list_of[key] = nil
  for _, respond in ipairs(list) do
    respond(true, ...)
  end
end

---------------------------------------------------------------------------
-- the master connection

local function frame(...)
  local body = skynet.packstring(...)
  if #body > 255 then
    error("too long", 0)
  end
  return string.char(#body) .. body
end

local function to_master(...)
  socket.write(node.master, frame(...))
end

-- Fields of the next package from the master; raises "closed" when the
-- connection ends first.
local function from_master()
  local head = socket.read(node.master, 1)
  local body = head and socket.read(node.master, head:byte())
  if not body then
    error("closed", 0)
  end
  return skynet.unpack(body)
end

---------------------------------------------------------------------------
-- the harbor service and the links to other slaves

local function teach_harbor(name, handle)
  -- the harbor service learns a name from a message its owner sends it
  skynet.redirect(node.harbor, handle, "harbor", 0, "N " .. name)
end

-- Harbor `id` is now reached through `fd`: wake whoever waits for it and
-- give the connection to the harbor service (`how`: S ours, A accepted).
local function hand_over(id, fd, how)
  node.peers[id] = fd
  release(node.harbor_waits, id)
  socket.abandon(fd)
  if how == "A" then
    skynet.error(string.format("Harbor %d connected (fd = %d)", id, fd))
  end
  skynet.send(node.harbor, "harbor", string.format("%s %d %d", how, fd, id))
end

-- Harbor `id` went down (`close`: also close the connection we had).
local function lost(id, close)
  local fd = node.peers[id]
  node.peers[id] = false
  if fd then
    release(node.harbor_waits, id)
    if close then
      socket.close(fd)
    end
  end
end

local function dial(id, address)
  if node.peers[id] ~= nil then
    return
  end
  local fd = assert(socket.open(address), "Can't connect to " .. address)
  socketdriver.nodelay(fd)
  skynet.error(string.format("Connect to harbor %d (fd=%d), %s", id, fd, address))
  hand_over(id, fd, "S")
end

-- a slave we cannot reach is only logged
local function connect_peer(id, address)
  xpcall(dial, skynet.error, id, address)
end

-- An older slave connected to us: its first byte is its harbor id. A
-- connection that ends first, or names a harbor already seen, is closed.
local function greet(fd)
  socket.start(fd)
  local first = socket.read(fd, 1)
  local problem
  if not first then
    problem = string.format("Connection (fd =%d) closed", fd)
  elseif node.peers[first:byte()] ~= nil then
    problem = string.format("Slave %d exist (fd =%d)", first:byte(), fd)
  end
  if problem then
    skynet.error(problem)
    socket.close(fd)
  else
    hand_over(first:byte(), fd, "A")
  end
end

---------------------------------------------------------------------------
-- names

local function learn_name(name, handle)
  node.names[name] = handle
  release(node.name_waits, name, handle)
end

---------------------------------------------------------------------------
-- packages from the master after the handshake

local master_says = {}

function master_says.C(id, address)
  if node.deferred then
    node.deferred[id] = address
  else
    connect_peer(id, address)
  end
end

function master_says.N(name, handle)
  learn_name(name, handle)
  if not node.deferred then
    teach_harbor(name, handle)
  end
end

function master_says.D(id)
  lost(id, true)
end

local function follow_master()
  while true do
    local ok, kind, a, b = pcall(from_master)
    if not ok then
      break
    end
    local handler = master_says[kind]
    if handler then
      handler(a, b)
    end
  end
  skynet.error("Master disconnect")
  for _, respond in ipairs(node.master_waits) do
    respond(true)
  end
  socket.close(node.master)
end

---------------------------------------------------------------------------
-- text from the harbor service: a one-letter command, a space, its argument

local harbor_says = {}

function harbor_says.Q(name)
  local handle = node.names[name]
  if handle then
    teach_harbor(name, handle)
  else
    to_master("Q", name)
  end
end

function harbor_says.D(id)
  lost(tonumber(id), false)
end

-- Both protocols to the harbor service carry raw strings: sent as given,
-- received as a string.
local function raw(...)
  return ...
end
for name, id in pairs { harbor = skynet.PTYPE_HARBOR, text = skynet.PTYPE_TEXT } do
  skynet.register_protocol { name = name, id = id, pack = raw, unpack = skynet.tostring }
end

---------------------------------------------------------------------------
-- calls of skynet.harbor (lua protocol)

local calls = {}

function calls.REGISTER(name, handle)
  assert(node.names[name] == nil)
  learn_name(name, handle)
  to_master("R", name, handle)
  teach_harbor(name, handle)
end

function calls.QUERYNAME(name)
  if name:sub(1, 1) == "." then
    skynet.ret(skynet.pack(skynet.localname(name)))
  elseif node.names[name] then
    skynet.ret(skynet.pack(node.names[name]))
  elseif hold(node.name_waits, name) == 1 then
    -- the first to ask: the master answers with an N package if it knows
    to_master("Q", name)
  end
end

-- LINK (`until_down`) returns once harbor `id` is down, CONNECT once it is
-- up; either answers at once when that is already so.
local function watch_harbor(id, until_down)
  local up = node.peers[id] and true or false
  if up ~= until_down then
    return skynet.ret()
  end
  hold(node.harbor_waits, id)
end

function calls.LINK(id)
  watch_harbor(id, true)
end

function calls.CONNECT(id)
  watch_harbor(id, false)
end

function calls.LINKMASTER()
  node.master_waits[#node.master_waits + 1] = skynet.response()
end

---------------------------------------------------------------------------
-- start

-- Accepts the older slaves on `listen_fd` until `expected` of them are
-- known (every harbor id seen so far counts), then stops listening.
local function gather(listen_fd, expected)
  if expected > 0 then
    local me = coroutine.running()
    local state = "starting" -- then "sleeping", then "done"
    socket.start(listen_fd, function(fd, from)
      skynet.error(string.format("New connection (fd = %d, %s)", fd, from))
      socketdriver.nodelay(fd)
      -- a refused connection counts the ids again too (one may have gone
      -- down meanwhile); only a failure of the greeting itself does not
      if not pcall(greet, fd) or state == "done" then
        return
      end
      local seen = 0
      for _ in pairs(node.peers) do
        seen = seen + 1
      end
      if seen >= expected then
        -- wake the start function only if it sleeps already, and once
        local sleeping = state == "sleeping"
        state = "done"
        if sleeping then
          skynet.wakeup(me)
        end
      end
    end)
    if state ~= "done" then
      state = "sleeping"
      skynet.wait(me)
    end
  end
  socket.close(listen_fd)
end

-- Handshake over: connect to the slaves announced meanwhile and give the
-- harbor service the names learned so far.
local function settle()
  local deferred = node.deferred
  node.deferred = nil
  for id, address in pairs(deferred) do
    connect_peer(id, address)
  end
  for name, handle in pairs(node.names) do
    teach_harbor(name, handle)
  end
end

skynet.start(function()
  local self_id = tonumber(skynet.getenv "harbor")
  local address = assert(skynet.getenv "address")
  local master_address = skynet.getenv "master"
  local listen_fd = socket.listen(address)
  skynet.error("slave connect to master " .. tostring(master_address))
  node.master = assert(socket.open(master_address), "Can't connect to master")

  skynet.dispatch("lua", function(_, _, call, ...)
    local f = assert(calls[call])
    f(...)
  end)
  skynet.dispatch("text", function(_, _, text)
    local f = harbor_says[text:sub(1, 1)]
    if f then
      f(text:sub(3))
    else
      skynet.error("Unknown command ", text)
    end
  end)

  node.harbor = assert(skynet.launch("harbor", self_id, skynet.self()))
  to_master("H", self_id, address)
  local kind, older = from_master()
  assert(kind == "W" and type(older) == "number", "slave shakehand failed")
  skynet.error(string.format("Waiting for %d harbors", older))
  skynet.fork(follow_master)
  gather(listen_fd, older)
  skynet.error("Shakehand ready")
  skynet.fork(settle)
end)

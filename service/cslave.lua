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

local skynet = require "skynet"
local socket = require "skynet.socket"
local socketdriver = require "skynet.socketdriver"
require "skynet.manager" -- skynet.launch

local slaves = {} -- harbor id -> fd (false: down)
local pending_connects = {} -- id -> address, until the handshake is done (then nil)
local names = {} -- global name -> handle
local name_waiters = {} -- global name -> responses waiting for it
local watchers = {} -- harbor id -> responses of LINK / CONNECT waiting on it
local master_watchers = {} -- responses of LINKMASTER
local harbor_service
local command = {}

local function read_package(fd)
  local len = assert(socket.read(fd, 1), "closed")
  local body = assert(socket.read(fd, len:byte()), "closed")
  return skynet.unpack(body)
end

local function package(...)
  local body = skynet.packstring(...)
  assert(#body <= 255, "too long")
  return string.char(#body) .. body
end

-- Wakes the LINK / CONNECT calls waiting on harbor `id`.
local function notify(id)
  local list = watchers[id]
  if list then
    watchers[id] = nil
    for _, respond in ipairs(list) do
      respond(true)
    end
  end
end

local function tell_harbor_name(name, handle)
  -- the harbor service learns a name as a message from its owner
  skynet.redirect(harbor_service, handle, "harbor", 0, "N " .. name)
end

local function connect_to(id, address)
  local ok, err = pcall(function()
    if slaves[id] ~= nil then
      return
    end
    local fd = assert(socket.open(address), "Can't connect to " .. address)
    socketdriver.nodelay(fd)
    skynet.error(string.format("Connect to harbor %d (fd=%d), %s", id, fd, address))
    slaves[id] = fd
    notify(id)
    socket.abandon(fd)
    skynet.send(harbor_service, "harbor", string.format("S %d %d", fd, id))
  end)
  if not ok then
    skynet.error(err)
  end
end

-- Handshake over: connect to the slaves announced meanwhile and give the
-- harbor service the names learned so far.
local function ready()
  local queue = pending_connects
  pending_connects = nil
  for id, address in pairs(queue) do
    connect_to(id, address)
  end
  for name, handle in pairs(names) do
    tell_harbor_name(name, handle)
  end
end

local function answer_name(name)
  local list = name_waiters[name]
  if list then
    name_waiters[name] = nil
    local handle = names[name]
    for _, respond in ipairs(list) do
      respond(true, handle)
    end
  end
end

local function watch_master(master_fd)
  while true do
    local ok, t, id_or_name, address = pcall(read_package, master_fd)
    if not ok then
      skynet.error("Master disconnect")
      for _, respond in ipairs(master_watchers) do
        respond(true)
      end
      socket.close(master_fd)
      return
    end
    if t == "C" then
      if pending_connects then
        pending_connects[id_or_name] = address
      else
        connect_to(id_or_name, address)
      end
    elseif t == "N" then
      names[id_or_name] = address
      answer_name(id_or_name)
      if pending_connects == nil then
        tell_harbor_name(id_or_name, address)
      end
    elseif t == "D" then
      local fd = slaves[id_or_name]
      slaves[id_or_name] = false
      if fd then
        notify(id_or_name)
        socket.close(fd)
      end
    end
  end
end

-- A connection from an older slave: it sends its id byte first.
local function accept_slave(fd)
  socket.start(fd)
  local byte = socket.read(fd, 1)
  if not byte then
    skynet.error(string.format("Connection (fd =%d) closed", fd))
    socket.close(fd)
    return
  end
  local id = byte:byte()
  if slaves[id] ~= nil then
    skynet.error(string.format("Slave %d exist (fd =%d)", id, fd))
    socket.close(fd)
    return
  end
  slaves[id] = fd
  notify(id)
  socket.abandon(fd)
  skynet.error(string.format("Harbor %d connected (fd = %d)", id, fd))
  skynet.send(harbor_service, "harbor", string.format("A %d %d", fd, id))
end

skynet.register_protocol {
  name = "harbor",
  id = skynet.PTYPE_HARBOR,
  pack = function(...) return ... end,
  unpack = skynet.tostring,
}

skynet.register_protocol {
  name = "text",
  id = skynet.PTYPE_TEXT,
  pack = function(...) return ... end,
  unpack = skynet.tostring,
}

-- Text from the harbor service.
local function harbor_text(master_fd)
  return function(_, _, text)
    local t = text:sub(1, 1)
    local arg = text:sub(3)
    if t == "Q" then
      local handle = names[arg]
      if handle then
        tell_harbor_name(arg, handle)
      else
        socket.write(master_fd, package("Q", arg))
      end
    elseif t == "D" then
      local id = tonumber(arg)
      if slaves[id] then
        notify(id)
      end
      slaves[id] = false
    else
      skynet.error("Unknown command ", text)
    end
  end
end

function command.REGISTER(master_fd, name, handle)
  assert(names[name] == nil)
  names[name] = handle
  answer_name(name)
  socket.write(master_fd, package("R", name, handle))
  tell_harbor_name(name, handle)
end

-- returns when harbor `id` goes down (at once if it is not connected)
function command.LINK(_, id)
  if slaves[id] then
    watchers[id] = watchers[id] or {}
    table.insert(watchers[id], skynet.response())
  else
    skynet.ret()
  end
end

function command.LINKMASTER()
  table.insert(master_watchers, skynet.response())
end

-- returns once harbor `id` is connected
function command.CONNECT(_, id)
  if slaves[id] then
    skynet.ret()
  else
    watchers[id] = watchers[id] or {}
    table.insert(watchers[id], skynet.response())
  end
end

function command.QUERYNAME(master_fd, name)
  if name:byte() == 46 then -- ".name": a local name
    skynet.ret(skynet.pack(skynet.localname(name)))
    return
  end
  local handle = names[name]
  if handle then
    skynet.ret(skynet.pack(handle))
    return
  end
  local list = name_waiters[name]
  if list then
    table.insert(list, skynet.response())
  else
    socket.write(master_fd, package("Q", name))
    name_waiters[name] = { skynet.response() }
  end
end

skynet.start(function()
  local master_addr = skynet.getenv "master"
  local harbor_id = tonumber(skynet.getenv "harbor")
  local my_address = assert(skynet.getenv "address")
  local listen_fd = socket.listen(my_address)
  skynet.error("slave connect to master " .. tostring(master_addr))
  local master_fd = assert(socket.open(master_addr), "Can't connect to master")

  skynet.dispatch("lua", function(_, _, cmd, ...)
    local f = assert(command[cmd])
    f(master_fd, ...)
  end)
  skynet.dispatch("text", harbor_text(master_fd))

  harbor_service = assert(skynet.launch("harbor", harbor_id, skynet.self()))

  socket.write(master_fd, package("H", harbor_id, my_address))
  local t, n = read_package(master_fd)
  assert(t == "W" and type(n) == "number", "slave shakehand failed")
  skynet.error(string.format("Waiting for %d harbors", n))
  skynet.fork(watch_master, master_fd)
  if n > 0 then
    local co = coroutine.running()
    socket.start(listen_fd, function(fd, addr)
      skynet.error(string.format("New connection (fd = %d, %s)", fd, addr))
      socketdriver.nodelay(fd)
      if pcall(accept_slave, fd) then
        local count = 0
        for _ in pairs(slaves) do
          count = count + 1
        end
        if count >= n then
          skynet.wakeup(co)
        end
      end
    end)
    skynet.wait()
  end
  socket.close(listen_fd)
  skynet.error("Shakehand ready")
  skynet.fork(ready)
end)

-- cmaster — the master of a harbor cluster (started by bootstrap on the
-- node whose config has `standalone`, listening on that address).
--
-- Stands for the reference's service/cmaster.lua. It knows every slave
-- (harbor id -> address) and every global name, and keeps one connection to
-- each slave. Packages both ways are one length byte and a
-- skynet.packstring of the fields:
--   slave -> master: H id address (handshake), R name handle (register),
--                    Q name (query)
--   master -> slave: W n (wait for n older slaves to connect to you),
--                    C id address (connect to this new slave),
--                    N name handle (a global name), D id (slave id is down)

local skynet = require "skynet"
local socket = require "skynet.socket"

local slaves = {} -- id -> { fd = fd (0 once down), id = id, addr = address }
local names = {} -- global name -> handle

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

-- Writes `pkg` to every slave (down ones have fd 0: nothing is written).
local function broadcast(pkg)
  for _, s in pairs(slaves) do
    socket.write(s.fd, pkg)
  end
end

-- A new slave: tell the connected ones to connect to it, and it how many
-- connections to wait for.
local function introduce(fd, id, addr)
  local pkg = package("C", id, addr)
  local count = 0
  for _, s in pairs(slaves) do
    if s.fd ~= 0 then
      socket.write(s.fd, pkg)
      count = count + 1
    end
  end
  socket.write(fd, package("W", count))
end

local function handshake(fd)
  local t, id, addr = read_package(fd)
  assert(t == "H", "Invalid handshake type " .. t)
  assert(id ~= 0, "Invalid slave id 0")
  if slaves[id] then
    error(string.format("Slave %d already register on %s", id, slaves[id].addr))
  end
  introduce(fd, id, addr)
  slaves[id] = { fd = fd, id = id, addr = addr }
  return id, addr
end

local function serve_package(fd)
  local t, name, handle = read_package(fd)
  if t == "R" then
    assert(type(handle) == "number", "Invalid request")
    -- the first registration of a name wins, but every one is broadcast
    if not names[name] then
      names[name] = handle
    end
    broadcast(package("N", name, handle))
  elseif t == "Q" then
    local h = names[name]
    if h then
      socket.write(fd, package("N", name, h))
    end
  else
    skynet.error("Invalid slave message type " .. t)
  end
end

local function serve_slave(id, addr)
  local fd = slaves[id].fd
  skynet.error(string.format("Harbor %d (fd=%d) report %s", id, fd, addr))
  repeat
    local ok = pcall(serve_package, fd)
  until not ok
  skynet.error("slave " .. id .. " is down")
  slaves[id].fd = 0
  broadcast(package("D", id))
  socket.close(fd)
end

skynet.start(function()
  local address = skynet.getenv "standalone"
  skynet.error("master listen socket " .. tostring(address))
  local listen = socket.listen(address)
  socket.start(listen, function(fd, from)
    skynet.error("connect from " .. from .. " " .. fd)
    socket.start(fd)
    local ok, id, addr = pcall(handshake, fd)
    if ok then
      skynet.fork(serve_slave, id, addr)
    else
      skynet.error(string.format("disconnect fd = %d, error = %s", fd, id))
      socket.close(fd)
    end
  end)
end)

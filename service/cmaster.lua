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
-- A slave that went down stays on record: its id cannot join again.

local skynet = require "skynet"
local socket = require "skynet.socket"

-- harbor id -> { fd = connection (nil once down), addr = its address }
local members = {}
-- global name -> handle (the first registration wins)
local registry = {}

-- One package: the length byte, then the packed fields.
local function frame(...)
  local body = skynet.packstring(...)
  if #body > 255 then
    error("too long", 0)
  end
  return string.char(#body) .. body
end

-- Reads one package of `fd` and returns its fields; raises "closed" when
-- the connection ends first.
local function next_package(fd)
  local head = socket.read(fd, 1)
  local body = head and socket.read(fd, head:byte())
  if not body then
    error("closed", 0)
  end
  return skynet.unpack(body)
end

-- Writes one package to every slave that is up, except slave `skip` (nil:
-- none); returns how many got it.
local function to_all(skip, ...)
  local pkg = frame(...)
  local sent = 0
  for id, m in pairs(members) do
    if m.fd and id ~= skip then
      socket.write(m.fd, pkg)
      sent = sent + 1
    end
  end
  return sent
end

-- What a connected slave may send after its handshake.
local from_slave = {}

function from_slave.R(_, name, handle)
  assert(type(handle) == "number", "Invalid request")
  if registry[name] == nil then
    registry[name] = handle
  end
  -- every registration is told, even one that lost to an earlier one
  to_all(nil, "N", name, handle)
end

-- a name nobody registered yet gets no answer
function from_slave.Q(fd, name)
  if registry[name] ~= nil then
    socket.write(fd, frame("N", name, registry[name]))
  end
end

-- Serves slave `id` until its connection ends or it sends something that
-- is not a package of the protocol; then every other slave hears it is down.
local function serve(id)
  local m = members[id]
  local fd = m.fd
  skynet.error(string.format("Harbor %d (fd=%d) report %s", id, fd, m.addr))
  local alive = true
  while alive do
    alive = pcall(function()
      local kind, a, b = next_package(fd)
      local handler = from_slave[kind]
      if handler then
        handler(fd, a, b)
      else
        skynet.error("Invalid slave message type " .. kind)
      end
    end)
  end
  skynet.error("slave " .. id .. " is down")
  m.fd = nil
  to_all(nil, "D", id)
  socket.close(fd)
end

-- The first package of a new connection must be H id address (an id that
-- never joined before). The newcomer is put on record, the slaves already
-- up are told to connect to it and it is told how many will.
local function admit(fd)
  local kind, id, addr = next_package(fd)
  if kind ~= "H" then
    error("Invalid handshake type " .. kind, 0)
  elseif id == 0 then
    error("Invalid slave id 0", 0)
  elseif members[id] then
    error(string.format("Slave %d already register on %s", id, members[id].addr))
  end
  members[id] = { fd = fd, addr = addr }
  socket.write(fd, frame("W", to_all(id, "C", id, addr)))
  return id
end

local function on_connect(fd, from)
  skynet.error("connect from " .. from .. " " .. fd)
  socket.start(fd)
  local ok, id_or_err = pcall(admit, fd)
  if not ok then
    skynet.error(string.format("disconnect fd = %d, error = %s", fd, id_or_err))
    socket.close(fd)
    return
  end
  skynet.fork(serve, id_or_err)
end

skynet.start(function()
  local address = skynet.getenv "standalone"
  skynet.error("master listen socket " .. tostring(address))
  socket.start(socket.listen(address), on_connect)
end)

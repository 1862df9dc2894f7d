-- client — example command-line client of the watchdog/gate/agent example
-- (examples/main.lua: the gate listens on port 8888).
--
-- Stands for the reference's examples/client.lua. Run it from the
-- repository root with a plain Lua 5.4:
--   lua5.4 examples/client.lua [ip [port]]     (default 127.0.0.1 8888)
-- It needs luaclib/client.so (the native `client.socket`, built from
-- crates/skynet-client) and sproto from lualib/. It sends "handshake" and
-- "set hello world"; then every line typed on stdin becomes "get <line>"
-- ("quit" asks the server to close the connection). Every package from the
-- server (answers and heartbeats) is printed.

if _VERSION ~= "Lua 5.4" then
  error "Use lua 5.4"
end

-- run from the repository root: the native modules and the Lua ones
package.cpath = "luaclib/?.so"
package.path = "lualib/?.lua;examples/?.lua"
local socket = require "client.socket"

-- print each line at once, also into a pipe
io.stdout:setvbuf "line"

local ip, port = ...
local fd = assert(socket.connect(ip or "127.0.0.1", math.tointeger(port or 8888)))

local sproto = require "sproto"
local proto = require "proto"
-- packages from the server are s2c requests or answers to our c2s ones
local host = sproto.new(proto.s2c):host "package"
local encode_request = host:attach(sproto.new(proto.c2s))

-- bytes received that do not make a whole package yet
local inbox = ""

-- The next whole package of the inbox, taken out of it; nil if none.
local function take()
  if #inbox < 2 then
    return nil
  end
  local size = string.unpack(">I2", inbox)
  local stop = 2 + size
  if #inbox < stop then
    return nil
  end
  local pack = inbox:sub(3, stop)
  inbox = inbox:sub(stop + 1)
  return pack
end

-- The next package from the server, reading what arrived; nil when the
-- socket has nothing more for now.
local function next_package()
  local pack = take()
  while not pack do
    local got = socket.recv(fd)
    if got == nil then
      return nil
    elseif got == "" then
      error "Server closed"
    end
    inbox = inbox .. got
    pack = take()
  end
  return pack
end

local last_session = 0

local function request(name, args)
  last_session = last_session + 1
  socket.send(fd, string.pack(">s2", encode_request(name, args, last_session)))
  print("Request:", last_session)
end

local function show(title, id, fields)
  print(title, id)
  for k, v in pairs(fields or {}) do
    print(k, v)
  end
end

-- what host:dispatch gives: "REQUEST", name, args | "RESPONSE", session, args
local function show_package(kind, id, fields)
  assert(kind == "REQUEST" or kind == "RESPONSE")
  show(kind, id, fields)
end

request "handshake"
request("set", { what = "hello", value = "world" })
while true do
  for pack in next_package do
    show_package(host:dispatch(pack))
  end
  local line = socket.readstdin()
  if line == nil then
    socket.usleep(100)
  elseif line == "quit" then
    request "quit"
  else
    request("get", { what = line })
  end
end

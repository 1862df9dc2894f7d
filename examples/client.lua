-- client — example command-line client for the watchdog/gate/agent example
-- (examples/main.lua listens on 127.0.0.1:8888).
--
-- Stands for the reference's examples/client.lua. Run it from the repo root
-- with a plain Lua 5.4 interpreter: `lua5.4 examples/client.lua [ip [port]]`
-- (default 127.0.0.1 8888, the reference's fixed address). It needs the
-- native `client.socket` module (luaclib/client.so, built from
-- crates/skynet-client) and sproto (lualib/). It sends
-- "handshake" and "set hello world", then turns every line typed on stdin
-- into a "get <line>" request ("quit" asks the server to close), printing
-- every package the server sends (answers and heartbeats).

package.cpath = "luaclib/?.so"
package.path = "lualib/?.lua;examples/?.lua"

if _VERSION ~= "Lua 5.4" then
  error "Use lua 5.4"
end

local socket = require "client.socket"
local proto = require "proto"
local sproto = require "sproto"

-- show each line as soon as it is printed, also into a pipe
io.stdout:setvbuf "line"

local host = sproto.new(proto.s2c):host "package"
local request = host:attach(sproto.new(proto.c2s))

local server_ip, server_port = ...
local fd = assert(socket.connect(server_ip or "127.0.0.1", math.tointeger(server_port or 8888)))

local function send_package(pack)
  socket.send(fd, string.pack(">s2", pack))
end

-- split one package off `text`: package, rest (nil, text when incomplete)
local function take_package(text)
  if #text < 2 then
    return nil, text
  end
  local size = text:byte(1) * 256 + text:byte(2)
  if #text < size + 2 then
    return nil, text
  end
  return text:sub(3, 2 + size), text:sub(3 + size)
end

local pending = ""

-- the next complete package, or nil when none is there yet
local function recv_package()
  while true do
    local pack
    pack, pending = take_package(pending)
    if pack then
      return pack
    end
    local got = socket.recv(fd)
    if not got then
      return nil
    end
    if got == "" then
      error "Server closed"
    end
    pending = pending .. got
  end
end

local session = 0

local function send_request(name, args)
  session = session + 1
  send_package(request(name, args, session))
  print("Request:", session)
end

local function print_fields(args)
  if args then
    for k, v in pairs(args) do
      print(k, v)
    end
  end
end

local function print_package(kind, ...)
  if kind == "REQUEST" then
    local name, args = ...
    print("REQUEST", name)
    print_fields(args)
  else
    assert(kind == "RESPONSE")
    local sess, args = ...
    print("RESPONSE", sess)
    print_fields(args)
  end
end

local function dispatch_packages()
  while true do
    local pack = recv_package()
    if not pack then
      break
    end
    print_package(host:dispatch(pack))
  end
end

send_request "handshake"
send_request("set", { what = "hello", value = "world" })
while true do
  dispatch_packages()
  local line = socket.readstdin()
  if line then
    if line == "quit" then
      send_request "quit"
    else
      send_request("get", { what = line })
    end
  else
    socket.usleep(100)
  end
end

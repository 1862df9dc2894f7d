-- agent — example: serves one client of the watchdog/gate example with
-- sproto requests.
--
-- Stands for the reference's examples/agent.lua. Needs the sproto schemas
-- saved in slots 1 (client -> server) and 2 (server -> client) by the
-- protoloader service, and the SIMPLEDB service. Client packages arrive
-- from the gate as PTYPE_CLIENT messages whose session is the client fd;
-- answers and a heartbeat every 5 s go back as 2-byte-length packages.

local skynet = require "skynet"
local socket = require "skynet.socket"
local sprotoloader = require "sprotoloader"

local WATCHDOG
local host
local make_request
local client_fd

local CMD = {}
local REQUEST = {}

function REQUEST:get()
  print("get", self.what)
  local r = skynet.call("SIMPLEDB", "lua", "get", self.what)
  return { result = r }
end

function REQUEST:set()
  print("set", self.what, self.value)
  skynet.call("SIMPLEDB", "lua", "set", self.what, self.value)
end

function REQUEST:handshake()
  return { msg = "Welcome to skynet, I will send heartbeat every 5 sec." }
end

function REQUEST:quit()
  skynet.call(WATCHDOG, "lua", "close", client_fd)
end

local function handle_request(name, args, response)
  local f = assert(REQUEST[name])
  local result = f(args)
  if response then
    return response(result)
  end
end

local function send_package(pack)
  socket.write(client_fd, string.pack(">s2", pack))
end

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  unpack = function(msg, sz)
    return host:dispatch(msg, sz)
  end,
  dispatch = function(fd, _, kind, ...)
    assert(fd == client_fd)
    -- the session is the fd: nothing to answer through skynet
    skynet.ignoreret()
    skynet.trace()
    if kind == "REQUEST" then
      local ok, result = pcall(handle_request, ...)
      if ok then
        if result then
          send_package(result)
        end
      else
        skynet.error(result)
      end
    else
      assert(kind == "RESPONSE")
      error "This example doesn't support request client"
    end
  end,
}

function CMD.start(conf)
  local fd = conf.client
  local gate = conf.gate
  WATCHDOG = conf.watchdog
  host = sprotoloader.load(1):host "package"
  make_request = host:attach(sprotoloader.load(2))
  skynet.fork(function()
    while true do
      send_package(make_request "heartbeat")
      skynet.sleep(500)
    end
  end)
  client_fd = fd
  skynet.call(gate, "lua", "forward", fd)
end

function CMD.disconnect()
  skynet.exit()
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, command, ...)
    skynet.trace()
    local f = CMD[command]
    skynet.ret(skynet.pack(f(...)))
  end)
end)

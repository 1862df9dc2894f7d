-- agent — example: the service that talks to one client of the
-- watchdog/gate example, in sproto.
--
-- Stands for the reference's examples/agent.lua. The watchdog starts one
-- per client and sends it "start" { gate, client = fd, watchdog }; from then
-- on the gate forwards the client's packages here as PTYPE_CLIENT messages
-- (session = the client fd). The sproto schemas come from the slots the
-- protoloader service filled (1: client -> server, 2: server -> client).
-- Requests: handshake, get/set (on the SIMPLEDB service), quit. Every 5 s
-- the client gets a "heartbeat" request. "disconnect" ends the agent.

local skynet = require "skynet"
local socket = require "skynet.socket"
local sprotoloader = require "sprotoloader"

-- this agent's client, filled by "start"
local me = {
  fd = nil,
  watchdog = nil,
  host = nil, -- sproto host for the client's packages
  push = nil, -- builds requests to the client
}

local function send_to_client(bytes)
  socket.write(me.fd, string.pack(">s2", bytes))
end

local requests = {}

function requests.handshake()
  return { msg = "Welcome to skynet, I will send heartbeat every 5 sec." }
end

function requests.get(args)
  print("get", args.what)
  return { result = skynet.call("SIMPLEDB", "lua", "get", args.what) }
end

function requests.set(args)
  print("set", args.what, args.value)
  skynet.call("SIMPLEDB", "lua", "set", args.what, args.value)
end

function requests.quit()
  skynet.call(me.watchdog, "lua", "close", me.fd)
end

-- Runs one request; -> the encoded response when the client wants one.
local function run_request(name, args, respond)
  local result = assert(requests[name])(args)
  if respond then
    return respond(result)
  end
end

local function on_client(kind, ...)
  if kind ~= "REQUEST" then
    assert(kind == "RESPONSE")
    error "This example doesn't support request client"
  end
  local ok, reply = pcall(run_request, ...)
  if not ok then
    skynet.error(reply)
  elseif reply then
    send_to_client(reply)
  end
end

-- a package of the client: "REQUEST", name, args, respond | "RESPONSE", ...
local function decode(msg, sz)
  return me.host:dispatch(msg, sz)
end

local function from_client(fd, _, ...)
  assert(fd == me.fd)
  -- the session is the client's fd, not a call to answer
  skynet.ignoreret()
  skynet.trace()
  on_client(...)
end

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  unpack = decode,
  dispatch = from_client,
}

local function heartbeat()
  while true do
    send_to_client(me.push "heartbeat")
    skynet.sleep(500)
  end
end

local commands = {}

function commands.start(conf)
  me.fd = conf.client
  me.watchdog = conf.watchdog
  me.host = sprotoloader.load(1):host "package"
  me.push = me.host:attach(sprotoloader.load(2))
  skynet.fork(heartbeat)
  skynet.call(conf.gate, "lua", "forward", me.fd)
end

function commands.disconnect()
  skynet.exit()
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    skynet.trace()
    skynet.ret(skynet.pack(commands[cmd](...)))
  end)
end)

-- watchdog — example: owns the Lua gate and gives every client an agent.
--
-- Stands for the reference's examples/watchdog.lua. `start(conf)` opens the
-- gate (conf as for snax.gateserver's open) and returns where it listens.
-- On "socket open" a new `agent` service is started for the client and the
-- gate forwards the client's packages to it; when the client closes (or
-- errs) the agent is told to disconnect. `close(fd)` kicks a client.

local skynet = require "skynet"

local CMD = {}
local SOCKET = {}
local gate
local agents = {} -- fd -> agent service

function SOCKET.open(fd, addr)
  skynet.error("New client from : " .. addr)
  local agent = skynet.newservice "agent"
  agents[fd] = agent
  skynet.call(agent, "lua", "start", { gate = gate, client = fd, watchdog = skynet.self() })
end

local function drop_agent(fd)
  local agent = agents[fd]
  agents[fd] = nil
  if agent then
    skynet.call(gate, "lua", "kick", fd)
    -- the agent exits on disconnect: no answer will come
    skynet.send(agent, "lua", "disconnect")
  end
end

function SOCKET.close(fd)
  print("socket close", fd)
  drop_agent(fd)
end

function SOCKET.error(fd, msg)
  print("socket error", fd, msg)
  drop_agent(fd)
end

function SOCKET.warning(fd, size)
  -- `size` K bytes are still waiting to be sent to fd
  print("socket warning", fd, size)
end

function SOCKET.data(_, _)
  -- packages of clients not forwarded to an agent: ignored here
end

function CMD.start(conf)
  return skynet.call(gate, "lua", "open", conf)
end

function CMD.close(fd)
  drop_agent(fd)
end

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, subcmd, ...)
    if cmd == "socket" then
      -- notifications from the gate: no answer
      SOCKET[subcmd](...)
    else
      local f = assert(CMD[cmd])
      skynet.ret(skynet.pack(f(subcmd, ...)))
    end
  end)
  gate = skynet.newservice "gate"
end)

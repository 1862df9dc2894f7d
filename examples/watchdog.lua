-- watchdog — example: runs a Lua gate and gives every client its own agent.
--
-- Stands for the reference's examples/watchdog.lua. Lua commands:
--   start(conf)  opens the gate (conf as snax.gateserver's "open") and
--                returns the address and port it listens on
--   close(fd)    kicks the client and ends its agent
-- The gate's notifications ("socket", event, ...) need no answer: "open"
-- starts an `agent` for the new client and lets it take the connection
-- over; "close" and "error" end that agent; "warning" is printed; "data"
-- (packages of clients without an agent) is ignored.

local skynet = require "skynet"

local gate
local agent_of = {} -- client fd -> its agent

-- Forgets fd's agent, kicks the client and tells the agent to end.
local function release(fd)
  local agent = agent_of[fd]
  if agent == nil then
    return
  end
  agent_of[fd] = nil
  skynet.call(gate, "lua", "kick", fd)
  -- "disconnect" ends the agent: a call would never be answered
  skynet.send(agent, "lua", "disconnect")
end

local on_socket = {
  open = function(fd, addr)
    skynet.error("New client from : " .. addr)
    local agent = skynet.newservice "agent"
    agent_of[fd] = agent
    skynet.call(agent, "lua", "start", { gate = gate, client = fd, watchdog = skynet.self() })
  end,
  close = function(fd)
    print("socket close", fd)
    release(fd)
  end,
  error = function(fd, msg)
    print("socket error", fd, msg)
    release(fd)
  end,
  -- `size` KB are queued for fd and not sent yet
  warning = function(fd, size)
    print("socket warning", fd, size)
  end,
  data = function() end,
}

local commands = {
  start = function(conf)
    return skynet.call(gate, "lua", "open", conf)
  end,
  close = release,
}

skynet.start(function()
  skynet.dispatch("lua", function(_, _, cmd, ...)
    if cmd ~= "socket" then
      skynet.ret(skynet.pack(assert(commands[cmd])(...)))
      return
    end
    local event = ...
    on_socket[event](select(2, ...))
  end)
  gate = skynet.newservice "gate"
end)

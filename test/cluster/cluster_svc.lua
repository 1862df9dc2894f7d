-- cluster_svc — the service a tests/cluster.rs server node registers as
-- "@svc". lua commands: echo (answers its arguments), size s (#s and both
-- ends of s, and a reply as large as s), note text (a push: prints
-- "CLUSTER NOTE <#text> <head>"), slow (prints "CLUSTER SLOW STARTED" and
-- never answers), relay node ... (a cluster.call of echo on node's "@svc").

local skynet = require "skynet"
local cluster = require "skynet.cluster"

local name = ...
local command = {}

function command.echo(...)
  return name, ...
end

function command.size(s)
  return #s, s:sub(1, 4), s:sub(-4), string.rep("r", #s)
end

function command.note(text)
  print(string.format("CLUSTER NOTE %s %d %s", name, #text, text:sub(1, 12)))
end

function command.slow()
  print("CLUSTER SLOW STARTED " .. name)
  skynet.wait() -- never woken: the node is killed meanwhile
end

function command.relay(node, ...)
  return cluster.call(node, "@svc", "echo", ...)
end

skynet.start(function()
  skynet.dispatch("lua", function(session, _, cmd, ...)
    local f = assert(command[cmd], cmd)
    if session == 0 then
      f(...)
    else
      skynet.ret(skynet.pack(f(...)))
    end
  end)
end)

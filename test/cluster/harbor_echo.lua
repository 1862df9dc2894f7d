-- harbor_echo — a service for tests/harbor.rs: `echo ...` answers its
-- arguments, `size s` answers #s, `whoami` answers its handle and node's
-- harbor id, `note text` (a send) prints "HARBOR NOTE text".

local skynet = require "skynet"

local command = {}

function command.echo(...)
  return ...
end

function command.size(s)
  return #s, s:sub(1, 8), s:sub(-8)
end

function command.whoami()
  return skynet.self(), skynet.harbor(skynet.self())
end

function command.note(text)
  print("HARBOR NOTE " .. text)
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

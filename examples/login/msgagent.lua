-- msgagent — one logged-in user of the login example: answers each of the
-- user's requests with the request itself (after a short pause) and tells
-- its gate when the user logs out.
--
-- Stands for the reference's examples/login/msgagent.lua. Lua commands,
-- from the gate: login(uid, subid, secret), logout(), afk(). Requests come
-- as "client" messages (the raw request bytes) and are answered raw.

local skynet = require "skynet"

-- the gate that logged the user in, and who the user is
local owner = { gate = nil, uid = nil, subid = nil }

local commands = {}

function commands.login(gate, uid, subid)
  -- (a real agent could use the secret, the next argument, to encrypt)
  owner.gate, owner.uid, owner.subid = gate, uid, subid
  skynet.error(string.format("%s is login", uid))
end

-- may come again while the first logout is still under way
function commands.logout()
  skynet.error(string.format("%s is logout", owner.uid))
  if owner.gate then
    skynet.call(owner.gate, "lua", "logout", owner.uid, owner.subid)
  end
  skynet.exit()
end

-- the connection dropped; the user may reconnect
function commands.afk()
  skynet.error "AFK"
end

local function echo(_, _, request)
  skynet.sleep(10)
  skynet.ret(request)
end

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  unpack = skynet.tostring,
}

skynet.start(function()
  skynet.dispatch("client", echo)
  skynet.dispatch("lua", function(_, source, cmd, ...)
    skynet.ret(skynet.pack(assert(commands[cmd])(source, ...)))
  end)
end)

-- msgagent — one logged-in user of the login example: echoes the user's
-- requests (after a short pause) and tells the gate when the user logs out.
--
-- Stands for the reference's examples/login/msgagent.lua. Lua commands from
-- the gate: login(uid, subid, secret), logout(), afk(); client requests
-- arrive as "client" messages and the answer is the request itself.

local skynet = require "skynet"

skynet.register_protocol {
  name = "client",
  id = skynet.PTYPE_CLIENT,
  unpack = skynet.tostring,
}

local gate
local userid, subid

local CMD = {}

function CMD.login(source, uid, sid, _)
  -- the secret could key an encrypted stream; this example doesn't
  skynet.error(string.format("%s is login", uid))
  gate = source
  userid = uid
  subid = sid
end

local function logout()
  if gate then
    skynet.call(gate, "lua", "logout", userid, subid)
  end
  skynet.exit()
end

-- may be called again while a logout is under way
function CMD.logout(_)
  skynet.error(string.format("%s is logout", userid))
  logout()
end

-- the connection is gone, the user may come back
function CMD.afk(_)
  skynet.error "AFK"
end

skynet.start(function()
  skynet.dispatch("lua", function(_, source, command, ...)
    local f = assert(CMD[command])
    skynet.ret(skynet.pack(f(source, ...)))
  end)
  skynet.dispatch("client", function(_, _, msg)
    skynet.sleep(10)
    skynet.ret(msg)
  end)
end)

-- gated — the game server gate of the login example: a snax.msgserver that
-- receives users from the login server (whose address is this service's
-- argument), starts a msgagent for each and passes their requests to it.
--
-- Stands for the reference's examples/login/gated.lua. When the gate is
-- opened it registers with the login server under its `servername`.

local msgserver = require "snax.msgserver"
local skynet = require "skynet"

local loginservice = tonumber(...)
local servername -- set when the gate opens

-- Logged-in users, reachable by uid and by msgserver username:
-- { uid, subid, username, agent }
local by_uid = {}
local by_name = {}
local subids = 0

local function forget(u)
  by_uid[u.uid] = nil
  by_name[u.username] = nil
end

-- the user record of uid, checked against the subid the caller names
local function known(uid, subid)
  local u = by_uid[uid]
  if u then
    assert(u.username == msgserver.username(uid, subid, servername))
  end
  return u
end

msgserver.start {
  -- the gate is open: tell the login server where to send users
  register_handler = function(name)
    servername = name
    skynet.call(loginservice, "lua", "register_gate", servername, skynet.self())
  end,

  -- from the login server. It allows one login per user at a time, so
  -- this never runs twice at once for one uid.
  login_handler = function(uid, secret)
    if by_uid[uid] then
      error(string.format("%s is already login", uid))
    end
    subids = subids + 1
    local u = { uid = uid, subid = subids }
    u.username = msgserver.username(uid, u.subid, servername)
    u.agent = skynet.newservice "msgagent"
    skynet.call(u.agent, "lua", "login", uid, u.subid, secret)
    by_uid[uid] = u
    by_name[u.username] = u
    msgserver.login(u.username, secret)
    return u.subid
  end,

  -- from the agent, when its user leaves
  logout_handler = function(uid, subid)
    local u = known(uid, subid)
    if u == nil then
      return
    end
    msgserver.logout(u.username)
    forget(u)
    skynet.call(loginservice, "lua", "logout", uid, subid)
  end,

  -- from the login server, when the user logs in anew
  kick_handler = function(uid, subid)
    local u = known(uid, subid)
    if u then
      -- the agent exits while it logs out: its answer may never come
      pcall(skynet.call, u.agent, "lua", "logout")
    end
  end,

  -- the user's connection is gone; the user may come back
  disconnect_handler = function(username)
    local u = by_name[username]
    if u then
      skynet.call(u.agent, "lua", "afk")
    end
  end,

  -- a request of a connected user: the agent answers it
  request_handler = function(username, msg)
    local agent = by_name[username].agent
    return skynet.tostring(skynet.rawcall(agent, "client", msg))
  end,
}

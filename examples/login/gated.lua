-- gated — the game server gate of the login example: a snax.msgserver that
-- takes users from the login server (its address is the service argument),
-- gives each one a msgagent, and passes their requests to it.
--
-- Stands for the reference's examples/login/gated.lua. Registers itself
-- with the login server under the gate's `servername` when opened.

local msgserver = require "snax.msgserver"
local skynet = require "skynet"

local loginservice = tonumber(...)

local handlers = {}
local users = {} -- uid -> { username, agent, uid, subid }
local by_username = {} -- username -> the same records
local last_subid = 0
local servername

-- from the login server (which allows one login per user, so this is
-- never re-entered for one uid)
function handlers.login_handler(uid, secret)
  if users[uid] then
    error(string.format("%s is already login", uid))
  end
  last_subid = last_subid + 1
  local subid = last_subid
  local username = msgserver.username(uid, subid, servername)
  local agent = skynet.newservice "msgagent"
  local u = { username = username, agent = agent, uid = uid, subid = subid }
  skynet.call(agent, "lua", "login", uid, subid, secret)
  users[uid] = u
  by_username[username] = u
  msgserver.login(username, secret)
  return subid
end

-- from the agent, when its user leaves
function handlers.logout_handler(uid, subid)
  local u = users[uid]
  if u then
    assert(u.username == msgserver.username(uid, subid, servername))
    msgserver.logout(u.username)
    users[uid] = nil
    by_username[u.username] = nil
    skynet.call(loginservice, "lua", "logout", uid, subid)
  end
end

-- from the login server, when the user logs in again elsewhere
function handlers.kick_handler(uid, subid)
  local u = users[uid]
  if u then
    assert(u.username == msgserver.username(uid, subid, servername))
    -- the agent may exit while answering: don't let that stop us
    pcall(skynet.call, u.agent, "lua", "logout")
  end
end

-- the user's connection dropped (it may come back)
function handlers.disconnect_handler(username)
  local u = by_username[username]
  if u then
    skynet.call(u.agent, "lua", "afk")
  end
end

-- a request of a connected user: the agent's answer goes back
function handlers.request_handler(username, msg)
  local u = by_username[username]
  return skynet.tostring(skynet.rawcall(u.agent, "client", msg))
end

-- the gate is open under `name`
function handlers.register_handler(name)
  servername = name
  skynet.call(loginservice, "lua", "register_gate", servername, skynet.self())
end

msgserver.start(handlers)

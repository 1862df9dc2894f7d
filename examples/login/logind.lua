-- logind — the login server of the login example: a snax.loginserver master
-- on 127.0.0.1 (port 8001, or the config key login_port) that checks
-- passwords and hands logged-in users to the game server they asked for.
--
-- Stands for the reference's examples/login/logind.lua. Tokens are
-- base64(user)@base64(server):base64(password) and the password must be
-- "password". One login per user at a time: a second login kicks the first
-- session out. Lua commands: register_gate(server, address) from a game
-- server's gate, logout(uid, subid) when a user leaves it.

local login = require "snax.loginserver"
local crypt = require "skynet.crypt"
local skynet = require "skynet"

local conf = {
  host = "127.0.0.1",
  port = math.tointeger(tonumber(skynet.getenv "login_port")) or 8001,
  multilogin = false,
  name = "login_master",
}

local gameservers = {} -- server name -> gate address
local online = {} -- uid -> { address, subid, server }

function conf.auth_handler(token)
  local user, server, password = token:match "([^@]+)@([^:]+):(.+)"
  user = crypt.base64decode(user)
  server = crypt.base64decode(server)
  password = crypt.base64decode(password)
  assert(password == "password", "Invalid password")
  return server, user
end

function conf.login_handler(server, uid, secret)
  print(string.format("%s@%s is login, secret is %s", uid, server, crypt.hexencode(secret)))
  local gameserver = assert(gameservers[server], "Unknown server")
  local previous = online[uid]
  if previous then
    -- no multilogin: the older session goes first
    skynet.call(previous.address, "lua", "kick", uid, previous.subid)
  end
  if online[uid] then
    error(string.format("user %s is already online", uid))
  end
  local subid = tostring(skynet.call(gameserver, "lua", "login", uid, secret))
  online[uid] = { address = gameserver, subid = subid, server = server }
  return subid
end

local CMD = {}

function CMD.register_gate(server, address)
  gameservers[server] = address
end

function CMD.logout(uid, _)
  local u = online[uid]
  if u then
    print(string.format("%s@%s is logout", uid, u.server))
    online[uid] = nil
  end
end

function conf.command_handler(command, ...)
  local f = assert(CMD[command])
  return f(...)
end

login(conf)

-- logind — the login server of the login example: a snax.loginserver
-- master on 127.0.0.1, port 8001 (or the config key login_port).
--
-- Stands for the reference's examples/login/logind.lua. A token is
-- base64(user)@base64(server):base64(password); every user's password is
-- "password". A user is handed to the game server named in the token,
-- which must have registered itself. No multilogin: logging in again first
-- kicks the user out of the game server of the earlier login.
-- Lua commands: register_gate(server, address) (from a game server's
-- gate), logout(uid, subid) (when a user left a game server).

local login = require "snax.loginserver"
local crypt = require "skynet.crypt"
local skynet = require "skynet"

local gates = {} -- game server name -> its gate
local sessions = {} -- uid -> { address = gate, subid, server = name }

local commands = {
  register_gate = function(server, address)
    gates[server] = address
  end,
  logout = function(uid)
    local s = sessions[uid]
    if s == nil then
      return
    end
    sessions[uid] = nil
    print(string.format("%s@%s is logout", uid, s.server))
  end,
}

-- -> server, uid
local function check_token(token)
  local fields = { token:match "([^@]+)@([^:]+):(.+)" }
  for i = 1, 3 do
    fields[i] = crypt.base64decode(fields[i])
  end
  local user, server, password = table.unpack(fields, 1, 3)
  assert(password == "password", "Invalid password")
  return server, user
end

-- No multilogin: a user still online on a game server is kicked out of it
-- first (that game server then sends logout, which ends the session).
local function kick_earlier(uid)
  local earlier = sessions[uid]
  if earlier == nil then
    return
  end
  skynet.call(earlier.address, "lua", "kick", uid, earlier.subid)
  -- by now the game server should have logged the user out
  if sessions[uid] ~= nil then
    error(string.format("user %s is already online", uid))
  end
end

-- -> the subid the game server gave the user
local function enter(server, uid, secret)
  print(string.format("%s@%s is login, secret is %s", uid, server, crypt.hexencode(secret)))
  local gate = assert(gates[server], "Unknown server")
  kick_earlier(uid)
  local s = { address = gate, server = server }
  s.subid = tostring(skynet.call(gate, "lua", "login", uid, secret))
  sessions[uid] = s
  return s.subid
end

login {
  host = "127.0.0.1",
  port = math.tointeger(tonumber(skynet.getenv "login_port")) or 8001,
  multilogin = false,
  name = "login_master",
  auth_handler = check_token,
  login_handler = enter,
  command_handler = function(command, ...)
    return assert(commands[command])(...)
  end,
}

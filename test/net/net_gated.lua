-- net_gated — helper service of the login tests: a snax.msgserver gate
-- that answers every request with "echo:<request>" and registers itself
-- with the login master given as argument (lua command `open` with
-- servername). Its port is the config key `net_tcp_port2`.
--
-- Stands for no file of the reference (its examples/login/gated.lua is the
-- model of such a service); test infrastructure.

local msgserver = require "snax.msgserver"
local skynet = require "skynet"

local login_master = tonumber(...)
local servername
local users = {} -- uid -> { username, subid }
local last_subid = 0

local server = {}

function server.login_handler(uid, secret)
  if users[uid] then
    error(string.format("%s is already login", uid))
  end
  last_subid = last_subid + 1
  local username = msgserver.username(uid, last_subid, servername)
  users[uid] = { username = username, subid = last_subid }
  msgserver.login(username, secret)
  return last_subid
end

function server.logout_handler(uid)
  local u = users[uid]
  if u then
    msgserver.logout(u.username)
    users[uid] = nil
  end
end

function server.kick_handler(uid)
  server.logout_handler(uid)
end

function server.disconnect_handler(username)
  skynet.error("disconnect " .. username)
end

function server.request_handler(_, msg)
  if msg == "fail" then
    error "request failed on purpose"
  end
  return "echo:" .. msg
end

function server.register_handler(name)
  servername = name
  skynet.call(login_master, "lua", "register_gate", name, skynet.self())
end

msgserver.start(server)

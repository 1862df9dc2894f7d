-- net_logind — helper service of the login tests: a snax.loginserver
-- master (and, started by it, its slaves) on 127.0.0.1, port from the
-- config key `net_tcp_port`.
--
-- Tokens are base64(user)@base64(server):base64(password); the password
-- must be "password". Logged-in users go to the game server registered
-- under the server name (lua command register_gate(name, address)).
--
-- Stands for no file of the reference (its examples/login/logind.lua is
-- the model of such a service); test infrastructure.

local login = require "snax.loginserver"
local crypt = require "skynet.crypt"
local skynet = require "skynet"

local conf = {
  host = "127.0.0.1",
  port = tonumber(skynet.getenv "net_tcp_port"),
  multilogin = false,
  name = "net_login_master",
  instance = 2,
}

local gates = {} -- server name -> gate service

function conf.auth_handler(token)
  local user, server, password = token:match "([^@]+)@([^:]+):(.+)"
  password = crypt.base64decode(password)
  assert(password == "password", "Invalid password")
  return crypt.base64decode(server), crypt.base64decode(user)
end

function conf.login_handler(server, uid, secret)
  local gate = assert(gates[server], "Unknown server")
  return tostring(skynet.call(gate, "lua", "login", uid, secret))
end

local CMD = {}

function CMD.register_gate(server, address)
  gates[server] = address
end

function conf.command_handler(command, ...)
  return assert(CMD[command])(...)
end

login(conf)

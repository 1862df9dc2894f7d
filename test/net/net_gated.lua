-- net_gated — helper service of the login tests: a snax.msgserver gate
-- that answers every request with "echo:<request>" (the request "fail"
-- makes its handler raise) and registers with the login master given as
-- the service argument when the lua command `open` (with servername) runs.
-- The test picks the port: config key `net_tcp_port2`.
--
-- Stands for no file of the reference (its examples/login/gated.lua is the
-- model of such a service); test infrastructure.

local msgserver = require "snax.msgserver"
local skynet = require "skynet"

local login_master = tonumber(...)
local servername
local logged_in = {} -- uid -> msgserver username
local issued = 0 -- the last subid handed out

local function drop(uid)
  local username = logged_in[uid]
  if username then
    logged_in[uid] = nil
    msgserver.logout(username)
  end
end

msgserver.start {
  register_handler = function(name)
    servername = name
    skynet.call(login_master, "lua", "register_gate", name, skynet.self())
  end,
  login_handler = function(uid, secret)
    if logged_in[uid] then
      error(string.format("%s is already login", uid))
    end
    issued = issued + 1
    local username = msgserver.username(uid, issued, servername)
    logged_in[uid] = username
    msgserver.login(username, secret)
    return issued
  end,
  logout_handler = drop,
  kick_handler = drop,
  disconnect_handler = function(username)
    skynet.error("disconnect " .. username)
  end,
  request_handler = function(_, msg)
    if msg == "fail" then
      error "request failed on purpose"
    end
    return "echo:" .. msg
  end,
}

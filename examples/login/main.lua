-- main — start service of the login example (examples/config.login).
--
-- Stands for the reference's examples/login/main.lua: starts the login
-- server (logind) and the message server gate (gated) that registers with
-- it as the game server "sample", then opens the gate for clients.
--
-- Optional config keys (defaults are the reference's values): gate_port
-- (8888), gate_address ("0.0.0.0"), and login_port (8001, read by logind).

local skynet = require "skynet"

skynet.start(function()
  local loginserver = skynet.newservice "logind"
  local gate = skynet.newservice("gated", loginserver)
  skynet.call(gate, "lua", "open", {
    address = skynet.getenv "gate_address",
    port = math.tointeger(tonumber(skynet.getenv "gate_port")) or 8888,
    maxclient = 64,
    servername = "sample",
  })
end)

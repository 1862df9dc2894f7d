-- main — the start service of the example configs (examples/config,
-- examples/config.standalone): the watchdog/gate/agent example that
-- examples/client.lua talks to.
--
-- Stands for the reference's examples/main.lua. It saves the sproto schemas
-- (protoloader), starts the stdin console (not when daemonized), the debug
-- console on 127.0.0.1:8000, SIMPLEDB and the watchdog, whose gate then
-- listens for clients on port 8888 (at most 64, TCP_NODELAY), and exits.
--
-- Optional config keys, not in the reference (the defaults are its fixed
-- values), so that tests or several nodes can run it side by side:
--   watchdog_address ("0.0.0.0"), watchdog_port (8888), debug_console_port
--   (8000). A port of 0 lets the system choose; the chosen ones are logged.

local skynet = require "skynet"

-- an integer config key, or `default` when it is not set
local function setting(name, default)
  local text = skynet.getenv(name)
  if text == nil then
    return default
  end
  local n = assert(math.tointeger(tonumber(text)), name)
  return n
end

-- starts the example's services; -> "address:port" of the client gate
local function launch()
  skynet.uniqueservice "protoloader"
  if not skynet.getenv "daemon" then
    skynet.newservice "console"
  end
  skynet.newservice("debug_console", setting("debug_console_port", 8000))
  skynet.newservice "simpledb"
  local watchdog = skynet.newservice "watchdog"
  local gate_conf = {
    address = skynet.getenv "watchdog_address",
    port = setting("watchdog_port", 8888),
    maxclient = 64,
    nodelay = true,
  }
  local addr, port = skynet.call(watchdog, "lua", "start", gate_conf)
  return addr .. ":" .. port
end

skynet.start(function()
  skynet.error "Server start"
  skynet.error("Watchdog listen on " .. launch())
  skynet.exit()
end)

-- main — start service of the example configs: the watchdog/gate/agent
-- example that examples/client.lua talks to.
--
-- Stands for the reference's examples/main.lua: loads the sproto schemas
-- (protoloader), starts the stdin console (unless daemonized), the debug
-- console on 127.0.0.1:8000, the SIMPLEDB service and the watchdog, whose
-- gate listens for clients on port 8888, then exits.
--
-- Optional config keys (not in the reference; the defaults are its values),
-- so that several nodes or a test can run it side by side:
--   watchdog_address (default "0.0.0.0"), watchdog_port (8888),
--   debug_console_port (8000); a port of 0 lets the system choose, and the
--   chosen ones are logged.

local skynet = require "skynet"

local max_client = 64

local function port_setting(name, default)
  local v = skynet.getenv(name)
  return v and assert(math.tointeger(tonumber(v)), name) or default
end

skynet.start(function()
  skynet.error "Server start"
  skynet.uniqueservice "protoloader"
  if not skynet.getenv "daemon" then
    skynet.newservice "console"
  end
  skynet.newservice("debug_console", port_setting("debug_console_port", 8000))
  skynet.newservice "simpledb"
  local watchdog = skynet.newservice "watchdog"
  local addr, port = skynet.call(watchdog, "lua", "start", {
    address = skynet.getenv "watchdog_address",
    port = port_setting("watchdog_port", 8888),
    maxclient = max_client,
    nodelay = true,
  })
  skynet.error("Watchdog listen on " .. addr .. ":" .. port)
  skynet.exit()
end)

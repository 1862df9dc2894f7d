-- console_test — start service of the debug console test node: starts
-- debug_console on 127.0.0.1 with a port chosen by the OS and a target
-- service, then logs `NETCONSOLE READY target=<:hex>`. tests/net.rs reads
-- the console's port from the "Start debug console at" log line and drives
-- the console over TCP; the node runs until the harness stops it.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"

skynet.start(function()
  skynet.newservice("debug_console", "127.0.0.1", 0)
  local target = skynet.newservice "net_console_target"
  skynet.error(string.format("NETCONSOLE READY target=%s", skynet.address(target)))
end)

-- A service for tests/daemon.rs: logs that it started, then logs a
-- numbered tick every 5 centiseconds, so a test can watch the log file
-- the logger writes to (and its reopening on SIGHUP).
local skynet = require "skynet"

skynet.start(function()
  skynet.error("probe started")
  skynet.fork(function()
    local n = 0
    while true do
      n = n + 1
      skynet.error("probe tick " .. n)
      skynet.sleep(5)
    end
  end)
end)

-- net_snax — a snax service for the debug console test (console `snax`):
-- answers response.ping with "pong".
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"

function response.ping()
  return "pong"
end

function init(...)
  skynet.error("net_snax init", ...)
end

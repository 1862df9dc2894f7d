-- tls_disabled — start service of tests/tls.rs for a node without
-- `enablessl`: logs what `require "ltls.c"` does there, then aborts.
--
-- Stands for no file of the reference; test infrastructure.

local skynet = require "skynet"
require "skynet.manager" -- skynet.abort

skynet.start(function()
  local ok, err = pcall(require, "ltls.c")
  skynet.error(string.format("TLS REQUIRE %s %s", tostring(ok), tostring(err)))
  skynet.abort()
end)

-- snaxping — a snax service used by test_snax (run as `snaxd snaxping`).
--
-- Stands for the reference's test/pingserver.lua in purpose; written for
-- these tests. State: a counter `count` and a greeting `word`, both locals
-- that a hotfix patch can reach.

local skynet = require "skynet"
local snax = require "skynet.snax"

local count = 0
local word = "hello"

function response.ping(x)
  skynet.sleep(1)
  return x
end

function response.echo(...)
  return ...
end

function response.state()
  return count, word
end

function accept.hello()
  count = count + 1
end

function response.error()
  error "throw an error"
end

function accept.quit(...)
  snax.exit(...)
end

function response.whoami()
  local me = snax.self()
  return me.type, me.handle, SERVICE_NAME, SERVICE_PATH
end

function init(...)
  skynet.error("ping start:", ...)
  snax.enablecluster()
end

function exit(...)
  skynet.error("ping exit:", ...)
end

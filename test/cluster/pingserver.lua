-- pingserver — the snax service of the cluster example (cluster1.lua starts
-- it, cluster2.lua calls it through cluster.snax). Stands for the
-- reference's test/pingserver.lua: `ping` answers its argument after a
-- second, `sleep`/`hello` share a queue lock, `error` raises.

local skynet = require "skynet"
local queue = require "skynet.queue"
local snax = require "skynet.snax"

local count = 0
local lock -- one lock for accept.sleep (queued) and accept.hello

function response.ping(text)
  skynet.sleep(100)
  return text
end

function accept.sleep(queued, n)
  local function nap()
    print("queue=", queued, n)
    skynet.sleep(n)
  end
  if queued then
    lock(nap)
  else
    nap()
  end
end

function accept.hello()
  lock(function()
    count = count + 1
    print(count, "hello")
  end)
end

function accept.exit(...)
  snax.exit(...)
end

function response.error()
  error "throw an error"
end

function init(...)
  print("ping server start:", ...)
  snax.enablecluster() -- answer calls that come through the cluster
  lock = queue()
end

function exit(...)
  print("ping server exit:", ...)
end

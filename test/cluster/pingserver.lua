-- pingserver — the snax service of the cluster example (cluster1.lua starts
-- it, cluster2.lua calls it through cluster.snax) and of tests/cluster.rs.
-- Plays the part of the reference's test/pingserver.lua, with the same
-- snax interface: req `ping` (answers its argument a second later) and
-- `error` (raises), post `sleep` / `hello` (serialised through one queue
-- when asked to) and `exit`. snax numbers the methods in the order they
-- are defined, and a caller numbers them from its own copy of the file, so
-- the order (ping, sleep, hello, exit, error) is the reference's: its
-- nodes call ours.

local skynet = require "skynet"
local snax = require "skynet.snax"
local new_queue = require "skynet.queue"

local serial -- created in init: the critical section of sleep and hello
local greetings = 0

local function napping(queued, ticks)
  return function()
    print("queue=", queued, ticks)
    skynet.sleep(ticks)
  end
end

function init(...)
  serial = new_queue()
  -- calls that come through the cluster are answered too
  snax.enablecluster()
  print("ping server start:", ...)
end

function exit(...)
  print("ping server exit:", ...)
end

function response.ping(text)
  skynet.sleep(100)
  return text
end

function accept.sleep(queued, ticks)
  local nap = napping(queued, ticks)
  if not queued then
    return nap()
  end
  serial(nap)
end

function accept.hello()
  serial(function()
    greetings = greetings + 1
    print(greetings, "hello")
  end)
end

function accept.exit(...)
  -- looked up when the request comes: when a caller scans this file for
  -- its interface, `require` gives nothing, so `snax` is nil then
  return snax.exit(...)
end

function response.error()
  error "throw an error"
end

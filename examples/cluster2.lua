-- cluster2 — the calling node of the cluster example (examples/config.c2).
--
-- Stands for the reference's examples/cluster2.lua. Against the node of
-- examples/cluster1.lua it shows, in this order of start:
--   * a proxy to db@sdb, with a 128 KiB key and a 100 KiB value (requests
--     and answers travel in parts), and a send through it;
--   * in a traced coroutine, direct calls to both node names and a large
--     push;
--   * a snax call to node "db3", which the node table lacks: with waiting
--     turned on the call waits until, 3 seconds in, a reload names db3 and
--     marks db down (a call to db right after that reload races the closing
--     of its link, so it may succeed or fail).

local skynet = require "skynet"
local cluster = require "skynet.cluster"

local KEY = string.rep("X", 128 * 1024)
local VALUE = string.rep("R", 100 * 1024)

local function through_proxy()
  local db = cluster.proxy("db@sdb") -- the same as cluster.proxy("db", "@sdb")
  skynet.call(db, "lua", "SET", KEY, VALUE)
  assert(skynet.call(db, "lua", "GET", KEY) == VALUE)
  skynet.send(db, "lua", "PING", "proxy")
end

local function direct()
  skynet.trace("cluster")
  for _, q in ipairs { { "db", "a" }, { "db2", "b" } } do
    print(cluster.call(q[1], "@sdb", "GET", q[2]))
  end
  cluster.send("db2", "@sdb", "PING", "db2:longstring" .. VALUE)
end

local function rearrange()
  cluster.reload {
    db = false, -- db goes down
    db3 = "127.0.0.1:2529",
  }
  print(pcall(cluster.call, "db", "@sdb", "GET", "a"))
end

skynet.start(function()
  through_proxy()
  skynet.fork(direct)
  skynet.timeout(300, rearrange)
  -- wait for names the table lacks (examples/clustername.lua turns it off)
  cluster.reload { __nowaiting = false }
  local ping = cluster.snax("db3", "pingserver")
  print(ping.req.ping("hello"))
end)

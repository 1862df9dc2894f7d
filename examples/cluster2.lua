-- cluster2 — the calling node of the cluster example (examples/config.c2).
--
-- Stands for the reference's examples/cluster2.lua: a proxy to db@sdb with a
-- 128 KiB key and 100 KiB value (requests and answers in parts), direct
-- calls and a large push to both node names, a reload that marks "db" down
-- (the call after it fails), and a snax call through the cluster.

local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
  local proxy = cluster.proxy "db@sdb" -- same as cluster.proxy("db", "@sdb")
  local largekey = string.rep("X", 128 * 1024)
  local largevalue = string.rep("R", 100 * 1024)
  skynet.call(proxy, "lua", "SET", largekey, largevalue)
  local v = skynet.call(proxy, "lua", "GET", largekey)
  assert(largevalue == v)
  skynet.send(proxy, "lua", "PING", "proxy")

  skynet.fork(function()
    skynet.trace("cluster")
    print(cluster.call("db", "@sdb", "GET", "a"))
    print(cluster.call("db2", "@sdb", "GET", "b"))
    cluster.send("db2", "@sdb", "PING", "db2:longstring" .. largevalue)
  end)

  skynet.timeout(300, function()
    cluster.reload {
      db = false, -- db is down
      db3 = "127.0.0.1:2529",
    }
    print(pcall(cluster.call, "db", "@sdb", "GET", "a")) -- fails: db is down
  end)
  cluster.reload { __nowaiting = false }
  local pingserver = cluster.snax("db3", "pingserver")
  print(pingserver.req.ping "hello")
end)

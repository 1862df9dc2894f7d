-- cluster1 — the serving node of the cluster example (examples/config.c1).
--
-- Stands for the reference's examples/cluster1.lua: names the nodes with
-- cluster.reload, starts simpledb and registers it as "sdb" (for
-- cluster.query and "@sdb" addresses), listens as "db" and "db2", and
-- starts the pingserver snax service for cluster.snax.

local skynet = require "skynet"
local cluster = require "skynet.cluster"
local snax = require "skynet.snax"

skynet.start(function()
  cluster.reload {
    db = "127.0.0.1:2528",
    db2 = "127.0.0.1:2529",
  }

  local sdb = skynet.newservice("simpledb")
  -- registering again after unregister must work
  cluster.register("sdb", sdb)
  cluster.unregister("sdb")
  cluster.register("sdb", sdb)

  print(skynet.call(sdb, "lua", "SET", "a", "foobar"))
  print(skynet.call(sdb, "lua", "SET", "b", "foobar2"))
  print(skynet.call(sdb, "lua", "GET", "a"))
  print(skynet.call(sdb, "lua", "GET", "b"))
  cluster.open "db"
  cluster.open "db2"
  snax.uniqueservice "pingserver"
end)

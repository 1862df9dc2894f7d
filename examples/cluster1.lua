-- cluster1 — the serving node of the cluster example (examples/config.c1).
--
-- Stands for the reference's examples/cluster1.lua. It names the nodes
-- itself (cluster.reload, no table file), starts simpledb with two keys,
-- makes it reachable as "@sdb" (cluster.query and "@sdb" addresses; the
-- name is dropped and taken again once, to show that works), then listens
-- as both node names and starts the pingserver snax service that
-- examples/cluster2.lua calls through cluster.snax.

local skynet = require "skynet"
local cluster = require "skynet.cluster"
local snax = require "skynet.snax"

-- the node table: both names are this node
local NODES = {
  db = "127.0.0.1:2528",
  db2 = "127.0.0.1:2529",
}
local SEED = { { "a", "foobar" }, { "b", "foobar2" } }

local function start_db()
  local db = skynet.newservice("simpledb")
  for _, step in ipairs { "register", "unregister", "register" } do
    cluster[step]("sdb", db)
  end
  -- SET answers the old value (nil here), GET the new one
  for _, kv in ipairs(SEED) do
    print(skynet.call(db, "lua", "SET", kv[1], kv[2]))
  end
  for _, kv in ipairs(SEED) do
    print(skynet.call(db, "lua", "GET", kv[1]))
  end
end

skynet.start(function()
  cluster.reload(NODES)
  start_db()
  cluster.open("db")
  cluster.open("db2")
  snax.uniqueservice("pingserver")
end)
